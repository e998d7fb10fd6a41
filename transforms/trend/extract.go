package trend

import (
	"context"
	"time"

	"github.com/apache/beam/sdks/v2/go/pkg/beam"
	"github.com/apache/beam/sdks/v2/go/pkg/beam/core/graph/mtime"
	"github.com/apache/beam/sdks/v2/go/pkg/beam/register"

	"github.com/trendstream/trendstream/internal/core/recentposts"
	"github.com/trendstream/trendstream/internal/core/terms"
	"github.com/trendstream/trendstream/internal/core/termwindow"
	grouping "github.com/trendstream/trendstream/internal/core/topics"
	tsv1 "github.com/trendstream/trendstream/proto/trendstream/v1"
)

func init() {
	register.DoFn6x0[context.Context, beam.EventTime, *tsv1.Post, func(beam.EventTime, int, termwindow.Bucket), func(beam.EventTime, string, int64), func(beam.EventTime, string, grouping.Sample)](&bucketFn{})
	register.Emitter3[beam.EventTime, int, termwindow.Bucket]()
	register.Emitter3[beam.EventTime, string, int64]()
	register.Emitter3[beam.EventTime, string, grouping.Sample]()
}

var (
	postsCounted   = beam.NewCounter("trending", "posts_counted")
	deletesSeen    = beam.NewCounter("trending", "deletes_seen")
	termsExtracted = beam.NewCounter("trending", "terms_extracted")
	sampledPosts   = beam.NewCounter("topics", "posts_sampled")
	// deletesRetracted counts deletes that took their post's counts out;
	// deletesIgnored those that changed nothing: without the post
	// (Post.deleted: the ingest had not seen it, or was not asked to keep
	// it), by another author, or past the retraction horizon.
	deletesRetracted = beam.NewCounter("trending", "deletes_retracted")
	deletesIgnored   = beam.NewCounter("trending", "deletes_ignored")
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
	// Retract makes a delete that carries its post (Post.deleted, which
	// the ingest attaches: internal/core/recentposts) take the post's
	// counts out of its period, as the post with count −1, if the delete
	// comes before the period's end plus LatenessMs (the rule of
	// internal/core/trendcalc, Config.RetractDeletes). The −1s go out with
	// the bundle's buckets, timestamped in the post's period, and reach
	// the windows as late posts of that period would. Nothing is kept per
	// post: an earlier design remembered every post's terms in keyed state
	// until its period closed, which cost a fifth of the pipeline's CPU
	// (BENCHMARKS.md, "Retraction without memos").
	Retract    bool
	LatenessMs int64
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
func (fn *bucketFn) StartBundle(context.Context, func(beam.EventTime, int, termwindow.Bucket), func(beam.EventTime, string, int64), func(beam.EventTime, string, grouping.Sample)) {
	fn.reset()
}

func (fn *bucketFn) reset() {
	fn.buckets = map[int64]*termwindow.Builder{}
	fn.posts = map[int64]map[string]int64{}
	fn.hits = 0
	if fn.sampler != nil {
		fn.sampler.Reset()
	}
}

func (fn *bucketFn) ProcessElement(ctx context.Context, ts beam.EventTime, p *tsv1.Post, emitTerms func(beam.EventTime, int, termwindow.Bucket), emitPosts func(beam.EventTime, string, int64), emitSample func(beam.EventTime, string, grouping.Sample)) {
	if fn.buckets == nil {
		fn.reset() // a runner that skips StartBundle
	}
	if p.GetOperation() == tsv1.Operation_OPERATION_DELETE {
		deletesSeen.Inc(ctx, 1)
		if fn.Retract {
			fn.retract(ctx, int64(ts), p)
		}
		return
	}
	postsCounted.Inc(ctx, 1)
	end := termwindow.PeriodEnd(int64(ts), fn.PeriodMs)
	lang := terms.Language(p.GetLangs())
	found := fn.ex.Extract(p)
	termsExtracted.Inc(ctx, int64(len(found)))
	fn.count(end, lang, p.GetAuthorDid(), found, 1)
	if fn.sampler != nil {
		key := grouping.SampleKey{Lang: lang, End: end}
		if h := grouping.Hash(p.GetUri()); fn.floor.Admits(key, h) && fn.sampler.Admits(key, h) {
			sampledPosts.Inc(ctx, 1)
			fn.sampler.Add(key, grouping.NewPost(p, found))
		}
	}
	if fn.hits >= maxBundleHits {
		fn.flush(emitTerms, emitPosts, emitSample)
	}
}

// retract takes out the counts of the post a delete at event time ts
// carries (Retract).
func (fn *bucketFn) retract(ctx context.Context, ts int64, del *tsv1.Post) {
	p := recentposts.Post(del)
	if p == nil {
		deletesIgnored.Inc(ctx, 1)
		return
	}
	end := termwindow.PeriodEnd(p.GetObservedAt().AsTime().UnixMilli(), fn.PeriodMs)
	if ts >= end+fn.LatenessMs {
		deletesIgnored.Inc(ctx, 1)
		return
	}
	deletesRetracted.Inc(ctx, 1)
	// The post is extracted again, as it was when counted: the same text,
	// hashtags and language give the same terms.
	fn.count(end, terms.Language(p.GetLangs()), p.GetAuthorDid(), fn.ex.Extract(p), -1)
}

// count adds n (1, or −1 to retract) of one post's contribution to the
// bundle's bucket and post counts of the period ending at end.
func (fn *bucketFn) count(end int64, lang, authorDID string, found []terms.Term, n int64) {
	b := fn.buckets[end]
	if b == nil {
		b = &termwindow.Builder{}
		fn.buckets[end] = b
	}
	// The language's volume, which the scorer's noise floor is relative
	// to, travels with the terms (termwindow.VolumeKey).
	b.Add(termwindow.VolumeKey(lang), 0, n)
	author := termwindow.AuthorID(authorDID)
	for _, t := range found {
		b.Add(termwindow.Key{Lang: t.Lang, Kind: t.Kind, Term: t.Text}, author, n)
	}
	fn.hits += len(found)
	pc := fn.posts[end]
	if pc == nil {
		pc = map[string]int64{}
		fn.posts[end] = pc
	}
	pc[AllLanguages] += n
	pc[lang] += n
}

func (fn *bucketFn) FinishBundle(emitTerms func(beam.EventTime, int, termwindow.Bucket), emitPosts func(beam.EventTime, string, int64), emitSample func(beam.EventTime, string, grouping.Sample)) {
	fn.flush(emitTerms, emitPosts, emitSample)
}

func (fn *bucketFn) flush(emitTerms func(beam.EventTime, int, termwindow.Bucket), emitPosts func(beam.EventTime, string, int64), emitSample func(beam.EventTime, string, grouping.Sample)) {
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
	fn.reset()
}

// AllLanguages is the ranking key of the overall (all-language) ranking.
const AllLanguages = ""

// BucketTerms turns posts, timestamped at their event time, into partial
// term buckets (KV<shard, termwindow.Bucket>) and partial post counts
// (KV<ranking language, posts>, AllLanguages included), each timestamped at
// the last instant of its period. With retract, a delete carrying its post
// adds the post's counts with −1 to its period, if it comes before the
// period's end plus lateness (bucketFn.Retract). With samplePosts > 0,
// partial post samples (KV<term language, internal/core/topics.Sample>:
// each bundle's bottom samplePosts per language and period, timestamped
// like the buckets) for the topic stages; with 0, samples is empty.
func BucketTerms(s beam.Scope, posts beam.PCollection, opts terms.Options, period time.Duration, shards int, retract bool, lateness time.Duration, samplePosts int) (buckets, postCounts, samples beam.PCollection) {
	s = s.Scope("BucketTerms")
	outs := beam.ParDoN(s, &bucketFn{Terms: opts, PeriodMs: period.Milliseconds(), Shards: shards, Retract: retract, LatenessMs: lateness.Milliseconds(), SamplePosts: samplePosts}, posts)
	return outs[0], outs[1], outs[2]
}
