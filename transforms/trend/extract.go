package trend

import (
	"context"
	"time"

	"github.com/apache/beam/sdks/v2/go/pkg/beam"
	"github.com/apache/beam/sdks/v2/go/pkg/beam/core/graph/mtime"
	"github.com/apache/beam/sdks/v2/go/pkg/beam/register"

	"github.com/trendstream/trendstream/internal/core/terms"
	"github.com/trendstream/trendstream/internal/core/termwindow"
	grouping "github.com/trendstream/trendstream/internal/core/topics"
	tsv1 "github.com/trendstream/trendstream/proto/trendstream/v1"
)

func init() {
	register.DoFn7x0[context.Context, beam.EventTime, *tsv1.Post, func(beam.EventTime, int, termwindow.Bucket), func(beam.EventTime, string, int64), func(beam.EventTime, int, MemoBatch), func(beam.EventTime, string, grouping.Sample)](&bucketFn{})
	register.Emitter3[beam.EventTime, int, termwindow.Bucket]()
	register.Emitter3[beam.EventTime, string, int64]()
	register.Emitter3[beam.EventTime, string, grouping.Sample]()
}

var (
	postsCounted   = beam.NewCounter("trending", "posts_counted")
	deletesSeen    = beam.NewCounter("trending", "deletes_seen")
	termsExtracted = beam.NewCounter("trending", "terms_extracted")
	sampledPosts   = beam.NewCounter("topics", "posts_sampled")
)

// maxBundleHits bounds the hits a bundle holds before it emits what it
// has: a long bundle then costs memory in proportion to this, not to its
// length.
const maxBundleHits = 1 << 20

// bucketFn extracts each post's terms and counts them per author into
// one-period buckets for the whole bundle, which it emits when the bundle
// ends: one partial bucket per (period, shard) and one post count per
// (period, ranking language), each timestamped at the period's last
// instant. A runner then moves a few large elements per bundle instead of
// one per term of every post, which is where per-element pipelines spend
// their time (docs/pipeline-performance.md).
type bucketFn struct {
	Terms    terms.Options
	PeriodMs int64
	Shards   int
	// Retract also keeps a memo of every post and delete, in the order
	// read, and emits them with the buckets as one batch per retraction
	// shard (memoShard), for the retraction stage (Retractions): the
	// posts' terms are extracted here once.
	Retract bool
	// SamplePosts > 0 also keeps the bundle's bottom-SamplePosts post
	// sample per (term language, period) for the topic stages
	// (transforms/topics), emitted with the buckets: the sampled posts'
	// terms are the ones extracted here for counting, so a post's text is
	// analysed once (a separate sample stage extracting them again cost
	// half of the topic stages' extra CPU; BENCHMARKS.md). A Floor keeps,
	// across bundles, what the instance already sent, so a bundle sends
	// only posts that can still be in the bottom SamplePosts.
	SamplePosts int

	ex      *terms.Extractor
	buckets map[int64]*termwindow.Builder // period end (Unix ms) → terms
	posts   map[int64]map[string]int64    // period end → ranking language → posts
	memos   map[int][]PostMemo            // retraction shard → memos, in order
	sampler *grouping.Sampler
	floor   *grouping.Floor
	hits    int
}

func (fn *bucketFn) Setup() {
	fn.ex = terms.New(fn.Terms)
	if fn.SamplePosts > 0 {
		fn.sampler = grouping.NewSampler(fn.SamplePosts)
		// Posts come roughly in time order: the floors of the last two
		// periods are the ones that refuse posts.
		fn.floor = grouping.NewFloor(fn.SamplePosts, 2*fn.PeriodMs)
	}
}

// StartBundle takes the emitters because the SDK requires StartBundle and
// FinishBundle to declare ProcessElement's outputs.
func (fn *bucketFn) StartBundle(context.Context, func(beam.EventTime, int, termwindow.Bucket), func(beam.EventTime, string, int64), func(beam.EventTime, int, MemoBatch), func(beam.EventTime, string, grouping.Sample)) {
	fn.reset()
}

func (fn *bucketFn) reset() {
	fn.buckets = map[int64]*termwindow.Builder{}
	fn.posts = map[int64]map[string]int64{}
	fn.memos = nil
	fn.hits = 0
	if fn.sampler != nil {
		fn.sampler.Reset()
	}
}

