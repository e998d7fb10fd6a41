package cursor

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"sync"
	"time"

	"github.com/IBM/sarama"

	"github.com/trendstream/trendstream/internal/platform/kafkaconf"
	"github.com/trendstream/trendstream/internal/platform/kafkaoffsets"
)

// DefaultTopic is the compacted topic cursors are kept in.
const DefaultTopic = "trendstream.cursors"

// KafkaStore keeps one cursor per key in a compacted Kafka topic, so an
// ingest restarted on another machine resumes where the old one stopped
// without any local state. The value is the position in decimal.
type KafkaStore struct {
	brokers []string
	topic   string
	key     string

	mu   sync.Mutex
	prod sarama.SyncProducer
}

// NewKafkaStore returns a store for key in topic.
func NewKafkaStore(brokers []string, topic, key string) *KafkaStore {
	return &KafkaStore{brokers: brokers, topic: topic, key: key}
}

// Key returns the key the store reads and writes.
func (s *KafkaStore) Key() string { return s.key }

// ensureTopic creates the cursor topic as a compacted single-partition
// topic if it does not exist yet.
func (s *KafkaStore) ensureTopic() error {
	adm, err := sarama.NewClusterAdmin(s.brokers, kafkaconf.Consumer("trendstream-ingest-cursor"))
	if err != nil {
		return fmt.Errorf("cursor: connect: %w", err)
	}
	defer adm.Close()
	compact := "compact"
	err = adm.CreateTopic(s.topic, &sarama.TopicDetail{
		NumPartitions:     1,
		ReplicationFactor: -1,
		ConfigEntries:     map[string]*string{"cleanup.policy": &compact},
	}, false)
	if err != nil && !errors.Is(err, sarama.ErrTopicAlreadyExists) {
		return fmt.Errorf("cursor: create topic %s: %w", s.topic, err)
	}
	return nil
}

// Load returns the newest stored position for the key; ok is false if none
// was ever stored (or it was cleared).
func (s *KafkaStore) Load(ctx context.Context) (pos int64, ok bool, err error) {
	if err := s.ensureTopic(); err != nil {
		return 0, false, err
	}
	cfg := kafkaconf.Consumer("trendstream-ingest-cursor")
	// Closing a partition consumer waits out its pending fetch; keep that
	// short, the topic is read once at start.
	cfg.Consumer.MaxWaitTime = 20 * time.Millisecond
	client, err := sarama.NewClient(s.brokers, cfg)
	if err != nil {
		return 0, false, fmt.Errorf("cursor: connect: %w", err)
	}
	defer client.Close()
	parts, err := client.Partitions(s.topic)
	if err != nil {
		return 0, false, fmt.Errorf("cursor: partitions of %s: %w", s.topic, err)
	}
	cons, err := sarama.NewConsumerFromClient(client)
	if err != nil {
		return 0, false, fmt.Errorf("cursor: consumer: %w", err)
	}
	defer cons.Close()
	// Offsets that cannot be read (after kafkaoffsets' retries) fail the
	// Load, which the ingest retries; they never read as "no cursor
	// stored", which would resume at the live tip and skip the outage.
	ends, err := kafkaoffsets.End(ctx, client, s.topic)
	if err != nil {
		return 0, false, fmt.Errorf("cursor: %w", err)
	}
	starts, err := kafkaoffsets.Earliest(ctx, client, s.topic)
	if err != nil {
		return 0, false, fmt.Errorf("cursor: %w", err)
	}
	for _, p := range parts {
		hwm, oldest := ends[p], starts[p]
		if hwm <= oldest {
			continue
		}
		pc, err := cons.ConsumePartition(s.topic, p, oldest)
		if err != nil {
			return 0, false, fmt.Errorf("cursor: read %s/%d: %w", s.topic, p, err)
		}
		err = func() error {
			defer pc.Close()
			for {
				select {
				case m := <-pc.Messages():
					if string(m.Key) == s.key {
						if len(m.Value) == 0 {
							ok = false
						} else if v, perr := strconv.ParseInt(string(m.Value), 10, 64); perr == nil {
							pos, ok = v, true
						}
					}
					if m.Offset >= hwm-1 {
						return nil
					}
				case e := <-pc.Errors():
					return fmt.Errorf("cursor: read %s/%d: %w", s.topic, p, e)
				case <-ctx.Done():
					return ctx.Err()
				}
			}
		}()
		if err != nil {
			return 0, false, err
		}
	}
	return pos, ok, nil
}

// Save stores pos for the key and waits for the broker's acknowledgement.
func (s *KafkaStore) Save(ctx context.Context, pos int64) error {
	return s.put(ctx, []byte(strconv.FormatInt(pos, 10)))
}

// Clear removes the key's cursor (a tombstone), so the next start begins
// at the live tip.
func (s *KafkaStore) Clear(ctx context.Context) error { return s.put(ctx, nil) }

func (s *KafkaStore) put(ctx context.Context, val []byte) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.prod == nil {
		cfg := kafkaconf.Producer("trendstream-ingest-cursor")
		// One small message per second: no batching delay, and a short
		// retry budget so a dead cluster surfaces quickly.
		cfg.Producer.Flush.Frequency = 0
		cfg.Producer.Flush.Bytes = 0
		cfg.Producer.Retry.Max = 3
		cfg.Metadata.Retry.Max = 1
		cfg.Net.DialTimeout = 5 * time.Second
		p, err := sarama.NewSyncProducer(s.brokers, cfg)
		if err != nil {
			return fmt.Errorf("cursor: producer: %w", err)
		}
		s.prod = p
	}
	msg := &sarama.ProducerMessage{Topic: s.topic, Key: sarama.StringEncoder(s.key)}
	if val != nil {
		msg.Value = sarama.ByteEncoder(val)
	}
	done := make(chan error, 1)
	go func() { _, _, err := s.prod.SendMessage(msg); done <- err }()
	select {
	case err := <-done:
		if err != nil {
			// A producer that failed may be wedged on a dead connection;
			// start afresh next time.
			_ = s.prod.Close()
			s.prod = nil
			return fmt.Errorf("cursor: save %s: %w", s.key, err)
		}
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// Close releases the producer.
func (s *KafkaStore) Close() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.prod == nil {
		return nil
	}
	err := s.prod.Close()
	s.prod = nil
	return err
}
