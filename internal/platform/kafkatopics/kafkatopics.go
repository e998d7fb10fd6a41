// Package kafkatopics defines trendstream's Kafka topics, with the
// partitions and configs of deploy/kafka/create-topics.sh (the Compose
// stack's), and creates them on any cluster: `trendstream topics`, the
// local broker service (internal/services/kafkabroker) and the tests.
package kafkatopics

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

// ErrTopicExists is wrapped by Create when a topic already exists and
// Options.IfMissing is not set.
var ErrTopicExists = kerr.TopicAlreadyExists

// Options tune Create.
type Options struct {
	// IfMissing leaves a topic that exists as it is (its partitions and
	// configs too) instead of failing.
	IfMissing bool
	// ReplicationFactor of the topics created; 0 takes as many replicas as
	// the cluster has brokers, at most 3.
	ReplicationFactor int16
}

// Create creates topics on the cluster at brokers and waits until every
// partition has a leader, so a producer started right after does not race
// the new topics' metadata. It returns the names of the topics it created.
func Create(ctx context.Context, brokers []string, o Options, topics ...Topic) ([]string, error) {
	if len(topics) == 0 {
		return nil, nil
	}
	cl, err := kgo.NewClient(kgo.SeedBrokers(brokers...), kgo.DialTimeout(2*time.Second), kgo.RetryTimeout(10*time.Second))
	if err != nil {
		return nil, fmt.Errorf("kafkatopics: client: %w", err)
	}
	defer cl.Close()
	rf := o.ReplicationFactor
	if rf == 0 {
		n, err := brokerCount(ctx, cl)
		if err != nil {
			return nil, err
		}
		rf = int16(min(n, 3))
	}
	req := kmsg.NewPtrCreateTopicsRequest()
	req.TimeoutMillis = 30_000
	for _, t := range topics {
		rt := kmsg.NewCreateTopicsRequestTopic()
		rt.Topic = t.Name
		rt.NumPartitions = t.Partitions
		rt.ReplicationFactor = rf
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
		return nil, fmt.Errorf("kafkatopics: create topics: %w", err)
	}
	var errs []error
	var created []string
	for _, t := range resp.Topics {
		err := kerr.ErrorForCode(t.ErrorCode)
		switch {
		case err == nil:
			created = append(created, t.Topic)
		case o.IfMissing && errors.Is(err, ErrTopicExists):
		default:
			msg := ""
			if t.ErrorMessage != nil {
				msg = ": " + *t.ErrorMessage
			}
			errs = append(errs, fmt.Errorf("kafkatopics: create topic %s: %w%s", t.Topic, err, msg))
		}
	}
	if err := errors.Join(errs...); err != nil {
		return created, err
	}
	names := make([]string, len(topics))
	for i, t := range topics {
		names[i] = t.Name
	}
	return created, waitLeaders(ctx, cl, names)
}

// brokerCount asks the cluster for its metadata and counts the brokers.
func brokerCount(ctx context.Context, cl *kgo.Client) (int, error) {
	req := kmsg.NewPtrMetadataRequest()
	req.Topics = []kmsg.MetadataRequestTopic{} // none: only brokers
	resp, err := req.RequestWith(ctx, cl)
	if err != nil {
		return 0, fmt.Errorf("kafkatopics: metadata: %w", err)
	}
	return len(resp.Brokers), nil
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
			return fmt.Errorf("kafkatopics: topics %v have no leaders yet: %w", topics, ctx.Err())
		case <-time.After(50 * time.Millisecond):
		}
	}
}
