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

	"github.com/trendstream/trendstream/internal/core/termwindow"
	tsv1 "github.com/trendstream/trendstream/proto/trendstream/v1"
)

func init() {
	beam.RegisterType(reflect.TypeOf((*PostMemo)(nil)).Elem())
	beam.RegisterType(reflect.TypeOf((*MemoBatch)(nil)).Elem())
	beam.RegisterType(reflect.TypeOf((*RetractProgress)(nil)).Elem())
	register.DoFn7x1[context.Context, state.Provider, timers.Provider, int, MemoBatch, func(beam.EventTime, int, termwindow.Bucket), func(beam.EventTime, string, int64), error](&retractFn{})
	register.Emitter3[beam.EventTime, int, MemoBatch]()
	// Memo batches cross a shuffle and sit in Bag state: a binary coder,
	// opaque to a Java runner (coder.go).
	beam.RegisterCoder(reflect.TypeOf(MemoBatch{}), encodeMemoBatch, decodeMemoBatch)
	register.Function1x2(encodeMemoBatch)
	register.Function1x2(decodeMemoBatch)
}

var (
	deletesRetracted = beam.NewCounter("trending", "deletes_retracted")
	// deletesIgnored counts deletes that change nothing: of a post not
	// remembered (never counted, or past the retraction horizon), by
	// another author, or deleted before.
	deletesIgnored = beam.NewCounter("trending", "deletes_ignored")
	memoCacheHits  = beam.NewCounter("trending", "memo_cache_hits")
	memoCacheMiss  = beam.NewCounter("trending", "memo_cache_misses")
)

// PostMemo is what the retraction stage keeps of a counted post: what the
// post added to its period's bucket, so that a delete, which carries no
// text, can take it out again. With Delete it is a delete of URI by Author
// at event time At; kept in state, it marks URI as retracted (End is then
// the retracted post's period end).
type PostMemo struct {
	Author string // the author's DID
	URI    string
	At     int64 // event time, Unix ms
	End    int64 // the post's period end, Unix ms
	Delete bool
	Lang   string // the post's ranking language
	Terms  []string
	Kinds  []int32
}

// RetractProgress is a retraction shard's bookkeeping, kept in state.
type RetractProgress struct {
	// Token changes whenever the memos change, so a worker's cached copy
	// of them is known to be current (memoCache).
	Token uint64
	// Expiry is the expiry timer's time (0: not set).
	Expiry int64
	// Through is the time of the last expiry: memos whose horizon is at
	// or before it are forgotten, though the Bag may still hold them.
	Through int64
	// Stored counts the memos in the Bag, forgotten ones included, so it
	// is rewritten once they are as many as the live ones.
	Stored int
}

// retractFn remembers the counted posts of its shard until their buckets
// no longer take corrections, and turns a delete of one of them (same
// URI, same author) into its retraction: the post's contribution with
// count −1, as a partial term bucket per scorer shard and partial post
// counts, timestamped in the post's period, which go through SumBuckets
// and CountPosts as late posts do (docs/pipeline.md, "Deletes").
//
// Its input is one batch of memos per bundle of bucketFn and retraction
// shard, so a runner moves and stores a few large elements per bundle, not
// one per post (docs/pipeline-performance.md). State is one Bag of memo
// batches (one append per batch) and one Value (RetractProgress) per
// shard, and one event-time timer with an output timestamp: what Flink's
// portable runner supports. A worker keeps each shard's memos between
// batches (memoCache), so a delete reads the Bag only when another worker
// had the shard.
type retractFn struct {
	PeriodMs   int64
	LatenessMs int64
	Shards     int
	// CacheID tells this pipeline's cache entries from another's in the
	// same worker process.
	CacheID string

	Memos    state.Bag[MemoBatch]
	Progress state.Value[RetractProgress]
	Expire   timers.EventTime
}

func newRetractFn(period, lateness time.Duration, shards int) *retractFn {
	return &retractFn{
		PeriodMs: period.Milliseconds(), LatenessMs: lateness.Milliseconds(), Shards: shards,
		CacheID:  strconv.FormatUint(rand.Uint64(), 16),
		Memos:    state.MakeBagState[MemoBatch]("memo-batches"),
		Progress: state.MakeValueState[RetractProgress]("retract-progress"),
		Expire:   timers.InEventTime("expire"),
	}
}

