package trendscore

import (
	"flag"
	"math"
	"math/rand/v2"
	"strings"
	"testing"
	"time"

	"github.com/trendstream/trendstream/internal/platform/envflag"
)

const period = time.Minute

var t0 = time.Date(2024, 5, 22, 0, 0, 0, 0, time.UTC)

// end returns the end of the i-th window after t0.
func end(i int) time.Time { return t0.Add(time.Duration(i) * period) }

// poisson draws from a Poisson distribution: Knuth's method for small
// means, a rounded normal approximation for large ones.
func poisson(r *rand.Rand, mean float64) int64 {
	if mean <= 0 {
		return 0
	}
	if mean > 50 {
		return max(0, int64(math.Round(mean+math.Sqrt(mean)*r.NormFloat64())))
	}
	l, k, p := math.Exp(-mean), int64(0), 1.0
	for {
		p *= r.Float64()
		if p <= l {
			return k
		}
		k++
	}
}

// slidingAuthors simulates a steady term the way the pipeline sees it:
// per-minute Poisson arrivals of distinct authors, summed over 10-minute
// windows sliding every minute, so consecutive windows overlap as in Beam.
func slidingAuthors(seed uint64, meanPerWindow func(i int) float64, windows int) []int64 {
	out, _ := slidingWindows(seed, meanPerWindow, windows)
	return out
}

// slidingWindows is slidingAuthors with each window's newest minute.
func slidingWindows(seed uint64, meanPerWindow func(i int) float64, windows int) (authors, newest []int64) {
	r := rand.New(rand.NewPCG(seed, 1))
	const size = 10
	minutes := make([]int64, windows+size)
	for m := range minutes {
		minutes[m] = poisson(r, meanPerWindow(m)/size)
	}
	authors, newest = make([]int64, windows), make([]int64, windows)
	for i := range authors {
		for _, v := range minutes[i : i+size] {
			authors[i] += v
		}
		newest[i] = minutes[i+size-1]
	}
	return authors, newest
}

// obs is an observation of a term whose authors each posted once.
func obs(i int, authors int64) Observation {
	return Observation{WindowEnd: end(i), Count: authors, Authors: authors, TopAuthorPosts: min(authors, 1)}
}

func TestSteadyTermNeverTrends(t *testing.T) {
	tests := []struct {
		name string
		mean func(i int) float64
	}{
		{"rare", func(int) float64 { return 3 }},
		{"common", func(int) float64 { return 40 }},
		{"very common", func(int) float64 { return 2000 }},
		// A daily cycle of ±50 %: slow change is not a trend.
		{"daily cycle", func(i int) float64 { return 300 * (1 + 0.5*math.Sin(2*math.Pi*float64(i)/1440)) }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p := DefaultParams().StartingAt(t0)
			const windows = 3 * 1440
			series, newest := slidingWindows(7, tt.mean, windows)
			var st State
			maxScore := math.Inf(-1)
			for i, a := range series {
				// With its newest minute, so the newest-period score
				// is tested too, and its language's volume: the term is
				// in a tenth of the language's posts.
				o := obs(i+1, a)
				o.WindowStart = o.WindowEnd.Add(-10 * period)
				o.NewestCount, o.NewestAuthors = newest[i], newest[i]
				o.Volume, o.NewestVolume = 10*a, 10*newest[i]
				res := p.Update(&st, o, period)
				if res.Trending {
					t.Fatalf("window %d (authors %d, baseline %.1f) trends with score %.2f", i, a, res.Baseline, res.Score)
				}
				if end(i + 1).After(p.WarmUpUntil) {
					maxScore = max(maxScore, res.Score)
				}
			}
			t.Logf("max score over %d windows: %.2f (enter %v)", windows, maxScore, p.Enter)
		})
	}
}

