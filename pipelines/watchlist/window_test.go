package watchlist

import (
	"fmt"
	"math/rand/v2"
	"testing"

	"github.com/trendstream/trendstream/internal/core/watchlist"
)

// TestWindowOfEqualsTally: a window counted from its periods' merged
// author counts, as the scorer counts it, equals watchlist.Tally over the
// window's posts, as the reference counts it, whatever order the partial
// counts merge in and whatever periods lie outside the window.
func TestWindowOfEqualsTally(t *testing.T) {
	const size, period = 10_000, 1_000
	rng := rand.New(rand.NewPCG(1, 2))
	for round := range 200 {
		end := int64(1_000_000 + rng.IntN(50)*period)
		byEnd := map[int64]PeriodMatches{}
		var inWindow []string
		for range rng.IntN(300) {
			pe := end - size + int64(rng.IntN(size/period+6)-2)*period // some outside the window
			a := fmt.Sprintf("did:plc:a%d", rng.IntN(12))
			_, pm := toPeriodMatches("e", a)
			pm = mergeMatchesFn{}.MergeAccumulators(byEnd[pe], pm)
			pm.End = pe
			byEnd[pe] = pm
			if pe > end-size && pe <= end {
				inWindow = append(inWindow, a)
			}
		}
		var ps []PeriodMatches
		for _, pm := range byEnd {
			ps = append(ps, pm)
		}
		got, want := windowOf(ps, end, size), watchlist.Tally(end-size, end, inWindow)
		if got != want {
			t.Fatalf("round %d: windowOf %+v, Tally %+v", round, got, want)
		}
	}
}
