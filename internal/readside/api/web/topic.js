// trendstream topic page: one topic's history in one ranking over the last
// hours (/api/topics/{id}) — mentions and score per window, its member
// terms, example posts, and the windows in which it trended.
//
// Labels, terms and posts come from public posts: they only reach the page
// through textContent, DOM attribute setters and SVG <title> text.
'use strict';

(() => {
  const { list } = window.trendstreamExamples;
  const { el, svgEl, ms, iso, fmtTime, fmtDay, fmtNum, hoursSelect, start, newestEnd } = window.trendstreamPage;
  const params = new URLSearchParams(location.search);
  const id = decodeURIComponent(location.pathname.replace(/^\/topic\//, ''));
  const lang = params.get('lang') || '';
  const source = params.get('source') || '';
  const at = params.get('at') || '';
  const hoursSel = hoursSelect();
  const shown = (kind, term) => (kind === 'hashtag' ? '#' : '') + term;

  function href(path, extra) {
    const q = new URLSearchParams(extra);
    if (lang !== '') q.set('lang', lang);
    const s = q.toString();
    return path + (s ? '?' + s : '');
  }

  document.getElementById('back').href = href('/', at ? { at } : {});
  document.getElementById('topic-meta').textContent = [`topic ${id}`, lang === '' ? 'overall ranking' : `${lang} ranking`, source]
    .filter(Boolean).join(' · ');

  async function until() {
    return at ? ms(at) : newestEnd(lang, source);
  }

  async function load() {
    const end = await until();
    const hours = Number(hoursSel.value);
    const q = new URLSearchParams({ lang, windows: 1440, from: iso(end - hours * 3600e3), until: iso(end) });
    if (source) q.set('source', source);
    const res = await fetch('/api/topics/' + encodeURIComponent(id) + '?' + q);
    const missing = document.getElementById('missing');
    if (res.status === 404) {
      missing.textContent = `This topic was not ranked in the ${hours} h before ${fmtDay(end)} ${fmtTime(end)} UTC.`;
      missing.hidden = false;
      render({ history: [], examples: [] });
      return;
    }
    if (!res.ok) throw new Error(`GET topic: ${res.status}`);
    missing.hidden = true;
    render(await res.json());
  }

  function render(page) {
    const hist = page.history || [];
    const last = hist[hist.length - 1];
    if (last) {
      document.getElementById('label').textContent = last.label;
      document.title = `${last.label} — trendstream`;
      const best = Math.min(...hist.map((p) => p.rank));
      document.getElementById('summary').textContent = `Ranked in ${hist.length} windows · best rank ${best} · ` +
        `${last.members.length} terms in the newest: ${last.members.map((m) => shown(m.kind, m.term)).join(', ')}`;
      const rows = last.members.map((m) => {
        const tr = el('tr');
        tr.dataset.term = m.term;
        const td = el('td', 'term');
        const a = el('a', 'term-link', shown(m.kind, m.term));
        a.href = href('/term/' + encodeURIComponent(m.term), { kind: m.kind, at: last.window_end });
        td.append(a);
        tr.append(el('td', 'num rank', m.rank), td, el('td', 'kind', m.kind), el('td', 'num count', fmtNum(m.count)),
          el('td', 'num', fmtNum(m.unique_authors)), el('td', 'num score', Number(m.score).toFixed(1)));
        return tr;
      });
      document.querySelector('#members tbody').replaceChildren(...rows);
    }
    if ((page.examples || []).length) document.getElementById('examples').replaceChildren(list(page.examples));
    document.getElementById('chart').replaceChildren(chart(hist));
    const rows = [...hist].reverse().map((p) => {
      const tr = el('tr');
      tr.dataset.end = p.window_end;
      const show = el('td');
      const a = el('a', 'show', 'show window');
      a.href = href('/', { at: p.window_end });
      show.append(a);
      tr.append(el('td', 'when', `${fmtDay(p.window_start)} ${fmtTime(p.window_start)}–${fmtTime(p.window_end)}`),
        el('td', 'num rank', p.rank), el('td', 'term', p.label),
        el('td', 'kind', p.members.map((m) => shown(m.kind, m.term)).join(' ')),
        el('td', 'num count', fmtNum(p.mentions)), el('td', 'num score', Number(p.score).toFixed(1)), show);
      return tr;
    });
    document.querySelector('#windows tbody').replaceChildren(...rows);
    document.body.dataset.points = String(hist.length);
    document.body.dataset.examples = String((page.examples || []).length);
    document.body.dataset.loaded = 'true';
  }

  // chart draws mentions (left axis) and score (right axis) over the
  // windows in which the topic was ranked.
  function chart(points) {
    const W = 960, H = 260, L = 50, R = 50, T = 14, B = 28;
    const svg = svgEl('svg', { class: 'history', id: 'topic-chart', viewBox: `0 0 ${W} ${H}`, role: 'img' });
    const title = svgEl('title');
    title.textContent = `mentions and score in ${points.length} windows`;
    svg.append(title);
    if (!points.length) return svg;
    const t0 = ms(points[0].window_end), t1 = ms(points[points.length - 1].window_end);
    const x = (p) => L + (t1 === t0 ? (W - L - R) / 2 : ((ms(p.window_end) - t0) / (t1 - t0)) * (W - L - R));
    const hiM = Math.max(1, ...points.map((p) => p.mentions));
    const hiS = Math.max(1, ...points.map((p) => p.score));
    const label = (text, attrs) => {
      const t = svgEl('text', attrs);
      t.textContent = text;
      svg.append(t);
    };
    label(fmtNum(hiM), { x: L - 6, y: T + 4, 'text-anchor': 'end' });
    label(Number(hiS).toFixed(1), { x: W - R + 6, y: T + 4 });
    label(`${fmtDay(points[0].window_end)} ${fmtTime(points[0].window_end)}`, { x: L, y: H - 8 });
    label(`${fmtTime(points[points.length - 1].window_end)} UTC`, { x: W - R, y: H - 8, 'text-anchor': 'end' });
    svg.append(svgEl('line', { class: 'grid', x1: L, x2: W - R, y1: H - B, y2: H - B }));
    for (const [cls, hi, v] of [['count', hiM, (p) => p.mentions], ['score', hiS, (p) => p.score]]) {
      const y = (p) => T + (1 - Math.max(0, v(p)) / hi) * (H - T - B);
      if (points.length === 1) {
        svg.append(svgEl('circle', { class: cls, cx: x(points[0]).toFixed(1), cy: y(points[0]).toFixed(1), r: 3 }));
      } else {
        svg.append(svgEl('polyline', { class: cls, points: points.map((p) => `${x(p).toFixed(1)},${y(p).toFixed(1)}`).join(' ') }));
      }
    }
    return svg;
  }

  start(hoursSel, load, document.getElementById('summary'));
})();
