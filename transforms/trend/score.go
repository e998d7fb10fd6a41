package trend

import (
	"context"
	"reflect"
	"sort"
	"time"

	"github.com/apache/beam/sdks/v2/go/pkg/beam"
	"github.com/apache/beam/sdks/v2/go/pkg/beam/core/graph/mtime"
	"github.com/apache/beam/sdks/v2/go/pkg/beam/core/graph/window"
	"github.com/apache/beam/sdks/v2/go/pkg/beam/core/state"
	"github.com/apache/beam/sdks/v2/go/pkg/beam/core/timers"
	"github.com/apache/beam/sdks/v2/go/pkg/beam/register"

	"github.com/trendstream/trendstream/internal/trendscore"
)

func init() {
	// Types only held in keyed state or accumulators never appear in the
	// graph a worker process sees; without registration a remote worker
	// decodes them as anonymous structs (LOOPBACK hides this).
	for _, t := range []reflect.Type{
		reflect.TypeOf((*trendscore.State)(nil)).Elem(),
		reflect.TypeOf((*TermWindow)(nil)).Elem(),
		reflect.TypeOf((*AuthorCounts)(nil)).Elem(),
		reflect.TypeOf((*Scored)(nil)).Elem(),
		reflect.TypeOf((*ReleaseTimer)(nil)).Elem(),
	} {
		beam.RegisterType(t)
	}
	register.DoFn3x0[string, TermWindow, func(string, TermWindow)](&dropNegligibleFn{})
	register.DoFn6x1[context.Context, state.Provider, timers.Provider, string, TermWindow, func(beam.EventTime, Scored), error](&scoreFn{})
	register.Emitter2[beam.EventTime, Scored]()
}

var (
	windowsScored = beam.NewCounter("trending", "term_windows_scored")
	lateRescored  = beam.NewCounter("trending", "late_windows_rescored")
	termsExpired  = beam.NewCounter("trending", "term_states_expired")
)

// Scored is one term's score in one window.
type Scored struct {
	Key            string // TermKey.String()
	Start, End     int64  // window bounds, Unix milliseconds
	Count, Authors int64
	Baseline       float64
	Score          float64
	RankBy         float64 // what the ranking orders by (Result.Rank)
	StartedAt      int64   // Unix ms; 0 when not trending
	Trending       bool
}

// scoreFn keeps each term's baseline in keyed state and scores each of its
// windows against it in window order. Windows of one key can arrive out of
// order (a watermark jump closes many at once), so they are buffered and an
// event-time timer releases them in order once the watermark has passed
// their end.
//
// The timer fires at the end of the latest buffered window, not the
// earliest: when a replay or a stalled partition closes many windows at
// once, one firing then scores them all. Firing at the earliest would score
// one window per firing and rewrite the rest of the buffer each time,
// quadratic in the backlog, with a runner round trip per state call. The
// timer's output timestamp holds the watermark at the earliest buffered
// window, so no score it emits is late downstream. In a live stream a term
// has one window buffered at a time, and both times coincide.
type scoreFn struct {
	Params   trendscore.Params
	PeriodMs int64

	Pending  state.Bag[TermWindow]
	Baseline state.Value[trendscore.State]
	// Timer mirrors the release timer, which cannot be read back.
	Timer   state.Value[ReleaseTimer]
	Release timers.EventTime
}

func newScoreFn(p trendscore.Params, period time.Duration) *scoreFn {
	return &scoreFn{
		Params:   p,
		PeriodMs: period.Milliseconds(),
		Pending:  state.MakeBagState[TermWindow]("pending"),
		Baseline: state.MakeValueState[trendscore.State]("baseline"),
		Timer:    state.MakeValueState[ReleaseTimer]("release"),
		Release:  timers.InEventTime("release"),
	}
}

// ReleaseTimer is where a term's release timer is set: it fires at Fire
// and holds the output watermark at Hold (both Unix ms, window end - 1).
type ReleaseTimer struct {
	Fire, Hold int64
}

func (fn *scoreFn) ProcessElement(ctx context.Context, sp state.Provider, tp timers.Provider, key string, tw TermWindow, _ func(beam.EventTime, Scored)) error {
	if err := fn.Pending.Add(sp, tw); err != nil {
		return err
	}
	at := tw.End - 1
	rt, ok, err := fn.Timer.Read(sp)
	if err != nil {
		return err
	}
	if ok && rt.Hold <= at && at <= rt.Fire {
		return nil
	}
	if !ok {
		rt = ReleaseTimer{Fire: at, Hold: at}
	}
	return fn.setRelease(sp, tp, ReleaseTimer{Fire: max(rt.Fire, at), Hold: min(rt.Hold, at)})
}

// setRelease (re)sets the release timer and its mirror in state.
func (fn *scoreFn) setRelease(sp state.Provider, tp timers.Provider, rt ReleaseTimer) error {
	fn.Release.Set(tp, mtime.FromMilliseconds(rt.Fire).ToTime(),
		timers.WithOutputTimestamp(mtime.FromMilliseconds(rt.Hold).ToTime()))
	return fn.Timer.Write(sp, rt)
}

// expireTag tags the release-family timer that expires a term's state.
const expireTag = "expire"

