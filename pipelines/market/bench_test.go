package market

import (
	"strings"
	"testing"

	"github.com/trendstream/trendstream/internal/testenv"
)

// BenchmarkPipeline runs the bounded pipeline on Prism over the recorded
// AIG+IBM day (49,644 trades, already on a 3-partition kfake topic): read,
// window, score, rank and write the 716 window rankings.
func BenchmarkPipeline(b *testing.B) {
	in, out := testenv.Topic(b, "trendstream.market"), testenv.Topic(b, "trendstream.market.trends")
	k := testenv.FakeKafka(b, 3, in, out)
	trades := replay(b, k.Addrs(), in)
	o := DefaultOptions()
	o.Brokers = strings.Join(k.Addrs(), ",")
	o.Topic, o.ResultsTopic = in, out
	b.ResetTimer()
	var secs float64
	for range b.N {
		secs += runPipeline(b, o).Seconds()
	}
	b.ReportMetric(float64(len(trades)*b.N)/secs, "trades/s")
}
