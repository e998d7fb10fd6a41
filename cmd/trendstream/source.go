package main

import (
	"errors"
	"flag"
	"fmt"
	"strings"
	"time"

	"github.com/trendstream/trendstream/ingest/frame"
	"github.com/trendstream/trendstream/ingest/source"
	"github.com/trendstream/trendstream/ingest/source/file"
	"github.com/trendstream/trendstream/ingest/source/firehose"
	"github.com/trendstream/trendstream/ingest/source/jetstream"
	"github.com/trendstream/trendstream/ingest/source/rawtopic"
)

// sourceFlags choose and configure what an ingest reads. `ingest` and `run`
// register the same flags from here, and the -source spec is parsed in
// one place: build turns it into a source.Source that the ingest is given.
type sourceFlags struct {
	spec         string
	relay        string
	jetstreamURL string
	maxFrame     int
	stallTimeout time.Duration
}

func defaultSourceFlags() sourceFlags {
	return sourceFlags{
		spec:         "firehose",
		relay:        firehose.DefaultRelay,
		jetstreamURL: jetstream.DefaultURL,
		maxFrame:     frame.DefaultMaxBytes,
		stallTimeout: source.DefaultStallTimeout,
	}
}

func (f *sourceFlags) register(fs *flag.FlagSet) {
	fs.StringVar(&f.spec, "source", f.spec, "where events come from: firehose (relay subscribeRepos), jetstream, "+
		"file:PATH (a recording: Jetstream JSONL or [u32 LE length][frame] records, optionally zstd; replayed to its end), "+
		"or rawtopic:TOPIC (reprocess the raw #commit frames an ingest stored with -raw-topic, from the same brokers, "+
		"re-deriving every post with the current code; ends at the topic's end)")
	fs.StringVar(&f.relay, "relay", f.relay, "relay or PDS base URL for -source firehose")
	fs.StringVar(&f.jetstreamURL, "jetstream-url", f.jetstreamURL, "Jetstream subscribe URL for -source jetstream")
	fs.IntVar(&f.maxFrame, "max-frame-bytes", f.maxFrame, "larger frames are skipped and counted as oversized")
	fs.DurationVar(&f.stallTimeout, "stall-timeout", f.stallTimeout, "reconnect when the socket delivers nothing for this long (watchdog)")
}

// build parses -source. brokers are where a rawtopic: source reads.
func (f *sourceFlags) build(brokers []string) (source.Source, error) {
	ws := source.WSOptions{MaxFrame: f.maxFrame, StallTimeout: f.stallTimeout}
	kind, arg, _ := strings.Cut(f.spec, ":")
	switch kind {
	case "firehose":
		return &firehose.Source{Relay: f.relay, WSOptions: ws}, nil
	case "jetstream":
		return &jetstream.Source{URL: f.jetstreamURL, WSOptions: ws}, nil
	case "file":
		if arg == "" {
			return nil, errors.New("-source file: needs a path (file:PATH)")
		}
		return &file.Source{Path: arg, MaxFrame: f.maxFrame}, nil
	case "rawtopic":
		if arg == "" {
			return nil, errors.New("-source rawtopic: needs a topic (rawtopic:TOPIC)")
		}
		return &rawtopic.Source{Brokers: brokers, Topic: arg, MaxFrame: f.maxFrame}, nil
	}
	return nil, fmt.Errorf("unknown -source %q (firehose, jetstream, file:PATH or rawtopic:TOPIC)", f.spec)
}
