package lean

import (
	"context"
	"testing"

	"github.com/trendstream/trendstream/ingest/market"
	v1 "github.com/trendstream/trendstream/proto/trendstream/v1"
)

type counter struct{ n, bad int }

func (c *counter) Trade(context.Context, *v1.MarketEvent) error { c.n++; return nil }
func (c *counter) Bad(context.Context, market.BadInput) error   { c.bad++; return nil }

// BenchmarkReplay decodes the recorded AIG+IBM day (49,644 trades from
// two zips, merged by time) with no sink: the replay's own ceiling.
func BenchmarkReplay(b *testing.B) {
	total := 0
	for range b.N {
		r, err := New(Config{Path: "testdata", Symbols: []string{"AIG", "IBM"}})
		if err != nil {
			b.Fatal(err)
		}
		var c counter
		if err := r.Run(context.Background(), &c); err != nil {
			b.Fatal(err)
		}
		if c.n != 25351+24293 || c.bad != 0 {
			b.Fatalf("%d trades, %d bad", c.n, c.bad)
		}
		total += c.n
	}
	b.ReportMetric(float64(total)/b.Elapsed().Seconds(), "trades/s")
}
