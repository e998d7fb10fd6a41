package marketcalc

import (
	"context"
	"math"
	"math/rand/v2"
	"reflect"
	"testing"
	"time"

	"github.com/trendstream/trendstream/ingest/market"
	"github.com/trendstream/trendstream/ingest/market/lean"
	v1 "github.com/trendstream/trendstream/proto/trendstream/v1"
)

var t0 = time.Date(2013, 10, 7, 13, 0, 0, 0, time.UTC)

func TestStatsMergeIsOrderFree(t *testing.T) {
	trades := []Trade{
		{Time: t0, Seq: 1, Price: 100, Size: 1},
		{Time: t0, Seq: 2, Price: 90, Size: 2}, // same time: seq decides
		{Time: t0.Add(time.Second), Seq: 3, Price: 120, Size: 3},
		{Time: t0.Add(2 * time.Second), Seq: 4, Price: 110, Size: 4},
		{Time: t0.Add(2 * time.Second), Seq: 5, Price: 105, Size: 5},
	}
	want := Stats{Trades: 5, Volume: 15, Open: 100, Close: 105, High: 120, Low: 90,
		FirstNanos: t0.UnixNano(), LastNanos: t0.Add(2 * time.Second).UnixNano(), FirstSeq: 1, LastSeq: 5}
	r := rand.New(rand.NewPCG(1, 2))
	for i := range 50 {
		perm := r.Perm(len(trades))
		// Split into two partial aggregates, as combiners do, and merge.
		cut := r.IntN(len(trades) + 1)
		var a, b Stats
		for k, p := range perm {
			if k < cut {
				a.Add(trades[p])
			} else {
				b.Add(trades[p])
			}
		}
		if got := b.Merge(a); got != want {
			t.Fatalf("permutation %d %v cut %d: %+v, want %+v", i, perm, cut, got, want)
		}
	}
	if got := want.MoveBps(); math.Abs(got-500) > 1e-9 {
		t.Errorf("move %v bps, want 500", got)
	}
}

func steady(n int, trades, volume int64, open, close int64) []Stats {
	out := make([]Stats, n)
	for i := range out {
		out[i] = Stats{Trades: trades, Volume: volume, Open: open, Close: close}
	}
	return out
}

func TestScoreWindow(t *testing.T) {
	p := DefaultParams()
	tests := []struct {
		name       string
		cur        Stats
		past       []Stats
		wantOK     bool
		wantReason string
		wantScore  float64
	}{
		{name: "too little history", cur: Stats{Trades: 100}, past: steady(4, 10, 1000, 10000, 10000)},
		{name: "trade burst over a flat history: floor 1 trade", cur: Stats{Trades: 15, Volume: 1000, Open: 10000, Close: 10000}, past: steady(5, 10, 1000, 10000, 10000),
			wantOK: true, wantReason: FeatureTrades, wantScore: 5},
		{name: "volume burst: floor 10% of the mean", cur: Stats{Trades: 10, Volume: 3000, Open: 10000, Close: 10000}, past: steady(5, 10, 1000, 10000, 10000),
			wantOK: true, wantReason: FeatureVolume, wantScore: 20},
		{name: "price move: 50 bps over a 0 bps history with 1 bp floor", cur: Stats{Trades: 10, Volume: 1000, Open: 10000, Close: 10050}, past: steady(5, 10, 1000, 10000, 10000),
			wantOK: true, wantReason: FeatureMove, wantScore: 50},
		{name: "quiet window scores below zero", cur: Stats{Trades: 5, Volume: 500, Open: 10000, Close: 10000}, past: steady(5, 10, 1000, 10000, 10000),
			wantOK: true, wantReason: FeatureMove, wantScore: 0},
		{name: "only the last BaselineWindows count", cur: Stats{Trades: 11, Volume: 1000, Open: 1, Close: 1},
			past: append(steady(100, 1000, 1000, 1, 1), steady(30, 10, 1000, 1, 1)...), wantOK: true, wantReason: FeatureTrades, wantScore: 1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s, ok := ScoreWindow(p, "X", tt.cur, tt.past)
			if ok != tt.wantOK {
				t.Fatalf("ok %v, want %v", ok, tt.wantOK)
			}
			if ok && (s.Reason != tt.wantReason || math.Abs(s.Score-tt.wantScore) > 1e-9) {
				t.Fatalf("score %v (%s), want %v (%s); z %v", s.Score, s.Reason, tt.wantScore, tt.wantReason, s.Z)
			}
		})
	}
}

