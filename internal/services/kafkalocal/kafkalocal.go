// Package kafkalocal runs an in-process Kafka-protocol cluster (franz-go's
// kfake) for tests and for the zero-setup embedded default.
//
// kfake speaks the real Kafka wire protocol, so the production sarama code
// and independent clients such as kcat talk to it unchanged. It is not a
// production broker: there is no replication (acks=all means acks=1), all
// requests are served by one goroutine, and it binds 127.0.0.1 only. Real
// deployments use the Kafka service in docker-compose.yml.
package kafkalocal

import (
	"fmt"
	"strconv"
	"time"

	"github.com/twmb/franz-go/pkg/kfake"
)

// Cluster is a running in-process Kafka-protocol cluster.
type Cluster struct {
	c *kfake.Cluster
}

type options struct {
	port       int
	dataDir    string
	retention  time.Duration
	partitions int32
	topics     []string
}

// Option configures Start.
type Option func(*options)

// Port listens on a fixed port (default: a free one).
func Port(p int) Option { return func(o *options) { o.port = p } }

// DataDir persists topics, offsets and committed consumer-group offsets to
// dir, so a restarted process resumes where it stopped and memory stays
// bounded. Without it everything lives in memory.
func DataDir(dir string) Option { return func(o *options) { o.dataDir = dir } }

// Retention sets the broker-wide log.retention.ms. kfake only trims logs when
// retention is configured explicitly, so the embedded default always sets it.
func Retention(d time.Duration) Option { return func(o *options) { o.retention = d } }

// Topics creates topics with the given number of partitions at start.
func Topics(partitions int32, names ...string) Option {
	return func(o *options) { o.partitions, o.topics = partitions, append(o.topics, names...) }
}

// Start starts a single-broker cluster with topic auto-creation enabled.
func Start(opts ...Option) (*Cluster, error) {
	o := options{}
	for _, opt := range opts {
		opt(&o)
	}
	kopts := []kfake.Opt{kfake.NumBrokers(1), kfake.AllowAutoTopicCreation(), kfake.DefaultNumPartitions(4)}
	if o.port != 0 {
		kopts = append(kopts, kfake.Ports(o.port))
	}
	if o.dataDir != "" {
		kopts = append(kopts, kfake.DataDir(o.dataDir))
	}
	cfg := map[string]string{"message.max.bytes": strconv.Itoa(8 << 20)}
	if o.retention > 0 {
		cfg["log.retention.ms"] = strconv.FormatInt(o.retention.Milliseconds(), 10)
		// kfake applies retention on the cleaner tick; check every minute.
		cfg["log.cleaner.backoff.ms"] = "60000"
	}
	kopts = append(kopts, kfake.BrokerConfigs(cfg))
	if len(o.topics) > 0 {
		kopts = append(kopts, kfake.SeedTopics(o.partitions, o.topics...))
	}
	c, err := kfake.NewCluster(kopts...)
	if err != nil {
		return nil, fmt.Errorf("kafkalocal: start: %w", err)
	}
	return &Cluster{c: c}, nil
}

// Addrs returns the bootstrap addresses (host:port).
func (c *Cluster) Addrs() []string { return c.c.ListenAddrs() }

// Kfake exposes the underlying cluster for fault injection in tests.
func (c *Cluster) Kfake() *kfake.Cluster { return c.c }

// Close stops the cluster; with DataDir its state is flushed to disk.
func (c *Cluster) Close() { c.c.Close() }
