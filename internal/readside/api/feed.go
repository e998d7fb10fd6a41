package api

import (
	"context"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/IBM/sarama"
	"google.golang.org/protobuf/proto"

	"github.com/trendstream/trendstream/internal/platform/kafkaconf"
	tsv1 "github.com/trendstream/trendstream/proto/trendstream/v1"
)

// Publisher receives rankings as they are emitted; *Server is one.
type Publisher interface {
	Publish(*tsv1.WindowSnapshot)
}

type feedOptions struct {
	oldest bool
	ready  func()
	log    *slog.Logger
}

// FeedOption configures ConsumeTrends.
type FeedOption func(*feedOptions)

// FromOldest replays the topic from its start instead of only new records.
// The dashboard loads current state from PostgreSQL, so serving needs only
// new records; replaying suits a server without a database view of its own.
func FromOldest() FeedOption { return func(o *feedOptions) { o.oldest = true } }

// OnReady calls f once every partition of the topic is being consumed:
// records produced after that are certain to be delivered.
func OnReady(f func()) FeedOption { return func(o *feedOptions) { o.ready = f } }

// FeedLogger sets the logger for connection problems and undecodable
// records; the default is slog.Default().
func FeedLogger(l *slog.Logger) FeedOption { return func(o *feedOptions) { o.log = l } }

// ConsumeTrends reads trendstream.v1.WindowSnapshot records from topic and
// hands each to pub, until ctx is cancelled. It reads every partition
// without a consumer group, because every server instance must see every
// ranking. While the brokers or the topic are unavailable it retries, so
// the API can start before Kafka and before the pipeline creates the topic.
// Records that do not decode are logged and skipped.
func ConsumeTrends(ctx context.Context, brokers []string, topic string, pub Publisher, opts ...FeedOption) error {
	o := feedOptions{log: slog.Default()}
	for _, opt := range opts {
		opt(&o)
	}
	const minRetry, maxRetry = time.Second, 30 * time.Second
	retry := minRetry
	for {
		started, err := consumeOnce(ctx, brokers, topic, pub, &o)
		if ctx.Err() != nil {
			return ctx.Err()
		}
		if started {
			retry = minRetry // it worked for a while: a fresh failure
		}
		o.log.Warn("api: trends feed unavailable, retrying", "topic", topic, "err", err, "in", retry)
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(retry):
		}
		retry = min(2*retry, maxRetry)
	}
}

// consumeOnce consumes until ctx ends or a partition fails. started
// reports whether it got as far as consuming every partition.
func consumeOnce(ctx context.Context, brokers []string, topic string, pub Publisher, o *feedOptions) (started bool, err error) {
	cfg := kafkaconf.Consumer("trendstream-serve")
	c, err := sarama.NewConsumer(brokers, cfg)
	if err != nil {
		return false, fmt.Errorf("connect: %w", err)
	}
	defer c.Close()
	parts, err := c.Partitions(topic)
	if err != nil {
		return false, fmt.Errorf("partitions of %s: %w", topic, err)
	}
	if len(parts) == 0 {
		return false, fmt.Errorf("topic %s has no partitions", topic)
	}
	start := sarama.OffsetNewest
	if o.oldest {
		start = sarama.OffsetOldest
	}
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	var pcs []sarama.PartitionConsumer
	for _, p := range parts {
		pc, err := c.ConsumePartition(topic, p, start)
		if err != nil {
			for _, pc := range pcs {
				pc.AsyncClose()
			}
			return false, fmt.Errorf("consume %s/%d: %w", topic, p, err)
		}
		pcs = append(pcs, pc)
	}
	if o.ready != nil {
		o.ready()
		o.ready = nil // a reconnect is not a new start
	}
	var (
		wg      sync.WaitGroup
		errOnce sync.Once
		failure error
	)
	for _, pc := range pcs {
		wg.Go(func() {
			defer pc.AsyncClose()
			for {
				select {
				case <-ctx.Done():
					return
				case msg := <-pc.Messages():
					var snap tsv1.WindowSnapshot
					if err := proto.Unmarshal(msg.Value, &snap); err != nil {
						o.log.Warn("api: skipping undecodable trends record", "topic", msg.Topic,
							"partition", msg.Partition, "offset", msg.Offset, "err", err)
						continue
					}
					pub.Publish(&snap)
				case err := <-pc.Errors():
					errOnce.Do(func() { failure = err })
					cancel()
					return
				}
			}
		})
	}
	wg.Wait()
	if failure != nil {
		return true, failure
	}
	return true, ctx.Err()
}
