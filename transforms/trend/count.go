package trend

import (
	"time"

	"github.com/apache/beam/sdks/v2/go/pkg/beam"
	"github.com/apache/beam/sdks/v2/go/pkg/beam/core/graph/window"
	"github.com/apache/beam/sdks/v2/go/pkg/beam/register"
)

func init() {
	register.Combiner1[ShardEvent](&mergeBucketsFn{})
	register.DoFn4x0[beam.Window, int, ShardEvent, func(int, ShardEvent)](&stampEndFn{})
	register.Emitter2[int, ShardEvent]()
}

// mergeBucketsFn sums the partial buckets (and retractions) of one period
// and shard.
type mergeBucketsFn struct{}

// MergeAccumulators returns a new event: its inputs are pipeline elements,
// which must not change.
func (mergeBucketsFn) MergeAccumulators(a, b ShardEvent) ShardEvent { return a.merge(b) }

// stampEndFn records each bucket's period before the buckets leave their
// fixed windows for keyed state.
type stampEndFn struct{}

func (stampEndFn) ProcessElement(w beam.Window, shard int, ev ShardEvent, emit func(int, ShardEvent)) {
	ev.End = int64(w.(window.IntervalWindow).End)
	emit(shard, ev)
}

// SumBuckets sums partial term buckets (KV<shard, ShardEvent>, as
// BucketTerms makes them) into one bucket per shard and period, as
// KV<shard, ShardEvent>. Partials up to lateness behind the watermark come
// as late panes of their period (discarding: only the late partials), which
// the scorer adds to the period's bucket.
func SumBuckets(s beam.Scope, partials beam.PCollection, period, lateness time.Duration) beam.PCollection {
	s = s.Scope("SumBuckets")
	fixed := beam.WindowInto(s, window.NewFixedWindows(period), partials, beam.AllowedLateness(lateness))
	sums := beam.CombinePerKey(s, &mergeBucketsFn{}, fixed)
	return beam.ParDo(s, &stampEndFn{}, sums)
}
