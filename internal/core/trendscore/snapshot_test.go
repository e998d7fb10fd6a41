package trendscore

import (
	"testing"
	"time"

	tsv1 "github.com/trendstream/trendstream/proto/trendstream/v1"
)

// TestWindowSnapshot: the snapshot the pipeline and the reference both
// build shows each term's Shown score (not what it was ordered by), ranks
// from 1 in the order given, and names the window's source on every term.
func TestWindowSnapshot(t *testing.T) {
	start := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	w := Window{Source: tsv1.Source_SOURCE_BLUESKY, Lang: "en", Start: start, End: start.Add(10 * time.Minute), Posts: 42}
	tests := []struct {
		name  string
		terms []Ranked
	}{
		{"empty", nil},
		{"two terms", []Ranked{
			{Term: "eclipse", Kind: tsv1.TermKind_TERM_KIND_HASHTAG, Lang: "en", Score: 9.5, Shown: 4, Count: 12, Authors: 11, Baseline: 1.5, StartedAt: start.Add(time.Minute)},
			{Term: "moon", Kind: tsv1.TermKind_TERM_KIND_WORD, Lang: "en", Score: 3, Shown: 3, Count: 5, Authors: 5, StartedAt: start.Add(2 * time.Minute)},
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := w.Snapshot(tt.terms)
			if s.GetSource() != w.Source || s.GetLang() != "en" || s.GetPosts() != 42 ||
				!s.GetWindowStart().AsTime().Equal(w.Start) || !s.GetWindowEnd().AsTime().Equal(w.End) {
				t.Errorf("window fields: %v", s)
			}
			if len(s.Terms) != len(tt.terms) {
				t.Fatalf("%d terms, want %d", len(s.Terms), len(tt.terms))
			}
			for i, r := range tt.terms {
				g := s.Terms[i]
				if g.Term != r.Term || g.Kind != r.Kind || g.Lang != r.Lang || g.Rank != int32(i+1) || g.Score != r.Shown ||
					g.Count != r.Count || g.UniqueAuthors != r.Authors || g.Baseline != r.Baseline ||
					!g.FirstSeen.AsTime().Equal(r.StartedAt) || g.Source != w.Source ||
					!g.WindowStart.AsTime().Equal(w.Start) || !g.WindowEnd.AsTime().Equal(w.End) {
					t.Errorf("term %d = %v, want %+v at rank %d", i, g, r, i+1)
				}
			}
		})
	}
}
