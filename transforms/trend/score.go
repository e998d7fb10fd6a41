package trend

import (
	"context"
	"math"
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
type scoreFn struct {
	Params   trendscore.Params
	PeriodMs int64

	Pending  state.Bag[TermWindow]
	Baseline state.Value[trendscore.State]
	NextFire state.Value[int64]
	Release  timers.EventTime
	// Expire clears a term's state once its baseline has decayed to
	// nothing, so state does not grow with every word ever seen.
	// MinForgetPeriods is the fewest periods a term's state is kept after
	// its last window.
	MinForgetPeriods int64
}

func newScoreFn(p trendscore.Params, period time.Duration) *scoreFn {
	return &scoreFn{
		Params:           p,
		PeriodMs:         period.Milliseconds(),
		Pending:          state.MakeBagState[TermWindow]("pending"),
		Baseline:         state.MakeValueState[trendscore.State]("baseline"),
		NextFire:         state.MakeValueState[int64]("next"),
		Release:          timers.InEventTime("release"),
		MinForgetPeriods: 60,
	}
}

func (fn *scoreFn) ProcessElement(ctx context.Context, sp state.Provider, tp timers.Provider, key string, tw TermWindow, _ func(beam.EventTime, Scored)) error {
	if err := fn.Pending.Add(sp, tw); err != nil {
		return err
	}
	return fn.schedule(sp, tp, tw.End-1)
}

// schedule makes sure the release timer fires no later than at ms.
func (fn *scoreFn) schedule(sp state.Provider, tp timers.Provider, ms int64) error {
	next, ok, err := fn.NextFire.Read(sp)
	if err != nil {
		return err
	}
	if ok && next <= ms {
		return nil
	}
	fn.Release.Set(tp, mtime.FromMilliseconds(ms).ToTime())
	return fn.NextFire.Write(sp, ms)
}

// expireTag tags the release-family timer that expires a term's state.
const expireTag = "expire"

func (fn *scoreFn) OnTimer(ctx context.Context, ts beam.EventTime, sp state.Provider, tp timers.Provider, key string, tc timers.Context, emit func(beam.EventTime, Scored)) error {
	if tc.Tag == expireTag {
		return fn.expire(ctx, sp, int64(ts))
	}
	if err := fn.NextFire.Clear(sp); err != nil {
		return err
	}
	pending, _, err := fn.Pending.Read(sp)
	if err != nil {
		return err
	}
	sort.Slice(pending, func(i, j int) bool { return pending[i].End < pending[j].End })
	now := int64(ts)
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
	for _, tw := range rest {
		if err := fn.Pending.Add(sp, tw); err != nil {
			return err
		}
	}
	if len(rest) > 0 {
		return fn.schedule(sp, tp, rest[0].End-1)
	}
	return nil
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

// forgetAfter is how long (ms) after its last window a term's baseline
// takes to decay to a tenth of the noise floor, where a fresh state scores
// the same. It is at least one window size of periods so trend runs end
// normally first.
func (fn *scoreFn) forgetAfter(st trendscore.State) int64 {
	halfLives := math.Log2(max(1, 10*st.EWMA/fn.Params.NoiseFloor))
	periods := max(fn.Params.HalfLife*halfLives, float64(fn.MinForgetPeriods))
	return int64(periods) * fn.PeriodMs
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
