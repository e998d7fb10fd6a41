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
// released in one firing. (A runner delivers a key's data and timers in
// timestamp order; a timer per window would serialise a backlog into a
// bundle per window.) After the last bucket, the windows it still belongs
// to are released one period at a time.
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
	// it is set, when it fires and where it holds the output watermark.
	Timer      bool
	Fire, Hold int64
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
		c.Timer, c.Fire, c.Hold = true, max(first, c.Latest), first-1
		return true
	}
	fire, hold := max(c.Fire, end), min(c.Hold, first-1)
	if fire == c.Fire && hold == c.Hold {
		return false
	}
	if fire == c.Fire {
		// Prism (v2.77) miscounts watermark holds when a timer is set
		// again to the same firing time with another hold, and fails the
		// job ("negative watermark hold count"). Firing 1 ms later is as
		// good: every window that ends by then has closed when it fires.
		fire++
	}
	c.Fire, c.Hold = fire, hold
	return true
}

// due returns the window ends to release now that the timer has fired:
// every period-grid end from the first unreleased window up to the firing
// time that holds a bucket, as has(end) says. It advances Through and
// clears the timer; next then says how to set it again.
func (c *WindowClock) due(size, period int64, earliest int64, has func(end int64) bool) []int64 {
	now := c.Fire
	c.Timer = false
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

// next sets the timer for the windows still to come: the first window
// after Through up to the last one holding the latest bucket. It says
// whether a timer is needed.
func (c *WindowClock) next(size, period int64) bool {
	if !c.Started {
		return false
	}
	first := c.Through + period
	if c.Latest+size-period < first {
		c.Timer = false
		return false
	}
	c.Timer, c.Fire, c.Hold = true, max(first, c.Latest), first-1
	return true
}
