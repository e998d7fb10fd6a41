package store

import (
	"cmp"
	"slices"
	"strings"
	"time"

	tsv1 "github.com/trendstream/trendstream/proto/trendstream/v1"
)

// Window is one ranking: the terms of one sliding window for one source and
// language. Lang "" is the overall ranking across all languages. Terms is
// empty when the window was listed without its terms.
type Window struct {
	Source    string     `json:"source"`
	Lang      string     `json:"lang"`
	Start     time.Time  `json:"window_start"`
	End       time.Time  `json:"window_end"`
	Posts     int64      `json:"posts"`
	EmittedAt *time.Time `json:"emitted_at,omitempty"`
	// Revision orders a window's snapshots (WindowSnapshot.revision).
	Revision int64 `json:"revision,omitempty"`
	// Ranked is how many terms the window ranked, set when windows are
	// listed without their terms (Store.Windows, Store.Timeline): 0 marks
	// a window in which nothing trended, such as the tail of a replay.
	Ranked *int   `json:"ranked,omitempty"`
	Terms  []Term `json:"terms,omitempty"`
}

// Term is one ranked term of a window.
type Term struct {
	Rank int32  `json:"rank"`
	Kind string `json:"kind"`
	Term string `json:"term"`
	// TermLang is the language of the posts the term was counted in
	// (TrendingTerm.lang: a primary language subtag, "und" when
	// undetermined), not the ranking's language, Window.Lang. The pipeline
	// scores a term separately per language, so the overall ranking may
	// hold the same kind and term once for each language it trends in. ""
	// means unknown: overall rankings stored before schema version 3.
	TermLang      string     `json:"term_lang"`
	Count         int64      `json:"count"`
	UniqueAuthors int64      `json:"unique_authors"`
	Baseline      float64    `json:"baseline"`
	Score         float64    `json:"score"`
	FirstSeen     *time.Time `json:"first_seen,omitempty"`
	// History holds the term's values in the ranking's recent windows,
	// oldest first, when it was asked for.
	History []Point `json:"history,omitempty"`
}

// Point is a term's state in one window. Rank 0 means the term was not
// among that window's ranked terms; its count is then unknown and reported
// as 0, because only ranked terms are stored.
type Point struct {
	Source string `json:"source,omitempty"`
	Kind   string `json:"kind,omitempty"`
	// TermLang is the term's language in that window (see Term.TermLang).
	TermLang      string    `json:"term_lang,omitempty"`
	Start         time.Time `json:"window_start"`
	End           time.Time `json:"window_end"`
	Posts         int64     `json:"posts"`
	Rank          int32     `json:"rank"`
	Count         int64     `json:"count"`
	UniqueAuthors int64     `json:"unique_authors"`
	Baseline      float64   `json:"baseline"`
	Score         float64   `json:"score"`
}

// SourceName is the read model's (and the results topic key's) name for a
// source: the enum name without its prefix, lower-cased ("bluesky"). Values
// this build does not know keep their number ("source_7") rather than
// failing, as post.proto asks of consumers.
func SourceName(s tsv1.Source) string {
	if _, ok := tsv1.Source_name[int32(s)]; !ok {
		return "source_" + s.String()
	}
	return strings.ToLower(strings.TrimPrefix(s.String(), "SOURCE_"))
}

// KindName is the read model's name for a term kind ("hashtag", "word",
// "phrase", "cashtag").
func KindName(k tsv1.TermKind) string {
	if _, ok := tsv1.TermKind_name[int32(k)]; !ok {
		return "kind_" + k.String()
	}
	return strings.ToLower(strings.TrimPrefix(k.String(), "TERM_KIND_"))
}

// DisplayTerm is how a term is shown to people: hashtags with '#', cashtags
// with '$' ("$AAPL"), words and phrases as they are. kind is a KindName.
func DisplayTerm(kind, term string) string {
	switch kind {
	case "hashtag":
		return "#" + term
	case "cashtag":
		return "$" + term
	}
	return term
}

// FromSnapshot converts a pipeline snapshot to the read model's shape, as
// WriteSnapshots stores it: times in UTC truncated to PostgreSQL's
// microseconds, the snapshot's own source, language and window applied to
// every term, duplicate (kind, term, term language) entries collapsed to the
// best-ranked one, and terms ordered by rank. The same kind and term in two
// languages are two entries: the pipeline scores them apart.
func FromSnapshot(s *tsv1.WindowSnapshot) Window {
	w := Window{
		Source:   SourceName(s.GetSource()),
		Lang:     s.GetLang(),
		Start:    pgTime(s.GetWindowStart().AsTime()),
		End:      pgTime(s.GetWindowEnd().AsTime()),
		Posts:    s.GetPosts(),
		Revision: s.GetRevision(),
	}
	if s.GetEmittedAt() != nil {
		t := pgTime(s.GetEmittedAt().AsTime())
		w.EmittedAt = &t
	}
	type key struct{ kind, term, lang string }
	seen := make(map[key]int, len(s.GetTerms()))
	for _, t := range s.GetTerms() {
		term := Term{
			Rank:          t.GetRank(),
			Kind:          KindName(t.GetKind()),
			Term:          t.GetTerm(),
			TermLang:      t.GetLang(),
			Count:         t.GetCount(),
			UniqueAuthors: t.GetUniqueAuthors(),
			Baseline:      t.GetBaseline(),
			Score:         t.GetScore(),
		}
		if t.GetFirstSeen() != nil {
			fs := pgTime(t.GetFirstSeen().AsTime())
			term.FirstSeen = &fs
		}
		k := key{term.Kind, term.Term, term.TermLang}
		if i, dup := seen[k]; dup {
			if term.Rank < w.Terms[i].Rank {
				w.Terms[i] = term
			}
			continue
		}
		seen[k] = len(w.Terms)
		w.Terms = append(w.Terms, term)
	}
	sortTerms(w.Terms)
	return w
}

func sortTerms(ts []Term) {
	slices.SortFunc(ts, func(a, b Term) int {
		return cmp.Or(cmp.Compare(a.Rank, b.Rank), strings.Compare(a.Kind, b.Kind), strings.Compare(a.Term, b.Term),
			strings.Compare(a.TermLang, b.TermLang))
	})
}

// pgTime is t as PostgreSQL's timestamptz stores it, so keys compare equal
// after a round trip.
func pgTime(t time.Time) time.Time { return t.UTC().Truncate(time.Microsecond) }
