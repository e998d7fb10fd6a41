package market_test

import (
	"context"
	"log/slog"
	"testing"

	"github.com/trendstream/trendstream/ingest/market"
	"github.com/trendstream/trendstream/ingest/market/lean"
	"github.com/trendstream/trendstream/internal/testenv"
)

// BenchmarkReplayToKafka replays the recorded AIG+IBM day (49,644 trades)
// through the Kafka sink (idempotent, acks=all, lz4) into an in-process
// kfake cluster, acknowledged end to end.
func BenchmarkReplayToKafka(b *testing.B) {
	total := int64(0)
	for range b.N {
		b.StopTimer()
		topic := testenv.Topic(b, "trendstream.market")
		k := testenv.FakeKafka(b, 3, topic)
		src, err := lean.New(lean.Config{Path: "lean/testdata", Symbols: []string{"AIG", "IBM"}})
		if err != nil {
			b.Fatal(err)
		}
		sink, err := market.NewKafkaSink(market.SinkConfig{Brokers: k.Addrs(), Topic: topic, DeadLetterTopic: "-", Logger: slog.New(slog.DiscardHandler)})
		if err != nil {
			b.Fatal(err)
		}
		b.StartTimer()
		if err := market.Run(context.Background(), src, sink); err != nil {
			b.Fatal(err)
		}
		total += sink.Stats().Trades
	}
	b.ReportMetric(float64(total)/b.Elapsed().Seconds(), "trades/s")
}
