package trend

import (
	"cmp"
	"context"
	"math/rand/v2"
	"reflect"
	"slices"
	"strconv"
	"time"

	"github.com/apache/beam/sdks/v2/go/pkg/beam"
	"github.com/apache/beam/sdks/v2/go/pkg/beam/core/graph/mtime"
	"github.com/apache/beam/sdks/v2/go/pkg/beam/core/graph/window"
	"github.com/apache/beam/sdks/v2/go/pkg/beam/core/state"
	"github.com/apache/beam/sdks/v2/go/pkg/beam/core/timers"
	"github.com/apache/beam/sdks/v2/go/pkg/beam/register"
	"github.com/apache/beam/sdks/v2/go/pkg/beam/transforms/stats"

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
	} {
		beam.RegisterType(t)
	}
	register.DoFn6x1[context.Context, state.Provider, timers.Provider, int, ShardEvent, func(beam.EventTime, string, TrendList), error](&scoreFn{})
	register.Emitter3[beam.EventTime, string, TrendList]()
	register.DoFn2x1[int, ShardEvent, int](&bucketEndFn{})
	register.DoFn4x0[beam.Window, int, int, func(int, ShardEvent)](&closingFn{})
	register.Emitter2[int, ShardEvent]()
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
	// Started says a window has been scored; Through is the end of the
	// last one (Unix ms).
	Started bool
	Through int64
	// Timer mirrors the release timer, which cannot be read back: whether
	// it is set, when it fires and where it holds the output watermark
	// (Unix ms).
	Timer      bool
	Fire, Hold int64
	// Token changes whenever the ring or the baselines change, so a
	// worker's cached copy of them is known to be current (stateCache).
	Token uint64
}

// ShardEvent is what a shard's scorer receives: the bucket of the period
// that ends at End, or, with Close, the news that the window ending at End
// has closed.
type ShardEvent struct {
	End    int64
	Close  bool
	Bucket termwindow.Bucket
}

// scoreFn assembles each shard's sliding windows from its period buckets
// and scores every window's terms against their own history, in window
// order.
//
// Buckets and window closings wait in Pending until the watermark has
// passed the windows' ends; an event-time timer then moves the buckets
// into Ring (the buckets of the last window size, by end) and scores each
// closed window: the merge of the ring's buckets that fall in it. Closings
// come from a sliding-window count of the buckets upstream, so a window is
// scored when, and only when, Beam's sliding windows would have closed it.
//
// The timer fires at the latest pending closing, so a replay's backlog is
// scored in one firing, and holds the output watermark at the earliest, so
// nothing it emits is late downstream. (A timer set for every next window
// instead would interleave with the backlog, because a runner delivers a
// key's data and timers in timestamp order: one firing per window.)
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

	Pending   state.Bag[ShardEvent]
	Ring      state.Map[int64, termwindow.Bucket]
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
		Pending:   state.MakeBagState[ShardEvent]("pending"),
		Ring:      state.MakeMapState[int64, termwindow.Bucket]("ring"),
		Baselines: state.MakeValueState[Baselines]("baselines"),
		Progress:  state.MakeValueState[ShardProgress]("progress"),
		Release:   timers.InEventTime("release"),
	}
}

func (fn *scoreFn) ProcessElement(ctx context.Context, sp state.Provider, tp timers.Provider, shard int, ev ShardEvent, _ func(beam.EventTime, string, TrendList)) error {
	if err := fn.Pending.Add(sp, ev); err != nil {
		return err
	}
	if !ev.Close {
		return nil // its windows' closings set the timer
	}
	pr, _, err := fn.Progress.Read(sp)
	if err != nil {
		return err
	}
	// The closing's timestamp is the window's last instant, End-1, and the
	// timer fires at End: once the watermark is past End-1, every bucket
	// of the window has arrived.
	if pr.Timer && pr.Hold <= ev.End-1 && ev.End <= pr.Fire {
		return nil
	}
	next := ShardProgress{Fire: ev.End, Hold: ev.End - 1}
	if pr.Timer {
		next = ShardProgress{Fire: max(pr.Fire, ev.End), Hold: min(pr.Hold, ev.End-1)}
		if next.Fire == pr.Fire {
			// Prism (v2.77) miscounts watermark holds when a timer is
			// set again to the same firing time with another hold, and
			// fails the job ("negative watermark hold count"). Firing
			// 1 ms later is as good: every window that ends by then has
			// closed when it fires.
			next.Fire++
		}
	}
	pr.Timer, pr.Fire, pr.Hold = true, next.Fire, next.Hold
	return fn.setRelease(sp, tp, pr)
}

// setRelease sets the release timer as pr says and saves pr.
func (fn *scoreFn) setRelease(sp state.Provider, tp timers.Provider, pr ShardProgress) error {
	fn.Release.Set(tp, mtime.FromMilliseconds(pr.Fire).ToTime(),
		timers.WithOutputTimestamp(mtime.FromMilliseconds(pr.Hold).ToTime()))
	return fn.Progress.Write(sp, pr)
}

