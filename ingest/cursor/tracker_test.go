package cursor

import (
	"math/rand/v2"
	"testing"
	"time"
)

func TestTrackerOrder(t *testing.T) {
	type step struct {
		begin     bool
		pos       int64
		n         int
		ack       int // index into tokens
		want      int64
		wantValid bool
	}
	tests := []struct {
		name  string
		steps []step
	}{
		{"empty events commit at once", []step{
			{begin: true, pos: 10, n: 0, want: 10, wantValid: true},
			{begin: true, pos: 11, n: 0, want: 11, wantValid: true},
		}},
		{"later ack does not pass an earlier unacked event", []step{
			{begin: true, pos: 1, n: 1, want: 0},
			{begin: true, pos: 2, n: 1, want: 0},
			{begin: true, pos: 3, n: 0, want: 0},
			{ack: 1, want: 0},
			{ack: 0, want: 3, wantValid: true},
		}},
		{"event with several messages needs all acks", []step{
			{begin: true, pos: 5, n: 2, want: 0},
			{ack: 0, want: 0},
			{ack: 0, want: 5, wantValid: true},
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tr := NewTracker(0, false)
			var toks []Token
			for i, s := range tt.steps {
				if s.begin {
					toks = append(toks, tr.Begin(s.pos, s.n))
				} else {
					tr.Ack(toks[s.ack])
				}
				got, ok := tr.Committed()
				if ok != s.wantValid || (ok && got != s.want) {
					t.Fatalf("step %d: committed = %d,%v, want %d,%v", i, got, ok, s.want, s.wantValid)
				}
			}
		})
	}
}

// TestTrackerRandomAcks: with acks in random order, the committed position
// is always one whose event and all predecessors are fully acked.
func TestTrackerRandomAcks(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	tr := NewTracker(-1, true)
	const events = 2000
	type msg struct{ ev int }
	var msgs []msg
	need := make([]int, events)
	toks := make([]Token, events)
	for e := range events {
		n := rng.IntN(3)
		need[e] = n
		toks[e] = tr.Begin(int64(e), n)
		for range n {
			msgs = append(msgs, msg{e})
		}
	}
	rng.Shuffle(len(msgs), func(i, j int) { msgs[i], msgs[j] = msgs[j], msgs[i] })
	for _, m := range msgs {
		tr.Ack(toks[m.ev])
		need[m.ev]--
		got, _ := tr.Committed()
		// Everything up to got must be done; got+1 must not be (unless it
		// is past the end).
		for e := 0; e <= int(got); e++ {
			if need[e] != 0 {
				t.Fatalf("committed %d but event %d still has %d unacked", got, e, need[e])
			}
		}
		if int(got)+1 < events && need[got+1] == 0 {
			t.Fatalf("committed %d although event %d is done", got, got+1)
		}
	}
	if got, _ := tr.Committed(); got != events-1 || tr.Pending() != 0 {
		t.Fatalf("end: committed %d, pending %d", got, tr.Pending())
	}
}

// TestTrackerWatermark: the watermark is the event time of the newest
// committed event that had a time; events without one (zero time) and
// events not yet committed leave it where it was.
func TestTrackerWatermark(t *testing.T) {
	t0 := time.Date(2024, 5, 1, 12, 0, 0, 0, time.UTC)
	at := func(s int) time.Time { return t0.Add(time.Duration(s) * time.Second) }
	type step struct {
		begin bool
		pos   int64
		at    time.Time
		n     int
		ack   int // index into tokens
		want  time.Time
	}
	tests := []struct {
		name  string
		steps []step
	}{
		{"none before the first commit", []step{
			{begin: true, pos: 1, at: at(1), n: 1},
			{ack: 0, want: at(1)},
		}},
		{"an event without a time keeps the previous one", []step{
			{begin: true, pos: 1, at: at(1), n: 0, want: at(1)},
			{begin: true, pos: 2, n: 0, want: at(1)},
			{begin: true, pos: 3, at: at(3), n: 0, want: at(3)},
		}},
		{"a later acked event does not pass an earlier unacked one", []step{
			{begin: true, pos: 1, at: at(1), n: 0, want: at(1)},
			{begin: true, pos: 2, at: at(2), n: 1, want: at(1)},
			{begin: true, pos: 3, at: at(3), n: 1, want: at(1)},
			{ack: 2, want: at(1)},
			{ack: 1, want: at(3)},
		}},
		{"times going back are reported as they are", []step{
			{begin: true, pos: 1, at: at(5), n: 0, want: at(5)},
			{begin: true, pos: 2, at: at(4), n: 0, want: at(4)},
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tr := NewTracker(0, false)
			var toks []Token
			for i, s := range tt.steps {
				if s.begin {
					toks = append(toks, tr.BeginAt(s.pos, s.at, s.n))
				} else {
					tr.Ack(toks[s.ack])
				}
				got, ok := tr.Watermark()
				if ok != !s.want.IsZero() || !got.Equal(s.want) {
					t.Fatalf("step %d: watermark = %v,%v, want %v", i, got, ok, s.want)
				}
			}
		})
	}
}
