package trend

import (
	"context"
	"reflect"
	"time"

	"github.com/apache/beam/sdks/v2/go/pkg/beam"
	"github.com/apache/beam/sdks/v2/go/pkg/beam/core/graph/mtime"
	"github.com/apache/beam/sdks/v2/go/pkg/beam/core/graph/window"
	"github.com/apache/beam/sdks/v2/go/pkg/beam/core/state"
	"github.com/apache/beam/sdks/v2/go/pkg/beam/core/timers"
	"github.com/apache/beam/sdks/v2/go/pkg/beam/register"
	"github.com/apache/beam/sdks/v2/go/pkg/beam/transforms/stats"
)

func init() {
	beam.RegisterType(reflect.TypeOf((*PostPeriods)(nil)).Elem())
	beam.RegisterType(reflect.TypeOf((*PeriodCount)(nil)).Elem())
	register.DoFn4x0[beam.Window, string, int64, func(string, PeriodCount)](&stampCountFn{})
	register.Emitter2[string, PeriodCount]()
	register.DoFn5x1[state.Provider, timers.Provider, string, PeriodCount, func(beam.EventTime, string, int64), error](&slideCountsFn{})
	register.Emitter3[beam.EventTime, string, int64]()
}

// PeriodCount is one ranking's post count in the period that ends at End
// (Unix ms).
type PeriodCount struct {
	End, Posts int64
}

// PostPeriods is one ranking's state in slideCountsFn: the counts of the
// periods the windows still to come need, and the release clock.
type PostPeriods struct {
	Clock  WindowClock
	Counts []PeriodCount
}

// stampCountFn records each period count's period before the counts leave
// their fixed windows for keyed state.
type stampCountFn struct{}

func (stampCountFn) ProcessElement(w beam.Window, lang string, n int64, emit func(string, PeriodCount)) {
	emit(lang, PeriodCount{End: int64(w.(window.IntervalWindow).End), Posts: n})
}

// slideCountsFn sums each ranking's period counts over the sliding windows
// and emits each window's total once the watermark has passed its end, as
// scoreFn releases the windows' terms (WindowClock): a sum in Beam's
// sliding windows would hold the watermark a window size back.
type slideCountsFn struct {
	PeriodMs, SizeMs int64

	State   state.Value[PostPeriods]
	Release timers.EventTime
}

func (fn *slideCountsFn) ProcessElement(sp state.Provider, tp timers.Provider, lang string, pc PeriodCount, _ func(beam.EventTime, string, int64)) error {
	st, _, err := fn.State.Read(sp)
	if err != nil {
		return err
	}
	if st.Clock.arrive(pc.End, fn.SizeMs, fn.PeriodMs) {
		fn.setRelease(tp, st.Clock)
	}
	merged := false
	for i := range st.Counts {
		if st.Counts[i].End == pc.End { // a re-fired pane upstream
			st.Counts[i].Posts += pc.Posts
			merged = true
		}
	}
	if !merged {
		st.Counts = append(st.Counts, pc)
	}
	return fn.State.Write(sp, st)
}

func (fn *slideCountsFn) setRelease(tp timers.Provider, c WindowClock) {
	fn.Release.Set(tp, mtime.FromMilliseconds(c.Fire).ToTime(),
		timers.WithOutputTimestamp(mtime.FromMilliseconds(c.Hold).ToTime()))
}

func (fn *slideCountsFn) OnTimer(ctx context.Context, sp state.Provider, tp timers.Provider, lang string, _ timers.Context, emit func(beam.EventTime, string, int64)) error {
	st, _, err := fn.State.Read(sp)
	if err != nil {
		return err
	}
	earliest := int64(0)
	for i, pc := range st.Counts {
		if i == 0 || pc.End < earliest {
			earliest = pc.End
		}
	}
	sum := func(end int64) (n int64, any bool) {
		for _, pc := range st.Counts {
			if pc.End > end-fn.SizeMs && pc.End <= end {
				n, any = n+pc.Posts, true
			}
		}
		return n, any
	}
	for _, end := range st.Clock.due(fn.SizeMs, fn.PeriodMs, earliest, func(end int64) bool { _, ok := sum(end); return ok }) {
		n, _ := sum(end)
		emit(mtime.FromMilliseconds(end-1), lang, n)
	}
	keep := st.Counts[:0]
	for _, pc := range st.Counts {
		if pc.End > st.Clock.Through+fn.PeriodMs-fn.SizeMs {
			keep = append(keep, pc)
		}
	}
	st.Counts = keep
	if st.Clock.next(fn.SizeMs, fn.PeriodMs) {
		fn.setRelease(tp, st.Clock)
	}
	return fn.State.Write(sp, st)
}

// CountPosts turns partial post counts (KV<ranking language, posts>, as
// BucketTerms makes them) into post counts per ranking and sliding window,
// timestamped at the window's last instant.
func CountPosts(s beam.Scope, marks beam.PCollection, size, period time.Duration) beam.PCollection {
	s = s.Scope("CountPosts")
	buckets := beam.WindowInto(s, window.NewFixedWindows(period), marks)
	perPeriod := beam.ParDo(s, &stampCountFn{}, stats.SumPerKey(s, buckets))
	global := beam.WindowInto(s, window.NewGlobalWindows(), perPeriod)
	return beam.ParDo(s, &slideCountsFn{
		PeriodMs: period.Milliseconds(), SizeMs: size.Milliseconds(),
		State: state.MakeValueState[PostPeriods]("counts"), Release: timers.InEventTime("release"),
	}, global)
}
