// Package sink defines where the ingest delivers its messages: a Sink,
// which ingest.Run opens once per session, and the Session it opens, which
// takes messages and acknowledges each one through a callback, so the
// caller advances its cursor only over what was delivered.
//
// Each sink is a package of its own below this one, as the sources are
// below ingest/source (and indigo keeps its event schedulers in
// events/schedulers/{sequential,parallel}): kafkasink (the posts topic,
// through sarama's idempotent producer, with dead letters, watermark
// markers and read-back) and stdoutsink (protojson lines, for inspection
// and pipes). The command builds one from -sink (cmd/trendstream/sink.go)
// and passes it to ingest.Run; docs/extending.md walks through adding
// another.
package sink

import (
	"context"
	"time"

	"github.com/IBM/sarama"

	"github.com/trendstream/trendstream/ingest/cursor"
	v1 "github.com/trendstream/trendstream/proto/trendstream/v1"
)

// Message is one record to deliver: a Post, or a raw frame (Raw set).
type Message struct {
	Topic string
	Key   string
	Post  *v1.Post
	Raw   []byte
	// Time becomes the record timestamp (the event time).
	Time time.Time
	// Token is handed back to the ack callback once delivered.
	Token cursor.Token
	// Pos is the source position of the message's event and Index the
	// message's place among that event's messages; they name the message
	// in dead letters and across sessions.
	Pos   int64
	Index int
	// Alone sends the message on its own: Send waits until nothing else is
	// in flight, sends it, and waits for its outcome. A message the
	// Suspect hook named is sent alone next time, so the answer is about
	// it alone and the order is kept (kafkasink dead-letters it if it
	// fails alone). Sinks without batches ignore it.
	Alone bool

	// Headers go onto the record as they are.
	Headers []sarama.RecordHeader
}

// Sink is a configured destination. It holds no connection: Open makes one
// per ingest session, and a failed session's Session is closed and a new
// one opened.
type Sink interface {
	// Name is the kind of sink (kafka, stdout), for the log.
	Name() string
	// Durable says what the sink delivers is kept where the ingest can
	// find it again (Kafka): only then is the ingest's cursor persisted,
	// and only then are raw frames (-raw-topic) sent. A sink that is not
	// durable (stdout) starts from -cursor or the live tip every time.
	Durable() bool
	// Open starts a session's delivery. It fails when the destination
	// cannot be reached; the ingest retries with backoff.
	Open(ctx context.Context, o OpenOptions) (Session, error)
}

// OpenOptions are what a session's delivery reports to.
type OpenOptions struct {
	// Source is the source key (firehose:URL, jetstream:URL, file:PATH),
	// written into dead letters.
	Source string
	// Ack is called once per delivered (or dead-lettered) message with its
	// token.
	Ack   func(cursor.Token)
	Hooks Hooks
}

// Hooks observe deliveries; nil fields are ignored. They are called from
// the sink's goroutines and from Send.
type Hooks struct {
	Acked func(m *Message)
	Error func(m *Message, err error)
	// Suspect is called, before Error, for a message that failed with an
	// error about the message itself rather than the destination (see
	// kafkasink.MessageScoped): the next session should send it Alone.
	Suspect func(m *Message)
	// DeadLettered is called after m went to the dead-letter topic
	// instead of its own; its token has been acknowledged.
	DeadLettered func(m *Message, reason string, cause error)
	// InFlight is called with the new totals whenever the messages in
	// flight change (under the sink's lock: keep it cheap).
	InFlight func(messages int, bytes int64)
}

// Session delivers messages for one ingest session.
type Session interface {
	// Send queues m, blocking while the sink is at its in-flight bound. It
	// fails once the sink has failed or ctx is done.
	Send(ctx context.Context, m *Message) error
	// Failed is closed when a delivery failed for good; Err says why.
	Failed() <-chan struct{}
	Err() error
	// Close flushes what is queued, waits for the outcome of every message
	// sent, and releases resources.
	Close() error
}

// Marker is a Session that can write source-watermark markers
// (internal/core/watermark) into every partition of a topic, behind the
// messages already sent there. The ingest writes them only through a
// Session that is one (kafkasink).
type Marker interface {
	// Markers writes a marker with timestamp t, written by writer (the
	// source kind), to every partition of topic and waits until all are
	// acknowledged. The caller passes only a t up to which every message
	// is acknowledged. A failed marker does not fail the session.
	Markers(ctx context.Context, topic, writer string, t time.Time) error
}

// BackScanner is a Session that can read back what a topic holds: the
// ingest uses it at a session's start to skip posts an earlier session
// already delivered (ingest/dedupe.go).
type BackScanner interface {
	// ScanBack reads every partition of topic backwards from its end, in
	// chunks of records in offset order, newest chunk first, and hands
	// each chunk to visit until visit returns false, the start is reached,
	// or max records of the partition were read.
	ScanBack(ctx context.Context, topic string, max int, visit func(partition int32, recs []*sarama.ConsumerMessage) bool) error
}
