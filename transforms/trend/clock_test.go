package trend

import (
	"slices"
	"testing"
)

// TestWindowClock drives the clock through live, backlog and tail
// sequences and checks which windows each firing releases and where the
// timer is set; size 3 periods, period 10.
func TestWindowClock(t *testing.T) {
	const size, period = 30, 10
	type step struct {
		arrive []int64 // bucket ends arriving before the firing
		// wantFire and wantHold: the timer after the arrivals.
		wantFire, wantHold int64
		// wantDue: the windows the firing releases (nil: the timer is
		// not fired in this step).
		wantDue []int64
	}
	tests := []struct {
		name  string
		steps []step
		// wantIdle: no timer is left at the end.
		wantIdle bool
	}{
		{
			name: "live: one period at a time",
			steps: []step{
				{arrive: []int64{10}, wantFire: 10, wantHold: 9, wantDue: []int64{10}},
				{arrive: []int64{20}, wantFire: 20, wantHold: 19, wantDue: []int64{20}},
				{arrive: []int64{30}, wantFire: 30, wantHold: 29, wantDue: []int64{30}},
			},
		},
		{
			name: "backlog in one firing, then the tail in one",
			steps: []step{
				{arrive: []int64{10, 20, 30, 40}, wantFire: 40, wantHold: 9, wantDue: []int64{10, 20, 30, 40}},
				{wantFire: 65, wantHold: 49, wantDue: []int64{50, 60}},
			},
			wantIdle: true,
		},
		{
			name: "the tail timer gives way to the next bucket, which more buckets push on",
			steps: []step{
				{arrive: []int64{10}, wantFire: 10, wantHold: 9, wantDue: []int64{10}},
				{arrive: []int64{20, 30}, wantFire: 30, wantHold: 19, wantDue: []int64{20, 30}},
			},
		},
		{
			name: "a tail timer never fires at a time used before, even for the same bucket",
			steps: []step{
				{arrive: []int64{30}, wantFire: 30, wantHold: 29, wantDue: []int64{30}},
				// A late bucket of an earlier period (tail was 55):
				// its windows to come are released, the latest bucket
				// is the same, so is the tail's window, but not its
				// firing time.
				{arrive: []int64{20}, wantFire: 40, wantHold: 39, wantDue: []int64{40}},
				{wantFire: 56, wantHold: 49, wantDue: []int64{50}},
			},
		},
		{
			name: "out-of-order arrivals lower the hold, not the firing",
			steps: []step{
				{arrive: []int64{30, 10}, wantFire: 31, wantHold: 9, wantDue: []int64{10, 20, 30}},
			},
		},
		{
			name: "a gap longer than a window skips the empty windows",
			steps: []step{
				{arrive: []int64{10}, wantFire: 10, wantHold: 9, wantDue: []int64{10}},
				{wantFire: 35, wantHold: 19, wantDue: []int64{20, 30}},
				{arrive: []int64{100}, wantFire: 100, wantHold: 99, wantDue: []int64{100}},
			},
		},
		{
			name: "a bucket too late for any window to come changes nothing",
			steps: []step{
				{arrive: []int64{100}, wantFire: 100, wantHold: 99, wantDue: []int64{100}},
				{arrive: []int64{70}, wantFire: 125, wantHold: 109},
			},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var c WindowClock
			ring := map[int64]bool{}
			for i, st := range tt.steps {
				for _, e := range st.arrive {
					c.arrive(e, size, period)
					ring[e] = true // the scorer keeps every bucket until evicted
				}
				if !c.Timer || c.Fire != st.wantFire || c.Hold != st.wantHold {
					t.Fatalf("step %d: timer %v fire %d hold %d, want fire %d hold %d", i, c.Timer, c.Fire, c.Hold, st.wantFire, st.wantHold)
				}
				if st.wantDue == nil {
					continue
				}
				earliest := int64(-1)
				for e := range ring {
					if earliest < 0 || e < earliest {
						earliest = e
					}
				}
				got := c.due(size, period, earliest, func(end int64) bool {
					for e := range ring {
						if e > end-size && e <= end {
							return true
						}
					}
					return false
				})
				if !slices.Equal(got, st.wantDue) {
					t.Fatalf("step %d: due %v, want %v", i, got, st.wantDue)
				}
				c.next(size, period)
			}
			if tt.wantIdle && c.Timer {
				t.Errorf("timer left at %d after the tail", c.Fire)
			}
		})
	}
}
