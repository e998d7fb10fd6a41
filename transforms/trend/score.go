package trend

import (
	"context"
	"math/rand/v2"
	"reflect"
	"strconv"
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
	// Types only held in keyed state never appear in the graph a worker
	// process sees; without registration a remote worker decodes them as
	// anonymous structs (LOOPBACK hides this).
	for _, t := range []reflect.Type{
		reflect.TypeOf((*Scored)(nil)).Elem(),
		reflect.TypeOf((*TrendList)(nil)).Elem(),
		reflect.TypeOf((*ShardProgress)(nil)).Elem(),
		reflect.TypeOf((*WindowClock)(nil)).Elem(),
	} {
		beam.RegisterType(t)
	}
	register.DoFn6x1[context.Context, state.Provider, timers.Provider, int, ShardEvent, func(beam.EventTime, string, TrendList), error](&scoreFn{})
	register.Emitter3[beam.EventTime, string, TrendList]()
}

var (
	windowsScored  = beam.NewCounter("trending", "term_windows_scored")
	lateRescored   = beam.NewCounter("trending", "late_windows_rescored")
	termsExpired   = beam.NewCounter("trending", "term_states_expired")
	lateBuckets    = beam.NewCounter("trending", "late_buckets")
	stateCacheHits = beam.NewCounter("trending", "state_cache_hits")
	stateCacheMiss = beam.NewCounter("trending", "state_cache_misses")
)

