package kafkabroker

import (
	"context"
	"errors"
	"fmt"
	"github.com/trendstream/trendstream/internal/platform/kafkatopics"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"
)

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

// CreateTopics creates topics on the broker (replication factor 1) and
// waits until every partition has a leader. An existing topic is an error
// wrapping kafkatopics.ErrTopicExists.
func (b *Broker) CreateTopics(ctx context.Context, topics ...kafkatopics.Topic) error {
	_, err := kafkatopics.Create(ctx, b.Addrs(), kafkatopics.Options{ReplicationFactor: 1}, topics...)
	return err
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
