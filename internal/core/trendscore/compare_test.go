package trendscore

import (
	"fmt"
	"slices"
	"testing"
	"time"
)

// TestScoreVersusRawCount runs a synthetic window mix through the scorer and
// both rankings: steady terms from rare to very common, one spam account
// flooding a term, and one emerging topic. Raw volume lists the common words
// and the spam; the baseline score lists only the emerging topic.
func TestScoreVersusRawCount(t *testing.T) {
	p := DefaultParams().ForWindow(10 * time.Minute).StartingAt(t0)
	type term struct {
		name   string
		mean   float64
		st     State
		series []int64
	}
	const windows = 400
	const burstAt = 300
	var steady []*term
	for i, mean := range []float64{2, 8, 30, 120, 500, 1500, 4000} {
		steady = append(steady, &term{name: fmt.Sprintf("steady%d", int(mean)), mean: mean, series: slidingAuthors(uint64(100+i), func(int) float64 { return mean }, windows)})
	}
	var spam, topic State
	for w := 1; w <= windows; w++ {
		var window []Ranked
		for _, tm := range steady {
			a := tm.series[w-1]
			if a == 0 {
				continue
			}
			o := obs(w, a)
			o.Count = a + a/3 // some authors post twice
			res := p.Update(&tm.st, o, period)
			window = append(window, Ranked{Term: tm.name, Count: o.Count, Authors: a, Score: res.Score, Baseline: res.Baseline})
			if res.Trending && w > 20 {
				t.Errorf("window %d: steady term %s trends (score %.2f)", w, tm.name, res.Score)
			}
		}
		// One account posts the same tag 3000 times a window, two friends
		// join in once.
		so := Observation{WindowEnd: end(w), Count: 3002, Authors: 3, TopAuthorPosts: 3000}
		if res := p.Update(&spam, so, period); res.Trending || res.Eligible {
			t.Errorf("window %d: spam flood eligible %v trending %v", w, res.Eligible, res.Trending)
		} else {
			window = append(window, Ranked{Term: "spam", Count: so.Count, Authors: so.Authors, Score: res.Score})
		}
		if w < burstAt {
			continue
		}
		// The topic ramps up over the burst's first windows: 40, 80, 120 …
		a := int64(40 * (w - burstAt + 1))
		res := p.Update(&topic, obs(w, a), period)
		window = append(window, Ranked{Term: "topic", Count: a, Authors: a, Score: res.Score})
		if !res.Trending {
			t.Fatalf("window %d: emerging topic with %d authors not trending (score %.2f)", w, a, res.Score)
		}
		if w != burstAt {
			continue
		}
		var trending []Ranked
		for _, r := range window {
			if r.Score >= p.Enter && r.Term != "spam" {
				trending = append(trending, r)
			}
		}
		if got := terms(TopK(trending, 3)); !slices.Equal(got, []string{"topic"}) {
			t.Errorf("baseline-scored top 3 at the burst = %q, want [topic]", got)
		}
		raw := terms(RawCount(window, 3))
		if slices.Contains(raw, "topic") || !slices.Contains(raw, "spam") {
			t.Errorf("raw-count top 3 = %q; expected the volume leaders and the spam, not the 40-author topic", raw)
		}
		t.Logf("window %d: raw count top 3 %q; baseline score top %q", w, raw, terms(TopK(trending, 3)))
	}
}
