package kafkaio

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/IBM/sarama"
	"github.com/apache/beam/sdks/v2/go/pkg/beam"
	"github.com/apache/beam/sdks/v2/go/pkg/beam/core/typex"
	"github.com/apache/beam/sdks/v2/go/pkg/beam/register"

	"github.com/trendstream/trendstream/internal/platform/kafkaconf"
	"github.com/trendstream/trendstream/internal/platform/kafkaretry"
)

func init() {
	register.DoFn2x1[context.Context, Message, error](&writeFn{})
	register.DoFn3x1[context.Context, []byte, []byte, error](&writeKVFn{})
}

// messagesWritten counts records acknowledged by the brokers.
var messagesWritten = beam.NewCounter("kafkaio", "messages_written")

// DefaultMaxBatch is the default number of messages buffered before a
// mid-bundle flush.
const DefaultMaxBatch = 1000

type writeOptions struct {
	MaxBatch int
	RetryFor time.Duration
	ClientID string
}

// WriteOption configures Write.
type WriteOption func(*writeOptions)

// WriteMaxBatch flushes when this many messages are buffered, even before
// the bundle ends (default DefaultMaxBatch), bounding memory for big bundles.
func WriteMaxBatch(n int) WriteOption { return func(o *writeOptions) { o.MaxBatch = n } }

// WriteRetryFor is how long a send keeps retrying while the cluster cannot
// be reached or a partition's leader moves, e.g. during a broker restart,
// before it fails the bundle (default DefaultRetryFor). On Prism a failed
// bundle fails the whole job.
func WriteRetryFor(d time.Duration) WriteOption { return func(o *writeOptions) { o.RetryFor = d } }

// WriteClientID sets the Kafka client id (default DefaultClientID).
func WriteClientID(id string) WriteOption { return func(o *writeOptions) { o.ClientID = id } }

// Write produces col, a PCollection<Message> or PCollection<KV<[]byte,
// []byte>> (key, value), to topic. Messages are buffered per bundle and
// sent synchronously with an idempotent, acks=all producer in FinishBundle
// (and whenever WriteMaxBatch are buffered). The messages a send could not
// deliver are sent again for up to WriteRetryFor while the errors are
// transient (internal/platform/kafkaretry); then the bundle fails, and the runner
// retries it. Delivery is therefore at least once: a retried
// bundle may write some messages twice, so consumers should key on the
// message key (as trendstream.trends does) and treat repeats as overwrites.
func Write(s beam.Scope, brokers []string, topic string, col beam.PCollection, opts ...WriteOption) {
	s = s.Scope("kafkaio.Write")
	o := writeOptions{MaxBatch: DefaultMaxBatch, RetryFor: DefaultRetryFor, ClientID: DefaultClientID}
	for _, opt := range opts {
		opt(&o)
	}
	if len(brokers) == 0 {
		panic("kafkaio.Write: no brokers")
	}
	if topic == "" {
		panic("kafkaio.Write: no topic")
	}
	if o.MaxBatch <= 0 {
		panic("kafkaio.Write: max batch must be positive")
	}
	if o.RetryFor <= 0 {
		panic("kafkaio.Write: retry budget must be positive")
	}
	fn := writeFn{Brokers: brokers, Topic: topic, ClientID: o.ClientID, MaxBatch: o.MaxBatch, RetryFor: o.RetryFor}
	if typex.IsKV(col.Type()) {
		beam.ParDo0(s, &writeKVFn{writeFn: fn}, col)
		return
	}
	beam.ParDo0(s, &fn, col)
}

// writeFn buffers a bundle's messages and produces them in one go.
type writeFn struct {
	Brokers  []string
	Topic    string
	ClientID string
	MaxBatch int
	RetryFor time.Duration

	producer sarama.SyncProducer
	buf      []*sarama.ProducerMessage
}

// StartBundle drops anything a failed previous bundle left behind: the
// runner retries that bundle as a whole.
func (fn *writeFn) StartBundle(context.Context) {
	fn.buf = fn.buf[:0]
}

// ProcessElement buffers one message.
func (fn *writeFn) ProcessElement(ctx context.Context, m Message) error {
	return fn.add(ctx, m.Key, m.Value, m)
}

