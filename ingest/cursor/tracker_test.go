package cursor

import (
	"math/rand/v2"
	"testing"
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
