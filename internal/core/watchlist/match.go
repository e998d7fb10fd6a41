package watchlist

import (
	"slices"
	"strings"
	"sync"

	"github.com/trendstream/trendstream/internal/core/terms"
	tsv1 "github.com/trendstream/trendstream/proto/trendstream/v1"
)

// Matching reuses the trending pipeline's term extraction, so an entry
// matches exactly when the words, phrases or hashtags it names are among
// the terms the post is counted under: the entry's text (and each alias) is
// run through the same extractor, in the post's language (stopwords differ
// by language), and the terms that come out are what a post must contain.
//
//   - A hashtag ("#Election2026", or any text of a hashtag entry) needs
//     that hashtag.
//   - One word needs the word or the hashtag of the same text.
//   - Several words need every two-word phrase the extractor makes of them
//     (adjacent words, stopwords and numbers break phrases), or, when
//     stopwords leave no phrase ("state of the union"), every word.
//
// A pattern the extractor drops entirely (a stopword, one letter) never
// matches; CompileErrors reports those.

// term is an extracted term's identity.
type term struct {
	text string
	kind tsv1.TermKind
}

// pattern is one way to match an entry: all of need.
type pattern struct {
	entry int // index into Matcher.entries
	need  []term
}

// compiled is the patterns of every entry in one language, indexed by
// their first needed term.
type compiled struct {
	byFirst map[term][]pattern
}

// Matcher finds the entries a post matches. It is safe for concurrent use.
type Matcher struct {
	entries []Entry
	ex      *terms.Extractor
	mu      sync.Mutex
	byLang  map[string]*compiled
}

// NewMatcher returns a matcher for entries with the extraction options the
// trending pipeline runs with.
func NewMatcher(entries []Entry, opts terms.Options) *Matcher {
	return &Matcher{entries: slices.Clone(entries), ex: terms.New(opts), byLang: map[string]*compiled{}}
}

// Entries returns the matcher's entries (shared; do not modify).
func (m *Matcher) Entries() []Entry { return m.entries }

// Match returns the indexes (into Entries) of the entries post p matches,
// ascending. Deletes match nothing.
func (m *Matcher) Match(p *tsv1.Post) []int {
	ts := m.ex.Extract(p)
	if len(ts) == 0 {
		return nil
	}
	lang := ts[0].Lang
	return m.match(ts, lang)
}

func (m *Matcher) match(ts []terms.Term, lang string) []int {
	c := m.forLang(lang)
	have := make(map[term]struct{}, len(ts))
	for _, t := range ts {
		have[term{t.Text, t.Kind}] = struct{}{}
	}
	var out []int
	for _, t := range ts {
		for _, pt := range c.byFirst[term{t.Text, t.Kind}] {
			if slices.Contains(out, pt.entry) || !hasAll(have, pt.need) {
				continue
			}
			out = append(out, pt.entry)
		}
	}
	slices.Sort(out)
	return out
}

func hasAll(have map[term]struct{}, need []term) bool {
	for _, n := range need {
		if _, ok := have[n]; !ok {
			return false
		}
	}
	return true
}

// forLang returns the patterns for posts in lang, compiling them on first
// use: the language decides the stopwords, so which terms a pattern needs.
func (m *Matcher) forLang(lang string) *compiled {
	m.mu.Lock()
	defer m.mu.Unlock()
	if c := m.byLang[lang]; c != nil {
		return c
	}
	c := &compiled{byFirst: map[term][]pattern{}}
	for i, e := range m.entries {
		if len(e.Langs) > 0 && !slices.Contains(e.Langs, lang) {
			continue
		}
		for _, needs := range m.patterns(e, lang) {
			c.byFirst[needs[0]] = append(c.byFirst[needs[0]], pattern{entry: i, need: needs})
		}
	}
	m.byLang[lang] = c
	return c
}

// patterns returns, for each of e's texts, the alternative term sets that
// match it in lang.
func (m *Matcher) patterns(e Entry, lang string) [][]term {
	var out [][]term
	for _, text := range append([]string{e.Text}, e.Aliases...) {
		out = append(out, m.needs(text, e.Kind == KindHashtag, lang)...)
	}
	return out
}

// needs returns the alternatives (each a set of terms that must all be
// present) for one text; none if the extractor keeps nothing of it.
func (m *Matcher) needs(text string, hashtag bool, lang string) [][]term {
	text = strings.TrimSpace(text)
	if hashtag || strings.HasPrefix(text, "#") {
		ts := m.ex.Terms("", []string{text}, lang)
		if len(ts) == 0 {
			return nil
		}
		return [][]term{{{ts[0].Text, ts[0].Kind}}}
	}
	var words, phrases []term
	for _, t := range m.ex.Terms(text, nil, lang) {
		switch t.Kind {
		case tsv1.TermKind_TERM_KIND_WORD:
			words = append(words, term{t.Text, t.Kind})
		case tsv1.TermKind_TERM_KIND_PHRASE:
			phrases = append(phrases, term{t.Text, t.Kind})
		}
	}
	switch {
	case len(phrases) > 0:
		return [][]term{phrases}
	case len(words) == 1:
		return [][]term{words, {{words[0].text, tsv1.TermKind_TERM_KIND_HASHTAG}}}
	case len(words) > 1:
		return [][]term{words}
	}
	return nil
}

// CompileErrors lists the entry texts that can never match in lang (the
// extractor keeps nothing of them), so a file can be checked on load.
func CompileErrors(entries []Entry, opts terms.Options, lang string) []string {
	m := NewMatcher(nil, opts)
	var bad []string
	for _, e := range entries {
		for _, text := range append([]string{e.Text}, e.Aliases...) {
			if len(m.needs(text, e.Kind == KindHashtag, lang)) == 0 {
				bad = append(bad, e.ID+": "+text)
			}
		}
	}
	return bad
}
