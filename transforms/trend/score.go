package trend

import (
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

	"github.com/trendstream/trendstream/internal/core/termwindow"
	"github.com/trendstream/trendstream/internal/core/trendscore"
	"github.com/trendstream/trendstream/internal/core/windowclock"
)

func init() {
	// Types only held in keyed state never appear in the graph a worker
	// process sees; without registration a remote worker decodes them as
	// anonymous structs (LOOPBACK hides this).
	for _, t := range []reflect.Type{
		reflect.TypeOf((*Scored)(nil)).Elem(),
		reflect.TypeOf((*TrendList)(nil)).Elem(),
		reflect.TypeOf((*ShardProgress)(nil)).Elem(),
		reflect.TypeOf((*windowclock.Clock)(nil)).Elem(),
	} {
		beam.RegisterType(t)
	}
	register.DoFn6x1[context.Context, state.Provider, timers.Provider, int, ShardEvent, func(beam.EventTime, string, TrendList), error](&scoreFn{})
	register.Emitter3[beam.EventTime, string, TrendList]()
}

var (
	windowsScored = beam.NewCounter("trending", "term_windows_scored")
	// windowsCorrected counts windows re-emitted because late posts
	// changed them; lateDropped counts buckets that came after their
	// windows had settled (beyond the allowed lateness).
	windowsCorrected = beam.NewCounter("trending", "windows_corrected")
	// correctionsReplayed counts corrections that replayed the windows
	// from the settled point (the worker's undo log did not reach back:
	// the shard was read from state since), correctionsUndone those that
	// took the baselines back with it.
	correctionsReplayed = beam.NewCounter("trending", "corrections_replayed")
	correctionsUndone   = beam.NewCounter("trending", "corrections_undone")
	lateDropped         = beam.NewCounter("trending", "late_buckets_dropped")
	lateRescored        = beam.NewCounter("trending", "late_windows_rescored")
	termsExpired        = beam.NewCounter("trending", "term_states_expired")
	lateBuckets         = beam.NewCounter("trending", "late_buckets")
	stateCacheHits      = beam.NewCounter("trending", "state_cache_hits")
	stateCacheMiss      = beam.NewCounter("trending", "state_cache_misses")
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
// A shard that corrects a window after late posts emits its lists again
// with a higher Rev, an empty one for every ranking the late posts may
// have changed, so Rank can replace what the shard said before.
type TrendList struct {
	Shard int
	Rev   uint64
	Terms []Scored
}

// ShardProgress is a shard's scoring progress, kept in state.
type ShardProgress struct {
	// Clock says which windows were scored and mirrors the release timer.
	Clock windowclock.Clock
	// RingLen counts the entries in the Ring bag, evicted ones included,
	// so it is compacted before it grows past twice what windows need.
	RingLen int
	// Token changes whenever the ring or the baselines change, so a
	// worker's cached copy of them is known to be current (stateCache).
	Token uint64
	// Settled is the end of the last window folded into the settled
	// baselines (SettledStarted: any): windows up to it are beyond the
	// allowed lateness and never change again. Late buckets are replayed
	// from there.
	Settled        int64
	SettledStarted bool
	// Rev is the revision of the shard's latest emissions (TrendList.Rev).
	Rev uint64
	// CorrectFrom is the end of the earliest period a late bucket came for
	// since the last correction (0: none pending); the release timer tagged
	// correctTag corrects the windows from it on (scoreFn.deferCorrection).
	CorrectFrom int64
	// CorrectLangs are the rankings those late buckets can change, sorted:
	// their keys' languages (termwindow.Bucket.Langs) and the overall
	// ranking. Only these are emitted again.
	CorrectLangs []string
}

// ShardEvent is the bucket of one shard's terms for the period that ends at
// End (Unix ms), with what the period's deletes retracted from earlier
// periods.
type ShardEvent struct {
	End    int64
	Bucket termwindow.Bucket
	// Retracted are the counts (−1s) that deletes in this period took out
	// of earlier periods' posts, one bucket per earlier period, by End. A
	// retraction counts only in the windows that hold both periods, the
	// windows still open when the delete came (docs/pipeline.md,
	// "Deletes"), so it travels with its delete's period rather than as a
	// late bucket of its post's: the windows it changes are all to come,
	// and it costs no correction.
	Retracted []Retraction
}

// Retraction is what deletes took out of the period ending at End.
type Retraction struct {
	End    int64
	Bucket termwindow.Bucket
}

// merge returns ev and o, two partial events of the same period, summed
// into a new event: its inputs are pipeline elements, which must not
// change.
func (ev ShardEvent) merge(o ShardEvent) ShardEvent {
	return ShardEvent{
		End: max(ev.End, o.End), Bucket: termwindow.MergeBuckets(ev.Bucket, o.Bucket),
		Retracted: mergeByEnd(ev.Retracted, o.Retracted, func(r Retraction) int64 { return r.End },
			func(a, b Retraction) Retraction {
				return Retraction{End: a.End, Bucket: termwindow.MergeBuckets(a.Bucket, b.Bucket)}
			}),
	}
}

// mergeByEnd merges a and b, each sorted by end and with one entry per
// end, into a new slice sorted the same way, summing with sum the entries
// of an end in both (nil if both are empty).
func mergeByEnd[T any](a, b []T, end func(T) int64, sum func(a, b T) T) []T {
	if len(a)+len(b) == 0 {
		return nil
	}
	out := make([]T, 0, len(a)+len(b))
	for len(a) > 0 || len(b) > 0 {
		switch {
		case len(b) == 0 || len(a) > 0 && end(a[0]) < end(b[0]):
			out, a = append(out, a[0]), a[1:]
		case len(a) == 0 || end(b[0]) < end(a[0]):
			out, b = append(out, b[0]), b[1:]
		default:
			out = append(out, sum(a[0], b[0]))
			a, b = a[1:], b[1:]
		}
	}
	return out
}

// langs returns the rankings ev can change: its buckets' languages
// (termwindow.Bucket.Langs), sorted.
func (ev ShardEvent) langs() []string {
	langs := ev.Bucket.Langs()
	for _, r := range ev.Retracted {
		langs = unionSorted(langs, r.Bucket.Langs())
	}
	return langs
}

// scoreFn assembles each shard's sliding windows from its period buckets
// and scores every window's terms against their own history, in window
// order.
//
// Buckets go into Ring, a bag of the buckets the windows still to come
// need, as they arrive. An event-time timer releases each window once the
// watermark has passed its end (internal/core/windowclock): it merges the ring's buckets
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
	Params trendscore.Params
	// timing: the windows, the allowed lateness (how long after the
	// watermark passed a period its late buckets still correct the
	// windows) and the live lag.
	timing
	// CacheID tells this pipeline's cache entries from another's in the
	// same worker process.
	CacheID string

	Ring      state.Bag[ShardEvent]
	Baselines state.Value[Baselines]
	// SettledBaselines are the baselines as of ShardProgress.Settled (only
	// kept with an allowed lateness).
	SettledBaselines state.Value[Baselines]
	Progress         state.Value[ShardProgress]
	// Release releases windows; with the tag correctTag it corrects them
	// after late buckets (deferCorrection). One family with two tags, not
	// two families: with a second family ("correct") the tests on Prism
	// (Beam 2.77) hung from the start, no timer of the stage firing.
	Release timers.EventTime
}

