package kafkaio

import (
	"errors"
	"flag"
	"fmt"
	"time"

	"github.com/trendstream/trendstream/internal/platform/kafkaconf"
)

// ReadConfig is what a pipeline is told about its Kafka read: the one set
// of read options the trending, watchlist and market pipelines share
// (embedded in their Options), with its defaults (DefaultReadConfig), its
// flags (RegisterFlags) and its checks (Validate) in one place, as franz-go
// keeps its client's in kgo/config.go.
type ReadConfig struct {
	// Brokers are the bootstrap brokers, comma-separated (the -brokers
	// flag as given).
	Brokers string
	// Topic is the topic read.
	Topic string
	// Start is where each partition starts; StartCommitted needs Group.
	Start Start
	// Group is the consumer group whose offsets are committed (ReadGroup);
	// empty commits nothing.
	Group string
	// Bounded reads up to the end offsets seen at start (ReadBounded).
	Bounded bool
	// MaxOutOfOrder is how far behind the newest record of a partition a
	// record may be and still count as on time (ReadOutOfOrder).
	MaxOutOfOrder time.Duration
	// IdleWatermark is how a caught-up partition's watermark moves
	// (IdlePolicy, ReadIdle).
	IdleWatermark IdlePolicy
	// TopicFaultTimeout is how long the topic may be missing, re-created
	// or truncated before the pipeline fails (ReadTopicFaultTimeout).
	TopicFaultTimeout time.Duration
	// KafkaRetryFor is how long the pipeline rides out an unreachable
	// cluster (a broker restart) at start-up, in the reader and in its
	// writers, before it fails (ReadRetryFor, WriteRetryFor).
	KafkaRetryFor time.Duration
	// ReadBatch is how many records a partition's reader hands on per call
	// (ReadMaxRecords): smaller batches let windows close and later stages
	// start sooner.
	ReadBatch int
	// PollInterval is how long a caught-up partition's reader waits before
	// it polls again (ReadPollInterval); at least 1s on Flink.
	PollInterval time.Duration
}

// DefaultReadConfig is the read of trendstream's posts topic: from the
// beginning, holding a caught-up partition's watermark to the ingest's
// source-watermark markers. A pipeline changes what differs for it (its
// group, its start) in its own DefaultOptions.
func DefaultReadConfig() ReadConfig {
	return ReadConfig{
		Brokers:           kafkaconf.DefaultBrokers,
		Topic:             kafkaconf.DefaultPostsTopic,
		Start:             Start{Kind: StartEarliest},
		MaxOutOfOrder:     DefaultOutOfOrder,
		IdleWatermark:     IdleSourceWatermark,
		TopicFaultTimeout: DefaultTopicFaultTimeout,
		KafkaRetryFor:     DefaultRetryFor,
		ReadBatch:         2000,
		PollInterval:      DefaultPollInterval,
	}
}

// ReadFlags say how a pipeline names and describes its read flags.
type ReadFlags struct {
	// Topic is the name of the topic flag (posts-topic) and TopicUsage its
	// usage.
	Topic, TopicUsage string
	// StartUsage, if set, replaces the usage of -start: what a restart
	// from the pipeline's default start does differs between pipelines.
	StartUsage string
}

// RegisterFlags binds c's fields to flags on fs, with c's current values
// as defaults.
func (c *ReadConfig) RegisterFlags(fs *flag.FlagSet, f ReadFlags) {
	usage := func(u, def string) string {
		if u != "" {
			return u
		}
		return def
	}
	fs.StringVar(&c.Brokers, "brokers", c.Brokers, "Kafka bootstrap brokers, comma-separated")
	fs.StringVar(&c.Topic, f.Topic, c.Topic, f.TopicUsage)
	fs.Var(&c.Start, "start", usage(f.StartUsage, "where to start reading: committed, earliest, latest or an RFC 3339 time"))
	fs.StringVar(&c.Group, "group", c.Group, "Kafka consumer group whose offsets are committed (for -start committed and lag monitoring)")
	fs.BoolVar(&c.Bounded, "bounded", c.Bounded, "read up to the end offsets seen at start, then stop (replay)")
	fs.DurationVar(&c.MaxOutOfOrder, "max-out-of-order", c.MaxOutOfOrder, "how far a post may trail the newest one in its partition and still be on time")
	fs.Var(&c.IdleWatermark, "idle-watermark", "how a caught-up partition's watermark moves: source (follow the ingest's watermark markers), wallclock (now minus -max-out-of-order; for topics without markers) or hold")
	fs.DurationVar(&c.PollInterval, "read-poll-interval", c.PollInterval, "how long a caught-up partition waits before it polls Kafka again: at most this much added latency; keep it 1s or more on Flink, whose runner counts the delay in whole seconds and, below that, never moves the reader's watermark")
	fs.DurationVar(&c.TopicFaultTimeout, "topic-fault-timeout", c.TopicFaultTimeout, "how long the topic read may be deleted, re-created or truncated behind the read position before the pipeline fails")
	fs.DurationVar(&c.KafkaRetryFor, "kafka-retry-for", c.KafkaRetryFor, "how long the pipeline keeps retrying while Kafka is unreachable (a broker restart), at start-up, when reading and when writing results, before it fails")
	fs.IntVar(&c.ReadBatch, "read-batch", c.ReadBatch, "records a partition reader hands on per call: smaller lets later stages start sooner (replays: ~1000-2500 measured best)")
}

// Validate reports a read the pipeline cannot run with.
func (c ReadConfig) Validate() error {
	if _, err := kafkaconf.SplitBrokers(c.Brokers); err != nil {
		return err
	}
	switch {
	case c.Topic == "":
		return errors.New("no topic to read")
	case c.ReadBatch <= 0:
		return fmt.Errorf("-read-batch must be positive, got %d", c.ReadBatch)
	case c.KafkaRetryFor <= 0:
		return fmt.Errorf("-kafka-retry-for must be positive, got %v", c.KafkaRetryFor)
	case c.PollInterval < 0:
		return fmt.Errorf("-read-poll-interval must not be negative, got %v", c.PollInterval)
	}
	return nil
}

// BrokerList is Brokers split (kafkaconf.SplitBrokers); call it on a
// validated ReadConfig.
func (c ReadConfig) BrokerList() []string {
	b, _ := kafkaconf.SplitBrokers(c.Brokers)
	return b
}

// Options are c as Read's options.
func (c ReadConfig) Options() []ReadOption {
	o := []ReadOption{
		ReadStart(c.Start),
		ReadGroup(c.Group),
		ReadOutOfOrder(c.MaxOutOfOrder),
		ReadMaxRecords(c.ReadBatch),
		ReadIdle(c.IdleWatermark),
		ReadTopicFaultTimeout(c.TopicFaultTimeout),
		ReadRetryFor(c.KafkaRetryFor),
		ReadPollInterval(c.PollInterval),
	}
	if c.Bounded {
		o = append(o, ReadBounded())
	}
	return o
}
