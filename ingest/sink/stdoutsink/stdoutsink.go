// Package stdoutsink is the ingest's stdout sink (-sink stdout): each Post
// as one protojson line on a writer, acknowledged at once. It is for
// inspection and pipes: nothing is kept, so the ingest persists no cursor
// with it, and raw frames are not written (they are binary and meant for
// Kafka).
package stdoutsink

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"sync"

	"google.golang.org/protobuf/encoding/protojson"

	"github.com/trendstream/trendstream/ingest/cursor"
	"github.com/trendstream/trendstream/ingest/sink"
)

// Sink writes to one writer; every session writes to it in turn.
type Sink struct{ w io.Writer }

var (
	_ sink.Sink    = (*Sink)(nil)
	_ sink.Session = (*Writer)(nil)
)

// New returns a sink writing to w (the command passes os.Stdout).
func New(w io.Writer) *Sink { return &Sink{w: w} }

// Name implements sink.Sink.
func (s *Sink) Name() string { return "stdout" }

// Durable implements sink.Sink: a line on stdout is not read again.
func (s *Sink) Durable() bool { return false }

// Open implements sink.Sink.
func (s *Sink) Open(_ context.Context, o sink.OpenOptions) (sink.Session, error) {
	return NewWriter(s.w, o.Ack), nil
}

// Writer writes each Post as one protojson line and acknowledges it at once.
// Raw frames are acknowledged without being written.
type Writer struct {
	mu  sync.Mutex
	w   *bufio.Writer
	ack func(cursor.Token)
	opt protojson.MarshalOptions
	err error
	f   chan struct{}
}

// NewWriter returns a session writing to w.
func NewWriter(w io.Writer, ack func(cursor.Token)) *Writer {
	return &Writer{w: bufio.NewWriter(w), ack: ack, f: make(chan struct{})}
}

// Send implements sink.Session.
func (s *Writer) Send(_ context.Context, m *sink.Message) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.err != nil {
		return s.err
	}
	if m.Post != nil {
		b, err := s.opt.Marshal(m.Post)
		if err == nil {
			_, err = s.w.Write(append(b, '\n'))
		}
		if err == nil {
			// Flush per line: the stdout sink is for inspection and pipes,
			// where a line stuck in a buffer looks like a hang.
			err = s.w.Flush()
		}
		if err != nil {
			s.err = fmt.Errorf("sink: write: %w", err)
			close(s.f)
			return s.err
		}
	}
	if s.ack != nil {
		s.ack(m.Token)
	}
	return nil
}

// Failed implements sink.Session.
func (s *Writer) Failed() <-chan struct{} { return s.f }

// Err implements sink.Session.
func (s *Writer) Err() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.err
}

// Close implements sink.Session.
func (s *Writer) Close() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if err := s.w.Flush(); err != nil && s.err == nil {
		s.err = err
	}
	return s.err
}