func (fn *scoreFn) OnTimer(ctx context.Context, ts beam.EventTime, sp state.Provider, tp timers.Provider, key string, tc timers.Context, emit func(beam.EventTime, Scored)) error {
	if tc.Tag == expireTag {
		return fn.expire(ctx, sp, int64(ts))
	}
	// ts is the timer's output timestamp (its hold), not when it fired;
	// the mirror knows the firing time.
	rt, ok, err := fn.Timer.Read(sp)
	if err != nil {
		return err
	}
	now := int64(ts)
	if ok {
		now = max(now, rt.Fire)
	}
	pending, _, err := fn.Pending.Read(sp)
	if err != nil {
		return err
	}
	sort.Slice(pending, func(i, j int) bool { return pending[i].End < pending[j].End })
	st, _, err := fn.Baseline.Read(sp)
	if err != nil {
		return err
	}
	period := time.Duration(fn.PeriodMs) * time.Millisecond
	var rest []TermWindow
	for _, tw := range pending {
		if tw.End-1 > now {
			rest = append(rest, tw)
			continue
		}
		res := fn.Params.Update(&st, trendscore.Observation{
			WindowStart:    time.UnixMilli(tw.Start),
			WindowEnd:      time.UnixMilli(tw.End),
			Count:          tw.Count,
			Authors:        tw.Authors,
			TopAuthorPosts: tw.TopAuthorPosts,
		}, period)
		windowsScored.Inc(ctx, 1)
		if res.Late {
			lateRescored.Inc(ctx, 1)
		}
		if !res.Eligible {
			continue
		}
		sc := Scored{
			Key: key, Start: tw.Start, End: tw.End, Count: tw.Count, Authors: tw.Authors,
			Baseline: res.Baseline, Score: res.Score, RankBy: res.Rank, Trending: res.Trending,
		}
		if res.Trending {
			sc.StartedAt = res.StartedAt.UnixMilli()
		}
		emit(mtime.FromMilliseconds(tw.End-1), sc)
	}
	if err := fn.Baseline.Write(sp, st); err != nil {
		return err
	}
	// Expiry shares the release timer family under its own tag: Prism
	// (v2.77) stalls a bundle of a DoFn with a second, unset timer family.
	// It carries no output timestamp so it never holds the watermark back,
	// or every ranking downstream would wait for it.
	fn.Release.Set(tp, mtime.FromMilliseconds(st.LastWindowEnd+fn.forgetAfter(st)).ToTime(),
		timers.WithTag(expireTag), timers.WithNoOutputTimestamp())
	// No output timestamp: an expiry timer must not hold the watermark
	// back, or every ranking downstream would wait for it.

	if err := fn.Pending.Clear(sp); err != nil {
		return err
	}
	if len(rest) == 0 {
		return fn.Timer.Clear(sp)
	}
	// Windows that arrived after the timer was last set but end later
	// than it fired: keep them for the next firing.
	for _, tw := range rest {
		if err := fn.Pending.Add(sp, tw); err != nil {
			return err
		}
	}
	return fn.setRelease(sp, tp, ReleaseTimer{Fire: rest[len(rest)-1].End - 1, Hold: rest[0].End - 1})
}

// ScoreTerms scores each term's windows (KV<term key, TermWindow>) against
// the term's own history and returns the eligible ones as Scored, each
// timestamped at its window's last instant.
func ScoreTerms(s beam.Scope, windows beam.PCollection, p trendscore.Params, period time.Duration) beam.PCollection {
	s = s.Scope("ScoreTerms")
	windows = beam.ParDo(s, &dropNegligibleFn{Params: p}, windows)
	global := beam.WindowInto(s, window.NewGlobalWindows(), windows)
	return beam.ParDo(s, newScoreFn(p, period), global)
}

// expire drops the term's state if nothing arrived since the expiry timer
// was set; a term seen again later starts from a fresh baseline, which is
// what its decayed baseline would have been anyway.
func (fn *scoreFn) expire(ctx context.Context, sp state.Provider, now int64) error {
	pending, _, err := fn.Pending.Read(sp)
	if err != nil || len(pending) > 0 {
		return err
	}
	st, ok, err := fn.Baseline.Read(sp)
	if err != nil || !ok || st.LastWindowEnd+fn.forgetAfter(st) > now {
		return err
	}
	termsExpired.Inc(ctx, 1)
	return fn.Baseline.Clear(sp)
}

// forgetAfter is how long (ms) after its last window a term's state is
// kept: trendscore.Params.ForgetAfter, after which Update would start
// afresh anyway, so dropping it changes no score.
func (fn *scoreFn) forgetAfter(st trendscore.State) int64 {
	return fn.Params.ForgetAfter(st, time.Duration(fn.PeriodMs)*time.Millisecond).Milliseconds()
}

// dropNegligibleFn drops term windows that can neither trend nor matter to
// a baseline (trendscore.Params.Negligible). Most terms are used by one or
// two authors; skipping them keeps keyed state and timers small.
type dropNegligibleFn struct{ Params trendscore.Params }

func (fn *dropNegligibleFn) ProcessElement(key string, tw TermWindow, emit func(string, TermWindow)) {
	if fn.Params.Negligible(trendscore.Observation{Count: tw.Count, Authors: tw.Authors, TopAuthorPosts: tw.TopAuthorPosts}) {
		return
	}
	emit(key, tw)
}
