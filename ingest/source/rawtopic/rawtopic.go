// Package rawtopic is the source that reprocesses the raw-frame topic: the
// firehose #commit frames an ingest stored with -raw-topic, keyed by seq.
// Reading them back re-derives every post with the current extraction code
// into a new posts topic — the other half of event sourcing, for when the
// extraction changed (a new field, a fixed bug) and history should be seen
// through the new code:
//
//	trendstream ingest -source rawtopic:trendstream.raw -posts-topic trendstream.posts.v2
//
// The read is bounded: every partition up to its end when Run starts. The
// frames come out in seq order, merged over the partitions, each of which
// the ingest's idempotent producer wrote in seq order within a session; the
// position is the firehose seq, so a stopped reprocessing resumes from its
// cursor like any other source. A frame stored twice (an ingest re-sends
// what it had not committed when a session ends) is read once. A frame
// whose first copy lies behind later frames (a batch failed for good and
// sarama went on with the next ones, docs/ingest.md "Cursor, restarts and
// delivery") is still read, out of seq order: nothing stored is skipped, as
// long as the copies lie within Window seqs of each other.
package rawtopic

import (
	"context"
	"fmt"
	"strconv"
	"time"

	"github.com/IBM/sarama"

	"github.com/trendstream/trendstream/ingest/frame"
	"github.com/trendstream/trendstream/ingest/source"
	"github.com/trendstream/trendstream/internal/platform/kafkaconf"
)

// HeaderReceived is the header of a raw-topic record holding, in Unix
// nanoseconds, when the ingest received the frame. An event whose own time
// is missing or absurd takes that time, so reprocessing must take it too to
// give the same post (the record timestamp has only milliseconds).
const HeaderReceived = "trendstream-received"

// Window is how far back, in seqs, a frame is still told apart from a copy
// read before: far more than the ingest ever has in flight (10,000 messages
// by default), at a few megabytes of memory.
const Window = 1 << 18

// ReadTimeout bounds the wait for a record that the partition's end offset
// says exists.
const ReadTimeout = 30 * time.Second

// Source reads a raw-frame topic.
type Source struct {
	Brokers []string
	Topic   string
	// MaxFrame bounds one frame (frame.DefaultMaxBytes).
	MaxFrame int
	// Config overrides the sarama consumer configuration
	// (kafkaconf.Consumer); tests use it.
	Config func() *sarama.Config
}

var _ source.Source = (*Source)(nil)

// Key implements source.Source.
func (s *Source) Key() string { return "rawtopic:" + s.Topic }

// Kind implements source.Source.
func (s *Source) Kind() string { return "rawtopic" }

// Bounded implements source.Source: the read ends at the end the topic had
// when it began.
func (s *Source) Bounded() bool { return true }

// Run implements source.Source. Positions are firehose seqs; with hasFrom,
// frames at or below from are skipped.
func (s *Source) Run(ctx context.Context, from int64, hasFrom bool, emit source.Emit) error {
	cfg := kafkaconf.Consumer("trendstream-reprocess")
	if s.Config != nil {
		cfg = s.Config()
	}
	client, err := sarama.NewClient(s.Brokers, cfg)
	if err != nil {
		return fmt.Errorf("rawtopic: connect: %w", err)
	}
	defer client.Close()
	parts, err := openPartitions(ctx, client, s.Topic)
	if err != nil {
		return err
	}
	defer func() {
		for _, p := range parts {
			p.close()
		}
	}()
	maxFrame := s.MaxFrame
	if maxFrame <= 0 {
		maxFrame = frame.DefaultMaxBytes
	}
	seen := newSeqWindow(Window)
	for {
		p, err := nextInSeqOrder(ctx, parts)
		if err != nil {
			return err
		}
		if p == nil {
			return nil // every partition read to its end
		}
		rec := p.head
		p.head = nil
		if p.badKey != nil {
			err := emit(ctx, &source.Item{Raw: rec.Value, Err: p.badKey})
			p.badKey = nil
			if err != nil {
				return err
			}
			continue
		}
		if hasFrom && p.seq <= from {
			continue // read before the resume point
		}
		if !seen.first(p.seq) {
			continue // a second copy
		}
		if err := emit(ctx, item(rec, p.seq, maxFrame)); err != nil {
			return err
		}
	}
}

// item decodes one stored frame.
func item(rec *sarama.ConsumerMessage, seq int64, maxFrame int) *source.Item {
	it := &source.Item{Pos: seq, Raw: rec.Value, Received: received(rec)}
	it.Event, it.Err = frame.Decode(rec.Value, frame.Options{MaxBytes: maxFrame})
	if it.Err != nil {
		it.Event = nil
	}
	return it
}

