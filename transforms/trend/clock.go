package trend

// WindowClock decides, for one key of a keyed sliding-window stage, which
// windows are due and when the release timer fires. It is pure bookkeeping,
// kept in state beside the key's data, so the scorer and the post counter
// release windows the same way and it can be tested without a runner.
//
// Data arrives in period buckets, each identified by the end of its period
// (the windows' period grid, Unix ms). A window [end-size, end) is released
// when, and only when, the input watermark has passed its end and it holds
// at least one bucket: exactly the windows Beam's sliding windows would
// close for the key.
//
// The timer fires at the latest bucket end received (Fire) and holds the
// output watermark at the first unreleased window's last instant (Hold).
// So a live stream, whose bucket for each period arrives just after the
// watermark passed the period, releases its windows one period at a time,
// while a replay's backlog, whose buckets arrive many periods at once, is
// released in one firing.
//
// Between buckets the timer waits at the last window that holds the latest
// bucket (the tail timer), not at the next window: a runner delivers a
// key's data and timers in timestamp order, so a timer at the next window
// would fire before a backlog's next bucket is delivered, one bundle per
// window (measured on Prism: a replay twice as slow). A bucket that
// arrives moves the timer back to itself. The tail timer releases the
// windows after the last bucket at once, when the last of them closes;
// a stream that goes quiet for a whole period therefore gets that period's
// windows with its next bucket. BucketTerms sends every shard a bucket,
// empty or not, for each period with posts, so a shard without terms in a
// period does not wait for its tail.
//
// Earlier versions took their closings from a count in Beam's sliding
// windows. Its output watermark is held at its oldest buffered element until
// the last window containing that element closes, a window size later, so
// in a live stream every window reached the scorer one window size late.
type WindowClock struct {
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
// must be set (again) as the clock now says. A bucket whose windows were
// all released already (end+size-period <= Through) changes nothing.
func (c *WindowClock) arrive(end, size, period int64) (set bool) {
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
		// The tail timer gives way to the data: the windows up to this
		// bucket are due as soon as the watermark passes it.
		fire = first
	}
	if fire == c.Fire && hold == c.Hold {
		c.Tail = false
		return false
	}
	if fire == c.Fire {
		// Prism (v2.77) miscounts watermark holds when a timer is set
		// again to the same firing time with another hold, and fails the
		// job ("negative watermark hold count"). Firing 1 ms later is as
		// good: every window that ends by then has closed when it fires.
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
func (c *WindowClock) due(size, period int64, earliest int64, has func(end int64) bool) []int64 {
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

// next sets the tail timer: it fires half a period after the last window
// holding the latest bucket closes, and holds the output watermark at the
// first window still to come. Buckets that arrive before then move it back
// to themselves. It says whether a timer is needed.
//
// A tail timer never fires at a time a timer of this key was set to before.
// Prism (v2.77) keeps a superseded timer's entry queued, and fires the first
// queued entry whose time matches the timer's current one, with that entry's
// watermark hold: a timer set again to an earlier time with another hold
// corrupts its hold counts ("negative watermark hold count", found by the
// 100,000-post benchmark). Arrival timers fire on the period grid (at most a
// few ms after it, see arrive) and later after each firing; tail timers half
// a period off the grid and later each time.
func (c *WindowClock) next(size, period int64) bool {
	last := c.Latest + size - period
	if !c.Started || last <= c.Through {
		c.Timer, c.Tail = false, false
		return false
	}
	fire := max(last+period/2, c.LastTail+1)
	c.LastTail = fire
	c.Timer, c.Tail, c.Fire, c.Hold = true, true, fire, c.Through+period-1
	return true
}
