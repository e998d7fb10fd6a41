// trendstream dashboard: loads current rankings from /api/trends, then
// applies live rankings pushed on /api/stream (Server-Sent Events): a
// "snapshot" event is a ranking's newest window (new, or re-emitted with
// newer content), an "update" event an older window corrected by late data.
//
// The timeline (/api/timeline) lists the windows that exist: a slider picks
// any past window (/api/trends?at=), and an overview shows which terms
// trended when. The page opens on the newest window that ranked anything,
// so after a replay it shows the trends, not the recording's empty tail.
//
// Terms, languages and sources come from public posts and are untrusted:
// they only ever reach the page through textContent, attribute values set by
// the DOM API, and SVG <title> text. Nothing here parses data as markup.
'use strict';

(() => {
  const HISTORY = 30; // windows per sparkline
  const LIMIT = 20; // terms per ranking
  const SVG = 'http://www.w3.org/2000/svg';

  const OVERVIEW_TERMS = 20; // rows of the overview
  const langSel = document.getElementById('lang');
  const statusEl = document.getElementById('status');
  const rankingsEl = document.getElementById('rankings');
  const emptyEl = document.getElementById('empty');
  const timelineEl = document.getElementById('timeline');
  const slider = document.getElementById('slider');
  const sliderLabel = document.getElementById('slider-label');
  const latestBtn = document.getElementById('latest');
  const overviewEl = document.getElementById('overview');
  const subEl = document.querySelector('h1 .sub');

  // rankings: source + NUL + lang -> {win, ends: [ms], points: Map(termKey -> Map(ms -> point)),
  //   emitted: Map(ms -> emitted_at ms, NaN when unknown)}
  const rankings = new Map();
  // pinned: the same shape as rankings, for the past window the slider
  // shows; live events never touch it.
  let pinned = new Map();
  // view.at is the end (ms) of the past window shown; null follows the
  // newest window live.
  const view = { at: null };
  // timeline of the selected language: {windows, terms, ends: [ms], ranked: Map(ms -> terms ranked)}
  let timeline = null;
  // stretchTo is where the timeline's stretch ends (ms); null is at the
  // newest window, whose last slider position follows live windows. A
  // window asked for in the address that is older than the default
  // stretch gets a stretch around it.
  let stretchTo = null;
  const AROUND = 3 * 3600e3;
  const langs = new Set(['']);
  const rendered = new Map(); // ranking key -> Set of term keys last shown, to flash new entries
  let updates = 0;

  const rkey = (w) => w.source + '\u0000' + w.lang;
  // A term is one entry per language: the overall ranking can hold the same
  // word as a German and as an English term, with separate histories.
  const tkey = (t) => t.kind + '\u0000' + t.term + '\u0000' + (t.term_lang || '');
  const ms = (s) => Date.parse(s);

  function el(tag, cls, text) {
    const e = document.createElement(tag);
    if (cls) e.className = cls;
    if (text !== undefined) e.textContent = String(text);
    return e;
  }

  function setStatus(state, text) {
    statusEl.dataset.state = state;
    statusEl.textContent = text;
  }

  function addLang(lang) {
    if (langs.has(lang)) return;
    langs.add(lang);
    const sorted = [...langs].filter((l) => l !== '').sort();
    const current = langSel.value;
    const opts = [new Option('all languages', '')];
    for (const l of sorted) opts.push(new Option(l, l)); // Option() sets text, not markup
    langSel.replaceChildren(...opts);
    langSel.value = current;
  }

  function setPoint(r, key, end, p) {
    let m = r.points.get(key);
    if (!m) r.points.set(key, (m = new Map()));
    m.set(end, { count: p.count, score: p.score, rank: p.rank });
  }

  function addEnd(r, end) {
    if (!r.ends.includes(end)) {
      r.ends.push(end);
      r.ends.sort((a, b) => a - b);
    }
    if (r.ends.length > HISTORY) {
      r.ends.splice(0, r.ends.length - HISTORY);
      const oldest = r.ends[0];
      for (const [k, m] of r.points) {
        for (const e of m.keys()) if (e < oldest) m.delete(e);
        if (m.size === 0) r.points.delete(k);
      }
      for (const e of r.emitted.keys()) if (e < oldest) r.emitted.delete(e);
    }
  }

  // clearEnd forgets every term's point in the window ending at end.
  function clearEnd(r, end) {
    for (const [k, m] of r.points) {
      m.delete(end);
      if (m.size === 0) r.points.delete(k);
    }
  }

  // ingest records a window of a ranking and returns whether anything
  // shown changed. A window replaces what was recorded for its end: the
  // points of that end are cleared first, so a re-emitted or corrected
  // window never adds a second entry, nor leaves behind a term it no longer
  // ranks. The newest window becomes the table; an older one (a correction)
  // only changes the sparklines. A copy emitted before the one shown is
  // ignored (the server filters these too; this guards reloads).
  function ingest(w, into = rankings) {
    let r = into.get(rkey(w));
    if (!r) into.set(rkey(w), (r = { win: null, ends: [], points: new Map(), emitted: new Map() }));
    const end = ms(w.window_end);
    const em = w.emitted_at ? ms(w.emitted_at) : NaN;
    const prev = r.emitted.get(end);
    if (prev !== undefined && em < prev) return false; // NaN on either side compares false: accepted
    const newest = !r.win || end >= ms(r.win.window_end);
    if (!newest && r.ends.length >= HISTORY && end < r.ends[0]) return false; // older than every sparkline
    for (const t of w.terms || []) {
      for (const p of t.history || []) {
        const e = ms(p.window_end);
        if (e === end) continue; // the window itself is authoritative below
        addEnd(r, e);
        setPoint(r, tkey(t), e, p);
      }
    }
    if (newest) r.win = w;
    clearEnd(r, end);
    addEnd(r, end);
    r.emitted.set(end, em);
    for (const t of w.terms || []) setPoint(r, tkey(t), end, t);
    return true;
  }

  function sparkline(r, t) {
    const m = r.points.get(tkey(t)) || new Map();
    const pts = r.ends.map((e) => m.get(e) || { count: 0, score: 0, rank: 0 });
    const w = 140, h = 30, pad = 2;
    const svg = document.createElementNS(SVG, 'svg');
    svg.setAttribute('class', 'spark');
    svg.setAttribute('width', w);
    svg.setAttribute('height', h);
    svg.setAttribute('viewBox', `0 0 ${w} ${h}`);
    const x = (i) => (pts.length < 2 ? w / 2 : pad + (i * (w - 2 * pad)) / (pts.length - 1));
    const line = (vals, cls) => {
      const lo = Math.min(0, ...vals), hi = Math.max(...vals);
      const span = hi - lo || 1;
      const pl = document.createElementNS(SVG, 'polyline');
      pl.setAttribute('class', cls);
      pl.setAttribute('points', vals.map((v, i) => `${x(i).toFixed(1)},${(h - pad - ((v - lo) / span) * (h - 2 * pad)).toFixed(1)}`).join(' '));
      svg.appendChild(pl);
    };
    line(pts.map((p) => p.count), 'count');
    line(pts.map((p) => p.score), 'score');
    const title = document.createElementNS(SVG, 'title');
    title.textContent = `last ${pts.length} windows — count: ${pts.map((p) => p.count).join(', ')}`;
    svg.appendChild(title);
    return svg;
  }

  const fmtTime = (s) => new Date(s).toISOString().slice(11, 16);
  const fmtDay = (s) => new Date(s).toISOString().slice(0, 10);
  const iso = (m) => new Date(m).toISOString();

  // termHref is the term page of t in ranking w, as of the window shown.
  function termHref(w, t) {
    const q = new URLSearchParams({ lang: w.lang, kind: t.kind, term_lang: t.term_lang || '', source: w.source });
    if (view.at !== null) q.set('at', iso(view.at));
    return '/term/' + encodeURIComponent(t.term) + '?' + q;
  }

  // shownTerm is a term as people write it: #tag, $AAPL, words as they are.
  const shownTerm = (kind, term) => (kind === 'hashtag' ? '#' : kind === 'cashtag' ? '$' : '') + term;

  function termLink(w, t) {
    const a = el('a', 'term-link', shownTerm(t.kind, t.term));
    // A cashtag opens its symbol page: market activity beside its mentions.
    a.href = t.kind === 'cashtag' ? '/symbol/' + encodeURIComponent(t.term) : termHref(w, t); // same-origin, percent-encoded
    return a;
  }
  const fmtNum = (n) => Number(n).toLocaleString('en-US');

  // since is how long the term has been trending as of the window's end.
  function since(w, t) {
    if (!t.first_seen) return '';
    const min = Math.max(0, Math.round((ms(w.window_end) - ms(t.first_seen)) / 60000));
    return min < 60 ? `${min} min` : `${Math.floor(min / 60)} h ${min % 60} min`;
  }

  function renderRanking(key, r) {
    const w = r.win;
    const sec = el('section', 'ranking');
    sec.dataset.source = w.source;
    sec.dataset.lang = w.lang;
    const h2 = el('h2');
    h2.append(el('span', 'title', `${w.source} · ${w.lang === '' ? 'all languages' : w.lang}`));
    h2.append(el('span', 'meta', `${view.at === null ? '' : 'past '}window ${fmtDay(w.window_start)} ${fmtTime(w.window_start)}–${fmtTime(w.window_end)} UTC · ${fmtNum(w.posts)} posts`));
    sec.append(h2);
    const table = el('table');
    const head = el('tr');
    // Only the overall ranking mixes languages; there each term shows its own.
    const overall = w.lang === '';
    for (const [label, cls] of [['#', 'num'], ['term', ''], ...(overall ? [['lang', '']] : []), ['kind', ''],
      ['posts', 'num'], ['authors', 'num'], ['baseline', 'num'], ['score', 'num'], ['recent windows', ''],
      ['trending for', '']]) {
      head.append(el('th', cls, label));
    }
    const thead = el('thead');
    thead.append(head);
    table.append(thead);
    const body = el('tbody');
    const before = rendered.get(key);
    const now = new Set();
    for (const t of (w.terms || []).slice(0, LIMIT)) {
      const tr = el('tr');
      tr.dataset.term = t.term;
      tr.dataset.kind = t.kind;
      tr.dataset.termLang = t.term_lang || '';
      if (before && !before.has(tkey(t))) tr.className = 'fresh';
      now.add(tkey(t));
      const term = el('td', 'term');
      term.append(termLink(w, t));
      tr.append(el('td', 'num rank', t.rank), term);
      if (overall) tr.append(el('td', 'term-lang', t.term_lang || '?'));
      tr.append(
        el('td', 'kind', t.kind),
        el('td', 'num count', fmtNum(t.count)),
        el('td', 'num', fmtNum(t.unique_authors)),
        el('td', 'num', Number(t.baseline).toFixed(1)),
        el('td', 'num score', Number(t.score).toFixed(1)),
      );
      const sp = el('td', 'spark');
      sp.append(sparkline(r, t));
      tr.append(sp, el('td', 'since', since(w, t)));
      body.append(tr);
    }
    rendered.set(key, now);
    table.append(body);
    sec.append(table);
    if (!(w.terms || []).length) sec.append(el('p', 'none', 'No term trended in this window.'));
    return sec;
  }

  function render() {
    const lang = langSel.value;
    const from = view.at === null ? rankings : pinned;
    const shown = [...from.entries()]
      .filter(([, r]) => r.win && r.win.lang === lang)
      .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
    rankingsEl.replaceChildren(...shown.map(([k, r]) => renderRanking(k, r)));
    emptyEl.hidden = shown.length > 0;
    document.body.dataset.updates = String(updates);
    document.body.dataset.view = view.at === null ? 'live' : iso(view.at);
    subEl.textContent = view.at === null ? 'trending on Bluesky now' : `trending on Bluesky, ${fmtDay(view.at)} ${fmtTime(view.at)} UTC`;
    // The overview's links open term pages as of the window shown.
    if (timeline) renderTimeline();
  }

  async function load() {
    const lang = langSel.value;
    const q = new URLSearchParams({ lang, limit: LIMIT, history: HISTORY });
    const at = view.at;
    if (at !== null) q.set('at', iso(at));
    const res = await fetch('/api/trends?' + q);
    if (!res.ok) throw new Error(`GET /api/trends: ${res.status}`);
    const body = await res.json();
    if (at !== view.at || lang !== langSel.value) return; // the user moved on meanwhile
    if (at === null) {
      for (const [k, r] of rankings) if (r.win && r.win.lang === lang) rankings.delete(k);
      for (const w of body.windows) ingest(w);
    } else {
      pinned = new Map();
      for (const w of body.windows) ingest(w, pinned);
    }
    render();
    document.body.dataset.loaded = 'true';
  }

  // --- timeline: slider and overview ---

  async function loadTimeline() {
    const lang = langSel.value;
    const q = new URLSearchParams({ lang, terms: OVERVIEW_TERMS });
    if (stretchTo !== null) q.set('to', iso(stretchTo));
    const res = await fetch('/api/timeline?' + q);
    if (!res.ok) throw new Error(`GET /api/timeline: ${res.status}`);
    const body = await res.json();
    if (lang !== langSel.value) return null;
    const ranked = new Map();
    for (const w of body.windows) {
      const e = ms(w.window_end);
      ranked.set(e, Math.max(ranked.get(e) || 0, w.ranked || 0));
    }
    timeline = { windows: body.windows, terms: body.terms, ranked, ends: [...ranked.keys()].sort((a, b) => a - b) };
    renderTimeline();
    return body;
  }

  // noteWindow adds a live window to the slider without a round trip.
  function noteWindow(w) {
    if (!timeline || stretchTo !== null || w.lang !== langSel.value) return;
    const e = ms(w.window_end);
    if (!timeline.ranked.has(e)) {
      timeline.ends.push(e);
      timeline.ends.sort((a, b) => a - b);
    }
    timeline.ranked.set(e, (w.terms || []).length);
    scheduleTimeline();
  }

  // The overview is refetched at most every 10 s while windows arrive.
  let timelineTimer = null;
  function scheduleTimeline() {
    if (timelineTimer) return;
    timelineTimer = setTimeout(() => {
      timelineTimer = null;
      loadTimeline().catch((e) => setStatus('error', e.message));
    }, 10000);
  }

  function renderSlider() {
    if (!timeline || !timeline.ends.length) return;
    const ends = timeline.ends;
    slider.max = String(ends.length - 1);
    const i = view.at === null ? ends.length - 1 : Math.max(0, ends.indexOf(view.at));
    slider.value = String(i);
    sliderLabel.textContent = sliderText(i);
    latestBtn.disabled = view.at === null && stretchTo === null;
  }

  function sliderText(i) {
    const e = timeline.ends[i];
    const n = timeline.ranked.get(e) || 0;
    const live = view.at === null && stretchTo === null && i === timeline.ends.length - 1 ? ' · live' : '';
    return `ending ${fmtDay(e)} ${fmtTime(e)} UTC · ${n} term${n === 1 ? '' : 's'} ranked · ${i + 1} of ${timeline.ends.length}${live}`;
  }

  // renderTimeline draws the overview: a row of ranked-term counts per
  // window, then a row per term with a mark in each window that ranked it.
  function renderTimeline() {
    const ends = timeline.ends;
    timelineEl.hidden = ends.length === 0;
    if (!ends.length) return;
    const index = new Map(ends.map((e, i) => [e, i]));
    const W = 900, H = 14;
    const cw = W / ends.length;
    const strip = (cls, label) => {
      const svg = document.createElementNS(SVG, 'svg');
      svg.setAttribute('class', 'strip ' + cls);
      svg.setAttribute('viewBox', `0 0 ${W} ${H}`);
      svg.setAttribute('preserveAspectRatio', 'none');
      const title = document.createElementNS(SVG, 'title');
      title.textContent = label;
      svg.append(title);
      svg.addEventListener('click', (ev) => {
        const box = svg.getBoundingClientRect();
        const i = Math.min(ends.length - 1, Math.max(0, Math.floor(((ev.clientX - box.left) / box.width) * ends.length)));
        show(i);
      });
      return svg;
    };
    const cell = (svg, i, cls, opacity, text) => {
      const r = document.createElementNS(SVG, 'rect');
      r.setAttribute('class', cls);
      r.setAttribute('x', (i * cw).toFixed(2));
      r.setAttribute('y', '1');
      r.setAttribute('width', Math.max(cw, 1).toFixed(2));
      r.setAttribute('height', String(H - 2));
      r.setAttribute('fill-opacity', opacity.toFixed(2));
      const t = document.createElementNS(SVG, 'title');
      t.textContent = text;
      r.append(t);
      svg.append(r);
    };
    const rows = [];
    // Windows: how many terms each ranked (none in a replay's tail).
    const most = Math.max(1, ...timeline.ranked.values());
    const dens = strip('density', 'terms ranked per window');
    ends.forEach((e, i) => {
      const n = timeline.ranked.get(e) || 0;
      if (n > 0) cell(dens, i, 'mark', 0.25 + (0.75 * n) / most, `${fmtTime(e)} UTC: ${n} terms ranked`);
    });
    const head = el('div', 'ov-row ov-head');
    head.append(el('span', 'ov-term', 'terms ranked'), dens);
    rows.push(head);
    for (const t of timeline.terms) {
      const svg = strip('term-strip', t.term);
      for (const p of t.points) {
        const i = index.get(ms(p.window_end));
        if (i === undefined) continue;
        cell(svg, i, 'mark', Math.max(0.2, 1 - (p.rank - 1) * 0.15), `${t.term} — rank ${p.rank}, score ${Number(p.score).toFixed(1)}, ${fmtTime(p.window_end)} UTC`);
      }
      const row = el('div', 'ov-row');
      row.dataset.term = t.term;
      row.dataset.kind = t.kind;
      row.dataset.termLang = t.term_lang || '';
      const label = el('span', 'ov-term');
      label.append(termLink({ lang: langSel.value, source: t.source }, t));
      if (langSel.value === '' && t.term_lang) label.append(el('span', 'ov-lang', t.term_lang));
      row.append(label, svg);
      rows.push(row);
    }
    const axis = el('div', 'ov-row ov-axis');
    axis.append(el('span', 'ov-term'), el('span', 'ov-from', `${fmtDay(ends[0])} ${fmtTime(ends[0])} UTC`),
      el('span', 'ov-to', `${fmtDay(ends[ends.length - 1])} ${fmtTime(ends[ends.length - 1])} UTC`));
    rows.push(axis);
    overviewEl.replaceChildren(...rows);
    renderSlider();
    renderCursor();
  }

  // renderCursor marks the window shown in every overview strip.
  function renderCursor() {
    if (!timeline || !timeline.ends.length) return;
    const ends = timeline.ends;
    const i = view.at === null ? ends.length - 1 : ends.indexOf(view.at);
    const cw = 900 / ends.length;
    for (const svg of overviewEl.querySelectorAll('svg.strip')) {
      let c = svg.querySelector('rect.cursor');
      if (!c) {
        c = document.createElementNS(SVG, 'rect');
        c.setAttribute('class', 'cursor');
        svg.append(c);
      }
      c.setAttribute('x', (Math.max(0, i) * cw).toFixed(2));
      c.setAttribute('y', '0');
      c.setAttribute('width', Math.max(cw, 2).toFixed(2));
      c.setAttribute('height', '14');
    }
  }

  // show moves the view to the i-th window of the timeline; the last one
  // follows the newest window live.
  function show(i) {
    const ends = timeline.ends;
    view.at = stretchTo === null && i >= ends.length - 1 ? null : ends[i];
    rendered.clear();
    syncURL();
    renderSlider();
    renderCursor();
    load().catch((e) => setStatus('error', e.message));
  }

  // syncURL keeps the address shareable: ?lang=…&at=… opens this view.
  function syncURL() {
    const q = new URLSearchParams();
    if (langSel.value !== '') q.set('lang', langSel.value);
    if (view.at !== null) q.set('at', iso(view.at));
    const s = q.toString();
    history.replaceState(null, '', s ? '?' + s : location.pathname);
  }

  slider.addEventListener('input', () => {
    if (timeline) sliderLabel.textContent = sliderText(Number(slider.value));
  });
  slider.addEventListener('change', () => {
    if (timeline) show(Number(slider.value));
  });
  latestBtn.addEventListener('click', () => {
    if (!timeline) return;
    if (stretchTo === null) {
      show(timeline.ends.length - 1);
      return;
    }
    stretchTo = null;
    loadTimeline()
      .then(() => show(timeline.ends.length - 1))
      .catch((e) => setStatus('error', e.message));
  });

  // open picks the first view: the window asked for in the address, else
  // the newest window that ranked any term (the newest of all when it did,
  // as in a live run), so a replay opens on its trends.
  async function open(requested) {
    stretchTo = null;
    let tl = await loadTimeline();
    const t = requested ? ms(requested) : NaN;
    if (tl && !Number.isNaN(t) && timeline.ends.length && t < timeline.ends[0]) {
      stretchTo = t + AROUND;
      tl = await loadTimeline();
    }
    if (!Number.isNaN(t)) {
      const ends = timeline.ends.filter((e) => e <= t);
      view.at = ends.length && (stretchTo !== null || ends.length < timeline.ends.length) ? ends[ends.length - 1] : null;
    } else if (tl && tl.latest_trending && tl.newest && ms(tl.latest_trending) < ms(tl.newest)) {
      view.at = ms(tl.latest_trending);
    } else {
      view.at = null;
    }
    document.body.dataset.opened = view.at === null ? 'live' : iso(view.at);
    syncURL();
    await load();
  }

  async function loadLangs() {
    const res = await fetch('/api/windows?current=true&lang=*&limit=1000');
    if (!res.ok) return;
    const body = await res.json();
    for (const w of body.windows) addLang(w.lang);
  }

  let broken = false;

  function connect() {
    const es = new EventSource('/api/stream?lang=*');
    es.addEventListener('open', () => {
      setStatus('live', 'live');
      // Updates may have been missed while disconnected: resync.
      if (broken) load().catch((e) => setStatus('error', e.message));
      broken = false;
    });
    es.addEventListener('error', () => {
      broken = true;
      setStatus('error', 'reconnecting…');
      // EventSource retries a dropped stream by itself, but gives up on an
      // error status (503 when the server has too many stream clients):
      // come back later, spread out so refused clients do not return at once.
      if (es.readyState === EventSource.CLOSED) {
        es.close();
        setTimeout(connect, 5000 + Math.random() * 10000);
      }
    });
    const onWindow = (e) => {
      let w;
      try {
        w = JSON.parse(e.data);
      } catch {
        return;
      }
      addLang(w.lang);
      if (e.type === 'snapshot') noteWindow(w);
      if (ingest(w) && w.lang === langSel.value) {
        updates++;
        if (view.at === null) render();
        else renderSlider();
      }
      // A correction of the past window on show replaces it there too.
      if (view.at !== null && w.lang === langSel.value && ms(w.window_end) === view.at && ingest(w, pinned)) render();
    };
    es.addEventListener('snapshot', onWindow);
    es.addEventListener('update', onWindow);
  }

  langSel.addEventListener('change', () => {
    rendered.clear();
    // Another language has its own windows: keep the time shown, if any.
    const at = view.at === null ? null : iso(view.at);
    open(at).catch((e) => setStatus('error', e.message));
  });

  const params = new URLSearchParams(location.search);
  connect();
  loadLangs()
    .then(() => {
      const lang = params.get('lang') || '';
      addLang(lang);
      langSel.value = lang;
    })
    .catch(() => {})
    .then(() => open(params.get('at')))
    .catch((e) => setStatus('error', e.message));
})();
