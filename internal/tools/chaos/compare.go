package chaos

import (
	"cmp"
	"fmt"
	"math"
	"slices"
	"strings"
	"time"

	"github.com/trendstream/trendstream/internal/readside/store"
	tsv1 "github.com/trendstream/trendstream/proto/trendstream/v1"
)

// Problem says how a window differs from the reference.
type Problem string

// The problems, worst first.
const (
	// Missing: the reference has the window, the checked side does not.
	Missing Problem = "missing"
	// Unexpected: the checked side has a window the reference does not.
	Unexpected Problem = "unexpected"
	// PostsDiffer: the window's post count differs (posts lost or counted
	// twice); its ranking usually differs too.
	PostsDiffer Problem = "posts"
	// RankingDiffers: same post count, different ranked terms, counts,
	// scores or first-seen times.
	RankingDiffers Problem = "ranking"
)

// WindowKey identifies a ranking's window.
type WindowKey struct {
	Source, Lang string
	// Start and End are Unix microseconds, PostgreSQL's precision.
	Start, End int64
}

func keyOf(w store.Window) WindowKey {
	return WindowKey{Source: w.Source, Lang: w.Lang, Start: w.Start.UnixMicro(), End: w.End.UnixMicro()}
}

// WindowDiff is one window that differs from the reference.
type WindowDiff struct {
	Lang    string    `json:"lang"`
	Start   time.Time `json:"window_start"`
	End     time.Time `json:"window_end"`
	Problem Problem   `json:"problem"`
	// Got and Want are the post counts (0 for a missing side).
	Got  int64 `json:"posts"`
	Want int64 `json:"want_posts"`
	// Details lists the first differences found in the ranking.
	Details []string `json:"details,omitempty"`
}

// Short is how many posts the window lacks (negative: too many).
func (d WindowDiff) Short() int64 { return d.Want - d.Got }

// Tolerance bounds score and baseline differences: the pipeline and the
// reference compute them identically but sum in different orders.
const Tolerance = 1e-9

// maxDetails bounds the ranking differences kept per window.
const maxDetails = 4

// CompareWindows compares the windows of a run (the read model, or the
// results topic) with the reference's, window by window: post counts,
// then each ranked term's rank, kind, term, count, distinct authors,
// baseline and score (to Tolerance, relative to the larger magnitude) and
// first-seen time. Emission times are not compared. The result is in
// window order, then language.
func CompareWindows(got, want []store.Window) (compared int, diffs []WindowDiff) {
	g := index(got)
	w := index(want)
	for k, ww := range w {
		compared++
		gw, ok := g[k]
		if !ok {
			diffs = append(diffs, WindowDiff{Lang: k.Lang, Start: ww.Start, End: ww.End, Problem: Missing, Want: ww.Posts})
			continue
		}
		if d, ok := compareWindow(gw, ww); !ok {
			diffs = append(diffs, d)
		}
	}
	for k, gw := range g {
		if _, ok := w[k]; !ok {
			compared++
			diffs = append(diffs, WindowDiff{Lang: k.Lang, Start: gw.Start, End: gw.End, Problem: Unexpected, Got: gw.Posts})
		}
	}
	slices.SortFunc(diffs, func(a, b WindowDiff) int {
		return cmp.Or(a.End.Compare(b.End), strings.Compare(a.Lang, b.Lang))
	})
	return compared, diffs
}

func index(ws []store.Window) map[WindowKey]store.Window {
	out := make(map[WindowKey]store.Window, len(ws))
	for _, w := range ws {
		out[keyOf(w)] = w
	}
	return out
}

func compareWindow(got, want store.Window) (WindowDiff, bool) {
	d := WindowDiff{Lang: want.Lang, Start: want.Start, End: want.End, Got: got.Posts, Want: want.Posts, Problem: RankingDiffers}
	if got.Posts != want.Posts {
		d.Problem = PostsDiffer
	}
	d.Details = termDiffs(got.Terms, want.Terms)
	if d.Problem == RankingDiffers && len(d.Details) == 0 {
		return d, true
	}
	return d, false
}

// termDiffs lists up to maxDetails differences between two rankings.
func termDiffs(got, want []store.Term) []string {
	var out []string
	add := func(format string, args ...any) {
		if len(out) < maxDetails {
			out = append(out, fmt.Sprintf(format, args...))
		}
	}
	if len(got) != len(want) {
		add("%d ranked terms, want %d", len(got), len(want))
	}
	for i := range min(len(got), len(want)) {
		if s := termDiff(got[i], want[i]); s != "" {
			add("rank %d: %s", want[i].Rank, s)
		}
	}
	for _, t := range want[min(len(got), len(want)):] {
		add("rank %d: missing %s %q (count %d, authors %d, score %.6g, baseline %.6g)", t.Rank, t.Kind, t.Term, t.Count, t.UniqueAuthors, t.Score, t.Baseline)
	}
	for _, t := range got[min(len(got), len(want)):] {
		add("rank %d: unexpected %s %q (count %d, authors %d, score %.6g, baseline %.6g)", t.Rank, t.Kind, t.Term, t.Count, t.UniqueAuthors, t.Score, t.Baseline)
	}
	return out
}

func termDiff(g, w store.Term) string {
	var parts []string
	if g.Rank != w.Rank || g.Kind != w.Kind || g.Term != w.Term {
		return fmt.Sprintf("%s %q (rank %d), want %s %q", g.Kind, g.Term, g.Rank, w.Kind, w.Term)
	}
	if g.Count != w.Count {
		parts = append(parts, fmt.Sprintf("count %d, want %d", g.Count, w.Count))
	}
	if g.UniqueAuthors != w.UniqueAuthors {
		parts = append(parts, fmt.Sprintf("authors %d, want %d", g.UniqueAuthors, w.UniqueAuthors))
	}
	if !near(g.Score, w.Score) {
		parts = append(parts, fmt.Sprintf("score %.6g, want %.6g", g.Score, w.Score))
	}
	if !near(g.Baseline, w.Baseline) {
		parts = append(parts, fmt.Sprintf("baseline %.6g, want %.6g", g.Baseline, w.Baseline))
	}
	if !sameTime(g.FirstSeen, w.FirstSeen) {
		parts = append(parts, fmt.Sprintf("first seen %s, want %s", fmtTime(g.FirstSeen), fmtTime(w.FirstSeen)))
	}
	if len(parts) == 0 {
		return ""
	}
	return fmt.Sprintf("%s %q: %s", w.Kind, w.Term, strings.Join(parts, ", "))
}

func near(a, b float64) bool {
	return math.Abs(a-b) <= Tolerance*max(1, math.Abs(a), math.Abs(b))
}

func sameTime(a, b *time.Time) bool {
	if a == nil || b == nil {
		return a == b
	}
	return a.Equal(*b)
}

func fmtTime(t *time.Time) string {
	if t == nil {
		return "none"
	}
	return t.UTC().Format(time.RFC3339Nano)
}

// Windows converts snapshots to the read model's shape (store.FromSnapshot,
// what WriteSnapshots stores), so the reference, the results topic and
// PostgreSQL are compared in one form.
func Windows(snaps []*tsv1.WindowSnapshot) []store.Window {
	out := make([]store.Window, 0, len(snaps))
	for _, s := range snaps {
		w := store.FromSnapshot(s)
		w.EmittedAt, w.Revision = nil, 0
		out = append(out, w)
	}
	return out
}