func TestBurstTrendsInFirstWindow(t *testing.T) {
	tests := []struct {
		name       string
		background float64 // mean distinct authors per window before the burst
		burst      int64   // distinct authors in the first burst window
	}{
		{"new term", 0, 60},
		{"known term jumps", 20, 150},
		{"common term doubles", 400, 800},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p := DefaultParams().StartingAt(t0)
			var st State
			const before = 600
			for i, a := range slidingAuthors(3, func(int) float64 { return tt.background }, before) {
				if a == 0 {
					continue // the pipeline only sees windows where the term occurs
				}
				if res := p.Update(&st, obs(i+1, a), period); res.Trending {
					t.Fatalf("trending before the burst at window %d", i)
				}
			}
			b := obs(before+1, tt.burst)
			b.WindowStart = b.WindowEnd.Add(-10 * time.Minute)
			res := p.Update(&st, b, period)
			if !res.Eligible || !res.Trending {
				t.Fatalf("burst of %d authors over baseline %.1f: score %.2f, eligible %v, trending %v", tt.burst, res.Baseline, res.Score, res.Eligible, res.Trending)
			}
			if !res.StartedAt.Equal(b.WindowStart) {
				t.Errorf("StartedAt = %v, want the burst window's start %v", res.StartedAt, b.WindowStart)
			}
			// The next, larger window continues the same trend.
			res2 := p.Update(&st, obs(before+2, tt.burst*3/2), period)
			if !res2.Trending || !res2.StartedAt.Equal(b.WindowStart) {
				t.Errorf("next window: trending %v, StartedAt %v; want still trending since %v", res2.Trending, res2.StartedAt, b.WindowStart)
			}
		})
	}
}

func TestGates(t *testing.T) {
	tests := []struct {
		name     string
		value    Value
		obs      Observation
		eligible bool
	}{
		{"single-author flood, authors scored", ValueAuthors, Observation{Count: 500, Authors: 1, TopAuthorPosts: 500}, false},
		{"single-author flood, count scored", ValueCount, Observation{Count: 500, Authors: 1, TopAuthorPosts: 500}, false},
		{"one author dominates many", ValueCount, Observation{Count: 1000, Authors: 40, TopAuthorPosts: 900}, false},
		{"just under the author minimum", ValueCount, Observation{Count: 400, Authors: 4, TopAuthorPosts: 100}, false},
		{"at the share limit", ValueCount, Observation{Count: 400, Authors: 30, TopAuthorPosts: 200}, true},
		{"many authors", ValueAuthors, Observation{Count: 120, Authors: 100, TopAuthorPosts: 3}, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p := DefaultParams()
			p.Value = tt.value
			var st State
			o := tt.obs
			o.WindowEnd = end(1)
			res := p.Update(&st, o, period)
			if res.Eligible != tt.eligible {
				t.Fatalf("eligible = %v, want %v", res.Eligible, tt.eligible)
			}
			if !tt.eligible && res.Trending {
				t.Errorf("ineligible term trends (score %.2f)", res.Score)
			}
			if tt.eligible && !res.Trending {
				t.Errorf("eligible first-seen burst does not trend (score %.2f)", res.Score)
			}
		})
	}
}

func TestHysteresis(t *testing.T) {
	p := DefaultParams()
	p.NoiseFloor = 5 // the arithmetic below is worked out for β = 5
	p.HalfLife = 1e9 // freeze the baseline so each step's score is exact
	// Baseline 20 with variance 25: score = (x − 20)/(5 + 5) = (x − 20)/10.
	fresh := func() State { return State{EWMA: 20, EWMVar: 25, Windows: 100, LastWindowEnd: end(0).UnixMilli()} }
	steps := []struct {
		authors  int64
		score    float64
		trending bool
	}{
		{45, 2.5, false}, // between exit and enter: does not start
		{70, 5, true},    // above enter: starts
		{50, 3, true},    // dips below enter, above exit: stays
		{42, 2.2, true},  // still above exit
		{35, 1.5, false}, // below exit: stops
		{55, 3.5, false}, // back between the thresholds: does not restart
		{65, 4.5, true},  // restarts, with a new startedAt
	}
	st := fresh()
	var started time.Time
	for i, s := range steps {
		res := p.Update(&st, obs(i+1, s.authors), period)
		if math.Abs(res.Score-s.score) > 1e-6 || res.Trending != s.trending {
			t.Fatalf("step %d (%d authors): score %.3f trending %v, want %.3f %v", i, s.authors, res.Score, res.Trending, s.score, s.trending)
		}
		switch {
		case !res.Trending && !res.StartedAt.IsZero():
			t.Errorf("step %d: StartedAt %v set while not trending", i, res.StartedAt)
		case res.Trending && (i == 1 || i == 6):
			if !res.StartedAt.Equal(end(i + 1)) {
				t.Errorf("step %d: StartedAt %v, want %v", i, res.StartedAt, end(i+1))
			}
			started = res.StartedAt
		case res.Trending && !res.StartedAt.Equal(started):
			t.Errorf("step %d: StartedAt moved to %v during the run started %v", i, res.StartedAt, started)
		}
	}
}

