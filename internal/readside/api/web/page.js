// trendstream page helpers shared by the dashboard's pages (term, topic and
// symbol pages, example posts): element builders, time and number
// formats, and the "History" hours selector those pages have.
//
// Everything shown comes from public posts or market feeds: el and svgEl
// set text only through textContent and attributes only through
// setAttribute, never markup.
'use strict';

window.trendstreamPage = (() => {
  const SVG = 'http://www.w3.org/2000/svg';

  function el(tag, cls, text) {
    const e = document.createElement(tag);
    if (cls) e.className = cls;
    if (text !== undefined) e.textContent = String(text);
    return e;
  }

  function svgEl(tag, attrs) {
    const e = document.createElementNS(SVG, tag);
    for (const [k, v] of Object.entries(attrs || {})) e.setAttribute(k, String(v));
    return e;
  }

  const ms = (s) => Date.parse(s);
  const iso = (m) => new Date(m).toISOString();
  const fmtTime = (s) => new Date(s).toISOString().slice(11, 16);
  const fmtDay = (s) => new Date(s).toISOString().slice(0, 10);
  const fmtNum = (n) => Number(n).toLocaleString('en-US');

  // hoursSelect returns the page's "History" selector (#hours), set to
  // the address's hours if it names them.
  function hoursSelect() {
    const sel = document.getElementById('hours');
    const want = new URLSearchParams(location.search).get('hours');
    if (want) sel.value = want;
    return sel;
  }

  // start runs load now and again whenever sel changes, keeping the choice
  // in the address so a reload or a shared link shows the same stretch.
  // load's errors are shown in errorEl.
  function start(sel, load, errorEl) {
    const run = () => load().catch((e) => (errorEl.textContent = e.message));
    sel.addEventListener('change', () => {
      const q = new URLSearchParams(location.search);
      q.set('hours', sel.value);
      history.replaceState(null, '', location.pathname + '?' + q);
      run();
    });
    run();
  }

  // newestEnd is the end (Unix ms) of the newest window of lang's ranking
  // (of source, if given), or now if it has none: where a page opened
  // without ?at= ends its stretch.
  async function newestEnd(lang, source) {
    const q = new URLSearchParams({ current: 'true', lang });
    if (source) q.set('source', source);
    const res = await fetch('/api/windows?' + q);
    if (!res.ok) throw new Error(`GET /api/windows: ${res.status}`);
    const ends = (await res.json()).windows.map((w) => ms(w.window_end));
    return ends.length ? Math.max(...ends) : Date.now();
  }

  return { el, svgEl, ms, iso, fmtTime, fmtDay, fmtNum, hoursSelect, start, newestEnd };
})();
