package trendscore

import (
	"fmt"
	"math"
	"math/rand/v2"
	"slices"
	"testing"
	"time"

	tsv1 "github.com/trendstream/trendstream/proto/trendstream/v1"
)

func terms(rs []Ranked) []string {
	out := make([]string, len(rs))
	for i, r := range rs {
		out[i] = r.Term
	}
	return out
}

func TestTopKOrder(t *testing.T) {
	w := tsv1.TermKind_TERM_KIND_WORD
	h := tsv1.TermKind_TERM_KIND_HASHTAG
	items := []Ranked{
		{Term: "low", Score: 1, Authors: 500},
		{Term: "nan", Score: math.NaN(), Authors: 900},
		{Term: "tie-few", Score: 7, Authors: 10},
		{Term: "tie-many", Score: 7, Authors: 50},
		{Term: "b", Score: 3, Authors: 20},
		{Term: "a", Score: 3, Authors: 20},
		{Term: "same", Kind: h, Score: 2, Authors: 5},
		{Term: "same", Kind: w, Score: 2, Authors: 5, Lang: "en"},
		{Term: "same", Kind: w, Score: 2, Authors: 5, Lang: "de"},
		{Term: "top", Score: 9, Authors: 1},
	}
	tests := []struct {
		k    int
		want []string
	}{
		{0, nil},
		{-1, nil},
		{1, []string{"top"}},
		{4, []string{"top", "tie-many", "tie-few", "a"}},
		{100, []string{"top", "tie-many", "tie-few", "a", "b", "same", "same", "same", "low", "nan"}},
	}
	for _, tt := range tests {
		t.Run(fmt.Sprint("k=", tt.k), func(t *testing.T) {
			in := slices.Clone(items)
			got := TopK(in, tt.k)
			if !slices.Equal(terms(got), tt.want) {
				t.Errorf("TopK = %q, want %q", terms(got), tt.want)
			}
			if !slices.EqualFunc(in, items, func(a, b Ranked) bool { return a.Term == b.Term && a.Kind == b.Kind && a.Lang == b.Lang }) {
				t.Errorf("TopK reordered its input")
			}
		})
	}
	// Identical terms are ordered by kind (hashtag first), then language.
	all := TopK(items, 100)
	if s := all[5:8]; s[0].Kind != h || s[1].Kind != w || s[1].Lang != "de" || s[2].Lang != "en" {
		t.Errorf("same-term ties ordered %+v", s)
	}
}

func TestTopKDeterministic(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 2))
	items := make([]Ranked, 5000)
	for i := range items {
		// Few distinct scores and author counts force ties all the way down.
		items[i] = Ranked{Term: fmt.Sprintf("t%04d", r.IntN(4000)), Score: float64(r.IntN(20)), Authors: int64(r.IntN(5)), Lang: []string{"en", "ja", ""}[r.IntN(3)]}
	}
	full := slices.Clone(items)
	slices.SortFunc(full, compare)
	for _, k := range []int{1, 20, 100, 4999} {
		want := TopK(items, k)
		if !slices.Equal(want, full[:k]) {
			t.Fatalf("k=%d: heap selection differs from a full sort", k)
		}
		for trial := 0; trial < 5; trial++ {
			shuffled := slices.Clone(items)
			r.Shuffle(len(shuffled), func(i, j int) { shuffled[i], shuffled[j] = shuffled[j], shuffled[i] })
			if got := TopK(shuffled, k); !slices.Equal(got, want) {
				t.Fatalf("k=%d: TopK depends on input order", k)
			}
		}
	}
}

func TestTopKPerLangAndRawCount(t *testing.T) {
	items := []Ranked{
		{Term: "spike", Lang: "en", Score: 12, Count: 80, Authors: 70},
		{Term: "the-usual", Lang: "en", Score: 0.2, Count: 9000, Authors: 5000},
		{Term: "mid", Lang: "en", Score: 5, Count: 300, Authors: 250},
		{Term: "猫", Lang: "ja", Score: 8, Count: 40, Authors: 30},
		{Term: "ネコ", Lang: "ja", Score: 1, Count: 400, Authors: 300},
	}
	per := TopKPerLang(items, 2)
	if got := terms(per["en"]); !slices.Equal(got, []string{"spike", "mid"}) {
		t.Errorf("en = %q", got)
	}
	if got := terms(per["ja"]); !slices.Equal(got, []string{"猫", "ネコ"}) {
		t.Errorf("ja = %q", got)
	}
	if len(per) != 2 {
		t.Errorf("languages %v, want en and ja", len(per))
	}
	raw := RawCount(items, 3)
	if got := terms(raw); !slices.Equal(got, []string{"the-usual", "ネコ", "mid"}) {
		t.Errorf("RawCount = %q", got)
	}
	if raw[0].Score != 9000 || items[1].Score != 0.2 {
		t.Errorf("RawCount scores %v (input %v): want the count, input untouched", raw[0].Score, items[1].Score)
	}
}

// TestRankByAge checks that with RankByAge a trend's rank is its score
// divided by 1 + the periods since it started trending, and that a term
// entering at the threshold is listed ahead of one that has trended for a
// while at a higher score, which is what it is for; without it the order
// is by score.
func TestRankByAge(t *testing.T) {
	t0 := time.Date(2026, 3, 2, 8, 0, 0, 0, time.UTC)
	const period, size = time.Minute, 10 * time.Minute
	run := func(byAge bool) (old, fresh Result) {
		p := DefaultParams().ForWindow(size).StartingAt(t0)
		p.RankByAge = byAge
		var so, sf State
		for i := 0; i < 60; i++ {
			end := t0.Add(time.Duration(i+1) * period)
			obs := func(authors int64) Observation {
				return Observation{WindowStart: end.Add(-size), WindowEnd: end, Count: authors, Authors: authors, TopAuthorPosts: 1, Volume: 100}
			}
			// old: new since minute 52 at 20 authors a window; fresh: new
			// in the last window at 10 authors, exactly Enter with β = 2.
			if i >= 52 {
				old = p.Update(&so, obs(20), period)
			}
			if i == 59 {
				fresh = p.Update(&sf, obs(10), period)
			}
		}
		return old, fresh
	}
	old, fresh := run(true)
	if !old.Trending || !fresh.Trending {
		t.Fatalf("old trending %v (score %.2f), fresh %v (score %.2f): the case no longer tests ranking", old.Trending, old.Score, fresh.Trending, fresh.Score)
	}
	if fresh.Rank != fresh.Score {
		t.Errorf("a trend's first window: rank %v, want its score %v", fresh.Rank, fresh.Score)
	}
	age := float64(t0.Add(50*time.Minute).Sub(old.StartedAt)) / float64(period) // periods from its start to the last window's start
	if want := old.Score / (1 + age); math.Abs(old.Rank-want) > 1e-9 || age < 1 {
		t.Errorf("after %v periods: rank %v, want %v", age, old.Rank, want)
	}
	if !(old.Score > fresh.Score) || !(fresh.Rank > old.Rank) {
		t.Errorf("by age: old score %.2f rank %.2f, fresh score %.2f rank %.2f: want the fresh one first", old.Score, old.Rank, fresh.Score, fresh.Rank)
	}
	old, fresh = run(false)
	if old.Rank != old.Score || fresh.Rank != fresh.Score {
		t.Errorf("without RankByAge the rank is the score: %v/%v, %v/%v", old.Rank, old.Score, fresh.Rank, fresh.Score)
	}
}
