// Package kafkasink is the ingest's Kafka sink (-sink kafka, the default):
// it delivers through sarama's asynchronous idempotent producer.
//
// Delivery is acknowledged per message through a callback, so the caller can
// advance its cursor only over what the broker has confirmed. The sink
// bounds the unacknowledged messages, by count and by bytes: Send blocks
// when either bound is reached, which stops the caller from reading its
// source. That is the backpressure path from a slow or absent broker to the
// websocket.
//
// A session (Producer) also writes the source-watermark markers
// (internal/core/watermark): one per partition, through the same producer as the
// posts, so each lands behind the posts already written to its partition.
package kafkasink

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/IBM/sarama"
	"google.golang.org/protobuf/proto"

	"github.com/trendstream/trendstream/ingest/cursor"
	"github.com/trendstream/trendstream/ingest/sink"
	"github.com/trendstream/trendstream/internal/core/watermark"
	"github.com/trendstream/trendstream/internal/platform/kafkaconf"
)

// ClientID is the producer's client id unless Options say otherwise.
const ClientID = "trendstream-ingest"

// Options configure the Kafka sink. Zero fields take the producer's
// defaults (DefaultMaxInFlight, DefaultMaxInFlightBytes, ClientID); the
// ingest's flags fill them (ingest.Config.KafkaSink).
type Options struct {
	Brokers  []string
	ClientID string
	// MaxInFlight and MaxInFlightBytes bound what is unacknowledged
	// (ProducerOptions).
	MaxInFlight      int
	MaxInFlightBytes int64
	// DeadLetterTopic receives what cannot be delivered; empty disables
	// it, and such a message then fails the session.
	DeadLetterTopic string
	// ProducerConfig, if set, gives each session's producer configuration
	// (default kafkaconf.Producer); tests use it to shorten retries.
	ProducerConfig func() *sarama.Config
}

// Sink is the Kafka sink: each session gets a Producer of its own, so a
// session that failed on the broker starts over with a fresh client.
type Sink struct{ o Options }

var (
	_ sink.Sink        = (*Sink)(nil)
	_ sink.Session     = (*Producer)(nil)
	_ sink.Marker      = (*Producer)(nil)
	_ sink.BackScanner = (*Producer)(nil)
)

// New returns a Kafka sink. It connects nothing until Open.
func New(o Options) *Sink {
	if o.ClientID == "" {
		o.ClientID = ClientID
	}
	return &Sink{o: o}
}

// Name implements sink.Sink.
func (s *Sink) Name() string { return "kafka" }

// Durable implements sink.Sink: the posts topic keeps what was delivered,
// and the cursor is persisted beside it.
func (s *Sink) Durable() bool { return true }

// Open implements sink.Sink: it connects a Producer, which is also a
// sink.Marker and a sink.BackScanner.
func (s *Sink) Open(_ context.Context, o sink.OpenOptions) (sink.Session, error) {
	var pc *sarama.Config
	if s.o.ProducerConfig != nil {
		pc = s.o.ProducerConfig()
	}
	p, err := NewProducer(ProducerOptions{
		Brokers: s.o.Brokers, ClientID: s.o.ClientID, Config: pc,
		MaxInFlight: s.o.MaxInFlight, MaxInFlightBytes: s.o.MaxInFlightBytes,
		Ack: o.Ack, Hooks: o.Hooks,
		DeadLetter: DeadLetterOptions{Topic: s.o.DeadLetterTopic, Source: o.Source},
	})
	if err != nil {
		return nil, err // not a nil *Producer in a non-nil interface
	}
	return p, nil
}

// record is a message in flight: the producer's metadata for it.
type record struct {
	*sink.Message
	done chan struct{} // closed when an Alone message is resolved
	size int           // bytes it holds in flight
}

// ProducerOptions configure the Kafka sink.
type ProducerOptions struct {
	Brokers  []string
	ClientID string
	// MaxInFlight bounds messages sent but not yet acknowledged.
	MaxInFlight int
	// MaxInFlightBytes bounds their size (the record size sarama counts:
	// key, value, headers and record overhead). A post can be up to 1 MB
	// and a raw frame 4 MiB, so the message bound alone lets memory run to
	// gigabytes. One message larger than the bound is still sent, alone.
	// Zero means DefaultMaxInFlightBytes.
	MaxInFlightBytes int64
	// Ack is called once per delivered (or dead-lettered) message with its
	// token.
	Ack   func(cursor.Token)
	Hooks sink.Hooks
	// Config overrides the producer configuration (default
	// kafkaconf.Producer); tests use it to shorten retries.
	Config *sarama.Config
	// DeadLetter receives what cannot be delivered; an empty Topic
	// disables it, and such a message fails the sink instead.
	DeadLetter DeadLetterOptions
}

