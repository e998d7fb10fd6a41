package ingest_test

import (
	"context"
	"io"
	"log/slog"
	"syscall"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/trendstream/trendstream/ingest"
	"github.com/trendstream/trendstream/ingest/internal/relaytest"
	"github.com/trendstream/trendstream/ingest/source/firehose"
	"github.com/trendstream/trendstream/internal/testenv"
)

// BenchmarkFirehoseToKafka is the ingest end to end: real relay frames
// (re-sequenced) over a local websocket, decoded, produced to the in-process
// Kafka-protocol cluster with the production producer settings (idempotent,
// acks=all, lz4), acknowledged, and the cursor committed. One op is one
// frame; the clock stops when the committed cursor reaches the last frame.
// Relay, ingest and broker share the machine's cores.
func BenchmarkFirehoseToKafka(b *testing.B) {
	frames, err := relaytest.LoadFrames(corpus)
	if err != nil {
		b.Fatal(err)
	}
	stream, err := relaytest.NewStream(frames)
	if err != nil {
		b.Fatal(err)
	}
	k := testenv.Kafka(b, 4, ingest.DefaultTopic)
	relay := relaytest.NewServer(stream, int64(b.N))
	defer relay.Close()
	reg := prometheus.NewRegistry()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	done := make(chan error, 1)
	cpu0 := cpuTime()
	b.ResetTimer()
	go func() {
		done <- ingest.Run(ctx, ingest.Config{
			// A short cursor interval lets the clock stop soon after the
			// last ack (the committed cursor is published when persisted);
			// it costs 100 cursor writes/s, more than the default 1/s.
			Source: &firehose.Source{Relay: relay.WSURL()}, Brokers: k.Addrs(), Registry: reg, CursorInterval: 10 * time.Millisecond,
			Logger: slog.New(slog.NewTextHandler(io.Discard, nil)),
		})
	}()
	last := float64(stream.Seq(int64(b.N)))
	for metricValue(b, reg, "trendstream_ingest_cursor", nil) < last {
		select {
		case err := <-done:
			b.Fatalf("Run returned early: %v", err)
		case <-time.After(5 * time.Millisecond):
		}
	}
	b.StopTimer()
	cpu := (cpuTime() - cpu0).Seconds()
	s := b.Elapsed().Seconds()
	posts := metricValue(b, reg, "trendstream_ingest_posts_total", nil)
	b.ReportMetric(float64(b.N)/s, "frames/s")
	b.ReportMetric(posts/s, "posts/s")
	// CPU seconds of the whole process (relay, ingest, broker) per frame,
	// as frames per CPU-second: comparable across runs on a busy machine,
	// where wall-clock rates depend on what else is running.
	b.ReportMetric(float64(b.N)/cpu, "frames/cpu-s")
	cancel()
	if err := <-done; err != nil {
		b.Fatal(err)
	}
}

func cpuTime() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}