func TestGapDecay(t *testing.T) {
	p := DefaultParams()
	for _, n := range []int64{1, 2, 7, 120, 1000} {
		closed := State{EWMA: 80, EWMVar: 300}
		loop := closed
		p.decay(&closed, n)
		for range n {
			p.fold(&loop, 0)
		}
		if rel(closed.EWMA, loop.EWMA) > 1e-9 || rel(closed.EWMVar, loop.EWMVar) > 1e-9 {
			t.Errorf("n=%d: closed form (%g, %g) != loop (%g, %g)", n, closed.EWMA, closed.EWMVar, loop.EWMA, loop.EWMVar)
		}
	}

	// Through Update: a term absent for 30 windows equals one observed as
	// zero in each of them, and it no longer trends.
	var gap, explicit State
	for i := 1; i <= 50; i++ {
		p.Update(&gap, obs(i, 30), period)
		p.Update(&explicit, obs(i, 30), period)
	}
	if res := p.Update(&gap, obs(51, 90), period); !res.Trending {
		t.Fatalf("jump to 90 over baseline %.1f did not trend (score %.2f)", res.Baseline, res.Score)
	}
	p.Update(&explicit, obs(51, 90), period)
	for i := 52; i <= 81; i++ {
		p.Update(&explicit, Observation{WindowEnd: end(i)}, period)
	}
	a := p.Update(&gap, obs(82, 25), period)
	b := p.Update(&explicit, obs(82, 25), period)
	if rel(a.Baseline, b.Baseline) > 1e-9 || rel(a.Score, b.Score) > 1e-9 {
		t.Errorf("after a gap: baseline %g score %g; with explicit zeros %g %g", a.Baseline, a.Score, b.Baseline, b.Score)
	}
	if a.Trending {
		t.Errorf("still trending after 30 absent windows")
	}

	// A gap of years stays finite and decays to nothing.
	long := State{EWMA: 1e6, EWMVar: 1e9, Windows: 10, LastWindowEnd: end(0).UnixMilli()}
	res := p.Update(&long, obs(1_000_000, 10), period)
	if math.IsNaN(res.Score) || math.IsInf(res.Score, 0) || res.Baseline > 1e-9 {
		t.Errorf("after a huge gap: baseline %g score %g", res.Baseline, res.Score)
	}
}

func rel(a, b float64) float64 {
	if a == b {
		return 0
	}
	return math.Abs(a-b) / math.Max(math.Abs(a), math.Abs(b))
}

func TestFirstSeenNoiseFloor(t *testing.T) {
	tests := []struct {
		floor   float64
		authors int64
	}{
		{5, 0}, {5, 1}, {5, 5}, {5, 25}, {5, 10000}, {1, 3}, {10, 100},
	}
	for _, tt := range tests {
		p := DefaultParams()
		p.NoiseFloor = tt.floor
		var st State
		res := p.Update(&st, obs(1, tt.authors), period)
		want := float64(tt.authors)/tt.floor - 1
		if math.IsInf(res.Score, 0) || math.IsNaN(res.Score) || math.Abs(res.Score-want) > 1e-9 {
			t.Errorf("β=%v, %d authors first seen: score %v, want x/β−1 = %v", tt.floor, tt.authors, res.Score, want)
		}
		if res.Baseline != 0 {
			t.Errorf("first-seen baseline %v, want 0", res.Baseline)
		}
	}
}