func (fn *bucketFn) ProcessElement(ctx context.Context, ts beam.EventTime, p *tsv1.Post, emitTerms func(beam.EventTime, int, termwindow.Bucket), emitPosts func(beam.EventTime, string, int64), emitMemos func(beam.EventTime, int, MemoBatch), emitSample func(beam.EventTime, string, grouping.Sample)) {
	if fn.buckets == nil {
		fn.reset() // a runner that skips StartBundle
	}
	if p.GetOperation() == tsv1.Operation_OPERATION_DELETE {
		// Retracted by the retraction stage if Retract (docs/pipeline.md,
		// "Deletes"), else only counted.
		deletesSeen.Inc(ctx, 1)
		if fn.Retract {
			fn.addMemo(PostMemo{Author: p.GetAuthorDid(), URI: p.GetUri(), At: int64(ts), Delete: true})
		}
		return
	}
	postsCounted.Inc(ctx, 1)
	end := termwindow.PeriodEnd(int64(ts), fn.PeriodMs)
	b := fn.buckets[end]
	if b == nil {
		b = &termwindow.Builder{}
		fn.buckets[end] = b
	}
	lang := terms.Language(p.GetLangs())
	// The language's volume, which the scorer's noise floor is relative
	// to, travels with the terms (termwindow.VolumeKey).
	b.Add(termwindow.VolumeKey(lang), 0, 1)
	author := termwindow.AuthorID(p.GetAuthorDid())
	found := fn.ex.Extract(p)
	termsExtracted.Inc(ctx, int64(len(found)))
	for _, t := range found {
		b.Add(termwindow.Key{Lang: t.Lang, Kind: t.Kind, Term: t.Text}, author, 1)
	}
	if fn.Retract && p.GetUri() != "" {
		m := PostMemo{Author: p.GetAuthorDid(), URI: p.GetUri(), At: int64(ts), End: end, Lang: lang, Terms: make([]string, len(found)), Kinds: make([]int32, len(found))}
		for i, t := range found {
			m.Terms[i], m.Kinds[i] = t.Text, int32(t.Kind)
		}
		fn.addMemo(m)
	}
	if fn.sampler != nil {
		key := grouping.SampleKey{Lang: lang, End: end}
		if h := grouping.Hash(p.GetUri()); fn.floor.Admits(key, h) && fn.sampler.Admits(key, h) {
			sampledPosts.Inc(ctx, 1)
			fn.sampler.Add(key, grouping.NewPost(p, found))
		}
	}
	fn.hits += len(found)
	pc := fn.posts[end]
	if pc == nil {
		pc = map[string]int64{}
		fn.posts[end] = pc
	}
	pc[AllLanguages]++
	pc[lang]++
	if fn.hits >= maxBundleHits {
		fn.flush(emitTerms, emitPosts, emitMemos, emitSample)
	}
}

// addMemo keeps a post's or delete's memo for its retraction shard's
// batch.
func (fn *bucketFn) addMemo(m PostMemo) {
	if fn.memos == nil {
		fn.memos = map[int][]PostMemo{}
	}
	shard := memoShard(m.URI, fn.Shards)
	fn.memos[shard] = append(fn.memos[shard], m)
}

func (fn *bucketFn) FinishBundle(emitTerms func(beam.EventTime, int, termwindow.Bucket), emitPosts func(beam.EventTime, string, int64), emitMemos func(beam.EventTime, int, MemoBatch), emitSample func(beam.EventTime, string, grouping.Sample)) {
	fn.flush(emitTerms, emitPosts, emitMemos, emitSample)
}

func (fn *bucketFn) flush(emitTerms func(beam.EventTime, int, termwindow.Bucket), emitPosts func(beam.EventTime, string, int64), emitMemos func(beam.EventTime, int, MemoBatch), emitSample func(beam.EventTime, string, grouping.Sample)) {
	for end, b := range fn.buckets {
		at := mtime.FromMilliseconds(end - 1)
		// Every shard gets the period's bucket, empty or not: it tells
		// the shard's scorer the period had posts, so the windows the
		// period ends are released when the watermark passes them
		// (windowclock) rather than with the shard's next terms.
		for shard, sb := range b.Bucket(fn.Shards) {
			emitTerms(at, shard, sb)
		}
	}
	for end, pc := range fn.posts {
		at := mtime.FromMilliseconds(end - 1)
		for lang, n := range pc {
			emitPosts(at, lang, n)
		}
	}
	if fn.sampler != nil {
		samples := fn.sampler.Samples()
		for _, sm := range samples {
			emitSample(mtime.FromMilliseconds(sm.End-1), sm.Lang, sm)
		}
		fn.floor.Sent(samples)
	}
	for shard, ms := range fn.memos {
		// At the earliest memo's time: never later than the data it
		// carries (the retraction stage runs in the global window).
		emitMemos(mtime.FromMilliseconds(memosStart(ms)), shard, MemoBatch{Memos: ms})
	}
	fn.reset()
}

// memosStart returns the earliest event time of ms (Unix ms).
func memosStart(ms []PostMemo) int64 {
	start := ms[0].At
	for _, m := range ms[1:] {
		start = min(start, m.At)
	}
	return start
}

// AllLanguages is the ranking key of the overall (all-language) ranking.
const AllLanguages = ""

// BucketTerms turns posts, timestamped at their event time, into partial
// term buckets (KV<shard, termwindow.Bucket>) and partial post counts
// (KV<ranking language, posts>, AllLanguages included), each timestamped at
// the last instant of its period. With retract, memo batches
// (KV<retraction shard, MemoBatch>: each bundle's memos of every post and
// delete per shard, in order, timestamped at the earliest) for
// Retractions too;
// without, memos is empty. With samplePosts > 0, partial post samples
// (KV<term language, internal/core/topics.Sample>: each bundle's bottom
// samplePosts per language and period, timestamped like the buckets) for
// the topic stages; with 0, samples is empty.
func BucketTerms(s beam.Scope, posts beam.PCollection, opts terms.Options, period time.Duration, shards int, retract bool, samplePosts int) (buckets, postCounts, memos, samples beam.PCollection) {
	s = s.Scope("BucketTerms")
	outs := beam.ParDoN(s, &bucketFn{Terms: opts, PeriodMs: period.Milliseconds(), Shards: shards, Retract: retract, SamplePosts: samplePosts}, posts)
	return outs[0], outs[1], outs[2], outs[3]
}
