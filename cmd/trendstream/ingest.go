package main

import (
	"context"
	"flag"
	"fmt"
	"log/slog"
	"os"

	"github.com/trendstream/trendstream/ingest"
	"github.com/trendstream/trendstream/ingest/source/rawtopic"
)

func init() {
	register(command{
		name:    "ingest",
		summary: "read the Bluesky firehose (or Jetstream, a recording, or the raw-frame topic) and write Post messages to Kafka or stdout",
		setup:   setupIngest,
	})
}

func setupIngest(fs *flag.FlagSet) func(context.Context) error {
	c := ingest.DefaultConfig()
	c.RegisterFlags(fs)
	src := defaultSourceFlags()
	src.register(fs)
	snk := defaultSinkFlags()
	snk.register(fs)
	return func(ctx context.Context) error {
		var err error
		if c.Source, err = src.build(c.Brokers); err != nil {
			return err
		}
		if c.Sink, err = snk.build(&c, os.Stdout); err != nil {
			return err
		}
		if rt, ok := c.Source.(*rawtopic.Source); ok && rt.Topic == c.RawTopic {
			return fmt.Errorf("-raw-topic %s is the topic being reprocessed", c.RawTopic)
		}
		c.Logger = slog.Default()
		return ingest.Run(ctx, c)
	}
}