// correctTag tags the release timer that runs a deferred correction.
const correctTag = "correct"

func newScoreFn(p trendscore.Params, t timing) *scoreFn {
	return &scoreFn{
		Params:           p.ForWindow(time.Duration(t.SizeMs) * time.Millisecond),
		timing:           t,
		CacheID:          strconv.FormatUint(rand.Uint64(), 16),
		Ring:             state.MakeBagState[ShardEvent]("ring"),
		Baselines:        state.MakeValueState[Baselines]("baselines"),
		SettledBaselines: state.MakeValueState[Baselines]("settled"),
		Progress:         state.MakeValueState[ShardProgress]("progress"),
		Release:          timers.InEventTime("release"),
	}
}

// ProcessElement adds a period's bucket to the ring and, if the clock says
// so, moves the release timer.
func (fn *scoreFn) ProcessElement(ctx context.Context, sp state.Provider, tp timers.Provider, shard int, ev ShardEvent, emit func(beam.EventTime, string, TrendList)) error {
	pr, _, err := fn.Progress.Read(sp)
	if err != nil {
		return err
	}
	late := pr.Clock.Started && ev.End <= pr.Clock.Through
	if late {
		// Some windows it belongs to were emitted without it.
		lateBuckets.Inc(ctx, 1)
		if fn.settledPast(pr, ev.End) {
			lateDropped.Inc(ctx, 1)
			return nil
		}
	}
	set := pr.Clock.Arrive(ev.End, fn.SizeMs, fn.PeriodMs, fn.live(ev.End))
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
	if late && fn.LatenessMs > 0 {
		fn.deferCorrection(tp, &pr, ev.End, ev.langs())
	}
	return fn.Progress.Write(sp, pr)
}

