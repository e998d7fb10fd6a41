// Package cursor decides which stream position is safe to resume from and
// persists it.
//
// Messages are produced asynchronously and acknowledged out of order, so
// "the last position read" is not safe: a crash would skip whatever was
// still in flight. Tracker records, in arrival order, how many messages each
// stream event produced and reports the position of the newest event for
// which it and every event before it are fully acknowledged. Only that
// position is ever persisted.
//
// The same position is what the source watermark (internal/core/watermark) is
// made of: the tracker also remembers the event time of that event, so the
// ingest can tell readers "everything up to this time has been delivered".
package cursor

import (
	"sync"
	"time"
)

// Tracker follows in-flight events. It is safe for concurrent use: the
// reader calls Begin, the producer's acknowledgement loop calls Ack.
type Tracker struct {
	mu        sync.Mutex
	base      uint64  // arrival index of pending[0]
	pending   []entry // events not yet committed, in arrival order
	committed int64
	has       bool
	// at is the event time of the newest committed event that had one.
	at time.Time
}

type entry struct {
	pos       int64
	at        time.Time
	remaining int
}

// Token identifies one begun event.
type Token uint64

// NewTracker starts with from as the committed position (ok=false: none).
func NewTracker(from int64, ok bool) *Tracker {
	return &Tracker{committed: from, has: ok}
}

// Begin registers an event at position pos that produced n messages. An
// event with n == 0 (a like, an identity change) is complete at once but
// still cannot be committed before the events ahead of it.
func (t *Tracker) Begin(pos int64, n int) Token { return t.BeginAt(pos, time.Time{}, n) }

// BeginAt is Begin for an event with event time at. A zero at (an event
// without a usable source time, a malformed frame) leaves the watermark
// where the events before it put it.
func (t *Tracker) BeginAt(pos int64, at time.Time, n int) Token {
	t.mu.Lock()
	defer t.mu.Unlock()
	tok := Token(t.base + uint64(len(t.pending)))
	t.pending = append(t.pending, entry{pos: pos, at: at, remaining: n})
	t.advance()
	return tok
}

// Ack records one acknowledged message of the event tok.
func (t *Tracker) Ack(tok Token) {
	t.mu.Lock()
	defer t.mu.Unlock()
	i := uint64(tok) - t.base
	if uint64(tok) < t.base || i >= uint64(len(t.pending)) || t.pending[i].remaining <= 0 {
		panic("cursor: Ack of an unknown or completed token")
	}
	t.pending[i].remaining--
	t.advance()
}

func (t *Tracker) advance() {
	n := 0
	for n < len(t.pending) && t.pending[n].remaining == 0 {
		t.committed, t.has = t.pending[n].pos, true
		if at := t.pending[n].at; !at.IsZero() {
			t.at = at
		}
		n++
	}
	if n > 0 {
		t.pending = t.pending[n:]
		t.base += uint64(n)
		// Reuse the backing array once it has drained, so a long-running
		// tracker does not creep through memory.
		if len(t.pending) == 0 {
			t.pending = t.pending[:0:0]
		}
	}
}

// Committed returns the newest position whose event and all earlier events
// are acknowledged; ok is false while there is none.
func (t *Tracker) Committed() (pos int64, ok bool) {
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.committed, t.has
}

// Watermark returns the event time of the newest event that had one and
// that, with every event before it, is acknowledged; ok is false while no
// such event exists. It is the time of that event, not a maximum: a source
// whose times go back (Jetstream is slightly out of order) makes it go
// back too, and a writer of markers keeps them non-decreasing itself.
func (t *Tracker) Watermark() (at time.Time, ok bool) {
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.at, !t.at.IsZero()
}

// Pending returns the number of events not yet committed.
func (t *Tracker) Pending() int {
	t.mu.Lock()
	defer t.mu.Unlock()
	return len(t.pending)
}
