package main

import (
	"flag"
	"fmt"
	"io"

	"github.com/trendstream/trendstream/ingest"
	"github.com/trendstream/trendstream/ingest/sink"
	"github.com/trendstream/trendstream/ingest/sink/stdoutsink"
)

// sinkFlags choose where an ingest delivers. -sink is parsed here, once:
// build turns it into the sink.Sink the ingest is given, as sourceFlags
// does for -source.
type sinkFlags struct {
	kind string
}

func defaultSinkFlags() sinkFlags {
	return sinkFlags{kind: "kafka"}
}

func (f *sinkFlags) register(fs *flag.FlagSet) {
	fs.StringVar(&f.kind, "sink", f.kind, "kafka, or stdout (one protojson line per Post)")
}

// build makes the sink. The Kafka sink takes its brokers, bounds and
// dead-letter topic from the ingest's flags (c); stdout writes to stdout.
func (f *sinkFlags) build(c *ingest.Config, stdout io.Writer) (sink.Sink, error) {
	switch f.kind {
	case "kafka":
		return c.KafkaSink(), nil
	case "stdout":
		return stdoutsink.New(stdout), nil
	}
	return nil, fmt.Errorf("unknown sink %q (-sink kafka or stdout)", f.kind)
}