// deferCorrection schedules the correction of the windows from the period
// ending at from on. It does not correct at once: late posts and late
// deletes come in many bundles (every scorer shard gets a late pane's
// volume key), and correcting once per late bucket re-scored up to a
// lateness of windows, eight shards over, for each; when deletes still
// retracted from closed windows, that cost a quarter of the pipeline's
// throughput (BENCHMARKS.md, "Retraction without memos"). The timer
// (the release family, tag correctTag) fires once the watermark passes the
// end of the window after the last one released, unless the next release
// runs the correction first; every late bucket that came before costs that
// one correction, from the earliest of their periods, of the rankings of
// their languages.
func (fn *scoreFn) deferCorrection(tp timers.Provider, pr *ShardProgress, from int64, langs []string) {
	pr.CorrectLangs = unionSorted(pr.CorrectLangs, langs)
	if pr.CorrectFrom != 0 && pr.CorrectFrom <= from {
		return // already pending from an earlier period
	}
	pr.CorrectFrom = from
	due := pr.Clock.Through + fn.PeriodMs
	if pr.Clock.Timer && pr.Clock.Fire <= due {
		// The release fires by then and corrects first: a second firing
		// would write the shard's baselines twice.
		return
	}
	t := mtime.FromMilliseconds(due).ToTime()
	fn.Release.Set(tp, t, timers.WithTag(correctTag), timers.WithOutputTimestamp(t))
}

// correctPending runs the pending correction, if any, and says whether it
// ran: the caller then writes the shard's baselines.
func (fn *scoreFn) correctPending(ctx context.Context, shard int, pr *ShardProgress, sh *shardState, emit func(beam.EventTime, string, TrendList)) bool {
	if pr.CorrectFrom == 0 {
		return false
	}
	from, langs := pr.CorrectFrom, pr.CorrectLangs
	pr.CorrectFrom, pr.CorrectLangs = 0, nil
	fn.correct(ctx, shard, from, langs, pr, sh, emit)
	return true
}

// unionSorted returns the sorted union of the sorted sets a and b.
func unionSorted(a, b []string) []string {
	for _, s := range b {
		if i, found := slices.BinarySearch(a, s); !found {
			a = slices.Insert(a, i, s)
		}
	}
	return a
}

// settledPast reports whether every window containing the period that
// ends at end has settled: a bucket for it is beyond the allowed lateness.
func (fn *scoreFn) settledPast(pr ShardProgress, end int64) bool {
	if fn.LatenessMs <= 0 {
		return end+fn.SizeMs-fn.PeriodMs <= pr.Clock.Through
	}
	return pr.SettledStarted && end+fn.SizeMs-fn.PeriodMs <= pr.Settled
}

