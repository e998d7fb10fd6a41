package kafkasink

import (
	"errors"
	"fmt"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/IBM/sarama"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protoreflect"

	"github.com/trendstream/trendstream/ingest/sink"
	v1 "github.com/trendstream/trendstream/proto/trendstream/v1"
)

// DefaultDeadLetterTopic is where undeliverable messages go by default.
const DefaultDeadLetterTopic = "trendstream.deadletter"

// DeadLetterMaxValue bounds a dead letter's value: a longer one is cut,
// and the header HeaderTruncated gives the original length. It fits a
// topic with Kafka's default max.message.bytes (1 MiB), so a dead-letter
// topic created without special configuration takes every dead letter.
const DeadLetterMaxValue = 1_000_000

// Dead-letter record headers. The record's key is the message's key, its
// value the bytes that could not be delivered, its timestamp the time it
// was dead-lettered.
const (
	// HeaderReason is a fixed label (Reason); HeaderError the error.
	HeaderReason = "trendstream-dlq-reason"
	HeaderError  = "trendstream-dlq-error"
	// HeaderSource is the source key (firehose:URL, jetstream:URL,
	// file:PATH), HeaderCursor the event's position in it.
	HeaderSource = "trendstream-dlq-source"
	HeaderCursor = "trendstream-dlq-cursor"
	// HeaderTopic is the topic the message was meant for.
	HeaderTopic = "trendstream-dlq-topic"
	// HeaderTime is the record timestamp the message would have had.
	HeaderTime = "trendstream-dlq-time"
	// HeaderValue says what the value holds: "post" (a protobuf Post),
	// "raw" (a raw frame), or "post-utf8-replaced" (a Post that did not
	// marshal, with its invalid UTF-8 replaced by U+FFFD so it does).
	HeaderValue = "trendstream-dlq-value"
	// HeaderTruncated, when present, is the value's original length.
	HeaderTruncated = "trendstream-dlq-truncated"
)

const (
	valuePost         = "post"
	valueRaw          = "raw"
	valuePostReplaced = "post-utf8-replaced"
)

func valueKind(m *sink.Message) string {
	if m.Post != nil {
		return valuePost
	}
	return valueRaw
}

// DeadLetterOptions configure the dead-letter topic.
type DeadLetterOptions struct {
	// Topic receives the dead letters; it is created (one partition) if
	// missing. Empty disables dead letters.
	Topic string
	// Source is the source key written into every dead letter.
	Source string
}

var errMarshal = errors.New("post does not marshal")

// MessageScoped reports whether a produce error is about the message (or
// its batch) rather than the broker or the network: retrying the same
// bytes will fail the same way, so the session must not just be
// restarted. The broker answers per partition batch, so a batch-mate of
// the guilty message gets the same error; it goes through again Alone.
func MessageScoped(err error) bool {
	var pe sarama.PacketEncodingError
	var ce sarama.ConfigurationError
	switch {
	case errors.Is(err, sarama.ErrMessageSizeTooLarge), errors.Is(err, sarama.ErrInvalidTimestamp),
		errors.Is(err, sarama.ErrInvalidRecord), errors.Is(err, sarama.ErrInvalidMessage),
		errors.Is(err, sarama.ErrMessageSetSizeTooLarge), errors.Is(err, errMarshal):
		return true
	case errors.As(err, &pe):
		return true
	case errors.As(err, &ce):
		// sarama's own size check answers with a ConfigurationError.
		return strings.Contains(string(ce), "MaxMessageBytes")
	}
	return false
}

// Reason is the dead-letter reason label for an error: too_large,
// invalid_timestamp, invalid_record, encoding, marshal or rejected.
func Reason(err error) string {
	var pe sarama.PacketEncodingError
	var ce sarama.ConfigurationError
	switch {
	case errors.Is(err, errMarshal):
		return "marshal"
	case errors.Is(err, sarama.ErrMessageSizeTooLarge), errors.Is(err, sarama.ErrMessageSetSizeTooLarge),
		errors.As(err, &ce) && strings.Contains(string(ce), "MaxMessageBytes"):
		return "too_large"
	case errors.Is(err, sarama.ErrInvalidTimestamp):
		return "invalid_timestamp"
	case errors.Is(err, sarama.ErrInvalidRecord), errors.Is(err, sarama.ErrInvalidMessage):
		return "invalid_record"
	case errors.As(err, &pe):
		return "encoding"
	}
	return "rejected"
}

