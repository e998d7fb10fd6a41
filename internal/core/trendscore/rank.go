package trendscore

import (
	"cmp"
	"container/heap"
	"math"
	"slices"
	"time"

	"google.golang.org/protobuf/types/known/timestamppb"

	tsv1 "github.com/trendstream/trendstream/proto/trendstream/v1"
)

// Ranked is one term of one window, ready to be ranked: the one
// ranked-term type of the pipeline (transforms/trend) and the reference
// (internal/core/trendcalc), which both build their snapshots from it
// (Window.Snapshot).
type Ranked struct {
	Term string
	Kind tsv1.TermKind
	Lang string
	// Score is what the ranking orders by (Result.Rank).
	Score float64
	// Shown is the score a result shows (Result.Score): Score itself
	// unless Params.RankByVolume weighs the order by volume.
	Shown     float64
	Count     int64
	Authors   int64
	Baseline  float64
	StartedAt time.Time
}

// Window is one ranking's window: what its WindowSnapshot says besides
// the terms.
type Window struct {
	Source     tsv1.Source
	Lang       string
	Start, End time.Time
	Posts      int64
}

// Snapshot is w's WindowSnapshot with terms, which are in ranked order
// (TopK): the one place the pipeline's rankFn and the reference's
// Snapshots turn a ranking into results, so the two cannot drift apart
// field by field. EmittedAt and Revision are the pipeline's to set.
func (w Window) Snapshot(terms []Ranked) *tsv1.WindowSnapshot {
	snap := &tsv1.WindowSnapshot{
		Source:      w.Source,
		Lang:        w.Lang,
		WindowStart: timestamppb.New(w.Start),
		WindowEnd:   timestamppb.New(w.End),
		Posts:       w.Posts,
	}
	for i, r := range terms {
		snap.Terms = append(snap.Terms, &tsv1.TrendingTerm{
			Term: r.Term, Kind: r.Kind, Lang: r.Lang,
			WindowStart: snap.WindowStart, WindowEnd: snap.WindowEnd,
			Count: r.Count, UniqueAuthors: r.Authors,
			Baseline: r.Baseline, Score: r.Shown, Rank: int32(i + 1),
			FirstSeen: timestamppb.New(r.StartedAt),
			Source:    w.Source,
		})
	}
	return snap
}

// before is the ranking order: score descending (NaN last), then distinct
// authors descending, then term, kind and language ascending, so that equal
// inputs always give the same list.
func before(a, b Ranked) bool {
	return compare(a, b) < 0
}

func compare(a, b Ranked) int {
	as, bs := a.Score, b.Score
	if math.IsNaN(as) {
		as = math.Inf(-1)
	}
	if math.IsNaN(bs) {
		bs = math.Inf(-1)
	}
	if c := cmp.Compare(bs, as); c != 0 {
		return c
	}
	if c := cmp.Compare(b.Authors, a.Authors); c != 0 {
		return c
	}
	if c := cmp.Compare(a.Term, b.Term); c != 0 {
		return c
	}
	if c := cmp.Compare(a.Kind, b.Kind); c != 0 {
		return c
	}
	return cmp.Compare(a.Lang, b.Lang)
}

// TopK returns the k best items in ranking order: score descending, then
// distinct authors descending, then term. items is not modified. Pass only
// the entries that should be listed (typically those with Result.Trending).
func TopK(items []Ranked, k int) []Ranked {
	if k <= 0 || len(items) == 0 {
		return nil
	}
	if k >= len(items) {
		out := slices.Clone(items)
		slices.SortFunc(out, compare)
		return out
	}
	// A heap of the k best so far, worst on top: O(n log k) for the large
	// candidate lists of a busy window.
	h := worstFirst(slices.Clone(items[:k]))
	heap.Init(&h)
	for _, it := range items[k:] {
		if before(it, h[0]) {
			h[0] = it
			heap.Fix(&h, 0)
		}
	}
	out := []Ranked(h)
	slices.SortFunc(out, compare)
	return out
}

// TopKPerLang ranks items separately for each Lang.
func TopKPerLang(items []Ranked, k int) map[string][]Ranked {
	by := map[string][]Ranked{}
	for _, it := range items {
		by[it.Lang] = append(by[it.Lang], it)
	}
	for l, its := range by {
		by[l] = TopK(its, k)
	}
	return by
}

// RawCount ranks by posts containing the term (Score = Count), the
// volume ranking most trend lists use, for comparison with the baseline
// score.
func RawCount(items []Ranked, k int) []Ranked {
	byCount := make([]Ranked, len(items))
	for i, it := range items {
		it.Score = float64(it.Count)
		byCount[i] = it
	}
	return TopK(byCount, k)
}

type worstFirst []Ranked

func (h worstFirst) Len() int           { return len(h) }
func (h worstFirst) Less(i, j int) bool { return before(h[j], h[i]) }
func (h worstFirst) Swap(i, j int)      { h[i], h[j] = h[j], h[i] }
func (h *worstFirst) Push(x any)        { *h = append(*h, x.(Ranked)) }
func (h *worstFirst) Pop() any {
	old := *h
	x := old[len(old)-1]
	*h = old[:len(old)-1]
	return x
}
