// Package windowclock decides, for one key of a keyed sliding-window stage,
// which windows are due and when the stage's release timer fires. It is
// pure bookkeeping, kept in state beside the key's data, so every stage
// that releases sliding windows from state (the trending scorer and post
// counter in transforms/trend, the market scorer in pipelines/market)
// releases them the same way, and it is tested without a runner.
//
// Data arrives in period buckets, each identified by the end of its period
// (the windows' period grid, Unix ms). A window [end-size, end) is released
// when, and only when, the input watermark has passed its end and it holds
// at least one bucket: exactly the windows Beam's sliding windows would
// close for the key.
//
// # Backlog: one firing for many windows
//
// The timer fires at the latest bucket end received (Fire) and holds the
// output watermark at the first unreleased window's last instant (Hold).
// A replay's backlog, whose buckets arrive many periods at once, is thus
// released in one firing. Between buckets the timer waits at the last
// window that holds the latest bucket (the tail timer), not at the next
// window: a runner delivers a key's data and timers in timestamp order, so
// a timer at the next window would fire before a backlog's next bucket is
// delivered, one bundle per window (measured on Prism: a replay twice as
// slow, and the recorded day of trades 13.2 s instead of 3.8 s). A bucket
// that arrives moves the timer back to itself.
//
// # Live: one firing per period, never pushed on
//
// In a live stream (a bucket ending within the live lag of the wall
// clock, see Live) an armed timer is not moved later by the buckets that
// arrive before it fires. On Flink a bucket can reach the stage before
// the watermark that passed its period does (the stage's input watermark
// is the minimum over its upstream subtasks, and is only applied between
// bundles). A timer moved on to each new bucket then stays ahead of the
// watermark for as long as buckets keep coming, and its hold keeps the
// output watermark at the stream's start: the market job on Flink wrote
// no window until the trades stopped (2026-12-02, flink/portable
// TestPipelinesOnFlink/market). Live, the timer instead stays where it
// is, and after a firing goes to the latest bucket received (see Next);
// when no bucket came it waits at the next window that holds one, so a
// quiet key's windows are also released one period at a time as the
// watermark passes them, rather than by a tail timer that holds the output
// watermark, and with it every other key's results, for up to a window
// size.
//
// Earlier versions took their closings from a count in Beam's sliding
// windows. Its output watermark is held at its oldest buffered element until
// the last window containing that element closes, a window size later, so
// in a live stream every window reached the scorer one window size late.
package windowclock

// Clock is one key's release clock. Its fields are exported so that it can
// be kept in Beam state.
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
	// timer fires later than the one before (see Next).
	LastTail int64
}

// Live reports whether a bucket or window ending at end (Unix ms) belongs
// to a live stream at wall-clock time now: it ends no more than lag before
// now. The callers' lag is the window size, a period and the reader's
// out-of-order bound, beyond which no live window can still be open. The
// answer moves the timer, never what a window holds, so a wrong guess
// costs latency or firings, not results.
func Live(end, now, lag int64) bool { return end >= now-lag }

// Arrive records a bucket ending at end and says whether the release timer
// must be set (again) as the clock now says. A bucket whose windows were
// all released already (end+size-period <= Through) changes nothing. live
// is Live for the bucket (see the package comment).
func (c *Clock) Arrive(end, size, period int64, live bool) (set bool) {
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
	switch {
	case c.Tail:
		// The tail timer gives way to the data: the windows up to this
		// bucket are due as soon as the watermark passes it.
		fire = first
	case live:
		// Not pushed on: the timer may already be behind the watermark
		// (package comment). Its firing releases what is due by then;
		// Next sets it again for the rest.
		fire = c.Fire
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

// Due returns the window ends to release now that the timer has fired:
// every period-grid end from the first unreleased window up to the firing
// time that holds a bucket, as has(end) says; earliest is the first bucket
// end, where a clock that has not started begins. It advances Through and
// clears the timer; Next then says how to set it again.
func (c *Clock) Due(period, earliest int64, has func(end int64) bool) []int64 {
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

// Next sets the timer for the windows the latest bucket leaves unreleased,
// if any, and says whether a timer is needed; it holds the output watermark
// at the first of them. Live, it fires at the latest bucket received, or,
// when none came since the last window released, at the next window that
// holds a bucket (has); otherwise it is the tail timer, which fires half a
// period after the last of them closes.
//
// A tail timer never fires at a time a timer of this key was set to
// before. Prism (v2.77) keeps a superseded timer's entry queued, and fires
// the first queued entry whose time matches the timer's current one, with
// that entry's watermark hold: a timer set again to an earlier time with
// another hold corrupts its hold counts ("negative watermark hold count",
// found by the 100,000-post benchmark). Arrival timers fire on the period
// grid (at most a few ms after it, see Arrive) and later after each
// firing; tail timers half a period off the grid and later each time.
func (c *Clock) Next(size, period int64, live bool, has func(end int64) bool) bool {
	last := c.Latest + size - period
	if !c.Started || last <= c.Through {
		c.Timer, c.Tail = false, false
		return false
	}
	if live {
		// Buckets that came while the timer waited are behind the
		// watermark, or nearly: fire at the latest, as an arrival would,
		// so one firing catches up with all of them. A runner that fires
		// timers only when the watermark moves (Flink) would otherwise
		// release one window per watermark step, and a stage that fell
		// behind once, at start-up, would stay behind (measured: every
		// market window a window size late on Flink).
		e := c.Latest
		if e <= c.Through {
			// None came: wait for the next window that holds a bucket.
			e = c.Through + period
			for e < last && !has(e) {
				e += period
			}
		}
		c.Timer, c.Tail, c.Fire, c.Hold = true, false, e, c.Through+period-1
		return true
	}
	fire := max(last+period/2, c.LastTail+1)
	c.LastTail = fire
	c.Timer, c.Tail, c.Fire, c.Hold = true, true, fire, c.Through+period-1
	return true
}
