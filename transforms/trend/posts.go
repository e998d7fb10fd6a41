package trend

import (
	"context"
	"reflect"
	"slices"
	"time"

	"github.com/apache/beam/sdks/v2/go/pkg/beam"
	"github.com/apache/beam/sdks/v2/go/pkg/beam/core/graph/mtime"
	"github.com/apache/beam/sdks/v2/go/pkg/beam/core/graph/window"
	"github.com/apache/beam/sdks/v2/go/pkg/beam/core/state"
	"github.com/apache/beam/sdks/v2/go/pkg/beam/core/timers"
	"github.com/apache/beam/sdks/v2/go/pkg/beam/register"

	"github.com/trendstream/trendstream/internal/core/countmerge"
	"github.com/trendstream/trendstream/internal/core/windowclock"
)

func init() {
	beam.RegisterType(reflect.TypeOf((*PeriodPosts)(nil)).Elem())
	beam.RegisterType(reflect.TypeOf((*PostPeriods)(nil)).Elem())
	register.Combiner1[PeriodPosts](&mergePostsFn{})
	register.DoFn4x0[beam.Window, int, PeriodPosts, func(int, PeriodPosts)](&stampPostsFn{})
	register.Emitter2[int, PeriodPosts]()
	beam.RegisterType(reflect.TypeOf((*WindowPosts)(nil)).Elem())
	register.DoFn6x1[context.Context, state.Provider, timers.Provider, int, PeriodPosts, func(beam.EventTime, string, WindowPosts), error](&slideCountsFn{})
	register.Emitter3[beam.EventTime, string, int64]()
	register.Emitter3[beam.EventTime, string, WindowPosts]()
}

// latePostsDropped counts late post counts of periods whose windows had
// all settled (beyond the allowed lateness).
var latePostsDropped = beam.NewCounter("trending", "late_post_counts_dropped")

// PeriodPosts is the post count of each ranking (by language, sorted) in
// the period that ends at End (Unix ms), with what the period's deletes
// retracted from earlier periods.
type PeriodPosts struct {
	End   int64
	Langs []string
	Posts []int64
	// Retracted are the posts (negative counts) that deletes in this
	// period took out of earlier periods, by End: they count in the
	// windows that hold both periods, as ShardEvent.Retracted do.
	Retracted []RetractedPosts
}

// RetractedPosts are the posts of each ranking that deletes took out of
// the period ending at End.
type RetractedPosts struct {
	End   int64
	Langs []string
	Posts []int64
}

// add returns the counts of p and q together, in a new value: its inputs
// are pipeline elements, which must not change.
func (p PeriodPosts) add(q PeriodPosts) PeriodPosts {
	out := PeriodPosts{End: max(p.End, q.End)}
	out.Langs, out.Posts = countmerge.Add(p.Langs, p.Posts, q.Langs, q.Posts)
	out.Retracted = mergeByEnd(p.Retracted, q.Retracted, func(r RetractedPosts) int64 { return r.End },
		func(a, b RetractedPosts) RetractedPosts {
			r := RetractedPosts{End: a.End}
			r.Langs, r.Posts = countmerge.Add(a.Langs, a.Posts, b.Langs, b.Posts)
			return r
		})
	return out
}

// langs returns the rankings p can change, sorted.
func (p PeriodPosts) langs() []string {
	langs := p.Langs
	for _, r := range p.Retracted {
		langs = unionSorted(langs, r.Langs)
	}
	return langs
}

// inWindow returns p's counts in the window (start, end] that holds p's
// period: its own, and its retractions of periods the window also holds.
func (p PeriodPosts) inWindow(start, end int64) PeriodPosts {
	if len(p.Retracted) == 0 {
		return p
	}
	out := PeriodPosts{End: p.End, Langs: p.Langs, Posts: p.Posts}
	for _, r := range p.Retracted {
		if r.End > start && r.End <= end {
			out.Langs, out.Posts = countmerge.Add(out.Langs, out.Posts, r.Langs, r.Posts)
		}
	}
	return out
}

// PostPeriods is slideCountsFn's state: the periods the windows still to
// come need, and the release clock.
type PostPeriods struct {
	Clock   windowclock.Clock
	Periods []PeriodPosts
	// Emits counts the counts emitted (WindowPosts.Rev).
	Emits int64
}

// WindowPosts is a ranking's post count in one window. Rev grows with
// every count the counter emits, so Rank keeps the latest of counts that
// arrive out of order: a retraction lowers a count (docs/pipeline.md,
// "Deletes"), so the largest is not always the latest.
type WindowPosts struct {
	Posts, Rev int64
}

// postsKey is the one key of the post counter: it handles one small
// element per period, all rankings together, so one state read and write a
// period rather than one per language.
const postsKey = 0

// mergePostsFn sums the partial post counts of one period.
type mergePostsFn struct{}

func (mergePostsFn) MergeAccumulators(a, b PeriodPosts) PeriodPosts { return a.add(b) }

// stampPostsFn records each period's end before the counts leave their
// fixed windows for keyed state.
type stampPostsFn struct{}

func (stampPostsFn) ProcessElement(w beam.Window, k int, pp PeriodPosts, emit func(int, PeriodPosts)) {
	pp.End = int64(w.(window.IntervalWindow).End)
	emit(k, pp)
}