// received is the frame's receive time: HeaderReceived, or for records
// written before the header existed the record timestamp.
func received(rec *sarama.ConsumerMessage) time.Time {
	for _, h := range rec.Headers {
		if h != nil && string(h.Key) == HeaderReceived {
			if ns, err := strconv.ParseInt(string(h.Value), 10, 64); err == nil {
				return time.Unix(0, ns)
			}
		}
	}
	return rec.Timestamp
}

// partition is one partition's consumer and its next record.
type partition struct {
	id     int32
	pc     sarama.PartitionConsumer
	end    int64 // the high-water mark when the read began
	head   *sarama.ConsumerMessage
	seq    int64 // head's seq
	badKey error // head's key is not a seq
	done   bool
}

func (p *partition) close() { _ = p.pc.Close() }

// openPartitions starts a consumer at the start of every non-empty
// partition.
func openPartitions(ctx context.Context, client sarama.Client, topic string) ([]*partition, error) {
	ids, err := client.Partitions(topic)
	if err != nil {
		return nil, fmt.Errorf("rawtopic: partitions of %s: %w", topic, err)
	}
	cons, err := sarama.NewConsumerFromClient(client)
	if err != nil {
		return nil, fmt.Errorf("rawtopic: consumer: %w", err)
	}
	var parts []*partition
	for _, id := range ids {
		if err := ctx.Err(); err != nil {
			return parts, err
		}
		low, err := client.GetOffset(topic, id, sarama.OffsetOldest)
		if err != nil {
			return parts, fmt.Errorf("rawtopic: start of %s/%d: %w", topic, id, err)
		}
		end, err := client.GetOffset(topic, id, sarama.OffsetNewest)
		if err != nil {
			return parts, fmt.Errorf("rawtopic: end of %s/%d: %w", topic, id, err)
		}
		if end <= low {
			continue
		}
		pc, err := cons.ConsumePartition(topic, id, low)
		if err != nil {
			return parts, fmt.Errorf("rawtopic: read %s/%d from %d: %w", topic, id, low, err)
		}
		parts = append(parts, &partition{id: id, pc: pc, end: end})
	}
	return parts, nil
}

// nextInSeqOrder fills every partition's head and returns the partition
// whose head has the lowest seq (a head whose key is no seq goes first, to
// be reported), or nil when all are read.
func nextInSeqOrder(ctx context.Context, parts []*partition) (*partition, error) {
	var best *partition
	for _, p := range parts {
		if err := p.fill(ctx); err != nil {
			return nil, err
		}
		switch {
		case p.head == nil:
		case p.badKey != nil:
			return p, nil
		case best == nil || p.seq < best.seq:
			best = p
		}
	}
	return best, nil
}

// fill reads the partition's next record into head unless it has one or
// the partition is read to its end.
func (p *partition) fill(ctx context.Context) error {
	if p.head != nil || p.done {
		return nil
	}
	t := time.NewTimer(ReadTimeout)
	defer t.Stop()
	select {
	case m, ok := <-p.pc.Messages():
		if !ok {
			return fmt.Errorf("rawtopic: partition %d: consumer stopped", p.id)
		}
		if m.Offset >= p.end-1 {
			p.done = true
		}
		if m.Offset >= p.end {
			return nil // written after the read began
		}
		p.head = m
		seq, err := strconv.ParseInt(string(m.Key), 10, 64)
		if err != nil {
			p.badKey = fmt.Errorf("%w: raw record at partition %d offset %d: key %q is not a seq", frame.ErrMalformed, p.id, m.Offset, m.Key)
		}
		p.seq = seq
		return nil
	case err := <-p.pc.Errors():
		return fmt.Errorf("rawtopic: partition %d: %w", p.id, err)
	case <-t.C:
		return fmt.Errorf("rawtopic: partition %d: no record within %s though the end offset is %d", p.id, ReadTimeout, p.end)
	case <-ctx.Done():
		return ctx.Err()
	}
}

// seqWindow remembers the seqs read within a window below the highest.
type seqWindow struct {
	size  int64
	seqs  map[int64]struct{}
	max   int64
	any   bool
	added int
}

func newSeqWindow(size int64) *seqWindow {
	return &seqWindow{size: size, seqs: map[int64]struct{}{}}
}

// first records seq and says whether it is its first reading. A seq at or
// below the window's floor counts as read: it is older than any copy the
// ingest can leave behind.
func (w *seqWindow) first(seq int64) bool {
	if w.any && seq <= w.max-w.size {
		return false
	}
	if _, ok := w.seqs[seq]; ok {
		return false
	}
	w.seqs[seq] = struct{}{}
	if !w.any || seq > w.max {
		w.max, w.any = seq, true
	}
	if w.added++; w.added >= int(w.size) {
		w.added = 0
		for s := range w.seqs {
			if s <= w.max-w.size {
				delete(w.seqs, s)
			}
		}
	}
	return true
}