// correct re-scores, after late buckets for the periods from the one
// ending at from, the released windows from there on, and emits them again
// under a new revision: the lists of the rankings langs (and the overall
// one), each whole, an empty one for a ranking with no trending term left,
// so Rank replaces what the shard emitted for them before. The windows
// before from are unchanged, and so are the other rankings: their terms'
// counts, and the volumes their thresholds scale with, are the same, and
// so are their baselines.
//
// The baselines are taken back to before the first window corrected by the
// worker's undo log, or, when the log does not reach back that far (the
// shard was read from state since), by replaying every window from the
// settled baselines on. Either way every window gets the baselines it
// would have had if the late posts had been on time: the results equal
// the reference over all posts.
//
// Emitting every ranking with posts in the window, as this did first,
// sent Rank fifteen lists per window and shard where one or two changed.
func (fn *scoreFn) correct(ctx context.Context, shard int, from int64, langs []string, pr *ShardProgress, sh *shardState, emit func(beam.EventTime, string, TrendList)) {
	ends := fn.replayEnds(sh, *pr, pr.Clock.Through)
	first := from
	if pr.SettledStarted {
		first = max(from, pr.Settled+fn.PeriodMs) // the settled windows stay
	}
	if sh.undo.covers(first) {
		sh.undo.rollback(&sh.baselines, first)
		if i := slices.IndexFunc(ends, func(e int64) bool { return e >= first }); i >= 0 {
			ends = ends[i:]
		} else {
			ends = nil
		}
		correctionsUndone.Inc(ctx, 1)
	} else {
		correctionsReplayed.Inc(ctx, 1)
		sh.baselines = sh.settled.clone()
		if len(ends) > 0 {
			sh.undo.start(ends[0] - 1)
		}
	}
	pr.Rev++
	rev := pr.Rev
	rankings := unionSorted([]string{AllLanguages}, langs)
	for _, end := range ends {
		lists := fn.scoreWindow(ctx, sh, &sh.baselines, end, &sh.undo)
		if end < from {
			continue
		}
		windowsCorrected.Inc(ctx, 1)
		for _, lang := range rankings {
			l := TrendList{Shard: shard, Rev: rev}
			if got := lists[lang]; got != nil {
				l.Terms = got.Terms
			}
			emit(mtime.FromMilliseconds(end-1), lang, l)
		}
	}
}

// replayEnds returns the ends of the windows after the settled point up to
// through that hold a bucket: the windows the clock released (or will), in
// order.
func (fn *scoreFn) replayEnds(sh *shardState, pr ShardProgress, through int64) []int64 {
	e := sh.earliest()
	if pr.SettledStarted {
		e = pr.Settled + fn.PeriodMs
	}
	var ends []int64
	for ; e <= through && len(sh.ring) > 0; e += fn.PeriodMs {
		if sh.holds(e-fn.SizeMs, e) {
			ends = append(ends, e)
		}
	}
	return ends
}

// settle folds the windows that have left the allowed lateness into the
// settled baselines. It runs once the settled point trails the last
// released window by half the lateness more than it must, so each window
// is replayed once more, in batches, rather than once per release.
func (fn *scoreFn) settle(ctx context.Context, sh *shardState, pr *ShardProgress) bool {
	if fn.LatenessMs <= 0 {
		pr.Settled, pr.SettledStarted = pr.Clock.Through, pr.Clock.Started
		return false
	}
	horizon := (fn.LatenessMs/fn.PeriodMs + 1) * fn.PeriodMs
	to := pr.Clock.Through - horizon
	if pr.SettledStarted && to-pr.Settled < max(horizon/2, fn.PeriodMs) {
		return false
	}
	ends := fn.replayEnds(sh, *pr, to)
	if len(ends) == 0 {
		return false
	}
	for _, end := range ends {
		fn.scoreWindow(ctx, sh, &sh.settled, end, nil)
	}
	pr.Settled, pr.SettledStarted = ends[len(ends)-1], true
	fn.forget(ctx, &sh.settled, pr.Settled)
	sh.undo.trim(pr.Settled)
	return true
}

// setRelease sets the release timer as the clock says.
func (fn *scoreFn) setRelease(tp timers.Provider, c windowclock.Clock) {
	fn.Release.Set(tp, mtime.FromMilliseconds(c.Fire).ToTime(),
		timers.WithOutputTimestamp(mtime.FromMilliseconds(c.Hold).ToTime()))
}

