// trendstream example posts: renders the example posts of a term or topic
// (store.Example: uri, url, author_did, text, observed_at) for the term
// and topic pages and the dashboard's topics view.
//
// Post text is untrusted: it only reaches the page through textContent,
// and a link only when the API derived a bsky.app address.
'use strict';

window.trendstreamExamples = (() => {
  const { el } = window.trendstreamPage;

  // list returns an <ol class="examples"> of the posts.
  function list(examples) {
    const ol = el('ol', 'examples');
    for (const x of examples || []) {
      const li = el('li', 'example');
      li.append(el('blockquote', 'post-text', x.text));
      const meta = el('div', 'meta');
      const when = x.observed_at ? new Date(x.observed_at).toISOString().replace('T', ' ').slice(0, 16) + ' UTC · ' : '';
      meta.append(el('span', 'author', x.author_did), el('span', '', ' · ' + when));
      if (typeof x.url === 'string' && x.url.startsWith('https://bsky.app/')) {
        const a = el('a', 'post-link', 'open on bsky.app');
        a.href = x.url;
        a.rel = 'noopener noreferrer';
        a.target = '_blank';
        meta.append(a);
      }
      li.append(meta);
      ol.append(li);
    }
    return ol;
  }

  // el is passed on for topics.js, which needs nothing else of page.js.
  return { el, list };
})();
