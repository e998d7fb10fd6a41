package kafkabroker

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"slices"
	"strconv"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// Topic is a topic to create.
type Topic struct {
	Name       string
	Partitions int32
	// Configs are topic-level configs (retention.ms, cleanup.policy, …).
	Configs map[string]string
}

// Retention durations and partition counts of deploy/kafka/create-topics.sh,
// which sets up the Compose stack's topics.
const (
	PostsRetention  = 30 * 24 * time.Hour // the replayable event log
	TrendsRetention = 7 * 24 * time.Hour  // derived, re-creatable from posts
	RawRetention    = 3 * 24 * time.Hour  // raw firehose frames, for debugging
	// DeadLetterRetention keeps what the ingest could not deliver as long
	// as the posts it belongs with.
	DeadLetterRetention = PostsRetention
	// RetainForever keeps records whatever their age (retention.ms=-1).
	RetainForever = -time.Millisecond
)

// CommonConfigs are the configs create-topics.sh gives every data topic:
// record timestamps are the producer's (the post's event time), batches are
// stored as the producer compressed them, and a record may be as large as
// the producer allows (internal/platform/kafkaconf).
func CommonConfigs() map[string]string {
	return map[string]string{
		"cleanup.policy":         "delete",
		"message.timestamp.type": "CreateTime",
		"compression.type":       "producer",
		"max.message.bytes":      "4194304",
	}
}

// DataTopic is a topic configured like create-topics.sh's data topics.
func DataTopic(name string, partitions int32, retention time.Duration) Topic {
	c := CommonConfigs()
	c["retention.ms"] = strconv.FormatInt(retention.Milliseconds(), 10)
	return Topic{Name: name, Partitions: partitions, Configs: c}
}

// CursorTopic is a compacted single-partition topic, like the ingest's
// cursor topic.
func CursorTopic(name string) Topic {
	return Topic{Name: name, Partitions: 1, Configs: map[string]string{"cleanup.policy": "compact"}}
}

// StackTopics are the Compose stack's topics with create-topics.sh's
// defaults: posts (6 partitions, 30 days), trends (3, 7 days), raw frames
// (6, 3 days) and the compacted cursor topic.
func StackTopics() []Topic {
	return []Topic{
		DataTopic("trendstream.posts", 6, PostsRetention),
		DataTopic("trendstream.trends", 3, TrendsRetention),
		DataTopic("trendstream.raw", 6, RawRetention),
		DataTopic("trendstream.deadletter", 1, DeadLetterRetention),
		CursorTopic("trendstream.cursors"),
	}
}

// ErrTopicExists is wrapped by CreateTopics when a topic already exists.
var ErrTopicExists = kerr.TopicAlreadyExists

func (b *Broker) client() (*kgo.Client, error) {
	cl, err := kgo.NewClient(kgo.SeedBrokers(b.Addr()), kgo.DialTimeout(2*time.Second), kgo.RetryTimeout(10*time.Second))
	if err != nil {
		return nil, fmt.Errorf("kafkabroker: client: %w", err)
	}
	return cl, nil
}

// brokerCount asks the broker for cluster metadata and counts the brokers
// listed: a fenced broker is not listed, so 1 means ready for clients.
func (b *Broker) brokerCount(ctx context.Context) (int, error) {
	cl, err := b.client()
	if err != nil {
		return 0, err
	}
	defer cl.Close()
	req := kmsg.NewPtrMetadataRequest()
	req.Topics = []kmsg.MetadataRequestTopic{} // none: only brokers
	resp, err := req.RequestWith(ctx, cl)
	if err != nil {
		return 0, err
	}
	return len(resp.Brokers), nil
}

// CreateTopics creates topics (replication factor 1) and waits until every
// partition has a leader, so a producer started right after does not race
// the new topic's metadata. An existing topic is an error wrapping
// ErrTopicExists.
func (b *Broker) CreateTopics(ctx context.Context, topics ...Topic) error {
	if len(topics) == 0 {
		return nil
	}
	cl, err := b.client()
	if err != nil {
		return err
	}
	defer cl.Close()
	req := kmsg.NewPtrCreateTopicsRequest()
	req.TimeoutMillis = 30_000
	for _, t := range topics {
		rt := kmsg.NewCreateTopicsRequestTopic()
		rt.Topic = t.Name
		rt.NumPartitions = t.Partitions
		rt.ReplicationFactor = 1
		for _, k := range slices.Sorted(maps.Keys(t.Configs)) {
			c := kmsg.NewCreateTopicsRequestTopicConfig()
			c.Name = k
			c.Value = kmsg.StringPtr(t.Configs[k])
			rt.Configs = append(rt.Configs, c)
		}
		req.Topics = append(req.Topics, rt)
	}
	resp, err := req.RequestWith(ctx, cl)
	if err != nil {
		return fmt.Errorf("kafkabroker: create topics: %w", err)
	}
	var errs []error
	for _, t := range resp.Topics {
		if err := kerr.ErrorForCode(t.ErrorCode); err != nil {
			msg := ""
			if t.ErrorMessage != nil {
				msg = ": " + *t.ErrorMessage
			}
			errs = append(errs, fmt.Errorf("kafkabroker: create topic %s: %w%s", t.Topic, err, msg))
		}
	}
	if err := errors.Join(errs...); err != nil {
		return err
	}
	names := make([]string, len(topics))
	for i, t := range topics {
		names[i] = t.Name
	}
	return waitLeaders(ctx, cl, names)
}