// deadLetters writes dead letters with a synchronous producer of its own:
// the async producer's error loop calls it, and a producer sharing that
// producer's client could wait on a broker connection whose responses
// wait on that very loop.
type deadLetters struct {
	opt     DeadLetterOptions
	brokers []string
	cfg     *sarama.Config

	mu   sync.Mutex
	prod sarama.SyncProducer
}

func newDeadLetters(brokers []string, cfg *sarama.Config, o DeadLetterOptions) *deadLetters {
	c := *cfg
	c.Producer.Return.Successes = true
	c.Producer.Return.Errors = true
	return &deadLetters{opt: o, brokers: brokers, cfg: &c}
}

// open creates the topic if it is missing (brokers may not auto-create
// topics; the test broker and production do not) and the producer.
func (d *deadLetters) open() error {
	if d.prod != nil {
		return nil
	}
	adm, err := sarama.NewClusterAdmin(d.brokers, d.cfg)
	if err != nil {
		return fmt.Errorf("sink: dead-letter admin: %w", err)
	}
	err = adm.CreateTopic(d.opt.Topic, &sarama.TopicDetail{NumPartitions: 1, ReplicationFactor: -1}, false)
	_ = adm.Close()
	if err != nil && !errors.Is(err, sarama.ErrTopicAlreadyExists) {
		return fmt.Errorf("sink: create dead-letter topic %s: %w", d.opt.Topic, err)
	}
	p, err := sarama.NewSyncProducer(d.brokers, d.cfg)
	if err != nil {
		return fmt.Errorf("sink: dead-letter producer: %w", err)
	}
	d.prod = p
	return nil
}

func (d *deadLetters) write(m *sink.Message, value []byte, kind, reason string, cause error) error {
	d.mu.Lock()
	defer d.mu.Unlock()
	if err := d.open(); err != nil {
		return err
	}
	errText := cause.Error()
	if len(errText) > 1024 {
		errText = errText[:1024]
	}
	h := func(k, v string) sarama.RecordHeader { return sarama.RecordHeader{Key: []byte(k), Value: []byte(v)} }
	headers := []sarama.RecordHeader{
		h(HeaderReason, reason), h(HeaderError, strings.ToValidUTF8(errText, "\uFFFD")),
		h(HeaderSource, d.opt.Source), h(HeaderCursor, strconv.FormatInt(m.Pos, 10)),
		h(HeaderTopic, m.Topic), h(HeaderValue, kind),
	}
	if !m.Time.IsZero() {
		headers = append(headers, h(HeaderTime, m.Time.UTC().Format(time.RFC3339Nano)))
	}
	if len(value) > DeadLetterMaxValue {
		headers = append(headers, h(HeaderTruncated, strconv.Itoa(len(value))))
		value = value[:DeadLetterMaxValue]
	}
	_, _, err := d.prod.SendMessage(&sarama.ProducerMessage{
		Topic: d.opt.Topic, Key: sarama.StringEncoder(m.Key), Value: sarama.ByteEncoder(value),
		Headers: headers, Timestamp: time.Now(),
	})
	if err != nil {
		return fmt.Errorf("sink: dead letter to %s: %w", d.opt.Topic, err)
	}
	return nil
}

func (d *deadLetters) close() {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.prod != nil {
		_ = d.prod.Close()
		d.prod = nil
	}
}

// sanitizedPost marshals a copy of p with every invalid UTF-8 sequence in
// its strings replaced, so a Post that proto.Marshal refused can still be
// kept in a dead letter.
func sanitizedPost(p *v1.Post) []byte {
	c := proto.Clone(p).(*v1.Post)
	m := c.ProtoReflect()
	var fields []protoreflect.FieldDescriptor
	m.Range(func(fd protoreflect.FieldDescriptor, _ protoreflect.Value) bool {
		if fd.Kind() == protoreflect.StringKind {
			fields = append(fields, fd)
		}
		return true
	})
	fix := func(s string) protoreflect.Value { return protoreflect.ValueOfString(strings.ToValidUTF8(s, "\uFFFD")) }
	for _, fd := range fields {
		if fd.IsList() {
			l := m.Mutable(fd).List()
			for i := range l.Len() {
				l.Set(i, fix(l.Get(i).String()))
			}
			continue
		}
		m.Set(fd, fix(m.Get(fd).String()))
	}
	b, _ := proto.Marshal(c)
	return b
}