// OnTimer scores every window that is due, drops the buckets no window to
// come needs, saves what changed and sets the timer for the next window.
//
// The correct timer, and the release timer before it releases anything,
// run the pending correction: a window is never settled, nor released
// after, before the late buckets that came for it were applied.
func (fn *scoreFn) OnTimer(ctx context.Context, _ beam.EventTime, sp state.Provider, tp timers.Provider, shard int, tc timers.Context, emit func(beam.EventTime, string, TrendList)) error {
	pr, _, err := fn.Progress.Read(sp)
	if err != nil {
		return err
	}
	if tc.Tag == correctTag && pr.CorrectFrom == 0 {
		return nil // a release ran the correction already
	}
	sh, err := fn.load(ctx, sp, shard, pr)
	if err != nil {
		return err
	}
	// A correction changes sh's baselines in place; they are written once,
	// with the release's: they are the largest state a shard has (its
	// whole vocabulary).
	corrected := fn.correctPending(ctx, shard, &pr, sh, emit)
	if tc.Tag == correctTag {
		if err := fn.Baselines.Write(sp, sh.baselines); err != nil {
			return err
		}
		pr.Token = newToken()
		stateCache.put(fn.CacheID, shard, pr.Token, sh)
		return fn.Progress.Write(sp, pr)
	}
	has := func(end int64) bool { return sh.holds(end-fn.SizeMs, end) }
	ends := pr.Clock.Due(fn.PeriodMs, sh.earliest(), has)
	for _, end := range ends {
		for lang, l := range fn.scoreWindow(ctx, sh, &sh.baselines, end, fn.undoLog(sh)) {
			l.Shard, l.Rev = shard, pr.Rev
			emit(mtime.FromMilliseconds(end-1), lang, *l)
		}
	}
	if len(ends) > 0 {
		fn.forget(ctx, &sh.baselines, pr.Clock.Through)
	}
	if len(ends) > 0 || corrected {
		if err := fn.Baselines.Write(sp, sh.baselines); err != nil {
			return err
		}
		pr.Token = newToken()
	}
	if len(ends) > 0 {
		if fn.settle(ctx, sh, &pr) {
			if err := fn.SettledBaselines.Write(sp, sh.settled); err != nil {
				return err
			}
		}
		if err := fn.compact(sp, sh, &pr); err != nil {
			return err
		}
	}
	stateCache.put(fn.CacheID, shard, pr.Token, sh)
	if pr.Clock.Next(fn.SizeMs, fn.PeriodMs, fn.live(pr.Clock.Through), has) {
		fn.setRelease(tp, pr.Clock)
	}
	return fn.Progress.Write(sp, pr)
}

