package trendscore

import (
	"fmt"
	"math/rand/v2"
	"testing"
)

// BenchmarkUpdate is one term's per-window scoring step, as the stateful
// DoFn runs it for every (term, window).
func BenchmarkUpdate(b *testing.B) {
	p := DefaultParams().ForWindow(10 * period) // lagged, as in the pipeline
	series, newest := slidingWindows(1, func(int) float64 { return 50 }, 4096)
	for _, bc := range []struct {
		name   string
		newest bool // with the newest period's counts, as the pipeline's windows have
	}{{"window", false}, {"window+newest-period", true}} {
		b.Run(bc.name, func(b *testing.B) {
			var st State
			b.ReportAllocs()
			for i := 0; i < b.N; i++ {
				if i%len(series) == 0 {
					st = State{}
				}
				o := obs(i+1, series[i%len(series)])
				if bc.newest {
					o.WindowStart = o.WindowEnd.Add(-10 * period)
					o.NewestCount, o.NewestAuthors = newest[i%len(series)], newest[i%len(series)]
				}
				p.Update(&st, o, period)
			}
		})
	}
}

// BenchmarkTopK ranks one busy window's candidates.
func BenchmarkTopK(b *testing.B) {
	for _, n := range []int{1000, 100_000} {
		r := rand.New(rand.NewPCG(1, 1))
		items := make([]Ranked, n)
		for i := range items {
			items[i] = Ranked{Term: fmt.Sprintf("term%d", i), Score: r.NormFloat64() * 3, Authors: int64(r.IntN(1000))}
		}
		b.Run(fmt.Sprint("n=", n, "/k=20"), func(b *testing.B) {
			b.ReportAllocs()
			for i := 0; i < b.N; i++ {
				TopK(items, 20)
			}
		})
	}
}
