package market

// Clock decides, for one symbol of the streaming scorer, which windows are
// due and when its release timer fires. It is pure bookkeeping kept in
// state beside the symbol's period aggregates, so it can be tested without
// a runner.
//
// Trades arrive in period buckets, each named by the end of its period (the
// windows' period grid, Unix ms). A window [end-size, end) is released
// when, and only when, the input watermark has passed its end and it holds
// at least one of the symbol's buckets: the windows the reference scores.
//
// It is transforms/trend's WindowClock (whose comment says why each rule
// is there, Prism workarounds included): the timer fires at the latest
// bucket end received and holds the output watermark at the first
// unreleased window's last instant, so a replay's backlog is released in
// one firing; after a firing a tail timer waits at the last window holding
// the latest bucket. It adds one case. The trending scorer gets a bucket
// from every shard for every period, so its tail is rarely reached; a
// symbol gets buckets only for the periods it trades in, and its tail
// would hold the output watermark, and with it every other symbol's
// rankings, for up to a window size whenever it goes quiet. So when the
// stream is live (next's live), the timer instead waits at the next window
// that holds a bucket, which releases a quiet symbol's windows one period
// at a time as the watermark passes them. In a backlog the tail stays: a
// timer per window fires before the next bucket is delivered, one bundle
// per window (measured on Prism: the recorded day's replay took 13.2 s
// instead of 3.8 s).
type Clock struct {
	// Started says a window has been released; Through is the end of the
	// last one.
	Started bool
	Through int64
	// Latest is the latest bucket end received.
	Latest int64
	// Timer mirrors the release timer, which cannot be read back: whether
	// it is set, whether it is the tail timer, when it fires and where it
	// holds the output watermark.
	Timer, Tail bool
	Fire, Hold  int64
	// LastTail is the last firing time given to a tail timer: each tail
	// timer fires later than the one before (see next).
	LastTail int64
}

// arrive records a bucket ending at end and says whether the release timer
// must be set (again) as the clock now says. A bucket whose windows were all
// released already (end+size-period <= Through) changes nothing.
func (c *Clock) arrive(end, size, period int64) (set bool) {
	first := end
	if c.Started {
		first = max(end, c.Through+period)
	}
	if first > end+size-period {
		return false // too late for any window still to come
	}
	c.Latest = max(c.Latest, end)
	if !c.Timer {
		c.Timer, c.Tail, c.Fire, c.Hold = true, false, first, first-1
		return true
	}
	fire, hold := max(c.Fire, first), min(c.Hold, first-1)
	if c.Tail {
		// The tail timer gives way to the data.
		fire = first
	}
	if fire == c.Fire && hold == c.Hold {
		c.Tail = false
		return false
	}
	if fire == c.Fire {
		// Prism (v2.77) fails the job when a timer is set again to the
		// same firing time with another hold; 1 ms later is as good.
		fire++
	}
	c.Tail, c.Fire, c.Hold = false, fire, hold
	return true
}

// due returns the window ends to release now that the timer has fired:
// every period-grid end from the first unreleased window up to the firing
// time that holds a bucket, as has(end) says; earliest is the first bucket
// end, where a clock that has not started begins. It advances Through and
// clears the timer; next then says how to set it again.
func (c *Clock) due(period, earliest int64, has func(end int64) bool) []int64 {
	now := c.Fire
	c.Timer, c.Tail = false, false
	e := earliest
	if c.Started {
		e = c.Through + period
	}
	var ends []int64
	for ; e <= now; e += period {
		if has(e) {
			ends = append(ends, e)
			c.Started, c.Through = true, e
		}
	}
	return ends
}

// next sets the timer for the windows the latest bucket leaves unreleased,
// if any, and says whether a timer is needed. Live, it fires at the next
// of them that holds a bucket (on the period grid, after every firing time
// set before: see arrive); otherwise it is the tail timer, which fires
// half a period after the last of them closes, off the grid and later than
// every tail before it, and holds the output watermark at the first.
func (c *Clock) next(size, period int64, live bool, has func(end int64) bool) bool {
	last := c.Latest + size - period
	if !c.Started || last <= c.Through {
		c.Timer, c.Tail = false, false
		return false
	}
	if live {
		e := c.Through + period
		for e < last && !has(e) {
			e += period
		}
		c.Timer, c.Tail, c.Fire, c.Hold = true, false, e, e-1
		return true
	}
	fire := max(last+period/2, c.LastTail+1)
	c.LastTail = fire
	c.Timer, c.Tail, c.Fire, c.Hold = true, true, fire, c.Through+period-1
	return true
}
