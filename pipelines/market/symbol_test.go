package market

import (
	"math/rand/v2"
	"testing"
	"time"

	"google.golang.org/protobuf/proto"

	"github.com/trendstream/trendstream/internal/core/marketcalc"
	v1 "github.com/trendstream/trendstream/proto/trendstream/v1"
)

// TestReplayEqualsReference scores a symbol's windows the way the streaming
// scorer does, a few periods at a time with the settled history carried
// between steps and settled buckets evicted, and checks every window's last
// emission against marketcalc.Compute: quiet stretches, bursts and gaps
// longer than a window included.
func TestReplayEqualsReference(t *testing.T) {
	p := marketcalc.DefaultParams()
	p.WindowSize, p.WindowPeriod = 10*time.Second, time.Second
	tests := []struct {
		name     string
		seed     uint64
		horizon  int64 // periods between the last released window and the settled point
		maxSteps int64
	}{
		{"settle each step", 1, 1, 1},
		{"lateness of 10 periods", 2, 11, 4},
		{"long steps", 3, 11, 40},
		{"no settling", 4, 1 << 40, 7},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := rand.New(rand.NewPCG(tt.seed, 0))
			t0 := time.Date(2026, 7, 1, 12, 0, 0, 0, time.UTC)
			var trades []marketcalc.Trade
			for s := 0; s < 600; s++ {
				n := r.IntN(4) // quiet most of the time
				switch {
				case s%97 > 80:
					n = 0 // a gap longer than a window
				case s%53 == 0:
					n = 30 + r.IntN(30) // a burst
				}
				for i := range n {
					trades = append(trades, marketcalc.Trade{Symbol: "AIG", Time: t0.Add(time.Duration(s)*time.Second + time.Duration(i)*time.Millisecond),
						Seq: int64(len(trades)), Price: 400000 + r.Int64N(2000), Size: 100 * (1 + r.Int64N(5))})
				}
			}
			ref, err := marketcalc.Compute(p, trades)
			if err != nil {
				t.Fatal(err)
			}
			want := map[int64]*v1.SymbolActivity{}
			for _, rk := range ref {
				if len(rk.Symbols) > 0 {
					want[rk.End.UnixMilli()] = marketcalc.Snapshot(rk).GetSymbols()[0]
				} else {
					want[rk.End.UnixMilli()] = nil
				}
			}

			w := newSymbolWindows(p, "AIG")
			periodMs := p.WindowPeriod.Milliseconds()
			for _, tr := range trades {
				var st marketcalc.Stats
				st.Add(tr)
				w.add(PeriodStats{End: (marketcalc.Bucket(p, tr.Time) + 1) * periodMs, Stats: st})
			}
			first := w.earliest()
			last := first
			for e := range w.buckets {
				last = max(last, e)
			}
			got := map[int64]*v1.SymbolActivity{}
			var hist []PastWindow
			after := first - periodMs
			for to := first; to < last+p.WindowSize.Milliseconds(); to += periodMs * (1 + r.Int64N(tt.maxSteps)) {
				w.replay(hist, first, after, to, func(end int64, act *v1.SymbolActivity) { got[end] = act })
				if settle := to - tt.horizon*periodMs; settle > after {
					hist = w.replay(hist, first, after, settle, nil)
					after = settle
					w.evict(after)
				}
			}
			w.replay(hist, first, after, last+p.WindowSize.Milliseconds(), func(end int64, act *v1.SymbolActivity) { got[end] = act })

			if len(got) != len(want) || len(want) < 400 {
				t.Fatalf("%d windows scored, the reference has %d", len(got), len(want))
			}
			ranked := 0
			for end, wa := range want {
				g, ok := got[end]
				switch {
				case !ok:
					t.Fatalf("window ending %d not scored", end)
				case wa == nil && g.GetReason() != "":
					t.Fatalf("window ending %d: %v, the reference ranks nothing", end, g)
				case wa != nil && !proto.Equal(g, wa):
					t.Fatalf("window ending %d:\n got  %v\n want %v", end, g, wa)
				}
				if wa != nil {
					ranked++
				}
			}
			if ranked < 10 {
				t.Fatalf("only %d windows rank the symbol: the test proves little", ranked)
			}
		})
	}
}
