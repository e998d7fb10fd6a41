// trendstream watchlist page: every entry with its newest window
// (/api/watchlist/status) and the recent alerts (/api/watchlist/alerts),
// refreshed every 15 s.
//
// Entry texts come from whoever edits the watchlist and counts from public
// posts: everything reaches the page through textContent only, never as
// markup.
'use strict';

(() => {
  const REFRESH_MS = 15000;
  const fmtWindow = (s, e) => `${s.slice(0, 10)} ${s.slice(11, 16)}–${e.slice(11, 16)}`;
  const fmtNum = (n) => Number(n).toLocaleString('en-US');
  const fmtScore = (n) => Number(n).toFixed(2);
  const statusEl = document.getElementById('status');

  function cell(tr, text, cls) {
    const td = document.createElement('td');
    if (cls) td.className = cls;
    td.textContent = text === undefined || text === null ? '' : String(text);
    tr.appendChild(td);
    return td;
  }

  function matches(e) {
    const parts = [e.text].concat(e.aliases || []);
    let s = parts.join(' · ');
    if (e.langs && e.langs.length) s += ` (${e.langs.join(', ')})`;
    return s;
  }

  function renderEntries(entries) {
    const body = document.querySelector('#entries tbody');
    body.replaceChildren();
    document.getElementById('no-entries').hidden = entries.length > 0;
    for (const e of entries) {
      const tr = document.createElement('tr');
      tr.dataset.entry = e.id;
      cell(tr, e.id, 'term');
      cell(tr, e.watchlist, 'kind');
      cell(tr, e.kind, 'kind');
      cell(tr, matches(e));
      const l = e.latest;
      if (l) {
        cell(tr, fmtWindow(l.window_start, l.window_end));
        cell(tr, fmtNum(l.posts), 'num');
        cell(tr, fmtNum(l.authors), 'num');
        cell(tr, l.scored ? fmtScore(l.baseline) : '–', 'num');
        cell(tr, l.scored ? fmtScore(l.score) : '–', 'num');
        cell(tr, l.active ? 'ALERT' : 'normal', l.active ? 'state active' : 'state');
      } else {
        cell(tr, 'no match yet', 'kind');
        for (let i = 0; i < 5; i++) cell(tr, '');
      }
      body.appendChild(tr);
    }
  }

  function renderAlerts(alerts) {
    const body = document.querySelector('#alerts tbody');
    body.replaceChildren();
    document.getElementById('no-alerts').hidden = alerts.length > 0;
    for (const a of alerts) {
      const tr = document.createElement('tr');
      tr.dataset.alert = a.id;
      cell(tr, fmtWindow(a.window_start, a.window_end));
      cell(tr, a.entry_id, 'term');
      cell(tr, fmtNum(a.posts), 'num');
      cell(tr, fmtNum(a.authors), 'num');
      cell(tr, fmtScore(a.baseline), 'num');
      cell(tr, fmtScore(a.score), 'num');
      cell(tr, a.published_at ? 'published' : 'pending', 'kind');
      let hook = '—';
      if (a.delivered_at) hook = 'delivered';
      else if (a.webhook_attempts > 0) hook = `failed ×${a.webhook_attempts}`;
      const td = cell(tr, hook, 'kind');
      if (a.webhook_error) td.title = a.webhook_error;
      body.appendChild(tr);
    }
  }

  async function getJSON(path) {
    const r = await fetch(path, { headers: { Accept: 'application/json' } });
    if (!r.ok) throw new Error(`${path}: ${r.status}`);
    return r.json();
  }

  async function refresh() {
    try {
      const [st, al] = await Promise.all([getJSON('/api/watchlist/status'), getJSON('/api/watchlist/alerts?limit=50')]);
      renderEntries(st.entries);
      renderAlerts(al.alerts);
      statusEl.dataset.state = 'live';
      statusEl.textContent = `updated ${new Date().toISOString().slice(11, 19)} UTC`;
    } catch (err) {
      statusEl.dataset.state = 'error';
      statusEl.textContent = 'cannot reach the API';
    }
  }

  refresh();
  setInterval(refresh, REFRESH_MS);
})();
