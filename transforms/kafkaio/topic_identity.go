package kafkaio

import (
	"encoding/hex"
	"errors"
	"fmt"
	"time"

	"github.com/IBM/sarama"
)

// DefaultTopicFaultTimeout is how long a partition may find its topic
// deleted, re-created or truncated behind its read position before Read
// fails the pipeline.
const DefaultTopicFaultTimeout = time.Minute

// topicCheckInterval is how often a caught-up partition checks that its
// topic is still the one it started on. A re-created topic that quickly
// grows past the read position raises no fetch error at all.
const topicCheckInterval = 30 * time.Second

// errTopicGone means the topic no longer exists or is not the topic the
// read started on (Kafka topic ids, KIP-516, tell a re-created topic of the
// same name).
var errTopicGone = errors.New("kafkaio: topic deleted or re-created")

// topicID returns the id the cluster gives topic (hex; "" from a broker that
// predates topic ids). A missing topic is errTopicGone; other failures are
// errRetriable.
func topicID(client sarama.Client, topic string) (string, error) {
	b := client.LeastLoadedBroker()
	if b == nil {
		return "", fmt.Errorf("kafkaio: metadata of %q: no broker reachable: %w", topic, errRetriable)
	}
	resp, err := b.GetMetadata(&sarama.MetadataRequest{Version: 10, Topics: []string{topic}})
	if err != nil {
		return "", fmt.Errorf("kafkaio: metadata of %q: %w: %w", topic, err, errRetriable)
	}
	for _, t := range resp.Topics {
		if t.Name != topic {
			continue
		}
		switch {
		case errors.Is(t.Err, sarama.ErrUnknownTopicOrPartition):
			return "", fmt.Errorf("kafkaio: topic %q does not exist: %w", topic, errTopicGone)
		case !errors.Is(t.Err, sarama.ErrNoError):
			return "", fmt.Errorf("kafkaio: metadata of %q: %w: %w", topic, t.Err, errRetriable)
		}
		if t.Uuid == (sarama.Uuid{}) {
			return "", nil
		}
		return hex.EncodeToString(t.Uuid[:]), nil
	}
	return "", fmt.Errorf("kafkaio: topic %q does not exist: %w", topic, errTopicGone)
}

// checkTopic says whether the partition's topic is still the one the read
// started on: errTopicGone if not, errRetriable if the cluster could not
// tell.
func checkTopic(client sarama.Client, p partitionSpec) error {
	id, err := topicID(client, p.Topic)
	if err != nil {
		return err
	}
	if p.TopicID != "" && id != "" && id != p.TopicID {
		return fmt.Errorf("kafkaio: topic %q was re-created (id %s, read started on %s): %w", p.Topic, id, p.TopicID, errTopicGone)
	}
	return nil
}

// topicFaults remembers, per partition, since when a reader instance has
// found its topic gone or its position beyond the end of the log, and when
// it last checked a healthy partition's topic.
type topicFaults struct {
	since   map[int32]time.Time
	checked map[int32]time.Time
}

func newTopicFaults() *topicFaults {
	return &topicFaults{since: map[int32]time.Time{}, checked: map[int32]time.Time{}}
}

// fault records a fault of partition at now and returns how long it lasts.
func (f *topicFaults) fault(partition int32, now time.Time) (lasted time.Duration, first bool) {
	s, ok := f.since[partition]
	if !ok {
		f.since[partition] = now
		return 0, true
	}
	return now.Sub(s), false
}

// healed forgets a partition's fault.
func (f *topicFaults) healed(partition int32) { delete(f.since, partition) }

// due says whether a caught-up partition should check its topic now.
func (f *topicFaults) due(partition int32, now time.Time) bool {
	if now.Sub(f.checked[partition]) < topicCheckInterval {
		return false
	}
	f.checked[partition] = now
	return true
}
