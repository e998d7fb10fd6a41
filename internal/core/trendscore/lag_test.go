package trendscore

import (
	"math"
	"testing"
	"time"
)

// rampWindows is a term that rises from nothing by perPeriod more authors
// each period for rise periods, then holds, seen through 10-period sliding
// windows: window i holds the authors of periods i−9 … i.
func rampWindows(perPeriod float64, rise, windows int) []int64 {
	periods := make([]float64, windows)
	for i := range periods {
		periods[i] = perPeriod * float64(min(i+1, rise))
	}
	out := make([]int64, windows)
	for i := range out {
		s := 0.0
		for j := max(0, i-9); j <= i; j++ {
			s += periods[j]
		}
		out[i] = int64(math.Round(s))
	}
	return out
}

// TestLaggedBaselineCatchesRamps is the example: a term rising
// from nothing to about 30 authors per window over 8 periods, in a thin
// stream where it is half of all posts. With the previous defaults (β = 5,
// every earlier window in the baseline) its own overlapping windows raise
// its baseline and variance as fast as it grows, and it never trends; the
// lagged baseline catches it, and sooner than an unlagged one with the
// same noise floor.
func TestLaggedBaselineCatchesRamps(t *testing.T) {
	old := DefaultParams()
	old.NoiseFloor, old.NoiseShare, old.Lagged = 5, 0, false
	unlagged := DefaultParams()
	unlagged.Lagged = false
	first := map[string]int{}
	for _, tt := range []struct {
		name   string
		p      Params
		within int // first trending window at most this (0: never trends; -1: any)
	}{
		{"lagged (defaults)", DefaultParams(), 6},
		{"unlagged, same floor", unlagged, -1},
		{"previous defaults", old, 0},
	} {
		p := tt.p.ForWindow(10 * time.Minute)
		var st State
		trended := -1
		maxScore := math.Inf(-1)
		// 0.5 authors per period more each period: about 30 per window at
		// the end of the rise, half of a thin stream's 60 posts.
		for i, a := range rampWindows(0.5, 8, 20) {
			if a == 0 {
				continue
			}
			o := obs(i+1, a)
			o.Volume = 60
			res := p.Update(&st, o, period)
			maxScore = max(maxScore, res.Score)
			if res.Trending && trended < 0 {
				trended = i + 1
			}
		}
		first[tt.name] = trended
		if tt.within == 0 && trended > 0 || tt.within > 0 && (trended < 0 || trended > tt.within) {
			t.Errorf("%s: first trending window %d (max score %.2f), want %d (0: never)", tt.name, trended, maxScore, tt.within)
		}
		t.Logf("%s: first trending window %d, max score %.2f", tt.name, trended, maxScore)
	}
	if l, u := first["lagged (defaults)"], first["unlagged, same floor"]; u > 0 && !(l < u) {
		t.Errorf("lagged baseline trends at window %d, unlagged at %d: want sooner", l, u)
	}
}

// TestLaggedBaselineLearnsOnlyFromThePast checks the lag exactly: the
// baseline a window is scored against holds only windows that ended at or
// before the window's start.
func TestLaggedBaselineLearnsOnlyFromThePast(t *testing.T) {
	p := DefaultParams().ForWindow(10 * time.Minute)
	var st, quiet State
	for i := 1; i <= 40; i++ {
		p.Update(&st, obs(i, 20), period)
		p.Update(&quiet, obs(i, 20), period)
	}
	// A burst: every window from 41 on has 200. For ten windows the
	// baseline must be the one of a term that stayed at 20; the eleventh
	// has learnt the first burst window.
	for i := 41; i <= 51; i++ {
		res := p.Update(&st, obs(i, 200), period)
		want := p.Update(&quiet, obs(i, 20), period).Baseline
		if i <= 50 && res.Baseline != want {
			t.Fatalf("window %d: baseline %v, want %v: the burst inside the window moved it", i, res.Baseline, want)
		}
		if i == 51 && !(res.Baseline > want) {
			t.Errorf("window 51: baseline %v, want it to have learnt window 41 (above %v)", res.Baseline, want)
		}
		if i <= 50 && !res.Trending {
			t.Errorf("window %d: 200 authors over a baseline of %.0f not trending (score %.2f)", i, res.Baseline, res.Score)
		}
	}
}

// TestNoiseFloorIsScaleFree: the same relative burst scores the same at
// every volume once the share dominates the floor.
func TestNoiseFloorIsScaleFree(t *testing.T) {
	p := DefaultParams()
	var want float64
	for i, volume := range []int64{10_000, 100_000, 1_000_000} {
		var st State
		o := obs(1, volume/50) // a new term in 2 % of its language's posts
		o.Volume = volume
		res := p.Update(&st, o, period)
		beta := p.NoiseShare * float64(volume)
		if got := float64(o.Authors)/beta - 1; math.Abs(res.Score-got) > 1e-9 {
			t.Errorf("volume %d: score %v, want x/β − 1 = %v with β = %v", volume, res.Score, got, beta)
		}
		if i == 0 {
			want = res.Score
		} else if math.Abs(res.Score-want) > 1e-9 {
			t.Errorf("volume %d: score %v, want %v as at volume 10,000", volume, res.Score, want)
		}
	}
	// Below the floor's volume β is NoiseFloor.
	var st State
	o := obs(1, 10)
	o.Volume = 50
	if res := p.Update(&st, o, period); math.Abs(res.Score-(10/p.NoiseFloor-1)) > 1e-9 {
		t.Errorf("thin stream: score %v, want %v", res.Score, 10/p.NoiseFloor-1)
	}
}

func TestPendingEncoding(t *testing.T) {
	var st State
	ends := []int64{1_700_000_000_000, 1_700_000_060_000, 1_700_000_180_000}
	last := int64(0)
	for i, e := range ends {
		appendPending(&st, last, e, float64(10*i))
		last = e
	}
	read := func(st State) (out []int64) {
		it := pendingIter{s: st.Pending, end: st.PendingFrom}
		for {
			e, _, ok := it.next()
			if !ok {
				return out
			}
			out = append(out, e)
		}
	}
	if got := read(st); len(got) != 3 || got[0] != ends[0] || got[2] != ends[2] {
		t.Fatalf("pending ends %v, want %v", got, ends)
	}
	if m := maxPending(st); m != 20 {
		t.Errorf("maxPending = %v, want 20", m)
	}
	older := st
	if got := dropLast(&older, ends[1]); got != ends[2] || older != st {
		t.Errorf("dropLast of an older end changed the queue (newest %d)", got)
	}
	dropped := st
	if got := dropLast(&dropped, ends[2]); got != ends[1] || len(read(dropped)) != 2 {
		t.Errorf("dropLast: newest left %d, records %v", got, read(dropped))
	}
	appendPending(&dropped, ends[1], ends[2], 20)
	if dropped != st {
		t.Errorf("drop and re-append differ from the original")
	}
}
