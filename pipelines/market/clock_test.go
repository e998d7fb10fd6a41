package market

import (
	"slices"
	"testing"
)

// TestClock drives the clock through live and backlog sequences and checks
// which windows each firing releases and where the timer is set; size 3
// periods, period 10. Live, a symbol that goes quiet has its windows
// released one period at a time; in a backlog, by one tail timer.
func TestClock(t *testing.T) {
	const size, period = 30, 10
	type step struct {
		arrive []int64 // bucket ends arriving before the firing
		// wantFire and wantHold: the timer after the arrivals.
		wantFire, wantHold int64
		// wantDue: the windows the firing releases.
		wantDue []int64
	}
	tests := []struct {
		name  string
		live  bool
		steps []step
	}{
		{
			name: "live: one period at a time",
			live: true,
			steps: []step{
				{arrive: []int64{10}, wantFire: 10, wantHold: 9, wantDue: []int64{10}},
				{arrive: []int64{20}, wantFire: 20, wantHold: 19, wantDue: []int64{20}},
			},
		},
		{
			name: "live: a quiet symbol's windows come as the watermark passes them",
			live: true,
			steps: []step{
				{arrive: []int64{10}, wantFire: 10, wantHold: 9, wantDue: []int64{10}},
				{wantFire: 20, wantHold: 19, wantDue: []int64{20}},
				{wantFire: 30, wantHold: 29, wantDue: []int64{30}},
				// After a gap the next bucket starts over.
				{arrive: []int64{100}, wantFire: 100, wantHold: 99, wantDue: []int64{100}},
				{wantFire: 110, wantHold: 109, wantDue: []int64{110}},
			},
		},
		{
			name: "live: buckets that come before the timer fires push it on",
			live: true,
			steps: []step{
				{arrive: []int64{10}, wantFire: 10, wantHold: 9, wantDue: []int64{10}},
				{arrive: []int64{20, 30}, wantFire: 30, wantHold: 19, wantDue: []int64{20, 30}},
			},
		},
		{
			name: "backlog in one firing, then the tail in one",
			steps: []step{
				{arrive: []int64{10, 20, 30, 40}, wantFire: 40, wantHold: 9, wantDue: []int64{10, 20, 30, 40}},
				{wantFire: 65, wantHold: 49, wantDue: []int64{50, 60}},
			},
		},
		{
			name: "out-of-order arrivals lower the hold, not the firing",
			steps: []step{
				{arrive: []int64{30, 10}, wantFire: 31, wantHold: 9, wantDue: []int64{10, 20, 30}},
			},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var c Clock
			buckets := map[int64]bool{}
			has := func(end int64) bool {
				for e := range buckets {
					if e > end-size && e <= end {
						return true
					}
				}
				return false
			}
			fired := map[int64]bool{}
			for i, st := range tt.steps {
				for _, e := range st.arrive {
					c.arrive(e, size, period)
					buckets[e] = true
				}
				if !c.Timer || c.Fire != st.wantFire || c.Hold != st.wantHold {
					t.Fatalf("step %d: timer %v fire %d hold %d, want fire %d hold %d", i, c.Timer, c.Fire, c.Hold, st.wantFire, st.wantHold)
				}
				if fired[c.Fire] {
					t.Fatalf("step %d: the timer fires at %d again (Prism miscounts its holds)", i, c.Fire)
				}
				fired[c.Fire] = true
				earliest := int64(-1)
				for e := range buckets {
					if earliest < 0 || e < earliest {
						earliest = e
					}
				}
				if got := c.due(period, earliest, has); !slices.Equal(got, st.wantDue) {
					t.Fatalf("step %d: due %v, want %v", i, got, st.wantDue)
				}
				c.next(size, period, tt.live, has)
			}
		})
	}
}
