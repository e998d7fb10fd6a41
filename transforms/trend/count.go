package trend

import (
	"time"

	"github.com/apache/beam/sdks/v2/go/pkg/beam"
	"github.com/apache/beam/sdks/v2/go/pkg/beam/core/graph/window"
	"github.com/apache/beam/sdks/v2/go/pkg/beam/register"
)

func init() {
	register.Combiner3[AuthorCounts, string, AuthorCounts](&authorCountFn{})
	register.Combiner2[AuthorCounts, AuthorCounts](&mergeAuthorCountsFn{})
	register.DoFn4x0[beam.Window, string, AuthorCounts, func(string, TermWindow)](&toTermWindowFn{})
	register.Emitter2[string, TermWindow]()
}

// AuthorCounts is how many posts each author made with one term.
type AuthorCounts struct {
	Posts map[string]int64
}

func (a AuthorCounts) add(author string, n int64) AuthorCounts {
	if a.Posts == nil {
		a.Posts = map[string]int64{}
	}
	a.Posts[author] += n
	return a
}

// authorCountFn folds author DIDs into per-author post counts.
type authorCountFn struct{}

func (authorCountFn) CreateAccumulator() AuthorCounts { return AuthorCounts{Posts: map[string]int64{}} }

func (authorCountFn) AddInput(a AuthorCounts, author string) AuthorCounts { return a.add(author, 1) }

func (authorCountFn) MergeAccumulators(a, b AuthorCounts) AuthorCounts { return merge(a, b) }

// mergeAuthorCountsFn merges per-bucket counts into a sliding window.
type mergeAuthorCountsFn struct{}

// MergeAccumulators builds a new map: its inputs are pipeline elements, and
// one bucket's element is shared by every window that contains it, so
// merging into it in place would count it into its neighbours too.
func (mergeAuthorCountsFn) MergeAccumulators(a, b AuthorCounts) AuthorCounts {
	out := AuthorCounts{Posts: make(map[string]int64, len(a.Posts)+len(b.Posts))}
	for k, n := range a.Posts {
		out.Posts[k] += n
	}
	for k, n := range b.Posts {
		out.Posts[k] += n
	}
	return out
}

func merge(a, b AuthorCounts) AuthorCounts {
	if len(a.Posts) < len(b.Posts) {
		a, b = b, a
	}
	for k, n := range b.Posts {
		a = a.add(k, n)
	}
	return a
}

// TermWindow is one term's activity in one sliding window.
type TermWindow struct {
	Start, End     int64 // window bounds, Unix milliseconds
	Count          int64 // posts with the term
	Authors        int64 // distinct authors
	TopAuthorPosts int64 // posts by the most active author
}

type toTermWindowFn struct{}

func (toTermWindowFn) ProcessElement(w beam.Window, key string, a AuthorCounts, emit func(string, TermWindow)) {
	iw := w.(window.IntervalWindow)
	tw := TermWindow{Start: int64(iw.Start), End: int64(iw.End), Authors: int64(len(a.Posts))}
	for _, n := range a.Posts {
		tw.Count += n
		tw.TopAuthorPosts = max(tw.TopAuthorPosts, n)
	}
	emit(key, tw)
}

// CountTerms turns (term key, author) hits into per-term sliding-window
// activity. Hits are first folded into tumbling buckets of one period, then
// buckets are merged into the windows that contain them, so each hit is
// windowed once instead of size/period times.
func CountTerms(s beam.Scope, hits beam.PCollection, size, period time.Duration) beam.PCollection {
	s = s.Scope("CountTerms")
	buckets := beam.WindowInto(s, window.NewFixedWindows(period), hits)
	perBucket := beam.CombinePerKey(s, &authorCountFn{}, buckets)
	sliding := beam.WindowInto(s, window.NewSlidingWindows(period, size), perBucket)
	perWindow := beam.CombinePerKey(s, &mergeAuthorCountsFn{}, sliding)
	return beam.ParDo(s, &toTermWindowFn{}, perWindow)
}
