package trend

import (
	"maps"
	"testing"

	"github.com/trendstream/trendstream/internal/core/termwindow"
	"github.com/trendstream/trendstream/internal/core/trendscore"
	tsv1 "github.com/trendstream/trendstream/proto/trendstream/v1"
)

// TestUndoLog: rolling back to before a window gives the baselines exactly
// as they were then, terms the later windows added included; trimmed
// windows are no longer covered.
func TestUndoLog(t *testing.T) {
	a := termwindow.Key{Lang: "en", Kind: tsv1.TermKind_TERM_KIND_WORD, Term: "a"}
	b := termwindow.Key{Lang: "en", Kind: tsv1.TermKind_TERM_KIND_WORD, Term: "b"}
	bl := Baselines{Terms: map[termwindow.Key]trendscore.State{a: {EWMA: 1}}}
	var u undoLog
	u.start(0)
	history := map[int64]Baselines{} // the baselines before each window
	update := func(end int64, k termwindow.Key, ewma float64) {
		prev, had := bl.Terms[k]
		u.record(end, k, prev, had)
		bl.Terms[k] = trendscore.State{EWMA: ewma}
	}
	for _, end := range []int64{60, 120, 180} {
		history[end] = bl.clone()
		update(end, a, float64(end))
		if end >= 120 {
			update(end, b, float64(end)) // b is new in window 120
		}
	}
	for _, tc := range []struct {
		to     int64
		covers bool
	}{{180, true}, {120, true}, {60, true}, {0, false}} {
		if got := u.covers(tc.to); got != tc.covers {
			t.Errorf("covers(%d) = %v, want %v", tc.to, got, tc.covers)
		}
	}
	u.rollback(&bl, 120)
	if !maps.Equal(bl.Terms, history[120].Terms) {
		t.Errorf("after rollback to 120: %v, want %v", bl.Terms, history[120].Terms)
	}
	// Window 120 scored again, differently, then rolled back again.
	update(120, b, 7)
	u.rollback(&bl, 60)
	if !maps.Equal(bl.Terms, history[60].Terms) {
		t.Errorf("after rollback to 60: %v, want %v", bl.Terms, history[60].Terms)
	}
	update(60, a, 8)
	update(120, a, 9)
	u.trim(60)
	if u.covers(60) || !u.covers(120) || len(u.entries) != 1 {
		t.Errorf("after trim(60): covers(60) %v, covers(120) %v, %d entries; want false, true, 1", u.covers(60), u.covers(120), len(u.entries))
	}
	var fresh undoLog
	if fresh.covers(1 << 40) {
		t.Error("a log never started covers a window")
	}
}