func TestRepeatedAndLateWindows(t *testing.T) {
	p := DefaultParams()
	var once, twice State
	for i := 1; i <= 20; i++ {
		p.Update(&once, obs(i, 10), period)
		p.Update(&twice, obs(i, 10), period)
	}
	// A pane fires early with a partial count, then again complete.
	want := p.Update(&once, obs(21, 60), period)
	p.Update(&twice, obs(21, 35), period)
	got := p.Update(&twice, obs(21, 60), period)
	if got != want || once != twice {
		t.Errorf("re-fired window: result %+v state %+v; want %+v %+v", got, twice, want, once)
	}
	// An older window is scored but changes nothing.
	before := once
	late := p.Update(&once, obs(15, 12), period)
	if !late.Late || once != before {
		t.Errorf("late window: Late=%v, state changed %v", late.Late, once != before)
	}
	if want := p.score(&before, 12, p.NoiseFloor); late.Score != want {
		t.Errorf("late window score %v, want %v against the current baseline", late.Score, want)
	}
}

func TestWarmUp(t *testing.T) {
	p := DefaultParams().StartingAt(t0)
	var st State
	// The stream starts mid-conversation: a common term fills up as the
	// first sliding windows fill, which must not look like a burst.
	for i := 1; i <= 15; i++ {
		a := int64(min(i, 10) * 50)
		if res := p.Update(&st, obs(i, a), period); res.Trending {
			t.Fatalf("window %d trends during warm-up", i)
		}
	}
	if st.EWMA != 500 || st.EWMVar != 500 {
		t.Errorf("baseline after warm-up (%v, %v), want the last window (500, 500)", st.EWMA, st.EWMVar)
	}
	if res := p.Update(&st, obs(16, 520), period); res.Trending {
		t.Errorf("steady term trends right after warm-up (score %.2f)", res.Score)
	}
	if res := p.Update(&st, obs(17, 1500), period); !res.Trending {
		t.Errorf("tripled term does not trend after warm-up (score %.2f)", res.Score)
	}
}

func TestRankByVolume(t *testing.T) {
	// Two terms with the same score: a small one from nothing and a big one
	// over a big baseline. Only the volume option separates them.
	small := obs(1, 30) // score 30/5 − 1 = 5
	bigState := State{EWMA: 1000, EWMVar: 2025, Windows: 50, LastWindowEnd: end(0).UnixMilli()}
	big := obs(1, 1250) // score (1250 − 1000)/(45 + 5) = 5
	for _, byVolume := range []bool{false, true} {
		p := DefaultParams()
		p.NoiseFloor = 5 // the arithmetic below is worked out for β = 5
		p.RankByVolume = byVolume
		var st State
		rs := p.Update(&st, small, period)
		bst := bigState
		rb := p.Update(&bst, big, period)
		if math.Abs(rs.Score-5) > 1e-9 || math.Abs(rb.Score-5) > 1e-9 {
			t.Fatalf("scores %v and %v, want 5 and 5", rs.Score, rb.Score)
		}
		want := [2]float64{5, 5}
		if byVolume {
			want = [2]float64{5 * math.Log1p(30), 5 * math.Log1p(1250)}
		}
		if math.Abs(rs.Rank-want[0]) > 1e-9 || math.Abs(rb.Rank-want[1]) > 1e-9 {
			t.Errorf("RankByVolume=%v: ranks %v, %v; want %v", byVolume, rs.Rank, rb.Rank, want)
		}
	}
}

