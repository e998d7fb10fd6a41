package chaos

import (
	"slices"
	"strings"
	"testing"
	"time"

	"google.golang.org/protobuf/proto"

	"github.com/trendstream/trendstream/internal/readside/store"
	"github.com/trendstream/trendstream/internal/testenv/replaytest"
	tsv1 "github.com/trendstream/trendstream/proto/trendstream/v1"
)

var t0 = time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)

func window(lang string, end time.Time, posts int64, terms ...store.Term) store.Window {
	return store.Window{Source: "bluesky", Lang: lang, Start: end.Add(-time.Minute), End: end, Posts: posts, Terms: terms}
}

func term(rank int32, name string, count int64, score float64) store.Term {
	fs := t0
	return store.Term{Rank: rank, Kind: "word", Term: name, Count: count, UniqueAuthors: count, Baseline: 1, Score: score, FirstSeen: &fs}
}

func TestCompareWindows(t *testing.T) {
	w1 := t0.Add(time.Minute)
	w2 := t0.Add(2 * time.Minute)
	want := []store.Window{
		window("", w1, 10, term(1, "eclipse", 8, 4.5), term(2, "moon", 6, 4.1)),
		window("en", w1, 7, term(1, "eclipse", 6, 4.2)),
		window("", w2, 12),
	}
	edit := func(f func([]store.Window) []store.Window) []store.Window {
		c := make([]store.Window, len(want))
		for i, w := range want {
			c[i] = w
			c[i].Terms = slices.Clone(w.Terms)
		}
		return f(c)
	}
	tests := []struct {
		name    string
		got     []store.Window
		want    []Problem
		details string
	}{
		{"equal", edit(func(w []store.Window) []store.Window { return w }), nil, ""},
		{"score within tolerance", edit(func(w []store.Window) []store.Window {
			w[0].Terms[0].Score += 4.5 * Tolerance / 10
			return w
		}), nil, ""},
		{"score beyond tolerance", edit(func(w []store.Window) []store.Window {
			w[0].Terms[0].Score += 1e-6
			return w
		}), []Problem{RankingDiffers}, "score"},
		{"a post lost", edit(func(w []store.Window) []store.Window {
			w[2].Posts--
			return w
		}), []Problem{PostsDiffer}, ""},
		{"count differs", edit(func(w []store.Window) []store.Window {
			w[1].Terms[0].Count = 5
			return w
		}), []Problem{RankingDiffers}, "count 5, want 6"},
		{"terms swapped", edit(func(w []store.Window) []store.Window {
			w[0].Terms[0].Term, w[0].Terms[1].Term = w[0].Terms[1].Term, w[0].Terms[0].Term
			return w
		}), []Problem{RankingDiffers}, `"moon"`},
		{"term missing", edit(func(w []store.Window) []store.Window {
			w[0].Terms = w[0].Terms[:1]
			return w
		}), []Problem{RankingDiffers}, `1 ranked terms, want 2; rank 2: missing word "moon"`},
		{"term unexpected", edit(func(w []store.Window) []store.Window {
			w[2].Terms = []store.Term{term(1, "tide", 3, 2.5)}
			return w
		}), []Problem{RankingDiffers}, `rank 1: unexpected word "tide"`},
		{"first seen differs", edit(func(w []store.Window) []store.Window {
			later := t0.Add(time.Minute)
			w[1].Terms[0].FirstSeen = &later
			return w
		}), []Problem{RankingDiffers}, "first seen"},
		{"window missing", edit(func(w []store.Window) []store.Window { return w[:2] }), []Problem{Missing}, ""},
		{"window unexpected", edit(func(w []store.Window) []store.Window {
			return append(w, window("de", w2, 1))
		}), []Problem{Unexpected}, ""},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			compared, diffs := CompareWindows(tc.got, want)
			if compared < len(want) {
				t.Errorf("compared %d windows, want at least %d", compared, len(want))
			}
			var got []Problem
			for _, d := range diffs {
				got = append(got, d.Problem)
			}
			if !slices.Equal(got, tc.want) {
				t.Fatalf("problems %v, want %v (%+v)", got, tc.want, diffs)
			}
			if tc.details != "" && !strings.Contains(strings.Join(diffs[0].Details, "; "), tc.details) {
				t.Errorf("details %q lack %q", diffs[0].Details, tc.details)
			}
		})
	}
}

// TestReferenceComparisonFindsLossAndDuplicates runs the reference over a
// real replay and over the same replay with one post dropped and another
// doubled, as a pipeline that lost and double-counted would: the
// comparison must find exactly the windows those posts belong to.
func TestReferenceComparisonFindsLossAndDuplicates(t *testing.T) {
	posts, err := replaytest.Scenario(t0)
	if err != nil {
		t.Fatal(err)
	}
	// The scenario's windows (a 20-minute replay with a burst at minute 12).
	c := DefaultConfig()
	c.WindowSize, c.WindowPeriod = 5*time.Minute, time.Minute
	o := PipelineOptions(c, []string{"127.0.0.1:1"}, "")
	want := Reference(o, posts)
	ranked := 0
	for _, w := range want {
		ranked += len(w.Terms)
	}
	if ranked == 0 {
		t.Fatal("nothing ranks in the reference: the comparison would prove nothing")
	}

	lost, doubled := posts[100], posts[400]
	var got []*tsv1.Post
	for _, p := range posts {
		if p == lost {
			continue
		}
		got = append(got, p)
		if p == doubled {
			got = append(got, proto.Clone(p).(*tsv1.Post))
		}
	}
	_, diffs := CompareWindows(Reference(o, got), want)
	windowsOf := func(p *tsv1.Post) int {
		// The overall and the post's language ranking, size/period windows each.
		return 2 * int(c.WindowSize/c.WindowPeriod)
	}
	var short, over int
	for _, d := range diffs {
		switch {
		case d.Short() == 1:
			short++
			if !inWindow(lost, d) {
				t.Errorf("window %s..%s short, but the lost post is at %s", d.Start, d.End, lost.GetObservedAt().AsTime())
			}
		case d.Short() == -1:
			over++
			if !inWindow(doubled, d) {
				t.Errorf("window %s..%s over, but the doubled post is at %s", d.Start, d.End, doubled.GetObservedAt().AsTime())
			}
		case d.Problem == PostsDiffer:
			t.Errorf("window %s..%s: %d posts, want %d", d.Start, d.End, d.Got, d.Want)
		}
	}
	if short != windowsOf(lost) || over != windowsOf(doubled) {
		t.Errorf("%d short and %d over windows, want %d and %d", short, over, windowsOf(lost), windowsOf(doubled))
	}
}

func inWindow(p *tsv1.Post, d WindowDiff) bool {
	at := p.GetObservedAt().AsTime()
	return !at.Before(d.Start) && at.Before(d.End)
}
