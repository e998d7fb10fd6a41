package trend

import (
	"fmt"
	"testing"
	"time"

	"github.com/apache/beam/sdks/v2/go/pkg/beam"
)

// TestLatePostsCorrectWindows: posts that arrive behind the watermark, as
// after an ingest outage, within the allowed lateness correct the windows
// they fall in and every window after them (whose baselines they change):
// the last snapshot of every ranking equals the reference over all posts.
// Beyond the allowed lateness they are dropped, and the rankings differ —
// which shows the first case is not met by accident.
func TestLatePostsCorrectWindows(t *testing.T) {
	posts, cfg := referenceCase(t)
	want := referenceSnapshots(t, cfg, posts)
	// Every 7th post and the whole second burst (the 40 posts appended
	// after the first 40 burst posts) come 3 minutes late.
	burst2 := len(posts) - 4*40 + 40
	late := func(i int) bool { return i%7 == 0 || (i >= burst2 && i < burst2+40) }
	const delay = 3 * time.Minute

	for _, tc := range []struct {
		lateness time.Duration
		cached   bool
		equal    bool
	}{
		{lateness: 10 * time.Minute, cached: true, equal: true},
		{lateness: 10 * time.Minute, cached: false, equal: true},
		{lateness: time.Minute, cached: true, equal: false},
	} {
		t.Run(fmt.Sprintf("lateness=%v/cache=%v", tc.lateness, tc.cached), func(t *testing.T) {
			c := cfg
			c.AllowedLateness = tc.lateness
			run := runTrends(t, tc.cached, c, func(s beam.Scope) beam.PCollection {
				return streamPosts(t, s, posts, late, delay)
			})
			diffs := diffSnapshots(latestSnapshots(run.Snapshots), want)
			if tc.equal {
				checkCorrectionPaths(t, run, tc.cached)
			}
			switch {
			case tc.equal:
				for _, d := range diffs {
					t.Error(d)
				}
			case len(diffs) == 0:
				t.Error("posts beyond the allowed lateness were counted: the rankings equal the reference")
			default:
				t.Logf("beyond the allowed lateness, %d differences from the reference, as expected (first: %s)", len(diffs), diffs[0])
			}
		})
	}
}

// checkCorrectionPaths checks that a run corrected windows, and how: with
// the worker's cache, mostly by taking the baselines back with the undo
// log, and without it, always by replaying them from the settled point.
// Both runs must equal the reference, so each path is checked against it.
func checkCorrectionPaths(t *testing.T, run trendsRun, cached bool) {
	t.Helper()
	undone, replayed := run.counter("corrections_undone"), run.counter("corrections_replayed")
	t.Logf("corrections: %d undone, %d replayed", undone, replayed)
	switch {
	case cached && undone == 0:
		t.Error("no correction used the undo log")
	case !cached && (undone != 0 || replayed == 0):
		t.Errorf("without the cache, %d corrections used the undo log and %d replayed; want none and some", undone, replayed)
	}
}
