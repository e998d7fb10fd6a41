package ingest

import (
	"testing"
	"time"
)

type fixedWM struct {
	t  time.Time
	ok bool
}

func (f fixedWM) Watermark() (time.Time, bool) { return f.t, f.ok }

// TestWatermarkSchedule: a marker round is due when the tracker's
// watermark passed the last round's time, and with the last time again
// once 10 intervals passed without one; never with an older time.
func TestWatermarkSchedule(t *testing.T) {
	t0 := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	wall := time.Date(2026, 6, 1, 0, 0, 0, 0, time.UTC)
	const iv = time.Second
	tests := []struct {
		name      string
		last      time.Time // last round's marker time (zero: none yet)
		sinceLast time.Duration
		wm        fixedWM
		want      time.Time // zero: not due
	}{
		{"nothing known yet", time.Time{}, 0, fixedWM{}, time.Time{}},
		{"first watermark", time.Time{}, 0, fixedWM{t0, true}, t0},
		{"advanced", t0, iv, fixedWM{t0.Add(time.Millisecond), true}, t0.Add(time.Millisecond)},
		{"unchanged, recently written", t0, 9 * iv, fixedWM{t0, true}, time.Time{}},
		{"unchanged for 10 intervals: repeat", t0, 10 * iv, fixedWM{t0, true}, t0},
		{"went back: not written", t0, iv, fixedWM{t0.Add(-time.Second), true}, time.Time{}},
		{"went back for 10 intervals: repeat the last, not the older", t0, 10 * iv, fixedWM{t0.Add(-time.Second), true}, t0},
		{"new session without a watermark yet: repeat", t0, 11 * iv, fixedWM{}, t0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := wmSchedule{interval: iv}
			if !tt.last.IsZero() {
				s.done(wall, tt.last)
			}
			got, ok := s.due(wall.Add(tt.sinceLast), tt.wm)
			if ok != !tt.want.IsZero() || !got.Equal(tt.want) {
				t.Fatalf("due = %v,%v; want %v", got, ok, tt.want)
			}
		})
	}
}