// Producer is one session of the Kafka sink.
type Producer struct {
	client sarama.Client
	p      sarama.AsyncProducer
	opt    ProducerOptions
	wg     sync.WaitGroup
	// maxRecord and version are what sarama checks a record's size with.
	maxRecord, version int
	dl                 *deadLetters // nil: disabled

	flightMu      sync.Mutex
	inFlight      int
	inFlightBytes int64
	wake          chan struct{} // a release since the blocked Send last looked

	failOnce sync.Once
	failed   chan struct{}
	mu       sync.Mutex
	err      error
	closed   bool
}

// NewProducer connects the producer. It fails when no broker answers.
func NewProducer(o ProducerOptions) (*Producer, error) {
	cfg := o.Config
	if cfg == nil {
		cfg = kafkaconf.Producer(o.ClientID)
	}
	if o.MaxInFlight <= 0 {
		o.MaxInFlight = DefaultMaxInFlight
	}
	if o.MaxInFlightBytes <= 0 {
		o.MaxInFlightBytes = DefaultMaxInFlightBytes
	}
	// A copy, so the caller's config keeps its partitioner; markers need
	// the one below.
	c := *cfg
	cfg = &c
	cfg.Producer.Partitioner = presetPartitioner(cfg.Producer.Partitioner)
	// ScanBack reads with this client; closing a partition consumer waits
	// out its pending fetch, so keep that short.
	cfg.Consumer.MaxWaitTime = 20 * time.Millisecond
	// Our own client, so Markers can ask for the topic's partitions.
	client, err := sarama.NewClient(o.Brokers, cfg)
	if err != nil {
		return nil, fmt.Errorf("sink: kafka client: %w", err)
	}
	p, err := sarama.NewAsyncProducerFromClient(client)
	if err != nil {
		_ = client.Close()
		return nil, fmt.Errorf("sink: kafka producer: %w", err)
	}
	k := &Producer{
		client: client, p: p, opt: o, maxRecord: cfg.Producer.MaxMessageBytes, version: 1,
		wake: make(chan struct{}, 1), failed: make(chan struct{}),
	}
	if cfg.Version.IsAtLeast(sarama.V0_11_0_0) {
		k.version = 2
	}
	if o.DeadLetter.Topic != "" {
		k.dl = newDeadLetters(o.Brokers, cfg, o.DeadLetter)
	}
	k.wg.Add(2)
	go k.successes()
	go k.errors()
	return k, nil
}

func (k *Producer) successes() {
	defer k.wg.Done()
	for pm := range k.p.Successes() {
		if mk, ok := pm.Metadata.(*marker); ok {
			mk.done <- nil
			continue
		}
		m := pm.Metadata.(*record)
		if k.opt.Ack != nil {
			k.opt.Ack(m.Token)
		}
		if k.opt.Hooks.Acked != nil {
			k.opt.Hooks.Acked(m.Message)
		}
		k.release(m)
		if m.done != nil {
			close(m.done)
		}
	}
}

func (k *Producer) errors() {
	defer k.wg.Done()
	for pe := range k.p.Errors() {
		if mk, ok := pe.Msg.Metadata.(*marker); ok {
			// A lost marker loses no post: the next one covers the same
			// ground. It does not fail the sink.
			mk.done <- pe.Err
			continue
		}
		m := pe.Msg.Metadata.(*record)
		if m.Alone && k.dl != nil && MessageScoped(pe.Err) {
			// Refused on its own: it will never be delivered.
			var value []byte
			if pe.Msg.Value != nil {
				value, _ = pe.Msg.Value.Encode()
			}
			_ = k.deadLetter(m.Message, value, valueKind(m.Message), pe.Err)
		} else {
			if k.opt.Hooks.Suspect != nil && MessageScoped(pe.Err) {
				k.opt.Hooks.Suspect(m.Message)
			}
			if k.opt.Hooks.Error != nil {
				k.opt.Hooks.Error(m.Message, pe.Err)
			}
			k.fail(fmt.Errorf("sink: produce to %s: %w", m.Topic, pe.Err))
		}
		k.release(m)
		if m.done != nil {
			close(m.done)
		}
	}
}

func (k *Producer) fail(err error) {
	k.failOnce.Do(func() {
		k.mu.Lock()
		k.err = err
		k.mu.Unlock()
		close(k.failed)
	})
}

// DefaultMaxInFlight is the default bound on unacknowledged messages.
const DefaultMaxInFlight = 10000

// DefaultMaxInFlightBytes is the default byte bound on unacknowledged
// messages.
const DefaultMaxInFlightBytes = 64 << 20