// TestComputeBurst: a symbol trading once a minute for two hours bursts
// to 30 trades in one minute. Exactly the ten windows that hold the
// burst minute rank it, for trades; the quiet symbol never ranks.
func TestComputeBurst(t *testing.T) {
	var trades []Trade
	burst := t0.Add(90 * time.Minute)
	for m := range 120 {
		at := t0.Add(time.Duration(m)*time.Minute + 30*time.Second)
		trades = append(trades, Trade{Symbol: "AAA", Time: at, Seq: int64(m), Price: 10000, Size: 100},
			Trade{Symbol: "BBB", Time: at, Seq: int64(m), Price: 20000, Size: 100})
	}
	for i := range 29 {
		trades = append(trades, Trade{Symbol: "AAA", Time: burst.Add(time.Duration(i) * time.Second), Seq: int64(1000 + i), Price: 10000, Size: 100})
	}
	// A suspicious print far off the price is not activity.
	trades = append(trades, Trade{Symbol: "BBB", Time: t0.Add(100 * time.Minute), Seq: 5000, Price: 90000, Size: 1_000_000, Suspicious: true})
	rk, err := Compute(DefaultParams(), trades)
	if err != nil {
		t.Fatal(err)
	}
	if len(rk) != 120+9 { // windows starting 9 minutes before the first trade through the last
		t.Fatalf("%d windows, want 129", len(rk))
	}
	var flagged []time.Time
	for _, r := range rk {
		for _, s := range r.Symbols {
			if s.Symbol != "AAA" || s.Reason != FeatureTrades || s.Stats.Trades != 10+29 {
				t.Fatalf("window %v: %+v", r.Start, s)
			}
			flagged = append(flagged, r.Start)
		}
	}
	if len(flagged) != 10 || !flagged[0].Equal(burst.Add(-9*time.Minute)) || !flagged[9].Equal(burst) {
		t.Fatalf("flagged windows %v, want the 10 from %v to %v", flagged, burst.Add(-9*time.Minute), burst)
	}
	// The baseline of the first flagged window ended by its start.
	if s := rk[81+9].Symbols; len(s) != 1 || s[0].Baseline != 30 {
		t.Fatalf("first flagged window: %+v", s)
	}
}

func TestParamsValidate(t *testing.T) {
	for name, mut := range map[string]func(*Params){
		"size not a multiple": func(p *Params) { p.WindowSize = 90 * time.Second },
		"zero period":         func(p *Params) { p.WindowPeriod = 0 },
		"min > baseline":      func(p *Params) { p.MinBaseline = 31 },
		"top-k":               func(p *Params) { p.TopK = 0 },
	} {
		p := DefaultParams()
		mut(&p)
		if _, err := Compute(p, nil); err == nil {
			t.Errorf("%s: no error", name)
		}
	}
}

// replayDay decodes the recorded AIG and IBM day of 2013-10-07.
func replayDay(t testing.TB) []Trade {
	r, err := lean.New(lean.Config{Path: "../../../ingest/market/lean/testdata", Symbols: []string{"AIG", "IBM"}})
	if err != nil {
		t.Fatal(err)
	}
	var h collect
	if err := r.Run(context.Background(), &h); err != nil {
		t.Fatal(err)
	}
	if h.bad > 0 || len(h.trades) != 25351+24293 {
		t.Fatalf("%d trades, %d bad", len(h.trades), h.bad)
	}
	return h.trades
}

type collect struct {
	trades []Trade
	bad    int
}

func (c *collect) Trade(_ context.Context, ev *v1.MarketEvent) error {
	c.trades = append(c.trades, FromEvent(ev))
	return nil
}
func (c *collect) Bad(context.Context, market.BadInput) error { c.bad++; return nil }

// TestComputeRecordedDay runs the reference over a real trading day: the
// result does not depend on the order trades arrive in, and the regular
// session's open (09:30 ET, 13:30 UTC), when volume jumps from the thin
// pre-market, is what ranks first for both symbols.
func TestComputeRecordedDay(t *testing.T) {
	trades := replayDay(t)
	p := DefaultParams()
	rk, err := Compute(p, trades)
	if err != nil {
		t.Fatal(err)
	}
	shuffled := append([]Trade(nil), trades...)
	rand.New(rand.NewPCG(3, 4)).Shuffle(len(shuffled), func(i, j int) { shuffled[i], shuffled[j] = shuffled[j], shuffled[i] })
	rk2, err := Compute(p, shuffled)
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(rk, rk2) {
		t.Fatal("rankings depend on input order")
	}
	open := time.Date(2013, 10, 7, 13, 30, 0, 0, time.UTC)
	atOpen := map[string]Score{}
	nonEmpty := 0
	for _, r := range rk {
		if len(r.Symbols) > 0 {
			nonEmpty++
		}
		for _, s := range r.Symbols {
			if !r.Start.After(open) && r.End.After(open) && s.Score > atOpen[s.Symbol].Score {
				atOpen[s.Symbol] = s
			}
		}
	}
	for _, sym := range []string{"AIG", "IBM"} {
		if s, ok := atOpen[sym]; !ok || s.Reason == "" {
			t.Errorf("%s is not unusual in any window holding the 09:30 ET open", sym)
		} else {
			t.Logf("%s at the open: score %.1f for %s, %d trades, %d shares", sym, s.Score, s.Reason, s.Stats.Trades, s.Stats.Volume)
		}
	}
	t.Logf("%d windows, %d with an unusual symbol", len(rk), nonEmpty)
}

func BenchmarkCompute(b *testing.B) {
	trades := replayDay(b)
	p := DefaultParams()
	b.ResetTimer()
	for range b.N {
		if _, err := Compute(p, trades); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(len(trades)*b.N)/b.Elapsed().Seconds(), "trades/s")
}