// ProcessElement applies a batch's memos in order (memoState.apply),
// emits the retractions, and appends what the shard must remember to the
// Bag in one call.
func (fn *retractFn) ProcessElement(ctx context.Context, sp state.Provider, tp timers.Provider, shard int, b MemoBatch,
	emitTerms func(beam.EventTime, int, termwindow.Bucket), emitPosts func(beam.EventTime, string, int64)) error {
	pr, _, err := fn.Progress.Read(sp)
	if err != nil {
		return err
	}
	st, err := fn.load(ctx, sp, shard, pr)
	if err != nil {
		return err
	}
	r := st.apply(b.Memos)
	if r.Ignored > 0 {
		deletesIgnored.Inc(ctx, int64(r.Ignored))
	}
	if len(r.Retract) > 0 {
		deletesRetracted.Inc(ctx, int64(len(r.Retract)))
	}
	for _, p := range r.Retract {
		fn.retract(p, emitTerms, emitPosts)
	}
	if len(r.Store) == 0 {
		// Nothing changed: the cached copy is still the state's.
		memoCache.put(fn.CacheID, shard, pr.Token, st)
		return nil
	}
	if err := fn.Memos.Add(sp, MemoBatch{Memos: r.Store}); err != nil {
		return err
	}
	pr.Stored += len(r.Store)
	// The timer always fires at the earliest horizon held, so a shard
	// that never pauses still has the posts past it dropped.
	if h := st.minHorizon(r.Store); pr.Expiry == 0 || h < pr.Expiry {
		fn.setExpiry(tp, &pr, h)
	}
	pr.Token = newToken()
	memoCache.put(fn.CacheID, shard, pr.Token, st)
	return fn.Progress.Write(sp, pr)
}

// load returns the shard's memos: the worker's cached copy if it is
// current, else replayed from the Bag.
func (fn *retractFn) load(ctx context.Context, sp state.Provider, shard int, pr RetractProgress) (*memoState, error) {
	if st := memoCache.take(fn.CacheID, shard, pr.Token); st != nil {
		memoCacheHits.Inc(ctx, 1)
		return st, nil
	}
	memoCacheMiss.Inc(ctx, 1)
	st := newMemoState(fn.LatenessMs, pr.Through)
	batches, _, err := fn.Memos.Read(sp)
	if err != nil {
		return nil, err
	}
	for _, b := range batches {
		for _, m := range b.Memos {
			st.remember(m)
		}
	}
	return st, nil
}

// setExpiry sets the expiry timer at h.
func (fn *retractFn) setExpiry(tp timers.Provider, pr *RetractProgress, h int64) {
	t := mtime.FromMilliseconds(h).ToTime()
	// The output timestamp is the firing time: the timer emits nothing,
	// and holding the watermark any earlier would hold every window.
	fn.Expire.Set(tp, t, timers.WithOutputTimestamp(t))
	pr.Expiry = h
}

// retract emits the post's contribution with count −1, at the last instant
// of its period, as bucketFn emits counts.
func (fn *retractFn) retract(p PostMemo, emitTerms func(beam.EventTime, int, termwindow.Bucket), emitPosts func(beam.EventTime, string, int64)) {
	var b termwindow.Builder
	b.Add(termwindow.VolumeKey(p.Lang), 0, -1)
	id := termwindow.AuthorID(p.Author)
	for i, t := range p.Terms {
		b.Add(termwindow.Key{Lang: p.Lang, Kind: tsv1.TermKind(p.Kinds[i]), Term: t}, id, -1)
	}
	at := mtime.FromMilliseconds(p.End - 1)
	// Every shard: the volume key is in each.
	for shard, sb := range b.Bucket(fn.Shards) {
		emitTerms(at, shard, sb)
	}
	emitPosts(at, AllLanguages, -1)
	emitPosts(at, p.Lang, -1)
}

// OnTimer forgets the memos past their horizon, rewrites the Bag once it
// holds as many forgotten memos as live ones (a bag cannot drop single
// entries, and rewriting it at every expiry would write each memo
// (period + lateness)/period times), and sets the timer for the earliest
// horizon left.
func (fn *retractFn) OnTimer(ctx context.Context, sp state.Provider, tp timers.Provider, shard int, _ timers.Context,
	_ func(beam.EventTime, int, termwindow.Bucket), _ func(beam.EventTime, string, int64)) error {
	pr, _, err := fn.Progress.Read(sp)
	if err != nil {
		return err
	}
	st, err := fn.load(ctx, sp, shard, pr)
	if err != nil {
		return err
	}
	next := st.expire(pr.Expiry)
	pr.Through, pr.Expiry = st.through, 0
	switch live := st.live(); {
	case live == 0:
		if err := fn.Memos.Clear(sp); err != nil {
			return err
		}
		pr.Stored = 0
	case pr.Stored >= 2*live:
		if err := fn.Memos.Clear(sp); err != nil {
			return err
		}
		if err := fn.Memos.Add(sp, MemoBatch{Memos: st.memos()}); err != nil {
			return err
		}
		pr.Stored = live
	}
	if next != 0 {
		fn.setExpiry(tp, &pr, next)
	}
	pr.Token = newToken()
	memoCache.put(fn.CacheID, shard, pr.Token, st)
	return fn.Progress.Write(sp, pr)
}

// Retractions turns memo batches (KV<retraction shard, MemoBatch>, as
// BucketTerms emits them with retraction on) into retractions of deleted posts: partial term
// buckets (KV<shard, termwindow.Bucket>) and partial post counts
// (KV<ranking language, posts>) with negative counts, in the global
// window, for SumBuckets and CountPosts.
func Retractions(s beam.Scope, memos beam.PCollection, period, lateness time.Duration, shards int) (buckets, postCounts beam.PCollection) {
	s = s.Scope("Retractions")
	global := beam.WindowInto(s, window.NewGlobalWindows(), memos)
	return beam.ParDo2(s, newRetractFn(period, lateness, shards), global)
}
