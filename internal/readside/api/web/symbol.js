// trendstream symbol page: one stock symbol's market activity per window
// (trades, volume, price move, and score and rank where it was unusual)
// beside its Bluesky cashtag mentions over the same hours, both from
// /api/symbols/{symbol}.
//
// The symbol comes from the address: it only reaches the page through
// textContent and DOM attribute setters, never as markup.
'use strict';

(() => {
  const params = new URLSearchParams(location.search);
  const symbol = decodeURIComponent(location.pathname.replace(/^\/symbol\//, '')).replace(/^\$/, '').toUpperCase();
  const lang = params.get('lang') || '';
  const until = params.get('until') || '';
  const { el, fmtTime, fmtDay, fmtNum, hoursSelect, start } = window.trendstreamPage;
  const hoursSel = hoursSelect();
  const fmtWindow = (p) => `${fmtDay(p.window_start)} ${fmtTime(p.window_start)}–${fmtTime(p.window_end)}`;

  document.getElementById('symbol').textContent = '$' + symbol;
  document.title = `$${symbol} — trendstream`;
  document.getElementById('mentions-title').textContent = `Bluesky mentions of $${symbol}`;

  async function load() {
    const q = new URLSearchParams({ hours: hoursSel.value });
    if (lang) q.set('lang', lang);
    if (until) q.set('until', until);
    const res = await fetch('/api/symbols/' + encodeURIComponent(symbol) + '?' + q);
    if (!res.ok) throw new Error(`GET /api/symbols: ${res.status}`);
    render(await res.json());
  }

  function render(body) {
    const acts = body.activity;
    document.getElementById('symbol-meta').textContent = body.until
      ? `${body.hours} h up to ${fmtDay(body.until)} ${fmtTime(body.until)} UTC` : 'no market data';
    const unusual = acts.filter((a) => a.rank);
    document.getElementById('market-summary').textContent = acts.length
      ? `Traded in ${acts.length} windows, unusual in ${unusual.length}` +
        (unusual.length ? ` · peak score ${Math.max(...unusual.map((a) => a.score)).toFixed(1)}` : '')
      : `No trades of ${symbol} in the read model for this span.`;
    const rows = [...acts].reverse().map((a) => {
      const tr = el('tr', a.rank ? 'unusual' : '');
      tr.dataset.end = a.window_end;
      tr.append(
        el('td', 'when', fmtWindow(a)),
        el('td', 'num trades', fmtNum(a.trades)),
        el('td', 'num volume', fmtNum(a.volume)),
        el('td', 'num move', Number(a.move_bps).toFixed(1)),
        el('td', 'num', (a.close / 10000).toFixed(4)),
        el('td', 'num score', a.rank ? Number(a.score).toFixed(1) : ''),
        el('td', 'reason', a.reason || ''),
        el('td', 'num rank', a.rank || ''),
      );
      return tr;
    });
    document.querySelector('#activity tbody').replaceChildren(...rows);

    const ranked = body.mentions.filter((p) => p.rank > 0);
    document.getElementById('mentions-summary').textContent = ranked.length
      ? `$${symbol} trended in ${ranked.length} of ${body.mentions.length} windows`
      : `$${symbol} did not trend on Bluesky in this span.`;
    const mrows = [...ranked].reverse().map((p) => {
      const tr = el('tr');
      tr.dataset.end = p.window_end;
      const when = el('td', 'when');
      const a = el('a', 'term-link', fmtWindow(p));
      const q = new URLSearchParams({ kind: 'cashtag', lang, at: p.window_end });
      a.href = '/term/' + encodeURIComponent(symbol) + '?' + q;
      when.append(a);
      tr.append(
        when,
        el('td', 'num rank', p.rank),
        el('td', 'num count', fmtNum(p.count)),
        el('td', 'num', fmtNum(p.unique_authors)),
        el('td', 'num', Number(p.baseline).toFixed(1)),
        el('td', 'num score', Number(p.score).toFixed(1)),
      );
      return tr;
    });
    document.querySelector('#mentions tbody').replaceChildren(...mrows);
    document.body.dataset.activity = String(acts.length);
    document.body.dataset.mentions = String(ranked.length);
    document.body.dataset.loaded = 'true';
  }

  start(hoursSel, load, document.getElementById('market-summary'));
})();
