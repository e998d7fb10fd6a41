package trend

import (
	"context"
	"math"
	"reflect"
	"sort"
	"time"

	"github.com/apache/beam/sdks/v2/go/pkg/beam"
	"github.com/apache/beam/sdks/v2/go/pkg/beam/core/graph/mtime"
	"github.com/apache/beam/sdks/v2/go/pkg/beam/core/graph/window"
	"github.com/apache/beam/sdks/v2/go/pkg/beam/core/state"
	"github.com/apache/beam/sdks/v2/go/pkg/beam/core/timers"
	"github.com/apache/beam/sdks/v2/go/pkg/beam/register"

	"github.com/trendstream/trendstream/internal/termwindow"
	"github.com/trendstream/trendstream/internal/trendscore"
)

func init() {
	// Types only held in keyed state or accumulators never appear in the
	// graph a worker process sees; without registration a remote worker
	// decodes them as anonymous structs (LOOPBACK hides this).
	for _, t := range []reflect.Type{
		reflect.TypeOf((*WindowTerms)(nil)).Elem(),
		reflect.TypeOf((*Scored)(nil)).Elem(),
		reflect.TypeOf((*TrendList)(nil)).Elem(),
		reflect.TypeOf((*ReleaseTimer)(nil)).Elem(),
	} {
		beam.RegisterType(t)
	}
	register.DoFn6x1[context.Context, state.Provider, timers.Provider, int, WindowTerms, func(beam.EventTime, string, TrendList), error](&scoreFn{})
	register.Emitter3[beam.EventTime, string, TrendList]()
}

var (
	windowsScored = beam.NewCounter("trending", "term_windows_scored")
	lateRescored  = beam.NewCounter("trending", "late_windows_rescored")
	termsExpired  = beam.NewCounter("trending", "term_states_expired")
)

// Scored is one trending term in one window.
type Scored struct {
	Key            termwindow.Key
	Start, End     int64 // window bounds, Unix milliseconds
	Count, Authors int64
	Baseline       float64
	Score          float64
	RankBy         float64 // what the ranking orders by (Result.Rank)
	StartedAt      int64   // Unix ms
}

// TrendList is one shard's trending terms for one ranking in one window.
type TrendList struct {
	Terms []Scored
}

// scoreFn keeps the baselines of one shard's terms in keyed state and
// scores each window's terms against them, in window order. Sharding by a
// hash of the term, rather than keying by term, makes state and timer calls
// per window and shard instead of per window and term: each is a runner
// round trip, and there are hundreds of terms per shard and window.
//
// Windows of one shard can arrive out of order (a watermark jump closes
// many at once), so they are buffered and an event-time timer releases them
// in order once the watermark has passed their end. The timer fires at the
// end of the latest buffered window, not the earliest: when a replay or a
// stalled partition closes many windows at once, one firing then scores
// them all. The timer's output timestamp holds the watermark at the
// earliest buffered window, so no score it emits is late downstream.
type scoreFn struct {
	Params   trendscore.Params
	PeriodMs int64

	Pending   state.Bag[WindowTerms]
	Baselines state.Value[Baselines]
	// Timer mirrors the release timer, which cannot be read back.
	Timer   state.Value[ReleaseTimer]
	Release timers.EventTime
}

func newScoreFn(p trendscore.Params, period time.Duration) *scoreFn {
	return &scoreFn{
		Params:    p,
		PeriodMs:  period.Milliseconds(),
		Pending:   state.MakeBagState[WindowTerms]("pending"),
		Baselines: state.MakeValueState[Baselines]("baselines"),
		Timer:     state.MakeValueState[ReleaseTimer]("release"),
		Release:   timers.InEventTime("release"),
	}
}

// ReleaseTimer is where a term's release timer is set: it fires at Fire
// and holds the output watermark at Hold (both Unix ms, window end - 1).
type ReleaseTimer struct {
	Fire, Hold int64
}

func (fn *scoreFn) ProcessElement(ctx context.Context, sp state.Provider, tp timers.Provider, shard int, wt WindowTerms, _ func(beam.EventTime, string, TrendList)) error {
	if err := fn.Pending.Add(sp, wt); err != nil {
		return err
	}
	at := wt.End - 1
	rt, ok, err := fn.Timer.Read(sp)
	if err != nil {
		return err
	}
	if ok && rt.Hold <= at && at <= rt.Fire {
		return nil
	}
	if !ok {
		return fn.setRelease(sp, tp, ReleaseTimer{Fire: at, Hold: at})
	}
	next := ReleaseTimer{Fire: max(rt.Fire, at), Hold: min(rt.Hold, at)}
	if next.Fire == rt.Fire {
		// Prism (v2.77) miscounts watermark holds when a timer is re-set
		// to the same firing time with another hold, and fails the job
		// ("negative watermark hold count"). Firing 1 ms later is as good:
		// every window that ends by then is complete when it fires.
		next.Fire++
	}
	return fn.setRelease(sp, tp, next)
}