func (fn *scoreFn) OnTimer(ctx context.Context, ts beam.EventTime, sp state.Provider, tp timers.Provider, shard int, _ timers.Context, emit func(beam.EventTime, string, TrendList)) error {
	pr, _, err := fn.Progress.Read(sp)
	if err != nil {
		return err
	}
	// ts is the timer's output timestamp (its hold), not when it fired;
	// the mirror knows the firing time. The watermark is past now-1, so
	// every window ending by now has closed.
	now := max(int64(ts)+1, pr.Fire)
	pending, _, err := fn.Pending.Read(sp)
	if err != nil {
		return err
	}
	// A period's bucket goes into the ring before the window it ends is
	// scored.
	slices.SortStableFunc(pending, func(a, b ShardEvent) int {
		if a.End != b.End {
			return cmp.Compare(a.End, b.End)
		}
		if a.Close == b.Close {
			return 0
		}
		if a.Close {
			return 1
		}
		return -1
	})
	sh, err := fn.load(ctx, sp, shard, pr.Token)
	if err != nil {
		return err
	}
	oldRing := make(map[int64]bool, len(sh.ring))
	for end := range sh.ring {
		oldRing[end] = true
	}
	dirty := map[int64]bool{} // ring buckets added or changed
	var rest []ShardEvent
	scored := false
	for _, ev := range pending {
		switch {
		case ev.End > now:
			rest = append(rest, ev)
		case !ev.Close:
			if pr.Started && ev.End <= pr.Through {
				// Its windows were scored without it; the runner drops
				// late data before this stage, so this does not happen.
				lateBuckets.Inc(ctx, 1)
			}
			if prev, ok := sh.ring[ev.End]; ok {
				ev.Bucket = termwindow.MergeBuckets(prev, ev.Bucket)
			}
			sh.ring[ev.End] = ev.Bucket
			dirty[ev.End] = true
		case pr.Started && ev.End <= pr.Through:
			// A window closed again (a re-fired pane upstream): its
			// scores stand.
		default:
			for end := range sh.ring {
				if end <= ev.End-fn.SizeMs {
					delete(sh.ring, end)
				}
			}
			fn.scoreWindow(ctx, sh, ev.End, emit)
			pr.Started, pr.Through, scored = true, ev.End, true
		}
	}

	if scored {
		fn.forget(ctx, sh, pr.Through)
		if err := fn.Baselines.Write(sp, sh.baselines); err != nil {
			return err
		}
	}
	if len(dirty) > 0 || scored {
		for end, b := range sh.ring {
			if dirty[end] {
				if err := fn.Ring.Put(sp, end, b); err != nil {
					return err
				}
			}
		}
		for end := range oldRing {
			if _, ok := sh.ring[end]; !ok {
				if err := fn.Ring.Remove(sp, end); err != nil {
					return err
				}
			}
		}
		pr.Token = newToken()
	}
	stateCache.put(fn.CacheID, shard, pr.Token, sh)
	if err := fn.Pending.Clear(sp); err != nil {
		return err
	}
	pr.Timer = false
	for _, ev := range rest {
		if err := fn.Pending.Add(sp, ev); err != nil {
			return err
		}
		if ev.Close {
			if !pr.Timer {
				pr.Timer, pr.Hold = true, ev.End-1
			}
			pr.Fire = ev.End // rest is sorted: the last closing
		}
	}
	if !pr.Timer {
		return fn.Progress.Write(sp, pr)
	}
	return fn.setRelease(sp, tp, pr)
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
	ends, _, err := fn.Ring.Keys(sp)
	if err != nil {
		return nil, err
	}
	for _, end := range ends {
		b, ok, err := fn.Ring.Get(sp, end)
		if err != nil {
			return nil, err
		}
		if ok {
			sh.ring[end] = b
		}
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
// ShardEvent>, buckets as SumBuckets makes them) and returns the trending terms of
// every window as KV<ranking language, TrendList>, timestamped at the
// window's last instant.
func ScoreTerms(s beam.Scope, buckets beam.PCollection, p trendscore.Params, size, period time.Duration) beam.PCollection {
	s = s.Scope("ScoreTerms")
	// One closing per shard and sliding window that holds a bucket: a
	// count over the buckets' ends, which are small, in Beam's windows.
	ends := beam.ParDo(s, &bucketEndFn{}, buckets)
	sliding := beam.WindowInto(s, window.NewSlidingWindows(period, size), ends)
	closings := beam.ParDo(s, &closingFn{}, stats.Count(s, sliding))
	global := window.NewGlobalWindows()
	all := beam.Flatten(s, beam.WindowInto(s, global, buckets), beam.WindowInto(s, global, closings))
	return beam.ParDo(s, newScoreFn(p, size, period), all)
}

// bucketEndFn keeps a bucket's shard; its timestamp says its period.
type bucketEndFn struct{}

func (bucketEndFn) ProcessElement(shard int, _ ShardEvent) int { return shard }

// closingFn turns a shard's count in a sliding window into the window's
// closing.
type closingFn struct{}

func (closingFn) ProcessElement(w beam.Window, shard int, _ int, emit func(int, ShardEvent)) {
	emit(shard, ShardEvent{End: int64(w.(window.IntervalWindow).End), Close: true})
}
