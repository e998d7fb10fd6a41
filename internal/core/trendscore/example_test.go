package trendscore_test

import (
	"fmt"
	"time"

	"github.com/trendstream/trendstream/internal/core/trendscore"
)

// A term steady at about 30 authors per window bursts, dips and falls
// back. The baseline is lagged by the window size: the burst's windows
// overlap each other, so none of them is in the baseline the others are
// scored against, and the burst stays listed until it is over.
func ExampleParams_Update() {
	start := time.Date(2024, 5, 22, 18, 0, 0, 0, time.UTC)
	p := trendscore.DefaultParams().ForWindow(10 * time.Minute).StartingAt(start)
	var st trendscore.State // kept per term between windows
	authors := []int64{30, 32, 29, 31, 30, 28, 33, 30, 31, 29, 30, 32, 30, 31, 29, 30, 31, 30, 120, 240, 180, 100, 40}
	for i, a := range authors {
		end := start.Add(time.Duration(i+1) * time.Minute)
		res := p.Update(&st, trendscore.Observation{
			WindowStart: end.Add(-10 * time.Minute), WindowEnd: end,
			Count: a, Authors: a, TopAuthorPosts: 1,
		}, time.Minute)
		if i >= 17 {
			fmt.Printf("%s authors=%3d baseline=%5.1f score=%5.1f trending=%v", end.Format("15:04"), a, res.Baseline, res.Score, res.Trending)
			if res.Trending {
				fmt.Printf(" since %s", res.StartedAt.Format("15:04"))
			}
			fmt.Println()
		}
	}
	// Output:
	// 18:18 authors= 30 baseline= 29.0 score=  0.1 trending=false
	// 18:19 authors=120 baseline= 29.0 score= 12.3 trending=true since 18:09
	// 18:20 authors=240 baseline= 29.0 score= 28.6 trending=true since 18:09
	// 18:21 authors=180 baseline= 29.0 score= 20.4 trending=true since 18:09
	// 18:22 authors=100 baseline= 29.0 score=  9.6 trending=true since 18:09
	// 18:23 authors= 40 baseline= 29.0 score=  1.5 trending=false
}
