// trendstream dashboard: loads current rankings from /api/trends, then
// applies live rankings pushed on /api/stream (Server-Sent Events): a
// "snapshot" event is a ranking's newest window (new, or re-emitted with
// newer content), an "update" event an older window corrected by late data.
//
// Terms, languages and sources come from public posts and are untrusted:
// they only ever reach the page through textContent, attribute values set by
// the DOM API, and SVG <title> text. Nothing here parses data as markup.
'use strict';

(() => {
  const HISTORY = 30; // windows per sparkline
  const LIMIT = 20; // terms per ranking
  const SVG = 'http://www.w3.org/2000/svg';

  const langSel = document.getElementById('lang');
  const statusEl = document.getElementById('status');
  const rankingsEl = document.getElementById('rankings');
  const emptyEl = document.getElementById('empty');

  // rankings: source + NUL + lang -> {win, ends: [ms], points: Map(termKey -> Map(ms -> point)),
  //   emitted: Map(ms -> emitted_at ms, NaN when unknown)}
  const rankings = new Map();
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
  function ingest(w) {
    let r = rankings.get(rkey(w));
    if (!r) rankings.set(rkey(w), (r = { win: null, ends: [], points: new Map(), emitted: new Map() }));
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
    h2.append(el('span', 'meta', `window ${fmtTime(w.window_start)}–${fmtTime(w.window_end)} UTC · ${fmtNum(w.posts)} posts`));
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
      tr.append(el('td', 'num rank', t.rank), el('td', 'term', t.kind === 'hashtag' ? '#' + t.term : t.term));
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
    return sec;
  }

  function render() {
    const lang = langSel.value;
    const shown = [...rankings.entries()]
      .filter(([, r]) => r.win && r.win.lang === lang)
      .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
    rankingsEl.replaceChildren(...shown.map(([k, r]) => renderRanking(k, r)));
    emptyEl.hidden = shown.length > 0;
    document.body.dataset.updates = String(updates);
  }

  async function load() {
    const lang = langSel.value;
    const q = new URLSearchParams({ lang, limit: LIMIT, history: HISTORY });
    const res = await fetch('/api/trends?' + q);
    if (!res.ok) throw new Error(`GET /api/trends: ${res.status}`);
    const body = await res.json();
    for (const [k, r] of rankings) if (r.win && r.win.lang === lang) rankings.delete(k);
    for (const w of body.windows) ingest(w);
    render();
    document.body.dataset.loaded = 'true';
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
      if (ingest(w) && w.lang === langSel.value) {
        updates++;
        render();
      }
    };
    es.addEventListener('snapshot', onWindow);
    es.addEventListener('update', onWindow);
  }

  langSel.addEventListener('change', () => {
    rendered.clear();
    load().catch((e) => setStatus('error', e.message));
  });

  connect();
  Promise.all([loadLangs(), load()]).catch((e) => setStatus('error', e.message));
})();
