package livesoak

import (
	"testing"
	"time"
)

func TestPacerDue(t *testing.T) {
	t0 := time.Date(2026, 5, 1, 12, 0, 0, 0, time.UTC)
	tests := []struct {
		name string
		rate float64
		n    int64
		want time.Duration
	}{
		{"first event at start", 50, 0, 0},
		{"second at 1/rate", 50, 1, 20 * time.Millisecond},
		{"one second of events", 50, 50, time.Second},
		{"fractional rate", 0.5, 3, 6 * time.Second},
		{"fast", 500, 1000, 2 * time.Second},
		{"long run stays exact", 500, 500 * 3600, time.Hour},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p := Pacer{Start: t0, Rate: tt.rate}
			if got := p.Due(tt.n).Sub(t0); got != tt.want {
				t.Errorf("Due(%d) = start+%s, want +%s", tt.n, got, tt.want)
			}
		})
	}
}

func TestPacerDueBy(t *testing.T) {
	t0 := time.Date(2026, 5, 1, 12, 0, 0, 0, time.UTC)
	p := Pacer{Start: t0, Rate: 50}
	tests := []struct {
		at   time.Duration
		want int64
	}{
		{-time.Second, 0},
		{0, 1},
		{19 * time.Millisecond, 1},
		{20 * time.Millisecond, 2},
		{999 * time.Millisecond, 50},
		{time.Second, 51},
		{time.Minute, 3001},
	}
	for _, tt := range tests {
		if got := p.DueBy(t0.Add(tt.at)); got != tt.want {
			t.Errorf("DueBy(start+%s) = %d, want %d", tt.at, got, tt.want)
		}
	}
	// DueBy and Due agree everywhere: event n is due by Due(n), not before.
	for _, rate := range []float64{3, 50, 333, 500} {
		p := Pacer{Start: t0, Rate: rate}
		for n := int64(0); n < 2000; n += 7 {
			if got := p.DueBy(p.Due(n)); got != n+1 {
				t.Fatalf("rate %g: DueBy(Due(%d)) = %d", rate, n, got)
			}
			if got := p.DueBy(p.Due(n).Add(-1)); got != n {
				t.Fatalf("rate %g: DueBy(Due(%d)-1ns) = %d", rate, n, got)
			}
		}
	}
}

// TestPacerSmooth drives Step with a simulated clock: a producer that
// sleeps exactly as told sends evenly spaced events; one that stalls is
// re-anchored and does not burst.
func TestPacerSmooth(t *testing.T) {
	t0 := time.Date(2026, 5, 1, 12, 0, 0, 0, time.UTC)
	tests := []struct {
		name      string
		rate      float64
		stallAt   int64 // event before which the producer stalls
		stall     time.Duration
		maxBehind time.Duration
		// wantMinGap is the smallest gap between consecutive sends
		// allowed (0 permits a burst).
		wantMinGap  time.Duration
		wantReanchs int
	}{
		{"steady 50/s", 50, -1, 0, time.Second, 20 * time.Millisecond, 0},
		{"steady 500/s", 500, -1, 0, time.Second, 2 * time.Millisecond, 0},
		{"short stall is caught up", 50, 100, 500 * time.Millisecond, time.Second, 0, 0},
		{"long stall re-anchors instead of bursting", 50, 100, 5 * time.Second, time.Second, 20 * time.Millisecond, 1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p := Pacer{Start: t0, Rate: tt.rate, MaxBehind: tt.maxBehind}
			now := t0
			var sends []time.Time
			reanchors := 0
			for n := int64(0); n < 400; n++ {
				if n == tt.stallAt {
					now = now.Add(tt.stall)
				}
				wait, re := p.Step(n, now)
				if re {
					reanchors++
				}
				now = now.Add(wait)
				sends = append(sends, now)
			}
			if reanchors != tt.wantReanchs {
				t.Errorf("re-anchors = %d, want %d", reanchors, tt.wantReanchs)
			}
			minGap := time.Hour
			for i := 1; i < len(sends); i++ {
				if i == int(tt.stallAt) {
					continue // the stall itself
				}
				minGap = min(minGap, sends[i].Sub(sends[i-1]))
			}
			if tt.wantMinGap > 0 && minGap < tt.wantMinGap-time.Microsecond {
				t.Errorf("smallest gap %s, want at least %s (a burst)", minGap, tt.wantMinGap)
			}
			if tt.wantMinGap == 0 && minGap != 0 {
				t.Errorf("smallest gap %s: a short stall should be caught up back to back", minGap)
			}
			// Over the whole run the mean rate is the one asked for,
			// apart from the stall.
			span := sends[len(sends)-1].Sub(sends[0])
			if tt.stallAt < 0 {
				want := time.Duration(float64(len(sends)-1) / tt.rate * float64(time.Second))
				if d := span - want; d < -time.Millisecond || d > time.Millisecond {
					t.Errorf("span %s, want %s", span, want)
				}
			}
		})
	}
}
