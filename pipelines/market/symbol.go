package market

import (
	"sort"

	"github.com/trendstream/trendstream/internal/core/marketcalc"
	v1 "github.com/trendstream/trendstream/proto/trendstream/v1"
)

// PeriodStats is one symbol's trades in one period, named by the period's
// end (Unix ms): what the streaming scorer keeps per symbol.
type PeriodStats struct {
	End   int64
	Stats marketcalc.Stats
}

// PastWindow is a scored window of a symbol, kept for the baselines of the
// windows after it.
type PastWindow struct {
	End   int64
	Stats marketcalc.Stats
}

// symbolWindows is one symbol's period buckets as the streaming scorer has
// them, and the scoring of its windows from them: marketcalc.ScoreSymbol's
// rule, window by window, so that a stream gives the reference's scores.
type symbolWindows struct {
	p                marketcalc.Params
	sym              string
	sizeMs, periodMs int64
	// buckets are the periods' aggregates by end; a period's late trades
	// are merged into it.
	buckets map[int64]marketcalc.Stats
}

func newSymbolWindows(p marketcalc.Params, sym string) *symbolWindows {
	return &symbolWindows{p: p, sym: sym, sizeMs: p.WindowSize.Milliseconds(), periodMs: p.WindowPeriod.Milliseconds(),
		buckets: map[int64]marketcalc.Stats{}}
}

func (w *symbolWindows) add(ps PeriodStats) {
	w.buckets[ps.End] = w.buckets[ps.End].Merge(ps.Stats)
}

// has reports whether the window ending at end holds a bucket.
func (w *symbolWindows) has(end int64) bool {
	for e := end - w.sizeMs + w.periodMs; e <= end; e += w.periodMs {
		if _, ok := w.buckets[e]; ok {
			return true
		}
	}
	return false
}

// stats merges the buckets of the window ending at end.
func (w *symbolWindows) stats(end int64) marketcalc.Stats {
	var st marketcalc.Stats
	for e := end - w.sizeMs + w.periodMs; e <= end; e += w.periodMs {
		st = st.Merge(w.buckets[e])
	}
	return st
}

// earliest is the first bucket's end (0 if there is none).
func (w *symbolWindows) earliest() int64 {
	first, ok := int64(0), false
	for e := range w.buckets {
		if !ok || e < first {
			first, ok = e, true
		}
	}
	return first
}

// ends returns, in order, the ends of the windows in (after, to] that hold a
// bucket.
func (w *symbolWindows) ends(after, to int64) []int64 {
	set := map[int64]bool{}
	for b := range w.buckets {
		for e := max(b, after+w.periodMs); e <= min(b+w.sizeMs-w.periodMs, to); e += w.periodMs {
			set[e] = true
		}
	}
	out := make([]int64, 0, len(set))
	for e := range set {
		out = append(out, e)
	}
	sort.Slice(out, func(i, j int) bool { return out[i] < out[j] })
	return out
}

// replay scores, in order, the windows in (after, to] that hold a bucket.
// hist is the symbol's scored windows that end at or before after, oldest
// first; firstEnd is the end of the symbol's first bucket. It calls emit
// (if not nil) with each window's activity and returns hist with the
// windows scored here appended, cut to what a later window's baseline can
// use.
//
// As in marketcalc.ScoreSymbol: a window that starts before the symbol's
// first bucket covers only part of its history, so it is neither scored
// nor part of a baseline (its activity is still emitted); a window's
// baseline is the symbol's scored windows that ended by its start, the
// latest BaselineWindows of them.
func (w *symbolWindows) replay(hist []PastWindow, firstEnd, after, to int64, emit func(end int64, act *v1.SymbolActivity)) []PastWindow {
	hist = append([]PastWindow(nil), hist...)
	firstStart := firstEnd - w.periodMs
	for _, end := range w.ends(after, to) {
		st := w.stats(end)
		start := end - w.sizeMs
		sc := marketcalc.Score{Symbol: w.sym, Stats: st}
		if start >= firstStart {
			j := sort.Search(len(hist), func(i int) bool { return hist[i].End > start })
			past := make([]marketcalc.Stats, 0, min(j, w.p.BaselineWindows))
			for _, h := range hist[max(0, j-w.p.BaselineWindows):j] {
				past = append(past, h.Stats)
			}
			if s, ok := marketcalc.ScoreWindow(w.p, w.sym, st, past); ok && s.Score >= w.p.MinScore {
				sc = s
			}
			hist = append(hist, PastWindow{End: end, Stats: st})
		}
		if emit != nil {
			emit(end, marketcalc.Snapshot(marketcalc.Ranking{Symbols: []marketcalc.Score{sc}}).GetSymbols()[0])
		}
	}
	// A later window's baseline ends by its start, so at most a window
	// size's worth of the newest entries are not yet usable: the latest
	// BaselineWindows before them are all it can need.
	if keep := w.p.BaselineWindows + int(w.sizeMs/w.periodMs); len(hist) > keep {
		hist = hist[len(hist)-keep:]
	}
	return hist
}

// evict drops the buckets that only windows ending at or before settled
// hold.
func (w *symbolWindows) evict(settled int64) {
	for e := range w.buckets {
		if e <= settled+w.periodMs-w.sizeMs {
			delete(w.buckets, e)
		}
	}
}