// setRelease (re)sets the release timer and its mirror in state.
func (fn *scoreFn) setRelease(sp state.Provider, tp timers.Provider, rt ReleaseTimer) error {
	fn.Release.Set(tp, mtime.FromMilliseconds(rt.Fire).ToTime(),
		timers.WithOutputTimestamp(mtime.FromMilliseconds(rt.Hold).ToTime()))
	return fn.Timer.Write(sp, rt)
}

func (fn *scoreFn) OnTimer(ctx context.Context, ts beam.EventTime, sp state.Provider, tp timers.Provider, shard int, _ timers.Context, emit func(beam.EventTime, string, TrendList)) error {
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
	sort.SliceStable(pending, func(i, j int) bool { return pending[i].End < pending[j].End })
	bl, _, err := fn.Baselines.Read(sp)
	if err != nil {
		return err
	}
	if bl.Terms == nil {
		bl.Terms = map[termwindow.Key]trendscore.State{}
	}
	var rest []WindowTerms
	scoredUpTo := int64(math.MinInt64)
	for _, wt := range pending {
		if wt.End-1 > now {
			rest = append(rest, wt)
			continue
		}
		fn.scoreWindow(ctx, bl, wt, emit)
		scoredUpTo = max(scoredUpTo, wt.End)
	}
	// Forget terms whose baselines have decayed to nothing: Update would
	// start them afresh anyway (trendscore.Params.ForgetAfter), so this
	// changes no score and keeps the state to the terms that are alive.
	period := time.Duration(fn.PeriodMs) * time.Millisecond
	for k, st := range bl.Terms {
		if st.LastWindowEnd+fn.Params.ForgetAfter(st, period).Milliseconds() <= scoredUpTo {
			delete(bl.Terms, k)
			termsExpired.Inc(ctx, 1)
		}
	}
	if err := fn.Baselines.Write(sp, bl); err != nil {
		return err
	}
	if err := fn.Pending.Clear(sp); err != nil {
		return err
	}
	if len(rest) == 0 {
		return fn.Timer.Clear(sp)
	}
	// Windows that arrived after the timer was last set but end later
	// than it fired: keep them for the next firing.
	for _, wt := range rest {
		if err := fn.Pending.Add(sp, wt); err != nil {
			return err
		}
	}
	return fn.setRelease(sp, tp, ReleaseTimer{Fire: rest[len(rest)-1].End - 1, Hold: rest[0].End - 1})
}

// scoreWindow folds one window into the baselines and emits its trending
// terms, one TrendList per ranking they belong to: the overall one and
// their language's.
func (fn *scoreFn) scoreWindow(ctx context.Context, bl Baselines, wt WindowTerms, emit func(beam.EventTime, string, TrendList)) {
	period := time.Duration(fn.PeriodMs) * time.Millisecond
	lists := map[string]*TrendList{}
	for _, a := range wt.Terms {
		st := bl.Terms[a.Key]
		obs := observation(a)
		obs.WindowStart, obs.WindowEnd = time.UnixMilli(wt.Start), time.UnixMilli(wt.End)
		res := fn.Params.Update(&st, obs, period)
		bl.Terms[a.Key] = st
		windowsScored.Inc(ctx, 1)
		if res.Late {
			lateRescored.Inc(ctx, 1)
		}
		if !res.Eligible || !res.Trending {
			continue
		}
		sc := Scored{
			Key: a.Key, Start: wt.Start, End: wt.End, Count: a.Posts, Authors: a.Authors,
			Baseline: res.Baseline, Score: res.Score, RankBy: res.Rank, StartedAt: res.StartedAt.UnixMilli(),
		}
		for _, lang := range []string{AllLanguages, a.Key.Lang} {
			l := lists[lang]
			if l == nil {
				l = &TrendList{}
				lists[lang] = l
			}
			l.Terms = append(l.Terms, sc)
			if lang == a.Key.Lang {
				break
			}
		}
	}
	for lang, l := range lists {
		emit(mtime.FromMilliseconds(wt.End-1), lang, *l)
	}
}

// ScoreTerms scores each shard's window activity (KV<shard, WindowTerms>)
// against the terms' own history and returns the trending terms of every
// window as KV<ranking language, TrendList>, timestamped at the window's
// last instant.
func ScoreTerms(s beam.Scope, windows beam.PCollection, p trendscore.Params, period time.Duration) beam.PCollection {
	s = s.Scope("ScoreTerms")
	global := beam.WindowInto(s, window.NewGlobalWindows(), windows)
	return beam.ParDo(s, newScoreFn(p, period), global)
}