// compact drops from the ring the buckets of windows all scored, and
// rewrites the Ring bag once it holds as many such buckets as live ones:
// a bag cannot drop single entries, and rewriting it every period would
// write each bucket size/period times.
func (fn *scoreFn) compact(sp state.Provider, sh *shardState, pr *ShardProgress) error {
	if !pr.SettledStarted {
		return nil // every bucket may still be replayed
	}
	sh.evict(pr.Settled + fn.PeriodMs - fn.SizeMs + 1)
	if pr.RingLen < 2*len(sh.ring) || pr.RingLen <= int((fn.SizeMs+fn.LatenessMs)/fn.PeriodMs) {
		return nil
	}
	if err := fn.Ring.Clear(sp); err != nil {
		return err
	}
	for _, ev := range sh.ring {
		if err := fn.Ring.Add(sp, ev); err != nil {
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
func (fn *scoreFn) load(ctx context.Context, sp state.Provider, shard int, pr ShardProgress) (*shardState, error) {
	if sh := stateCache.take(fn.CacheID, shard, pr.Token); sh != nil {
		stateCacheHits.Inc(ctx, 1)
		return sh, nil
	}
	stateCacheMiss.Inc(ctx, 1)
	sh := &shardState{ring: map[int64]ShardEvent{}}
	// What the released windows changed is not in state: the undo log
	// starts with the windows to come.
	sh.undo.start(pr.Clock.Through)
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
	if fn.LatenessMs > 0 {
		if sh.settled, _, err = fn.SettledBaselines.Read(sp); err != nil {
			return nil, err
		}
	}
	if sh.settled.Terms == nil {
		sh.settled.Terms = map[termwindow.Key]trendscore.State{}
	}
	return sh, nil
}

// scoreWindow merges the ring's buckets of the window ending at end,
// folds its terms into the baselines bl and returns the trending ones, one
// TrendList per ranking they belong to: the overall one and their
// language's. It records in undo (if not nil) the baselines it changes.
func (fn *scoreFn) scoreWindow(ctx context.Context, sh *shardState, bl *Baselines, end int64, undo *undoLog) map[string]*TrendList {
	start := end - fn.SizeMs
	var buckets, retracted []termwindow.Bucket
	// The newest period's bucket goes first, for the newest-period score
	// (termwindow.MergeNewest). Deletes within their post's period are in
	// it already; Retracted holds only earlier periods'.
	newest := 0
	if ev, ok := sh.ring[end]; ok {
		buckets, newest = append(buckets, ev.Bucket), 1
	}
	in := func(e int64) bool { return e > start && e <= end }
	for e, ev := range sh.ring {
		if !in(e) {
			continue
		}
		if e != end {
			buckets = append(buckets, ev.Bucket)
		}
		// A retraction counts in the windows that hold both its delete's
		// period and its post's (ShardEvent.Retracted).
		if r, ok := sh.retractedFrom(e, start); ok {
			retracted = append(retracted, r)
		}
	}
	// The window's retractions go in as one bucket: Merge's cost grows
	// with the buckets it merges, whatever their size.
	if len(retracted) > 0 {
		buckets = append(buckets, termwindow.SumBuckets(retracted))
	}
	period := time.Duration(fn.PeriodMs) * time.Millisecond
	lists := map[string]*TrendList{}
	var volume map[string]termwindow.Activity // language → its posts in the window
	for _, a := range termwindow.MergeNewest(buckets, newest, fn.Params.MinPosts) {
		if a.Key.IsVolume() { // they come first
			if volume == nil {
				volume = map[string]termwindow.Activity{}
			}
			volume[a.Key.Term] = a
			continue
		}
		v := volume[a.Key.Lang]
		obs := trendscore.Observation{
			WindowStart: time.UnixMilli(start), WindowEnd: time.UnixMilli(end),
			Count: a.Posts, Authors: a.Authors, TopAuthorPosts: a.TopAuthorPosts,
			Volume:      v.Posts,
			NewestCount: a.NewestPosts, NewestAuthors: a.NewestAuthors, NewestVolume: v.NewestPosts,
		}
		if fn.Params.Negligible(obs) {
			continue // an empty window for the baseline, as for the reference
		}
		st, had := bl.Terms[a.Key]
		undo.record(end, a.Key, st, had)
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
	return lists
}

// undoLog returns the shard's undo log, or nil without an allowed
// lateness: no window is ever corrected then.
func (fn *scoreFn) undoLog(sh *shardState) *undoLog {
	if fn.LatenessMs <= 0 {
		return nil
	}
	return &sh.undo
}

// forget drops terms whose baselines have decayed to nothing: Update would
// start them afresh anyway (trendscore.Params.ForgetAfter), so this changes
// no score and keeps the state to the terms that are alive.
func (fn *scoreFn) forget(ctx context.Context, bl *Baselines, through int64) {
	period := time.Duration(fn.PeriodMs) * time.Millisecond
	for k, st := range bl.Terms {
		if st.LastWindowEnd+fn.Params.ForgetAfter(st, period).Milliseconds() <= through {
			delete(bl.Terms, k)
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

// scoreTerms windows and scores each shard's period buckets (KV<shard,
// ShardEvent>, as SumBuckets makes them) and returns the trending terms of
// every window as KV<ranking language, TrendList>, timestamped at the
// window's last instant.
func scoreTerms(s beam.Scope, buckets beam.PCollection, p trendscore.Params, t timing) beam.PCollection {
	s = s.Scope("ScoreTerms")
	global := beam.WindowInto(s, window.NewGlobalWindows(), buckets)
	return beam.ParDo(s, newScoreFn(p, t), global)
}