// waitLeaders polls metadata until each partition of topics has a leader.
func waitLeaders(ctx context.Context, cl *kgo.Client, topics []string) error {
	for {
		req := kmsg.NewPtrMetadataRequest()
		for _, name := range topics {
			rt := kmsg.NewMetadataRequestTopic()
			rt.Topic = kmsg.StringPtr(name)
			req.Topics = append(req.Topics, rt)
		}
		resp, err := req.RequestWith(ctx, cl)
		ready := err == nil && len(resp.Topics) == len(topics)
		if ready {
			for _, t := range resp.Topics {
				if t.ErrorCode != 0 || len(t.Partitions) == 0 {
					ready = false
				}
				for _, p := range t.Partitions {
					if p.ErrorCode != 0 || p.Leader < 0 {
						ready = false
					}
				}
			}
		}
		if ready {
			return nil
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("kafkabroker: topics %v have no leaders yet: %w", topics, ctx.Err())
		case <-time.After(50 * time.Millisecond):
		}
	}
}

// DeleteTopics deletes topics; missing ones are ignored.
func (b *Broker) DeleteTopics(ctx context.Context, names ...string) error {
	if len(names) == 0 {
		return nil
	}
	cl, err := b.client()
	if err != nil {
		return err
	}
	defer cl.Close()
	req := kmsg.NewPtrDeleteTopicsRequest()
	req.TimeoutMillis = 30_000
	for _, n := range names {
		rt := kmsg.NewDeleteTopicsRequestTopic()
		rt.Topic = kmsg.StringPtr(n)
		req.Topics = append(req.Topics, rt)
		req.TopicNames = append(req.TopicNames, n)
	}
	resp, err := req.RequestWith(ctx, cl)
	if err != nil {
		return fmt.Errorf("kafkabroker: delete topics: %w", err)
	}
	var errs []error
	for _, t := range resp.Topics {
		if err := kerr.ErrorForCode(t.ErrorCode); err != nil && !errors.Is(err, kerr.UnknownTopicOrPartition) {
			name := ""
			if t.Topic != nil {
				name = *t.Topic
			}
			errs = append(errs, fmt.Errorf("kafkabroker: delete topic %s: %w", name, err))
		}
	}
	return errors.Join(errs...)
}

// SetProducerQuota limits what producers with clientID may write to
// bytesPerSec (0 removes the limit). Kafka enforces it by delaying its
// responses (throttling), which makes the broker slow for that client only:
// tests use it to see backpressure against a real broker.
func (b *Broker) SetProducerQuota(ctx context.Context, clientID string, bytesPerSec float64) error {
	cl, err := b.client()
	if err != nil {
		return err
	}
	defer cl.Close()
	req := kmsg.NewPtrAlterClientQuotasRequest()
	e := kmsg.NewAlterClientQuotasRequestEntry()
	ent := kmsg.NewAlterClientQuotasRequestEntryEntity()
	ent.Type = "client-id"
	ent.Name = kmsg.StringPtr(clientID)
	e.Entity = append(e.Entity, ent)
	op := kmsg.NewAlterClientQuotasRequestEntryOp()
	op.Key = "producer_byte_rate"
	op.Value = bytesPerSec
	op.Remove = bytesPerSec == 0
	e.Ops = append(e.Ops, op)
	req.Entries = append(req.Entries, e)
	resp, err := req.RequestWith(ctx, cl)
	if err != nil {
		return fmt.Errorf("kafkabroker: alter client quotas: %w", err)
	}
	for _, r := range resp.Entries {
		if err := kerr.ErrorForCode(r.ErrorCode); err != nil {
			return fmt.Errorf("kafkabroker: producer quota for %s: %w", clientID, err)
		}
	}
	return nil
}
