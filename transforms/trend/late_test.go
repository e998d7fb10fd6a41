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
			diffs := diffSnapshots(latestSnapshots(runTrends(t, tc.cached, c, func(s beam.Scope) beam.PCollection {
				return streamPosts(t, s, posts, late, delay)
			})), want)
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
