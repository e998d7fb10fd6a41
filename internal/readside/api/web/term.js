// trendstream term page: one term's history in one ranking over the last
// hours — count, baseline and score per window (/api/terms/{term}/history)
// — and the windows in which it trended, each linking to the dashboard at
// that window.
//
// The term comes from the address, and terms come from public posts: it
// only reaches the page through textContent, DOM attribute setters and SVG
// <title> text, never as markup.
'use strict';

(() => {
  const { el, svgEl, ms, iso, fmtTime, fmtDay, fmtNum, hoursSelect, start, newestEnd } = window.trendstreamPage;
  const params = new URLSearchParams(location.search);
  const term = decodeURIComponent(location.pathname.replace(/^\/term\//, ''));
  const lang = params.get('lang') || '';
  const kind = params.get('kind') || '';
  const termLang = params.get('term_lang') || '';
  const source = params.get('source') || '';
  const at = params.get('at') || '';
  const hoursSel = hoursSelect();

  // dashboard is the dashboard's address showing the window ending at end.
  function dashboard(end) {
    const q = new URLSearchParams();
    if (lang !== '') q.set('lang', lang);
    if (end) q.set('at', end);
    const s = q.toString();
    return '/' + (s ? '?' + s : '');
  }

  const shown = (kind === 'hashtag' ? '#' : kind === 'cashtag' ? '$' : '') + term;
  document.getElementById('term').textContent = shown;
  document.title = `${shown} — trendstream`;
  document.getElementById('term-meta').textContent = [
    kind || 'any kind',
    termLang ? `counted in ${termLang}` : '',
    lang === '' ? 'overall ranking' : `${lang} ranking`,
    source,
  ].filter(Boolean).join(' · ');
  document.getElementById('back').href = dashboard(at);

  // until is the end of the stretch: the window asked for, else the
  // ranking's newest window.
  async function until() {
    return at ? ms(at) : newestEnd(lang, source);
  }

  async function load() {
    const end = await until();
    const hours = Number(hoursSel.value);
    const q = new URLSearchParams({ lang, windows: 1440, from: iso(end - hours * 3600e3), until: iso(end) });
    if (kind) q.set('kind', kind);
    if (termLang) q.set('term_lang', termLang);
    if (source) q.set('source', source);
    const res = await fetch('/api/terms/' + encodeURIComponent(term) + '/history?' + q);
    const missing = document.getElementById('missing');
    if (res.status === 404) {
      missing.textContent = `“${shown}” was not ranked in the ${hours} h before ${fmtDay(end)} ${fmtTime(end)} UTC.`;
      missing.hidden = false;
      render([]);
      return;
    }
    if (!res.ok) throw new Error(`GET history: ${res.status}`);
    missing.hidden = true;
    const body = await res.json();
    render(body.points);
    await loadExamples(q);
  }

  // loadExamples shows the term's example posts in the newest window of
  // the stretch that has any (examples.js).
  async function loadExamples(q) {
    const res = await fetch('/api/terms/' + encodeURIComponent(term) + '/examples?' + q);
    if (!res.ok) throw new Error(`GET examples: ${res.status}`);
    const body = await res.json();
    const box = document.getElementById('examples');
    if (body.examples.length) box.replaceChildren(window.trendstreamExamples.list(body.examples));
    document.body.dataset.examples = String(body.examples.length);
  }

  function render(points) {
    const ranked = points.filter((p) => p.rank > 0);
    const summary = document.getElementById('summary');
    if (ranked.length) {
      const best = Math.min(...ranked.map((p) => p.rank));
      const peak = ranked.reduce((a, p) => (p.score > a.score ? p : a));
      summary.textContent = `Ranked in ${ranked.length} of ${points.length} windows · best rank ${best} · ` +
        `peak score ${Number(peak.score).toFixed(1)} with ${fmtNum(peak.count)} posts, window ending ` +
        `${fmtDay(peak.window_end)} ${fmtTime(peak.window_end)} UTC`;
    } else {
      summary.textContent = '';
    }
    document.getElementById('chart').replaceChildren(chart(points));
    const rows = [...ranked].reverse().map((p) => {
      const tr = el('tr');
      tr.dataset.end = p.window_end;
      const show = el('td');
      const a = el('a', 'show', 'show window');
      a.href = dashboard(p.window_end);
      show.append(a);
      tr.append(
        el('td', 'when', `${fmtDay(p.window_start)} ${fmtTime(p.window_start)}–${fmtTime(p.window_end)}`),
        el('td', 'num rank', p.rank),
        el('td', 'num count', fmtNum(p.count)),
        el('td', 'num', fmtNum(p.unique_authors)),
        el('td', 'num baseline', Number(p.baseline).toFixed(1)),
        el('td', 'num score', Number(p.score).toFixed(1)),
        el('td', 'num', fmtNum(p.posts)),
        show,
      );
      return tr;
    });
    document.querySelector('#windows tbody').replaceChildren(...rows);
    document.body.dataset.points = String(points.length);
    document.body.dataset.loaded = 'true';
  }

  // chart draws count and baseline on the left axis and score on the
  // right, over every window of the stretch. Only ranked windows have
  // values; the others are gaps, each run of ranked windows its own line.
  function chart(points) {
    const W = 960, H = 300, L = 50, R = 50, T = 14, B = 28;
    const svg = svgEl('svg', { class: 'history', id: 'history-chart', viewBox: `0 0 ${W} ${H}`, role: 'img' });
    const title = svgEl('title');
    title.textContent = `${shown}: count, baseline and score in ${points.length} windows`;
    svg.append(title);
    if (!points.length) return svg;
    const t0 = ms(points[0].window_end), t1 = ms(points[points.length - 1].window_end);
    const x = (p) => L + (t1 === t0 ? (W - L - R) / 2 : ((ms(p.window_end) - t0) / (t1 - t0)) * (W - L - R));
    const ranked = points.filter((p) => p.rank > 0);
    const hiCount = Math.max(1, ...ranked.map((p) => Math.max(p.count, p.baseline)));
    const hiScore = Math.max(1, ...ranked.map((p) => p.score));
    const yc = (v) => T + (1 - v / hiCount) * (H - T - B);
    const ys = (v) => T + (1 - Math.max(0, v) / hiScore) * (H - T - B);
    for (const f of [0, 0.5, 1]) {
      const y = T + f * (H - T - B);
      svg.append(svgEl('line', { class: 'grid', x1: L, x2: W - R, y1: y, y2: y }));
    }
    const label = (text, attrs) => {
      const t = svgEl('text', attrs);
      t.textContent = text;
      svg.append(t);
    };
    label(fmtNum(hiCount), { x: L - 6, y: T + 4, 'text-anchor': 'end' });
    label('0', { x: L - 6, y: H - B + 4, 'text-anchor': 'end' });
    label(Number(hiScore).toFixed(1), { x: W - R + 6, y: T + 4 });
    label('0', { x: W - R + 6, y: H - B + 4 });
    label(`${fmtDay(points[0].window_end)} ${fmtTime(points[0].window_end)}`, { x: L, y: H - 8 });
    label(`${fmtTime(points[points.length - 1].window_end)} UTC`, { x: W - R, y: H - 8, 'text-anchor': 'end' });
    // Shade the windows in which the term was ranked.
    const step = points.length > 1 ? (W - L - R) / (points.length - 1) : 8;
    for (const p of ranked) {
      const x0 = Math.max(L, x(p) - step / 2), x1 = Math.min(W - R, x(p) + step / 2);
      svg.append(svgEl('rect', { class: 'ranked', x: x0.toFixed(1), y: T, width: Math.max(x1 - x0, 1).toFixed(1), height: H - T - B }));
    }
    // Runs of consecutive ranked windows.
    const runs = [];
    let run = [];
    for (const p of points) {
      if (p.rank > 0) {
        run.push(p);
      } else if (run.length) {
        runs.push(run);
        run = [];
      }
    }
    if (run.length) runs.push(run);
    for (const [cls, y, v] of [['baseline', yc, (p) => p.baseline], ['count', yc, (p) => p.count], ['score', ys, (p) => p.score]]) {
      for (const r of runs) {
        if (r.length === 1) {
          svg.append(svgEl('circle', { class: cls, cx: x(r[0]).toFixed(1), cy: y(v(r[0])).toFixed(1), r: 3 }));
          continue;
        }
        svg.append(svgEl('polyline', { class: cls, points: r.map((p) => `${x(p).toFixed(1)},${y(v(p)).toFixed(1)}`).join(' ') }));
      }
    }
    return svg;
  }

  start(hoursSel, load, document.getElementById('summary'));
})();