// reserve takes a place in flight for a message of size bytes, waiting
// while either bound would be passed (or, alone, until nothing is in
// flight). A message larger than the byte bound goes when nothing else is
// in flight, so it can never wait forever.
func (k *Producer) reserve(ctx context.Context, size int, alone bool) error {
	for {
		k.flightMu.Lock()
		ok := k.inFlight == 0 ||
			!alone && k.inFlight < k.opt.MaxInFlight && k.inFlightBytes+int64(size) <= k.opt.MaxInFlightBytes
		if ok {
			k.inFlight++
			k.inFlightBytes += int64(size)
			k.reportLocked()
			k.flightMu.Unlock()
			return nil
		}
		k.flightMu.Unlock()
		select {
		case <-k.wake:
		case <-k.failed:
			return k.Err()
		case <-ctx.Done():
			return ctx.Err()
		}
	}
}

func (k *Producer) release(m *record) {
	k.flightMu.Lock()
	k.inFlight--
	k.inFlightBytes -= int64(m.size)
	k.reportLocked()
	k.flightMu.Unlock()
	select {
	case k.wake <- struct{}{}:
	default:
	}
}

func (k *Producer) reportLocked() {
	if k.opt.Hooks.InFlight != nil {
		k.opt.Hooks.InFlight(k.inFlight, k.inFlightBytes)
	}
}

// epoch is the earliest record timestamp sarama can encode: it fails the
// whole produce request on an earlier one (Timestamp.encode returns a
// PacketEncodingError), taking every message batched with it down.
var epoch = time.Unix(0, 0)

// Send implements sink.Session. A message that cannot be delivered at all — its
// Post does not marshal, or the record is larger than the producer
// accepts — goes to the dead-letter topic at once and counts as
// delivered; Send fails only if that write fails.
func (k *Producer) Send(ctx context.Context, msg *sink.Message) error {
	m := &record{Message: msg}
	select {
	case <-k.failed:
		return k.Err()
	default:
	}
	t := m.Time
	if !t.IsZero() && t.Before(epoch) {
		t = epoch // the runner repairs event times; this is the last guard
	}
	pm := &sarama.ProducerMessage{Topic: m.Topic, Key: sarama.StringEncoder(m.Key), Headers: m.Headers, Timestamp: t, Metadata: m}
	if m.Post != nil {
		b, err := proto.Marshal(m.Post)
		if err != nil {
			return k.deadLetter(msg, sanitizedPost(m.Post), valuePostReplaced, fmt.Errorf("%w: %w", errMarshal, err))
		}
		pm.Value = sarama.ByteEncoder(b)
	} else {
		pm.Value = sarama.ByteEncoder(m.Raw)
	}
	// sarama refuses such a record itself, with an error that would end
	// the session and come back with the event after every reconnect.
	m.size = pm.ByteSize(k.version)
	if m.size > k.maxRecord {
		b, _ := pm.Value.Encode()
		return k.deadLetter(msg, b, valueKind(msg), fmt.Errorf("%w: a record of %d bytes, the producer's limit is %d", sarama.ErrMessageSizeTooLarge, m.size, k.maxRecord))
	}
	if err := k.reserve(ctx, m.size, m.Alone); err != nil {
		return err
	}
	if m.Alone {
		m.done = make(chan struct{})
	}
	select {
	case k.p.Input() <- pm:
	case <-k.failed:
		k.release(m)
		return k.Err()
	case <-ctx.Done():
		k.release(m)
		return ctx.Err()
	}
	if !m.Alone {
		return nil
	}
	select {
	case <-m.done:
	case <-ctx.Done():
		return ctx.Err()
	}
	select {
	case <-k.failed:
		return k.Err()
	default:
		return nil
	}
}

// deadLetter writes m to the dead-letter topic and acknowledges it; if the
// topic is disabled or the write fails, the sink fails (nothing is dropped
// silently) and the event is read again by the next session.
func (k *Producer) deadLetter(m *sink.Message, value []byte, kind string, cause error) error {
	if k.dl == nil {
		err := fmt.Errorf("sink: %s (no dead-letter topic): %w", m.Topic, cause)
		k.fail(err)
		return err
	}
	reason := Reason(cause)
	if err := k.dl.write(m, value, kind, reason, cause); err != nil {
		if k.opt.Hooks.Error != nil {
			k.opt.Hooks.Error(m, err)
		}
		err = fmt.Errorf("sink: %s undeliverable (%v) and the dead-letter write failed: %w", m.Topic, cause, err)
		k.fail(err)
		return err
	}
	if k.opt.Ack != nil {
		k.opt.Ack(m.Token)
	}
	if k.opt.Hooks.DeadLettered != nil {
		k.opt.Hooks.DeadLettered(m, reason, cause)
	}
	return nil
}

// marker is the producer metadata of a watermark marker.
type marker struct {
	partition int32
	done      chan error // buffered: the answer never blocks the producer
}

