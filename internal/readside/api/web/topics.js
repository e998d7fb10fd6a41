// trendstream dashboard, topics view: the ranked terms of the window shown
// grouped into topics (/api/topics), each with its member terms and an
// example post, linking to the topic's page. It follows the dashboard
// (app.js) through the body's data-view and data-updates attributes and
// the language selector, so the two never disagree on the window.
'use strict';

(() => {
  const { el, list } = window.trendstreamExamples;
  const topicsEl = document.getElementById('topics');
  const langSel = document.getElementById('lang');
  const LIMIT = 12;
  let shown = '';
  let timer = null;

  function pageHref(path, lang, at) {
    const q = new URLSearchParams();
    if (lang !== '') q.set('lang', lang);
    if (at) q.set('at', at);
    const s = q.toString();
    return path + (s ? '?' + s : '');
  }

  function card(w, tp) {
    const c = el('article', 'topic');
    c.dataset.id = tp.id;
    const h = el('h3');
    const a = el('a', 'topic-link', (tp.label_kind === 'hashtag' ? '#' : '') + tp.label);
    a.href = pageHref('/topic/' + encodeURIComponent(tp.id), w.lang, w.window_end);
    h.append(el('span', 'num rank', tp.rank + '. '), a);
    c.append(h, el('div', 'meta', `${tp.members.length} term${tp.members.length === 1 ? '' : 's'} · ` +
      `${Number(tp.mentions).toLocaleString('en-US')} mentions · ${tp.term_lang}`));
    const ms = el('div', 'members');
    for (const m of tp.members) {
      const q = new URLSearchParams({ kind: m.kind, term_lang: tp.term_lang });
      if (w.lang !== '') q.set('lang', w.lang);
      q.set('at', w.window_end);
      const chip = el('a', 'member', (m.kind === 'hashtag' ? '#' : '') + m.term);
      chip.href = '/term/' + encodeURIComponent(m.term) + '?' + q;
      chip.dataset.term = m.term;
      ms.append(chip);
    }
    c.append(ms, list((tp.examples || []).slice(0, 1)));
    return c;
  }

  async function load() {
    const lang = langSel.value;
    const view = document.body.dataset.view || 'live';
    const q = new URLSearchParams({ lang, limit: LIMIT });
    if (view !== 'live') q.set('at', view);
    const res = await fetch('/api/topics?' + q);
    if (!res.ok) throw new Error(`GET /api/topics: ${res.status}`);
    const body = await res.json();
    if (lang !== langSel.value || view !== (document.body.dataset.view || 'live')) return;
    const cards = [];
    for (const w of body.windows) for (const tp of w.topics) cards.push(card(w, tp));
    const grid = el('div', 'topic-grid');
    grid.append(...cards);
    const h = el('h2', '', 'Topics');
    h.append(el('span', 'meta', ' ranked terms that occur in the same posts, grouped'));
    topicsEl.replaceChildren(h, cards.length ? grid : el('p', 'none', 'No topic in this window.'));
    topicsEl.hidden = false;
    document.body.dataset.topics = String(cards.length);
  }

  // refresh reloads when the window or language shown changed, or a live
  // update came in (debounced).
  function refresh() {
    const key = langSel.value + '|' + (document.body.dataset.view || '') + '|' + (document.body.dataset.updates || '');
    if (key === shown || !document.body.dataset.loaded) return;
    shown = key;
    clearTimeout(timer);
    timer = setTimeout(() => load().catch((e) => (topicsEl.textContent = e.message)), 200);
  }

  new MutationObserver(refresh).observe(document.body, { attributes: true, attributeFilter: ['data-view', 'data-updates', 'data-loaded'] });
  langSel.addEventListener('change', refresh);
  refresh();
})();
