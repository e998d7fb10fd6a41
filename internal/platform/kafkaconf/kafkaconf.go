// Package kafkaconf holds the sarama configuration every trendstream
// producer and consumer uses, so the ingest, the Beam sinks and the tools
// agree on protocol version, durability and batching.
package kafkaconf

import (
	"fmt"
	"strings"
	"time"

	"github.com/IBM/sarama"
)

// Where every command looks for Kafka, and the topics, unless told.
const (
	DefaultBrokers     = "127.0.0.1:9092"
	DefaultPostsTopic  = "trendstream.posts"
	DefaultTrendsTopic = "trendstream.trends"
)

// Version is the Kafka protocol version spoken. It matches the broker in
// docker-compose.yml and is accepted by the in-process kfake cluster
// (which needs at least 0.11 for record batch v2).
var Version = sarama.V3_6_0_0

// Producer returns the production producer config: idempotent, acks=all,
// lz4-compressed, batched. Successes and errors are both returned, so callers
// must drain them (async) or get them from SendMessages (sync).
func Producer(clientID string) *sarama.Config {
	cfg := sarama.NewConfig()
	cfg.ClientID = clientID
	cfg.Version = Version
	cfg.Producer.RequiredAcks = sarama.WaitForAll
	cfg.Producer.Idempotent = true
	cfg.Net.MaxOpenRequests = 1 // required by idempotence
	cfg.Producer.Retry.Max = 10
	cfg.Producer.Retry.Backoff = 250 * time.Millisecond
	cfg.Producer.Return.Successes = true
	cfg.Producer.Return.Errors = true
	cfg.Producer.Compression = sarama.CompressionLZ4
	cfg.Producer.Flush.Bytes = 1 << 20
	cfg.Producer.Flush.Frequency = 5 * time.Millisecond
	cfg.Producer.MaxMessageBytes = 4 << 20
	// Key-hash partitioning keeps each author's events in order.
	cfg.Producer.Partitioner = sarama.NewHashPartitioner
	return cfg
}

// Consumer returns the config for readers: start from the oldest offset when
// no committed offset exists.
func Consumer(clientID string) *sarama.Config {
	cfg := sarama.NewConfig()
	cfg.ClientID = clientID
	cfg.Version = Version
	cfg.Consumer.Offsets.Initial = sarama.OffsetOldest
	cfg.Consumer.Return.Errors = true
	return cfg
}

// SplitBrokers parses a comma-separated broker list, dropping blanks.
func SplitBrokers(s string) ([]string, error) {
	var out []string
	for _, b := range strings.Split(s, ",") {
		if b = strings.TrimSpace(b); b != "" {
			out = append(out, b)
		}
	}
	if len(out) == 0 {
		return nil, fmt.Errorf("kafkaconf: empty broker list %q", s)
	}
	return out, nil
}