func TestParamsFlags(t *testing.T) {
	p := DefaultParams()
	fs := flag.NewFlagSet("test", flag.ContinueOnError)
	p.RegisterFlags(fs)
	env := map[string]string{"TRENDSTREAM_SCORE_VALUE": "count", "TRENDSTREAM_SCORE_MIN_AUTHORS": "9"}
	if err := fs.Parse([]string{"-score-enter=6", "-score-warm-up=20m", "-score-rank-by-volume"}); err != nil {
		t.Fatal(err)
	}
	if err := envflag.Apply(fs, "TRENDSTREAM", func(k string) (string, bool) { v, ok := env[k]; return v, ok }); err != nil {
		t.Fatal(err)
	}
	if p.Enter != 6 || p.WarmUp != 20*time.Minute || p.Value != ValueCount || p.MinAuthors != 9 || p.Exit != 2 || !p.RankByVolume {
		t.Errorf("parsed %+v", p)
	}
	if err := p.Validate(); err != nil {
		t.Errorf("valid params rejected: %v", err)
	}
	bad := Params{HalfLife: 0, NoiseFloor: -1, MaxAuthorShare: 2, Enter: 1, Exit: 3, Value: 7, WarmUp: -1}
	err := bad.Validate()
	for _, want := range []string{"half-life", "noise floor", "author share", "exit threshold", "unknown value", "warm-up"} {
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("Validate() = %v, want a complaint about %s", err, want)
		}
	}
	var v Value
	if err := v.Set("volume"); err == nil {
		t.Errorf("Value.Set(volume) accepted")
	}
}

func TestNegligible(t *testing.T) {
	p := DefaultParams() // MinAuthors 5, NoiseFloor 5, Value authors
	p.NoiseFloor = 5     // the arithmetic below is worked out for β = 5
	tests := []struct {
		obs  Observation
		want bool
	}{
		{Observation{Count: 1, Authors: 1}, true},
		{Observation{Count: 40, Authors: 4}, true},
		{Observation{Count: 5, Authors: 5}, false},
	}
	for _, tt := range tests {
		if got := p.Negligible(tt.obs); got != tt.want {
			t.Errorf("Negligible(%+v) = %v, want %v", tt.obs, got, tt.want)
		}
	}
	p.Value = ValueCount
	if p.Negligible(Observation{Count: 40, Authors: 4}) {
		t.Error("40 posts by 4 authors is above a count noise floor of 5")
	}
	// β follows the language's volume: 40 posts are below β = 60 in a
	// language of 30,000 posts.
	if !p.Negligible(Observation{Count: 40, Authors: 4, Volume: 30_000}) {
		t.Error("40 posts by 4 authors are not negligible under β = 60")
	}
}

func TestForgetAfterLongGap(t *testing.T) {
	p := DefaultParams()
	p.WarmUp = 0
	period := time.Minute
	t0 := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	var st State
	for i := range 30 {
		p.Update(&st, Observation{WindowEnd: t0.Add(time.Duration(i) * period), Count: 40, Authors: 40}, period)
	}
	gap := p.ForgetAfter(st, period)
	if gap < time.Duration(p.HalfLife)*period {
		t.Fatalf("ForgetAfter %v is shorter than one half-life", gap)
	}
	last := t0.Add(29 * period)
	obs := Observation{WindowEnd: last.Add(gap), Count: 12, Authors: 12}
	kept, fresh := st, State{}
	got := p.Update(&kept, obs, period)
	want := p.Update(&fresh, obs, period)
	if got != want || kept != fresh {
		t.Errorf("after a gap of ForgetAfter, kept state scores %+v, fresh %+v", got, want)
	}
	// Just before the horizon the history still counts.
	kept = st
	obs.WindowEnd = last.Add(gap - period)
	if got := p.Update(&kept, obs, period); got.Baseline == 0 {
		t.Errorf("state was forgotten before ForgetAfter: %+v", got)
	}
}

