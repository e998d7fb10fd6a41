// Package cursor decides which stream position is safe to resume from and
// persists it.
//
// Messages are produced asynchronously and acknowledged out of order, so
// "the last position read" is not safe: a crash would skip whatever was
// still in flight. Tracker records, in arrival order, how many messages each
// stream event produced and reports the position of the newest event for
// which it and every event before it are fully acknowledged. Only that
// position is ever persisted.
package cursor

import "sync"

// Tracker follows in-flight events. It is safe for concurrent use: the
// reader calls Begin, the producer's acknowledgement loop calls Ack.
type Tracker struct {
	mu        sync.Mutex
	base      uint64  // arrival index of pending[0]
	pending   []entry // events not yet committed, in arrival order
	committed int64
	has       bool
}

type entry struct {
	pos       int64
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
func (t *Tracker) Begin(pos int64, n int) Token {
	t.mu.Lock()
	defer t.mu.Unlock()
	tok := Token(t.base + uint64(len(t.pending)))
	t.pending = append(t.pending, entry{pos: pos, remaining: n})
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

// Pending returns the number of events not yet committed.
func (t *Tracker) Pending() int {
	t.mu.Lock()
	defer t.mu.Unlock()
	return len(t.pending)
}
