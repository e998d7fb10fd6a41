package trend

import (
	"context"
	"maps"
	"slices"
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
	register.DoFn6x0[context.Context, beam.EventTime, *tsv1.Post, func(beam.EventTime, int, ShardEvent), func(beam.EventTime, int, PeriodPosts), func(beam.EventTime, string, grouping.Sample)](&bucketFn{})
	register.Emitter3[beam.EventTime, int, ShardEvent]()
	register.Emitter3[beam.EventTime, int, PeriodPosts]()
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
	// counts out of the windows still open when it comes: those that hold
	// both the post's period and the delete's (the rule of
	// internal/core/trendcalc, Config.RetractDeletes). The −1s go out with
	// the bundle's buckets of the delete's period, as its
	// ShardEvent.Retracted and PeriodPosts.Retracted, so they reach the
	// scorer on time, in the elements it gets anyway. Nothing is kept per
	// post: an earlier design remembered every post's terms in keyed state
	// until its period closed, which cost a fifth of the pipeline's CPU;
	// the next one sent the −1s as late buckets of the post's period,
	// which corrected windows already emitted and cost a sixth of the
	// throughput (BENCHMARKS.md, "Retraction without memos", "Where
	// retraction's cost is").
	Retract bool
	SizeMs  int64
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
	periods map[int64]*periodCounts // period end (Unix ms) → what the bundle counted
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
func (fn *bucketFn) StartBundle(context.Context, func(beam.EventTime, int, ShardEvent), func(beam.EventTime, int, PeriodPosts), func(beam.EventTime, string, grouping.Sample)) {
	fn.reset()
}

// periodCounts is what a bundle counted in one period: its posts' terms
// and post counts, and what its deletes retracted from earlier periods.
type periodCounts struct {
	terms     termwindow.Builder
	posts     map[string]int64        // ranking language → posts
	retracted map[int64]*periodCounts // earlier period's end → its −1s
}

// period returns the counts of the period ending at end in m, made if
// missing.
func period(m map[int64]*periodCounts, end int64) *periodCounts {
	pc := m[end]
	if pc == nil {
		pc = &periodCounts{posts: map[string]int64{}}
		m[end] = pc
	}
	return pc
}

func (fn *bucketFn) reset() {
	fn.periods = map[int64]*periodCounts{}
	fn.hits = 0
	if fn.sampler != nil {
		fn.sampler.Reset()
	}
}

func (fn *bucketFn) ProcessElement(ctx context.Context, ts beam.EventTime, p *tsv1.Post, emitTerms func(beam.EventTime, int, ShardEvent), emitPosts func(beam.EventTime, int, PeriodPosts), emitSample func(beam.EventTime, string, grouping.Sample)) {
	if fn.periods == nil {
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
	fn.count(period(fn.periods, end), lang, p.GetAuthorDid(), found, 1)
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
// carries (Retract) from the windows that hold both their periods.
func (fn *bucketFn) retract(ctx context.Context, ts int64, del *tsv1.Post) {
	p := recentposts.Post(del)
	if p == nil {
		deletesIgnored.Inc(ctx, 1)
		return
	}
	postEnd := termwindow.PeriodEnd(p.GetObservedAt().AsTime().UnixMilli(), fn.PeriodMs)
	// A delete stamped before its post (clocks disagree) retracts it from
	// every window of the post's period.
	delEnd := max(termwindow.PeriodEnd(ts, fn.PeriodMs), postEnd)
	if delEnd-postEnd >= fn.SizeMs {
		deletesIgnored.Inc(ctx, 1) // every window of the post has closed
		return
	}
	deletesRetracted.Inc(ctx, 1)
	pc := period(fn.periods, delEnd)
	if postEnd != delEnd {
		if pc.retracted == nil {
			pc.retracted = map[int64]*periodCounts{}
		}
		pc = period(pc.retracted, postEnd)
	}
	// The post is extracted again, as it was when counted: the same text,
	// hashtags and language give the same terms.
	fn.count(pc, terms.Language(p.GetLangs()), p.GetAuthorDid(), fn.ex.Extract(p), -1)
}

// count adds n (1, or −1 to retract) of one post's contribution to pc.
func (fn *bucketFn) count(pc *periodCounts, lang, authorDID string, found []terms.Term, n int64) {
	// The language's volume, which the scorer's noise floor is relative
	// to, travels with the terms (termwindow.VolumeKey).
	pc.terms.Add(termwindow.VolumeKey(lang), 0, n)
	author := termwindow.AuthorID(authorDID)
	for _, t := range found {
		pc.terms.Add(termwindow.Key{Lang: t.Lang, Kind: t.Kind, Term: t.Text}, author, n)
	}
	fn.hits += len(found)
	pc.posts[AllLanguages] += n
	pc.posts[lang] += n
}

func (fn *bucketFn) FinishBundle(emitTerms func(beam.EventTime, int, ShardEvent), emitPosts func(beam.EventTime, int, PeriodPosts), emitSample func(beam.EventTime, string, grouping.Sample)) {
	fn.flush(emitTerms, emitPosts, emitSample)
}

func (fn *bucketFn) flush(emitTerms func(beam.EventTime, int, ShardEvent), emitPosts func(beam.EventTime, int, PeriodPosts), emitSample func(beam.EventTime, string, grouping.Sample)) {
	for end, pc := range fn.periods {
		at := mtime.FromMilliseconds(end - 1)
		// Every shard gets the period's bucket, empty or not: it tells
		// the shard's scorer the period had posts, so the windows the
		// period ends are released when the watermark passes them
		// (windowclock) rather than with the shard's next terms.
		evs := make([]ShardEvent, fn.Shards)
		for shard, sb := range pc.terms.Bucket(fn.Shards) {
			evs[shard] = ShardEvent{End: end, Bucket: sb}
		}
		pp := pc.periodPosts(end)
		for _, rend := range slices.Sorted(maps.Keys(pc.retracted)) {
			r := pc.retracted[rend]
			for shard, rb := range r.terms.Bucket(fn.Shards) {
				if rb.Len() > 0 {
					evs[shard].Retracted = append(evs[shard].Retracted, Retraction{End: rend, Bucket: rb})
				}
			}
			rp := r.periodPosts(rend)
			pp.Retracted = append(pp.Retracted, RetractedPosts{End: rend, Langs: rp.Langs, Posts: rp.Posts})
		}
		for shard, ev := range evs {
			emitTerms(at, shard, ev)
		}
		emitPosts(at, postsKey, pp)
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

// periodPosts returns pc's post counts, by language, as the period ending
// at end's.
func (pc *periodCounts) periodPosts(end int64) PeriodPosts {
	pp := PeriodPosts{End: end, Langs: slices.Sorted(maps.Keys(pc.posts))}
	pp.Posts = make([]int64, len(pp.Langs))
	for i, l := range pp.Langs {
		pp.Posts[i] = pc.posts[l]
	}
	return pp
}

// AllLanguages is the ranking key of the overall (all-language) ranking.
const AllLanguages = ""

// BucketTerms turns posts, timestamped at their event time, into partial
// term buckets (KV<shard, ShardEvent>) and partial post counts
// (KV<postsKey, PeriodPosts>, every ranking's, AllLanguages included),
// each timestamped at the last instant of its period. With retract, a
// delete carrying its post takes the post's counts out of the windows that
// hold both its period and the post's, the windows of size size still open
// when it comes (bucketFn.Retract). With samplePosts > 0, partial post
// samples (KV<term language, internal/core/topics.Sample>: each bundle's
// bottom samplePosts per language and period, timestamped like the
// buckets) for the topic stages; with 0, samples is empty.
func BucketTerms(s beam.Scope, posts beam.PCollection, opts terms.Options, period, size time.Duration, shards int, retract bool, samplePosts int) (buckets, postCounts, samples beam.PCollection) {
	s = s.Scope("BucketTerms")
	outs := beam.ParDoN(s, &bucketFn{Terms: opts, PeriodMs: period.Milliseconds(), Shards: shards, Retract: retract, SizeMs: size.Milliseconds(), SamplePosts: samplePosts}, posts)
	return outs[0], outs[1], outs[2]
}
