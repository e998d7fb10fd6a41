package main

import (
	"context"
	"flag"
	"fmt"
	"log/slog"

	"github.com/trendstream/trendstream/internal/platform/kafkaconf"
	"github.com/trendstream/trendstream/internal/platform/kafkatopics"
)

func init() {
	register(command{
		name:    "topics",
		summary: "create trendstream's Kafka topics where missing (posts, trends, raw frames, dead letters, cursors), with the partitions and retention of deploy/kafka/create-topics.sh; existing topics are left as they are",
		setup:   setupTopics,
	})
}

// topicsConfig is the topics command's settings: the topic names the other
// commands default to, and the posts topic's partitions.
type topicsConfig struct {
	brokers                                    string
	posts, trends, raw, deadLetter, cursors    string
	postsPartitions, rawPartitions, trendParts int
	replicationFactor                          int
}

func defaultTopicsConfig() topicsConfig {
	return topicsConfig{
		brokers: "127.0.0.1:9092",
		posts:   "trendstream.posts", trends: "trendstream.trends", raw: "trendstream.raw",
		deadLetter: "trendstream.deadletter", cursors: "trendstream.cursors",
		postsPartitions: 6, rawPartitions: 6, trendParts: 3,
	}
}

func (c *topicsConfig) registerFlags(fs *flag.FlagSet) {
	fs.StringVar(&c.brokers, "brokers", c.brokers, "Kafka bootstrap brokers, comma-separated")
	fs.StringVar(&c.posts, "posts-topic", c.posts, "posts topic (the replayable event log; 30 days)")
	fs.StringVar(&c.trends, "trends-topic", c.trends, "results topic (7 days)")
	fs.StringVar(&c.raw, "raw-topic", c.raw, "raw firehose frames (ingest -raw-topic; 3 days); empty skips it")
	fs.StringVar(&c.deadLetter, "dead-letter-topic", c.deadLetter, "events the ingest could not deliver (30 days); empty skips it")
	fs.StringVar(&c.cursors, "cursor-topic", c.cursors, "the ingest's resume cursors (compacted); empty skips it")
	fs.IntVar(&c.postsPartitions, "posts-partitions", c.postsPartitions, "partitions of a new posts topic (posts are keyed by author; an existing topic keeps its count)")
	fs.IntVar(&c.trendParts, "trends-partitions", c.trendParts, "partitions of a new results topic")
	fs.IntVar(&c.rawPartitions, "raw-partitions", c.rawPartitions, "partitions of a new raw-frame topic")
	fs.IntVar(&c.replicationFactor, "replication-factor", c.replicationFactor, "replicas of each new topic; 0: as many as the cluster has brokers, at most 3")
}

// topics lists what to create, in create-topics.sh's configuration.
func (c topicsConfig) topics() ([]kafkatopics.Topic, error) {
	for name, n := range map[string]int{"-posts-partitions": c.postsPartitions, "-trends-partitions": c.trendParts, "-raw-partitions": c.rawPartitions} {
		if n < 1 {
			return nil, fmt.Errorf("topics: %s must be at least 1, got %d", name, n)
		}
	}
	if c.replicationFactor < 0 || c.replicationFactor > 32767 {
		return nil, fmt.Errorf("topics: -replication-factor must be 0 (automatic) or a replica count, got %d", c.replicationFactor)
	}
	if c.posts == "" || c.trends == "" {
		return nil, fmt.Errorf("topics: -posts-topic and -trends-topic must not be empty")
	}
	ts := []kafkatopics.Topic{
		kafkatopics.DataTopic(c.posts, int32(c.postsPartitions), kafkatopics.PostsRetention),
		kafkatopics.DataTopic(c.trends, int32(c.trendParts), kafkatopics.TrendsRetention),
	}
	if c.raw != "" {
		ts = append(ts, kafkatopics.DataTopic(c.raw, int32(c.rawPartitions), kafkatopics.RawRetention))
	}
	if c.deadLetter != "" {
		ts = append(ts, kafkatopics.DataTopic(c.deadLetter, 1, kafkatopics.DeadLetterRetention))
	}
	if c.cursors != "" {
		ts = append(ts, kafkatopics.CursorTopic(c.cursors))
	}
	return ts, nil
}

func setupTopics(fs *flag.FlagSet) func(context.Context) error {
	c := defaultTopicsConfig()
	c.registerFlags(fs)
	return func(ctx context.Context) error {
		brokers, err := kafkaconf.SplitBrokers(c.brokers)
		if err != nil {
			return fmt.Errorf("topics: %w", err)
		}
		ts, err := c.topics()
		if err != nil {
			return err
		}
		created, err := kafkatopics.Create(ctx, brokers, kafkatopics.Options{IfMissing: true, ReplicationFactor: int16(c.replicationFactor)}, ts...)
		if err != nil {
			return fmt.Errorf("topics: %w", err)
		}
		for _, t := range ts {
			state := "exists, left as it is"
			for _, n := range created {
				if n == t.Name {
					state = fmt.Sprintf("created: %d partitions, %v", t.Partitions, t.Configs)
				}
			}
			slog.Info("topic "+t.Name, "state", state)
		}
		return nil
	}
}
