package trend

import (
	"github.com/trendstream/trendstream/internal/core/termwindow"
	"github.com/trendstream/trendstream/internal/core/trendscore"
)

// undoLog records, in a worker's cached copy of a shard (shardState), what
// scoring each released window changed in the shard's baselines, so that a
// correction can take the baselines back to where they were before the
// first window it corrects, rather than replay every window from the
// settled point.
//
// That replay was most of a correction's cost: the settled point trails
// the last window released by the allowed lateness and more (ten to
// sixteen windows with the defaults), while the windows a late bucket
// changes are usually the last two or three. When deletes still retracted
// from closed windows, and so made a correction in every period, the
// replays were a fifth of the scorer's time, and the scorer is the
// pipeline's slowest stage (BENCHMARKS.md, "Where retraction's cost is").
//
// The log lives only in the cache: a shard read back from state starts a
// new one (start), and a correction the log does not cover replays from
// the settled point as before, restarting the log there. Terms that
// scoreFn.forget dropped are not recorded: a forgotten term scores as a
// decayed one would (trendscore.Params.ForgetAfter).
type undoLog struct {
	// after: the log holds every change made by the windows ending after
	// it; ok says it does at all.
	after   int64
	ok      bool
	entries []undoEntry
}

// undoEntry is one term's baseline as it was before the window ending at
// end was scored; had says it existed.
type undoEntry struct {
	end  int64
	key  termwindow.Key
	prev trendscore.State
	had  bool
}

// start empties the log, which from now on covers the windows ending
// after after.
func (u *undoLog) start(after int64) {
	u.after, u.ok, u.entries = after, true, u.entries[:0]
}

// covers reports whether the log can take the baselines back to before the
// window ending at end.
func (u *undoLog) covers(end int64) bool { return u.ok && end > u.after }

// record notes a term's baseline before the window ending at end changed
// it (a nil log records nothing).
func (u *undoLog) record(end int64, k termwindow.Key, prev trendscore.State, had bool) {
	if u == nil {
		return
	}
	u.entries = append(u.entries, undoEntry{end: end, key: k, prev: prev, had: had})
}

// rollback undoes in bl, latest first, what the windows ending at or after
// end changed, and forgets those changes: the correction records them
// again as it scores the windows anew.
func (u *undoLog) rollback(bl *Baselines, end int64) {
	i := len(u.entries)
	for i > 0 && u.entries[i-1].end >= end {
		i--
		e := u.entries[i]
		if e.had {
			bl.Terms[e.key] = e.prev
		} else {
			delete(bl.Terms, e.key)
		}
	}
	u.entries = u.entries[:i]
}

// trim drops what the windows ending at or before through changed: they
// have settled and are never corrected again.
func (u *undoLog) trim(through int64) {
	i := 0
	for i < len(u.entries) && u.entries[i].end <= through {
		i++
	}
	u.entries = append(u.entries[:0], u.entries[i:]...)
	u.after = max(u.after, through)
}
