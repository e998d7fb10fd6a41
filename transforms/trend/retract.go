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

	"github.com/trendstream/trendstream/internal/core/termwindow"
	tsv1 "github.com/trendstream/trendstream/proto/trendstream/v1"
)

func init() {
	beam.RegisterType(reflect.TypeOf((*PostMemo)(nil)).Elem())
	register.DoFn7x1[context.Context, state.Provider, timers.Provider, string, PostMemo, func(beam.EventTime, int, termwindow.Bucket), func(beam.EventTime, string, int64), error](&retractFn{})
	register.Emitter2[string, PostMemo]()
}

var (
	deletesRetracted = beam.NewCounter("trending", "deletes_retracted")
	// deletesIgnored counts deletes that change nothing: of a post not
	// remembered (never counted, or past the retraction horizon), by
	// another author, or deleted before.
	deletesIgnored = beam.NewCounter("trending", "deletes_ignored")
)

// PostMemo is what the retraction stage keeps of a counted post, keyed by
// its author's DID: what the post added to its period's bucket, so that a
// delete, which carries no text, can take it out again. With Delete it is
// a delete of URI at event time At; kept in state, it marks URI as
// retracted (End is then the retracted post's period end).
type PostMemo struct {
	URI    string
	At     int64 // event time, Unix ms
	End    int64 // the post's period end, Unix ms
	Delete bool
	Lang   string // the post's ranking language
	Terms  []string
	Kinds  []int32
}

// retractFn remembers each author's counted posts until their buckets no
// longer take corrections, and turns a delete of one of them into its
// retraction: the post's contribution with count −1, as a partial term
// bucket per shard and partial post counts, timestamped in the post's
// period, which go through SumBuckets and CountPosts as late posts do
// (docs/pipeline.md, "Deletes").
//
// State is one Bag of memos and one Value (the expiry timer's time) per
// author, and one event-time timer with an output timestamp: what Flink's
// portable runner supports.
type retractFn struct {
	PeriodMs   int64
	LatenessMs int64
	Shards     int

	Memos  state.Bag[PostMemo]
	Expiry state.Value[int64]
	Expire timers.EventTime
}

func newRetractFn(period, lateness time.Duration, shards int) *retractFn {
	return &retractFn{
		PeriodMs: period.Milliseconds(), LatenessMs: lateness.Milliseconds(), Shards: shards,
		Memos:  state.MakeBagState[PostMemo]("memos"),
		Expiry: state.MakeValueState[int64]("expiry"),
		Expire: timers.InEventTime("expire"),
	}
}

// horizon is the event time from which a delete of the post no longer
// retracts it (the rule of internal/core/trendcalc, Config.RetractDeletes): its
// bucket stops taking corrections then.
func (fn *retractFn) horizon(m PostMemo) int64 { return m.End + fn.LatenessMs }

func (fn *retractFn) ProcessElement(ctx context.Context, sp state.Provider, tp timers.Provider, author string, m PostMemo,
	emitTerms func(beam.EventTime, int, termwindow.Bucket), emitPosts func(beam.EventTime, string, int64)) error {
	if !m.Delete {
		if err := fn.Memos.Add(sp, m); err != nil {
			return err
		}
		return fn.arm(sp, tp, fn.horizon(m))
	}
	memos, _, err := fn.Memos.Read(sp)
	if err != nil {
		return err
	}
	var post *PostMemo
	for i := range memos {
		if memos[i].URI != m.URI {
			continue
		}
		if memos[i].Delete {
			deletesIgnored.Inc(ctx, 1) // retracted already
			return nil
		}
		post = &memos[i]
	}
	// The memo is keyed by the author's DID, so a delete by another
	// author never finds it.
	if post == nil || m.At >= fn.horizon(*post) {
		deletesIgnored.Inc(ctx, 1)
		return nil
	}
	deletesRetracted.Inc(ctx, 1)
	fn.retract(author, *post, emitTerms, emitPosts)
	// Marks the post retracted, so a second delete changes nothing; it
	// expires with the post.
	return fn.Memos.Add(sp, PostMemo{URI: m.URI, At: m.At, End: post.End, Delete: true})
}

// retract emits the post's contribution with count −1, at the last instant
// of its period, as bucketFn emits counts.
func (fn *retractFn) retract(author string, p PostMemo, emitTerms func(beam.EventTime, int, termwindow.Bucket), emitPosts func(beam.EventTime, string, int64)) {
	var b termwindow.Builder
	b.Add(termwindow.VolumeKey(p.Lang), 0, -1)
	id := termwindow.AuthorID(author)
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

// arm sets the expiry timer at h unless it is set at or before h already:
// the timer always fires at the earliest horizon held, so an author who
// never pauses still has the posts past it dropped.
func (fn *retractFn) arm(sp state.Provider, tp timers.Provider, h int64) error {
	at, ok, err := fn.Expiry.Read(sp)
	if err != nil {
		return err
	}
	if ok && at != 0 && at <= h {
		return nil
	}
	t := mtime.FromMilliseconds(h).ToTime()
	// The output timestamp is the firing time: the timer emits nothing,
	// and holding the watermark any earlier would hold every window.
	fn.Expire.Set(tp, t, timers.WithOutputTimestamp(t))
	return fn.Expiry.Write(sp, h)
}

// OnTimer drops the memos past their horizon and sets the timer for the
// earliest one left.
func (fn *retractFn) OnTimer(ctx context.Context, sp state.Provider, tp timers.Provider, _ string, _ timers.Context,
	_ func(beam.EventTime, int, termwindow.Bucket), _ func(beam.EventTime, string, int64)) error {
	now, _, err := fn.Expiry.Read(sp)
	if err != nil {
		return err
	}
	memos, _, err := fn.Memos.Read(sp)
	if err != nil {
		return err
	}
	var keep []PostMemo
	next := int64(0)
	for _, m := range memos {
		if h := fn.horizon(m); h > now {
			keep = append(keep, m)
			if next == 0 || h < next {
				next = h
			}
		}
	}
	if err := fn.Memos.Clear(sp); err != nil {
		return err
	}
	if len(keep) == 0 {
		return fn.Expiry.Clear(sp)
	}
	for _, m := range keep {
		if err := fn.Memos.Add(sp, m); err != nil {
			return err
		}
	}
	t := mtime.FromMilliseconds(next).ToTime()
	fn.Expire.Set(tp, t, timers.WithOutputTimestamp(t))
	return fn.Expiry.Write(sp, next)
}

// Retractions turns memos (KV<author DID, PostMemo>, as BucketTerms emits
// them with retraction on) into retractions of deleted posts: partial term
// buckets (KV<shard, termwindow.Bucket>) and partial post counts
// (KV<ranking language, posts>) with negative counts, in the global
// window, for SumBuckets and CountPosts.
func Retractions(s beam.Scope, memos beam.PCollection, period, lateness time.Duration, shards int) (buckets, postCounts beam.PCollection) {
	s = s.Scope("Retractions")
	global := beam.WindowInto(s, window.NewGlobalWindows(), memos)
	return beam.ParDo2(s, newRetractFn(period, lateness, shards), global)
}
