package trend

import (
	"context"
	"time"

	"github.com/apache/beam/sdks/v2/go/pkg/beam"
	"github.com/apache/beam/sdks/v2/go/pkg/beam/core/graph/window"
	"github.com/apache/beam/sdks/v2/go/pkg/beam/register"

	"github.com/trendstream/trendstream/internal/termwindow"
	"github.com/trendstream/trendstream/internal/trendscore"
)

func init() {
	register.Combiner1[termwindow.Bucket](&mergeBucketsFn{})
	register.DoFn5x0[context.Context, beam.Window, int, func(*termwindow.Bucket) bool, func(int, WindowTerms)](&windowTermsFn{})
	register.Emitter2[int, WindowTerms]()
	register.Iter1[termwindow.Bucket]()
}

var termWindowsCounted = beam.NewCounter("trending", "term_windows_counted")

// mergeBucketsFn sums the partial buckets of one period and shard.
type mergeBucketsFn struct{}

// MergeAccumulators returns a new bucket: its inputs may be elements shared
// with other windows, which must not change.
func (mergeBucketsFn) MergeAccumulators(a, b termwindow.Bucket) termwindow.Bucket {
	return termwindow.MergeBuckets(a, b)
}

// WindowTerms is the activity of one shard's terms in one sliding window:
// every term that is not negligible (trendscore.Params.Negligible), sorted.
type WindowTerms struct {
	Start, End int64 // window bounds, Unix milliseconds
	Terms      []termwindow.Activity
}

// windowTermsFn merges the buckets of a sliding window, dropping negligible
// terms before their authors are merged (trendscore.Params.MinPosts).
type windowTermsFn struct {
	Params trendscore.Params
}

func (fn *windowTermsFn) ProcessElement(ctx context.Context, w beam.Window, shard int, iter func(*termwindow.Bucket) bool, emit func(int, WindowTerms)) {
	var buckets []termwindow.Bucket
	var b termwindow.Bucket
	for iter(&b) {
		buckets = append(buckets, b)
		b = termwindow.Bucket{}
	}
	iw := w.(window.IntervalWindow)
	wt := WindowTerms{Start: int64(iw.Start), End: int64(iw.End)}
	for _, a := range termwindow.Merge(buckets, fn.Params.MinPosts()) {
		if fn.Params.Negligible(observation(a)) {
			continue
		}
		wt.Terms = append(wt.Terms, a)
	}
	if len(wt.Terms) == 0 {
		return
	}
	termWindowsCounted.Inc(ctx, int64(len(wt.Terms)))
	emit(shard, wt)
}

func observation(a termwindow.Activity) trendscore.Observation {
	return trendscore.Observation{Count: a.Posts, Authors: a.Authors, TopAuthorPosts: a.TopAuthorPosts}
}

// CountTerms turns partial term buckets (KV<shard, termwindow.Bucket>, as
// BucketTerms makes them) into each shard's activity per sliding window
// (KV<shard, WindowTerms>), without negligible terms. Partials are first
// summed per period, so each bucket is windowed once and moves as one
// element into the size/period windows that contain it.
func CountTerms(s beam.Scope, partials beam.PCollection, size, period time.Duration, p trendscore.Params) beam.PCollection {
	s = s.Scope("CountTerms")
	fixed := beam.WindowInto(s, window.NewFixedWindows(period), partials)
	buckets := beam.CombinePerKey(s, &mergeBucketsFn{}, fixed)
	sliding := beam.WindowInto(s, window.NewSlidingWindows(period, size), buckets)
	return beam.ParDo(s, &windowTermsFn{Params: p}, beam.GroupByKey(s, sliding))
}