// Markers writes a source-watermark marker with timestamp t to every
// partition of topic and waits until all of them are acknowledged. The
// caller must only pass a t up to which every message is acknowledged
// (internal/core/watermark's contract). A failed marker does not fail the sink;
// the error says how many partitions missed theirs.
func (k *Producer) Markers(ctx context.Context, topic, writer string, t time.Time) error {
	parts, err := k.client.Partitions(topic)
	if err != nil {
		return fmt.Errorf("sink: partitions of %s: %w", topic, err)
	}
	done := make(chan error, len(parts))
	for _, p := range parts {
		pm := &sarama.ProducerMessage{
			Topic: topic, Partition: p, Timestamp: t,
			Headers:  []sarama.RecordHeader{{Key: []byte(watermark.Header), Value: []byte(writer)}},
			Metadata: &marker{partition: p, done: done},
		}
		select {
		case k.p.Input() <- pm:
		case <-k.failed:
			return k.Err()
		case <-ctx.Done():
			return ctx.Err()
		}
	}
	var failed []error
	for range parts {
		select {
		case err := <-done:
			if err != nil {
				failed = append(failed, err)
			}
		case <-ctx.Done():
			return ctx.Err()
		}
	}
	if len(failed) > 0 {
		return fmt.Errorf("sink: %d of %d markers to %s failed: %w", len(failed), len(parts), topic, errors.Join(failed...))
	}
	return nil
}

// presetPartitioner wraps the configured partitioner: markers go to the
// partition they name, everything else is partitioned as before (by key
// hash, kafkaconf.Producer). sarama's manual partitioner would do for the
// markers but not for the posts, and a producer has one partitioner.
func presetPartitioner(base sarama.PartitionerConstructor) sarama.PartitionerConstructor {
	if base == nil {
		base = sarama.NewHashPartitioner
	}
	return func(topic string) sarama.Partitioner {
		return &preset{base: base(topic)}
	}
}

type preset struct{ base sarama.Partitioner }

func (p *preset) Partition(m *sarama.ProducerMessage, n int32) (int32, error) {
	if mk, ok := m.Metadata.(*marker); ok {
		if mk.partition < 0 || mk.partition >= n {
			return -1, sarama.ErrInvalidPartition
		}
		return mk.partition, nil
	}
	return p.base.Partition(m, n)
}

// RequiresConsistency is the base partitioner's: a marker's partition is
// fixed anyway.
func (p *preset) RequiresConsistency() bool { return p.base.RequiresConsistency() }

// InFlight returns the number of messages sent and not yet resolved.
func (k *Producer) InFlight() int {
	k.flightMu.Lock()
	defer k.flightMu.Unlock()
	return k.inFlight
}

// InFlightBytes returns the record bytes of those messages.
func (k *Producer) InFlightBytes() int64 {
	k.flightMu.Lock()
	defer k.flightMu.Unlock()
	return k.inFlightBytes
}

// Failed implements sink.Session.
func (k *Producer) Failed() <-chan struct{} { return k.failed }

// Err implements sink.Session.
func (k *Producer) Err() error {
	k.mu.Lock()
	defer k.mu.Unlock()
	return k.err
}

// closeDrainTimeout bounds how long Close waits for the messages in flight:
// longer than the producer's own retries (kafkaconf.Producer: 10 × 250 ms).
const closeDrainTimeout = 30 * time.Second

// drain waits until every message sent is resolved, the sink fails, or
// within passes. sarama's AsyncClose fails the messages that still need a
// retry with ErrShuttingDown ("message received by producer in process of
// shutting down"), e.g. right after a topic's creation, before its leader
// is known, seen on the real broker in CI: a clean stop then reported a
// delivery error for a post a moment from being delivered.
func (k *Producer) drain(within time.Duration) {
	deadline := time.NewTimer(within)
	defer deadline.Stop()
	poll := time.NewTicker(50 * time.Millisecond) // a Send may take the wake-up
	defer poll.Stop()
	for k.InFlight() > 0 {
		select {
		case <-k.wake:
		case <-poll.C:
		case <-k.failed:
			return
		case <-deadline.C:
			return
		}
	}
}

// Close implements sink.Session. It waits for the messages in flight (at most
// closeDrainTimeout) and returns the first delivery error, if any.
func (k *Producer) Close() error {
	k.mu.Lock()
	if k.closed {
		k.mu.Unlock()
		return k.Err()
	}
	k.closed = true
	k.mu.Unlock()
	k.drain(closeDrainTimeout)
	k.p.AsyncClose()
	k.wg.Wait()
	_ = k.client.Close()
	if k.dl != nil {
		k.dl.close()
	}
	return k.Err()
}