func (fn *writeFn) add(ctx context.Context, key, value []byte, m Message) error {
	pm := &sarama.ProducerMessage{Topic: fn.Topic, Value: sarama.ByteEncoder(value), Timestamp: m.Timestamp}
	if key != nil {
		pm.Key = sarama.ByteEncoder(key)
	}
	fn.buf = append(fn.buf, pm)
	if len(fn.buf) >= fn.MaxBatch {
		return fn.flush(ctx)
	}
	return nil
}

// FinishBundle sends the buffered messages and waits for the brokers' acks,
// so a bundle only commits once its output is durable.
func (fn *writeFn) FinishBundle(ctx context.Context) error {
	return fn.flush(ctx)
}

// Teardown closes the producer.
func (fn *writeFn) Teardown() error {
	if fn.producer == nil {
		return nil
	}
	err := fn.producer.Close()
	fn.producer = nil
	return err
}

func (fn *writeFn) flush(ctx context.Context) error {
	if len(fn.buf) == 0 {
		return nil
	}
	pending := fn.buf
	err := kafkaretry.Do(ctx, fn.RetryFor, fmt.Sprintf("write to %s", fn.Topic), func() error {
		var err error
		pending, err = fn.send(pending)
		return err
	})
	if err != nil {
		return fmt.Errorf("kafkaio: %d of %d messages: %w", len(pending), len(fn.buf), err)
	}
	messagesWritten.Inc(ctx, int64(len(fn.buf)))
	fn.buf = fn.buf[:0]
	return nil
}

// send produces msgs and returns those that failed. Only they are sent
// again: the others are acknowledged, so a broker restart mid-bundle does
// not duplicate the whole batch. A retry sends copies through a fresh
// producer: an idempotent producer that failed may be stuck on a sequence
// gap, and sarama keeps per-attempt state in the messages themselves.
func (fn *writeFn) send(msgs []*sarama.ProducerMessage) ([]*sarama.ProducerMessage, error) {
	if fn.producer == nil {
		p, err := sarama.NewSyncProducer(fn.Brokers, kafkaconf.Producer(fn.ClientID))
		if err != nil {
			return msgs, fmt.Errorf("producer for %v: %w", fn.Brokers, err)
		}
		fn.producer = p
	}
	err := fn.producer.SendMessages(msgs)
	if err == nil {
		return nil, nil
	}
	_ = fn.producer.Close()
	fn.producer = nil
	var pe sarama.ProducerErrors
	if !errors.As(err, &pe) {
		return fresh(msgs), err
	}
	failed := make([]*sarama.ProducerMessage, 0, len(pe))
	for _, e := range pe {
		failed = append(failed, e.Msg)
	}
	return fresh(failed), firstErrors(pe)
}

// fresh copies what the caller set in each message, without sarama's state.
func fresh(msgs []*sarama.ProducerMessage) []*sarama.ProducerMessage {
	out := make([]*sarama.ProducerMessage, len(msgs))
	for i, m := range msgs {
		out[i] = &sarama.ProducerMessage{Topic: m.Topic, Key: m.Key, Value: m.Value, Headers: m.Headers, Timestamp: m.Timestamp}
	}
	return out
}

// firstErrors keeps error messages short when a whole batch failed. The
// batch is judged by all its errors: one message too large makes the
// whole send fatal for the retry policy.
func firstErrors(pe sarama.ProducerErrors) error {
	errs := []error{}
	for _, e := range pe[:min(len(pe), 3)] {
		errs = append(errs, e.Err)
	}
	err := fmt.Errorf("%d failed, first: %w", len(pe), errors.Join(errs...))
	if !kafkaretry.Transient(pe) {
		// Name the error that made the batch fatal: it need not be among
		// the first three.
		for _, e := range pe {
			if !kafkaretry.Transient(e.Err) {
				err = fmt.Errorf("%w; not retried because of: %w", err, e.Err)
				break
			}
		}
		return kafkaretry.Permanent(err)
	}
	return err
}

// writeKVFn writes KV<[]byte, []byte> as key and value.
type writeKVFn struct {
	writeFn
}

// ProcessElement buffers one key/value pair.
func (fn *writeKVFn) ProcessElement(ctx context.Context, key, value []byte) error {
	return fn.add(ctx, key, value, Message{})
}
