package market

import (
	"strings"
	"testing"

	"github.com/trendstream/trendstream/internal/testenv"
)

// BenchmarkPipeline runs both shapes of the pipeline on Prism over the
// recorded AIG+IBM day (49,644 trades, already on a 3-partition kfake
// topic): read, window, score, rank and write the 716 window rankings. The
// streaming shape reads the topic bounded, so the two do the same work and
// end.
func BenchmarkPipeline(b *testing.B) {
	for _, shape := range shapes {
		b.Run(shape.name, func(b *testing.B) {
			in, out := testenv.Topic(b, "trendstream.market"), testenv.Topic(b, "trendstream.market.trends")
			k := testenv.FakeKafka(b, 3, in, out)
			trades := replay(b, k.Addrs(), in)
			o := DefaultOptions()
			o.Brokers = strings.Join(k.Addrs(), ",")
			o.Topic, o.ResultsTopic, o.Bounded = in, out, true
			b.ResetTimer()
			var secs float64
			for range b.N {
				secs += runShape(b, shape.build, o).Seconds()
			}
			b.ReportMetric(float64(len(trades)*b.N)/secs, "trades/s")
		})
	}
}