// TestMinPosts checks MinPosts is exact at every volume: every window
// below it is Negligible whatever its authors, and one at it can be
// significant.
func TestMinPosts(t *testing.T) {
	for _, tt := range []struct {
		minAuthors int64
		floor      float64
		volume     int64 // of the term's language; β = max(floor, 0.002 × volume)
		value      Value
		want       int64
	}{
		{5, 5, 0, ValueAuthors, 5},
		{5, 4.5, 0, ValueAuthors, 5},
		{5, 3.2, 0, ValueCount, 4},
		{2, 10, 0, ValueAuthors, 2},
		{0, 5, 0, ValueCount, 0},
		{7, 1e300, 0, ValueAuthors, 7},
		{5, 2, 300, ValueAuthors, 2},     // a thin language: β = 2
		{5, 2, 1600, ValueAuthors, 4},    // β = 3.2
		{5, 2, 1600, ValueCount, 4},      // β = 3.2
		{5, 2, 30_000, ValueAuthors, 5},  // β = 60: the author gate rules
		{50, 2, 20_000, ValueCount, 40},  // β = 40 below the author gate
		{5, 2, 1 << 62, ValueAuthors, 5}, // no overflow
	} {
		p := DefaultParams()
		p.MinAuthors, p.NoiseFloor, p.Value = tt.minAuthors, tt.floor, tt.value
		got := p.MinPosts(tt.volume)
		if got != tt.want {
			t.Errorf("MinPosts(minAuthors=%d, floor=%v, volume=%d) = %d, want %d", tt.minAuthors, tt.floor, tt.volume, got, tt.want)
		}
		for n := int64(0); n < got; n++ {
			for a := int64(0); a <= n; a++ {
				if obs := (Observation{Count: n, Authors: a, TopAuthorPosts: n - a, Volume: tt.volume}); !p.Negligible(obs) {
					t.Errorf("MinPosts %d, but %+v is not negligible", got, obs)
				}
			}
		}
		if got > 0 && p.Negligible(Observation{Count: got, Authors: got, TopAuthorPosts: 1, Volume: tt.volume}) {
			t.Errorf("MinPosts %d too high: %d posts by %d authors are negligible", got, got, got)
		}
	}
}

func TestNewestPeriodScore(t *testing.T) {
	const size = 10 * time.Minute // 10 periods per window
	window := func(authors, newestAuthors, volume, newestVolume int64) Observation {
		o := obs(1, authors)
		o.WindowStart = o.WindowEnd.Add(-size)
		o.NewestCount, o.NewestAuthors = newestAuthors, newestAuthors
		o.Volume, o.NewestVolume = volume, newestVolume
		return o
	}
	tests := []struct {
		name     string
		baseline float64 // the term's EWMA (and EWMVar, Poisson) per window
		obs      Observation
		params   func(*Params)
		score    float64
		trending bool
	}{
		// 5 new authors in a window of 30 posts: (5 − 2)/2 over the
		// window; in its newest period of 8 posts (5 − 1)/1.
		{"new term, all in the newest period", 0, window(5, 5, 30, 8), nil, 4, true},
		{"new term, spread over the window", 0, window(5, 1, 30, 3), nil, 1.5, false},
		{"newest-period score off", 0, window(5, 5, 30, 8), func(p *Params) { p.NewestNoiseFloor = 0 }, 1.5, false},
		{"no newest counts (a caller without them)", 0, window(5, 0, 30, 0), nil, 1.5, false},
		// A term with 10 authors a window, 1 a period: 5 in the newest
		// period is (5 − 1)/(1 + 1) = 2, below Enter; the window's 14 is
		// (14 − 10)/(√10 + 2) = 0.77.
		{"known term, lively period", 10, window(14, 5, 300, 30), nil, 2, false},
		// In the firehose the floor is relative: 0.2 % of a period's
		// 3,000 posts is β_new = 6, so 30 new authors in it score 4.
		{"new term in a busy language", 0, window(30, 30, 30000, 3000), nil, 4, true},
		{"count value", 0, func() Observation {
			o := window(5, 2, 30, 8)
			o.Count, o.NewestCount = 12, 12 // two authors posted 6 each in the newest period
			o.TopAuthorPosts = 2
			return o
		}(), func(p *Params) { p.Value = ValueCount; p.MaxAuthorShare = 1 }, 11, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p := DefaultParams()
			p.WarmUp = 0
			if tt.params != nil {
				tt.params(&p)
			}
			st := State{EWMA: tt.baseline, EWMVar: tt.baseline}
			res := p.Update(&st, tt.obs, period)
			if math.Abs(res.Score-tt.score) > 0.01 || res.Trending != tt.trending {
				t.Errorf("score %.3f trending %v, want %.3f %v", res.Score, res.Trending, tt.score, tt.trending)
			}
		})
	}
}