// Scored is one trending term in one window; the window is the element's.
type Scored struct {
	Key            termwindow.Key
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

// ShardProgress is a shard's scoring progress, kept in state.
type ShardProgress struct {
	// Clock says which windows were scored and mirrors the release timer.
	Clock WindowClock
	// RingLen counts the entries in the Ring bag, evicted ones included,
	// so it is compacted before it grows past twice what windows need.
	RingLen int
	// Token changes whenever the ring or the baselines change, so a
	// worker's cached copy of them is known to be current (stateCache).
	Token uint64
}

// ShardEvent is the bucket of one shard's terms for the period that ends at
// End (Unix ms).
type ShardEvent struct {
	End    int64
	Bucket termwindow.Bucket
}

// scoreFn assembles each shard's sliding windows from its period buckets
// and scores every window's terms against their own history, in window
// order.
//
// Buckets go into Ring, a bag of the buckets the windows still to come
// need, as they arrive. An event-time timer releases each window once the
// watermark has passed its end (WindowClock): it merges the ring's buckets
// that fall in the window, folds the terms into their baselines and emits
// the trending ones.
//
// Only Bag and Value state and one event-time timer with an output
// timestamp are used: the state Flink's portable runner supports. (Beam's
// Go integration tests skip Map, Set and OrderedList state on Flink:
// flinkFilters in sdks/go/test/integration/integration.go.)
//
// Keying by a shard of the terms rather than by term makes state calls and
// timers per shard and window instead of per term and window: each is a
// runner round trip. Windowing here rather than by grouping buckets in
// Beam's sliding windows means a bucket is stored once, not copied into
// every window that contains it, and with the worker's cache (stateCache)
// it is read back only when another worker had the shard.
type scoreFn struct {
	Params   trendscore.Params
	PeriodMs int64
	SizeMs   int64
	// CacheID tells this pipeline's cache entries from another's in the
	// same worker process.
	CacheID string

	Ring      state.Bag[ShardEvent]
	Baselines state.Value[Baselines]
	Progress  state.Value[ShardProgress]
	Release   timers.EventTime
}

func newScoreFn(p trendscore.Params, size, period time.Duration) *scoreFn {
	return &scoreFn{
		Params:    p,
		PeriodMs:  period.Milliseconds(),
		SizeMs:    size.Milliseconds(),
		CacheID:   strconv.FormatUint(rand.Uint64(), 16),
		Ring:      state.MakeBagState[ShardEvent]("ring"),
		Baselines: state.MakeValueState[Baselines]("baselines"),
		Progress:  state.MakeValueState[ShardProgress]("progress"),
		Release:   timers.InEventTime("release"),
	}
}

// ProcessElement adds a period's bucket to the ring and, if the clock says
// so, moves the release timer.
func (fn *scoreFn) ProcessElement(ctx context.Context, sp state.Provider, tp timers.Provider, shard int, ev ShardEvent, _ func(beam.EventTime, string, TrendList)) error {
	pr, _, err := fn.Progress.Read(sp)
	if err != nil {
		return err
	}
	if pr.Clock.Started && ev.End <= pr.Clock.Through {
		// Some windows it belongs to were scored without it. The runner
		// drops late data before this stage, so this should not happen.
		lateBuckets.Inc(ctx, 1)
	}
	set := pr.Clock.arrive(ev.End, fn.SizeMs, fn.PeriodMs)
	if err := fn.Ring.Add(sp, ev); err != nil {
		return err
	}
	pr.RingLen++
	// Keep the worker's copy current: it is the ring as of the new token.
	sh := stateCache.take(fn.CacheID, shard, pr.Token)
	pr.Token = newToken()
	if sh != nil {
		sh.add(ev)
		stateCache.put(fn.CacheID, shard, pr.Token, sh)
	}
	if set {
		fn.setRelease(tp, pr.Clock)
	}
	return fn.Progress.Write(sp, pr)
}

// setRelease sets the release timer as the clock says.
func (fn *scoreFn) setRelease(tp timers.Provider, c WindowClock) {
	fn.Release.Set(tp, mtime.FromMilliseconds(c.Fire).ToTime(),
		timers.WithOutputTimestamp(mtime.FromMilliseconds(c.Hold).ToTime()))
}

// OnTimer scores every window that is due, drops the buckets no window to
// come needs, saves what changed and sets the timer for the next window.
func (fn *scoreFn) OnTimer(ctx context.Context, _ beam.EventTime, sp state.Provider, tp timers.Provider, shard int, _ timers.Context, emit func(beam.EventTime, string, TrendList)) error {
	pr, _, err := fn.Progress.Read(sp)
	if err != nil {
		return err
	}
	sh, err := fn.load(ctx, sp, shard, pr.Token)
	if err != nil {
		return err
	}
	ends := pr.Clock.due(fn.SizeMs, fn.PeriodMs, sh.earliest(), func(end int64) bool {
		return sh.holds(end-fn.SizeMs, end)
	})
	for _, end := range ends {
		fn.scoreWindow(ctx, sh, end, emit)
	}
	if len(ends) > 0 {
		fn.forget(ctx, sh, pr.Clock.Through)
		if err := fn.Baselines.Write(sp, sh.baselines); err != nil {
			return err
		}
		if err := fn.compact(sp, sh, &pr); err != nil {
			return err
		}
		pr.Token = newToken()
	}
	stateCache.put(fn.CacheID, shard, pr.Token, sh)
	if pr.Clock.next(fn.SizeMs, fn.PeriodMs) {
		fn.setRelease(tp, pr.Clock)
	}
	return fn.Progress.Write(sp, pr)
}

// compact drops from the ring the buckets of windows all scored, and
// rewrites the Ring bag once it holds as many such buckets as live ones:
// a bag cannot drop single entries, and rewriting it every period would
// write each bucket size/period times.
func (fn *scoreFn) compact(sp state.Provider, sh *shardState, pr *ShardProgress) error {
	sh.evict(pr.Clock.Through + fn.PeriodMs - fn.SizeMs + 1)
	if pr.RingLen < 2*len(sh.ring) || pr.RingLen <= int(fn.SizeMs/fn.PeriodMs) {
		return nil
	}
	if err := fn.Ring.Clear(sp); err != nil {
		return err
	}
	for end, b := range sh.ring {
		if err := fn.Ring.Add(sp, ShardEvent{End: end, Bucket: b}); err != nil {
			return err
		}
	}
	pr.RingLen = len(sh.ring)
	return nil
}

// load returns the shard's ring and baselines: the worker's cached copy if
// it is current (its token is the one in state), else read from state. The
// cache gives up its copy, so a bundle that fails half-way through
// changing it leaves nothing stale behind.
func (fn *scoreFn) load(ctx context.Context, sp state.Provider, shard int, token uint64) (*shardState, error) {
	if sh := stateCache.take(fn.CacheID, shard, token); sh != nil {
		stateCacheHits.Inc(ctx, 1)
		return sh, nil
	}
	stateCacheMiss.Inc(ctx, 1)
	sh := &shardState{ring: map[int64]termwindow.Bucket{}}
	evs, _, err := fn.Ring.Read(sp)
	if err != nil {
		return nil, err
	}
	for _, ev := range evs {
		sh.add(ev)
	}
	if sh.baselines, _, err = fn.Baselines.Read(sp); err != nil {
		return nil, err
	}
	if sh.baselines.Terms == nil {
		sh.baselines.Terms = map[termwindow.Key]trendscore.State{}
	}
	return sh, nil
}

// scoreWindow merges the ring's buckets of the window ending at end,
// folds its terms into the baselines and emits the trending ones, one
// TrendList per ranking they belong to: the overall one and their
// language's.
func (fn *scoreFn) scoreWindow(ctx context.Context, sh *shardState, end int64, emit func(beam.EventTime, string, TrendList)) {
	start := end - fn.SizeMs
	var buckets []termwindow.Bucket
	for e, b := range sh.ring {
		if e > start && e <= end {
			buckets = append(buckets, b)
		}
	}
	period := time.Duration(fn.PeriodMs) * time.Millisecond
	lists := map[string]*TrendList{}
	for _, a := range termwindow.Merge(buckets, fn.Params.MinPosts()) {
		obs := trendscore.Observation{
			WindowStart: time.UnixMilli(start), WindowEnd: time.UnixMilli(end),
			Count: a.Posts, Authors: a.Authors, TopAuthorPosts: a.TopAuthorPosts,
		}
		if fn.Params.Negligible(obs) {
			continue // an empty window for the baseline, as for the reference
		}
		st := sh.baselines.Terms[a.Key]
		res := fn.Params.Update(&st, obs, period)
		sh.baselines.Terms[a.Key] = st
		windowsScored.Inc(ctx, 1)
		if res.Late {
			lateRescored.Inc(ctx, 1)
		}
		if !res.Eligible || !res.Trending {
			continue
		}
		sc := Scored{
			Key: a.Key, Count: a.Posts, Authors: a.Authors,
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
		emit(mtime.FromMilliseconds(end-1), lang, *l)
	}
}

// forget drops terms whose baselines have decayed to nothing: Update would
// start them afresh anyway (trendscore.Params.ForgetAfter), so this changes
// no score and keeps the state to the terms that are alive.
func (fn *scoreFn) forget(ctx context.Context, sh *shardState, through int64) {
	period := time.Duration(fn.PeriodMs) * time.Millisecond
	for k, st := range sh.baselines.Terms {
		if st.LastWindowEnd+fn.Params.ForgetAfter(st, period).Milliseconds() <= through {
			delete(sh.baselines.Terms, k)
			termsExpired.Inc(ctx, 1)
		}
	}
}

// newToken returns a random token; zero is the token of a shard with no
// state.
func newToken() uint64 {
	for {
		if t := rand.Uint64(); t != 0 {
			return t
		}
	}
}

// ScoreTerms windows and scores each shard's period buckets (KV<shard,
// ShardEvent>, as SumBuckets makes them) and returns the trending terms of
// every window as KV<ranking language, TrendList>, timestamped at the
// window's last instant.
func ScoreTerms(s beam.Scope, buckets beam.PCollection, p trendscore.Params, size, period time.Duration) beam.PCollection {
	s = s.Scope("ScoreTerms")
	global := beam.WindowInto(s, window.NewGlobalWindows(), buckets)
	return beam.ParDo(s, newScoreFn(p, size, period), global)
}
