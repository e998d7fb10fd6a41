package main

import (
	"context"
	"flag"
	"fmt"
	"log/slog"
	"os"

	"github.com/trendstream/trendstream/ingest"
	"github.com/trendstream/trendstream/ingest/cursor"
	"github.com/trendstream/trendstream/ingest/sink"
	"github.com/trendstream/trendstream/ingest/source/rawtopic"
	"github.com/trendstream/trendstream/internal/kafkaconf"
)

func init() {
	register(command{
		name:    "ingest",
		summary: "read the Bluesky firehose (or Jetstream, or a recording) and write Post messages to Kafka or stdout",
		setup:   setupIngest,
	})
}

func setupIngest(fs *flag.FlagSet) func(context.Context) error {
	var c ingest.Config
	brokers := fs.String("brokers", "127.0.0.1:9092", "Kafka bootstrap brokers, comma-separated")
	src := defaultSourceFlags()
	src.register(fs)
	fs.StringVar(&c.Sink, "sink", "kafka", "kafka, or stdout (one protojson line per Post)")
	fs.StringVar(&c.Topic, "posts-topic", ingest.DefaultTopic, "Kafka topic for Post messages (key = author DID)")
	fs.StringVar(&c.Topic, "topic", ingest.DefaultTopic, "alias of -posts-topic")
	fs.StringVar(&c.RawTopic, "raw-topic", "", "if set, also store every raw #commit frame here, keyed by seq, for reprocessing (e.g. "+ingest.DefaultRawTopic+")")
	fs.StringVar(&c.DeadLetterTopic, "dead-letter-topic", sink.DefaultDeadLetterTopic, "topic for what cannot be delivered (too large, not marshalable, refused by the broker on its own), with headers saying why; the cursor moves past it. - disables it: such a message then stops the ingest")
	fs.StringVar(&c.CursorTopic, "cursor-topic", cursor.DefaultTopic, "compacted Kafka topic holding the resume cursor per source; - disables persistence")
	fs.StringVar(&c.Cursor, "cursor", "", "start position: empty = the stored cursor, live = the live tip (or start of a file), or a number (seq, time_us, or record number)")
	fs.IntVar(&c.MaxInFlight, "max-in-flight", ingest.DefaultMaxInFlight, "unacknowledged messages at which reading the source pauses (backpressure)")
	fs.Int64Var(&c.MaxInFlightBytes, "max-in-flight-bytes", sink.DefaultMaxInFlightBytes, "unacknowledged record bytes at which reading the source pauses, too (a post can be 1 MB); one larger message still goes, alone")
	fs.DurationVar(&c.CursorInterval, "cursor-interval", 1e9, "how often the committed cursor is persisted")
	wm := fs.Duration("watermark-interval", ingest.DefaultWatermarkInterval, "how often a source-watermark marker goes to every partition of the posts topic when the watermark advanced (and every 10 intervals regardless); 0 disables markers")
	fs.DurationVar(&c.BackoffMin, "backoff-min", 500e6, "first reconnect delay (doubles, with jitter)")
	fs.DurationVar(&c.BackoffMax, "backoff-max", 30e9, "largest reconnect delay")
	fs.StringVar(&c.MetricsAddr, "metrics-addr", ingest.DefaultMetricsAddr, "serve /metrics and /healthz here; empty disables")
	return func(ctx context.Context) error {
		b, err := kafkaconf.SplitBrokers(*brokers)
		if err != nil {
			return err
		}
		c.Brokers = b
		if c.Source, err = src.build(b); err != nil {
			return err
		}
		if rt, ok := c.Source.(*rawtopic.Source); ok && rt.Topic == c.RawTopic {
			return fmt.Errorf("-raw-topic %s is the topic being reprocessed", c.RawTopic)
		}
		c.WatermarkInterval = *wm
		if *wm == 0 {
			c.WatermarkInterval = -1 // Config's zero means the default
		}
		c.Stdout = os.Stdout
		c.Logger = slog.Default()
		return ingest.Run(ctx, c)
	}
}
