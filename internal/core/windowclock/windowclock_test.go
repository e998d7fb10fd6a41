package windowclock

import (
	"slices"
	"testing"
)

// TestClock drives the clock through live, backlog and tail sequences and
// checks which windows each firing releases and where the timer is set;
// size 3 periods, period 10.
func TestClock(t *testing.T) {
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
		live  bool
		steps []step
		// wantIdle: no timer is left at the end.
		wantIdle bool
	}{
		{
			name: "one period at a time when each bucket comes after the firing",
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
		{
			name: "live: one period at a time",
			live: true,
			steps: []step{
				{arrive: []int64{10}, wantFire: 10, wantHold: 9, wantDue: []int64{10}},
				{arrive: []int64{20}, wantFire: 20, wantHold: 19, wantDue: []int64{20}},
			},
		},
		{
			name: "live: a quiet key's windows come as the watermark passes them",
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
			// The Flink stall: buckets that come before the timer fires
			// must not push it on, or it never fires while they come.
			name: "live: buckets that come before the timer fires leave it where it is",
			live: true,
			steps: []step{
				{arrive: []int64{10}, wantFire: 10, wantHold: 9, wantDue: []int64{10}},
				{arrive: []int64{20, 30, 40}, wantFire: 20, wantHold: 19, wantDue: []int64{20}},
				// Then one firing catches up with the rest.
				{wantFire: 40, wantHold: 29, wantDue: []int64{30, 40}},
				{arrive: []int64{50}, wantFire: 50, wantHold: 49, wantDue: []int64{50}},
			},
		},
		{
			name: "live: the first buckets leave the first timer where it is",
			live: true,
			steps: []step{
				{arrive: []int64{10, 20, 30}, wantFire: 10, wantHold: 9, wantDue: []int64{10}},
				{wantFire: 30, wantHold: 19, wantDue: []int64{20, 30}},
				{wantFire: 40, wantHold: 39, wantDue: []int64{40}},
			},
		},
		{
			name: "live: an earlier bucket lowers the hold, 1 ms later (Prism)",
			live: true,
			steps: []step{
				{arrive: []int64{30, 20}, wantFire: 31, wantHold: 19, wantDue: []int64{20, 30}},
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
					c.Arrive(e, size, period, tt.live)
					buckets[e] = true // the stage keeps every bucket until evicted
				}
				if !c.Timer || c.Fire != st.wantFire || c.Hold != st.wantHold {
					t.Fatalf("step %d: timer %v fire %d hold %d, want fire %d hold %d", i, c.Timer, c.Fire, c.Hold, st.wantFire, st.wantHold)
				}
				if st.wantDue == nil {
					continue
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
				if got := c.Due(period, earliest, has); !slices.Equal(got, st.wantDue) {
					t.Fatalf("step %d: due %v, want %v", i, got, st.wantDue)
				}
				c.Next(size, period, tt.live, has)
			}
			if tt.wantIdle && c.Timer {
				t.Errorf("timer left at %d after the tail", c.Fire)
			}
		})
	}
}

func TestLive(t *testing.T) {
	for _, tt := range []struct {
		end, now, lag int64
		want          bool
	}{
		{end: 100, now: 100, lag: 10, want: true},
		{end: 90, now: 100, lag: 10, want: true},
		{end: 89, now: 100, lag: 10, want: false},
		{end: 200, now: 100, lag: 10, want: true}, // ahead of the wall clock
	} {
		if got := Live(tt.end, tt.now, tt.lag); got != tt.want {
			t.Errorf("Live(%d, %d, %d) = %v, want %v", tt.end, tt.now, tt.lag, got, tt.want)
		}
	}
}