// slideCountsFn sums the period counts over the sliding windows and emits
// each ranking's total per window once the watermark has passed the
// window's end, as scoreFn releases the windows' terms (windowclock): a sum
// in Beam's sliding windows would hold the watermark a window size back.
type slideCountsFn struct {
	timing

	State   state.Value[PostPeriods]
	Release timers.EventTime
}

func (fn *slideCountsFn) ProcessElement(ctx context.Context, sp state.Provider, tp timers.Provider, _ int, pp PeriodPosts, emit func(beam.EventTime, string, WindowPosts)) error {
	st, _, err := fn.State.Read(sp)
	if err != nil {
		return err
	}
	late := st.Clock.Started && pp.End <= st.Clock.Through
	if late && pp.End+fn.SizeMs-fn.PeriodMs <= st.Clock.Through-fn.LatenessMs {
		latePostsDropped.Inc(ctx, 1)
		return nil // every window it is in has settled
	}
	if st.Clock.Arrive(pp.End, fn.SizeMs, fn.PeriodMs, fn.live(pp.End)) {
		fn.Release.Set(tp, mtime.FromMilliseconds(st.Clock.Fire).ToTime(),
			timers.WithOutputTimestamp(mtime.FromMilliseconds(st.Clock.Hold).ToTime()))
	}
	i := slices.IndexFunc(st.Periods, func(q PeriodPosts) bool { return q.End == pp.End })
	if i >= 0 { // a re-fired pane upstream
		st.Periods[i] = st.Periods[i].add(pp)
	} else {
		st.Periods = append(st.Periods, pp)
	}
	if late && fn.LatenessMs > 0 {
		// Emit the released windows it is in again, as later revisions:
		// the counts of its languages, the only ones it changed.
		langs := pp.langs()
		for end := pp.End; end <= min(pp.End+fn.SizeMs-fn.PeriodMs, st.Clock.Through); end += fn.PeriodMs {
			fn.emitWindow(&st, end, true, langs, emit)
		}
	}
	return fn.State.Write(sp, st)
}

// emitWindow emits each ranking's post count in the window ending at end,
// or, in a correction of a released window (released), only those of the
// rankings corrected. A ranking whose posts were all retracted has no window, as in
// the reference: it is not emitted, unless in a correction, as the window
// may have been ranked already, and then its count of 0 withdraws that
// ranking (a snapshot of no posts and no terms).
func (fn *slideCountsFn) emitWindow(st *PostPeriods, end int64, released bool, corrected []string, emit func(beam.EventTime, string, WindowPosts)) {
	var sum PeriodPosts
	for _, pp := range st.Periods {
		if pp.End > end-fn.SizeMs && pp.End <= end {
			sum = sum.add(pp.inWindow(end-fn.SizeMs, end))
		}
	}
	for i, lang := range sum.Langs {
		if sum.Posts[i] == 0 && !released || released && !slices.Contains(corrected, lang) {
			continue
		}
		st.Emits++
		emit(mtime.FromMilliseconds(end-1), lang, WindowPosts{Posts: sum.Posts[i], Rev: st.Emits})
	}
}

func (fn *slideCountsFn) OnTimer(ctx context.Context, sp state.Provider, tp timers.Provider, _ int, _ timers.Context, emit func(beam.EventTime, string, WindowPosts)) error {
	st, _, err := fn.State.Read(sp)
	if err != nil {
		return err
	}
	var earliest int64
	for i, pp := range st.Periods {
		if i == 0 || pp.End < earliest {
			earliest = pp.End
		}
	}
	inWindow := func(pp PeriodPosts, end int64) bool { return pp.End > end-fn.SizeMs && pp.End <= end }
	has := func(end int64) bool {
		return slices.ContainsFunc(st.Periods, func(pp PeriodPosts) bool { return inWindow(pp, end) })
	}
	due := st.Clock.Due(fn.PeriodMs, earliest, has)
	for _, end := range due {
		fn.emitWindow(&st, end, false, nil, emit)
	}
	st.Periods = slices.DeleteFunc(st.Periods, func(pp PeriodPosts) bool {
		return pp.End <= st.Clock.Through-fn.LatenessMs+fn.PeriodMs-fn.SizeMs
	})
	if st.Clock.Next(fn.SizeMs, fn.PeriodMs, fn.live(st.Clock.Through), has) {
		fn.Release.Set(tp, mtime.FromMilliseconds(st.Clock.Fire).ToTime(),
			timers.WithOutputTimestamp(mtime.FromMilliseconds(st.Clock.Hold).ToTime()))
	}
	return fn.State.Write(sp, st)
}

// countPosts turns partial post counts (KV<postsKey, PeriodPosts>, as
// BucketTerms makes them) into post counts per ranking and sliding window
// (KV<ranking language, WindowPosts>), timestamped at the window's last
// instant.
func countPosts(s beam.Scope, marks beam.PCollection, t timing) beam.PCollection {
	s = s.Scope("CountPosts")
	fixed := beam.WindowInto(s, window.NewFixedWindows(time.Duration(t.PeriodMs)*time.Millisecond), marks, beam.AllowedLateness(time.Duration(t.LatenessMs)*time.Millisecond))
	perPeriod := beam.ParDo(s, &stampPostsFn{}, beam.CombinePerKey(s, &mergePostsFn{}, fixed))
	global := beam.WindowInto(s, window.NewGlobalWindows(), perPeriod)
	return beam.ParDo(s, &slideCountsFn{
		timing: t,
		State:  state.MakeValueState[PostPeriods]("periods"), Release: timers.InEventTime("release"),
	}, global)
}
