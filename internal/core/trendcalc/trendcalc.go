// Package trendcalc computes trending-term rankings in a single process,
// with no Beam: the same extraction (internal/core/terms), windows and scoring
// (internal/core/trendscore) as the Beam pipeline, as plain Go loops.
//
// It is the reference the pipeline is checked against in tests, the floor
// its throughput is compared with in benchmarks, and the engine of the
// evaluation harness, which needs to replay many variants quickly.
package trendcalc

import (
	"sort"
	"time"

	"github.com/trendstream/trendstream/internal/core/terms"
	"github.com/trendstream/trendstream/internal/core/termwindow"
	"github.com/trendstream/trendstream/internal/core/topics"
	"github.com/trendstream/trendstream/internal/core/trendscore"
	tsv1 "github.com/trendstream/trendstream/proto/trendstream/v1"
)

// Config mirrors the pipeline's windowing and ranking options.
type Config struct {
	Size, Period time.Duration
	TopK         int
	Terms        terms.Options
	Score        trendscore.Params
	// Source is the source ranked and named in every result. As in the
	// pipeline (-post-source, counter trending/posts_other_source), Add
	// skips posts of another source and counts them (OtherSource); a post
	// that names no source counts as this one's. Unspecified (the
	// evaluation's replays) ranks every post.
	Source tsv1.Source
	// Rank chooses the ranking; nil ranks trending terms by score, as the
	// pipeline does. The evaluation swaps in a raw-count ranking.
	Rank func([]Entry) []Entry
	// Topics groups each snapshot's terms into topics and picks example
	// posts, as the pipeline does; zero (SamplePosts 0) leaves them out.
	Topics topics.Config
	// RetractDeletes makes a delete retract the post it deletes, by the
	// rule in docs/pipeline.md ("Deletes"): a delete at event time td of a
	// post counted at event time tc retracts it from the windows still
	// open when it comes, those that hold both td's period and tc's (all
	// of tc's if td is earlier). Windows that closed before it keep the
	// post. Off, deletes are ignored and no post is remembered.
	RetractDeletes bool
}

// Entry is one term's activity and score in one window.
type Entry struct {
	Lang      string
	Kind      tsv1.TermKind
	Term      string
	Count     int64
	Authors   int64
	TopAuthor int64
	Baseline  float64
	Score     float64
	RankBy    float64 // what the ranking orders by (trendscore.Result.Rank)
	Trending  bool
	Eligible  bool
	StartedAt time.Time
}

// Calculator accumulates posts, then computes rankings. It holds every
// bucket in memory: it is meant for bounded replays, not endless streams.
type Calculator struct {
	cfg     Config
	ex      *terms.Extractor
	buckets map[int64]*termwindow.Builder // bucket end (Unix ms) → activity
	posts   map[string]map[int64]int64    // lang → bucket end → posts
	// retractions holds what deletes took out of earlier periods, by the
	// delete's period and the post's: it counts in the windows that hold
	// both.
	retractions map[[2]int64]*termwindow.Builder
	// retractionPosts: lang → [delete's period end, post's] → posts.
	retractionPosts map[string]map[[2]int64]int64
	sample          *topics.Sampler
	// recent remembers each counted post's contribution by URI, so that a
	// delete, which carries no text, can retract it (RetractDeletes only).
	recent map[string]counted
	// otherSource counts the posts of another source Add skipped.
	otherSource int64
	// retracted counts the posts deletes retracted.
	retracted int64
}

// counted is what one post added to its bucket.
type counted struct {
	author uint64
	end    int64 // period end, Unix ms
	lang   string
	keys   []termwindow.Key
}

// New returns an empty Calculator.
func New(cfg Config) *Calculator {
	cfg.Score = cfg.Score.ForWindow(cfg.Size)
	return &Calculator{
		cfg:     cfg,
		ex:      terms.New(cfg.Terms),
		buckets: map[int64]*termwindow.Builder{},
		posts:   map[string]map[int64]int64{},
		sample:  topics.NewSampler(cfg.Topics.SamplePosts),
		recent:  map[string]counted{},

		retractions:     map[[2]int64]*termwindow.Builder{},
		retractionPosts: map[string]map[[2]int64]int64{},
	}
}

// Add counts one post at its event time (observed_at). A delete retracts
// the post it deletes if RetractDeletes and the rule allow (Config).
func (c *Calculator) Add(p *tsv1.Post) {
	// The pipeline's decodePostFn skips these before anything else, deletes
	// included; without the same here the reference ranked what the
	// pipeline never sees (TestOtherSourceSkipped).
	if s := p.GetSource(); c.cfg.Source != tsv1.Source_SOURCE_UNSPECIFIED && s != tsv1.Source_SOURCE_UNSPECIFIED && s != c.cfg.Source {
		c.otherSource++
		return
	}
	ts := p.GetObservedAt().AsTime().UnixMilli()
	if p.GetOperation() == tsv1.Operation_OPERATION_DELETE {
		if c.cfg.RetractDeletes {
			c.retract(p.GetUri(), termwindow.AuthorID(p.GetAuthorDid()), ts)
		}
		return
	}
	per := c.cfg.Period.Milliseconds()
	end := termwindow.PeriodEnd(ts, per)
	lang := terms.Language(p.GetLangs())
	author := termwindow.AuthorID(p.GetAuthorDid())
	found := c.ex.Extract(p)
	keys := make([]termwindow.Key, len(found))
	for i, t := range found {
		keys[i] = termwindow.Key{Lang: t.Lang, Kind: t.Kind, Term: t.Text}
	}
	rec := counted{author: author, end: end, lang: lang, keys: keys}
	c.count(rec, 1)
	if c.cfg.RetractDeletes && p.GetUri() != "" {
		c.recent[p.GetUri()] = rec
	}
	if c.cfg.Topics.Enabled() {
		c.sample.Add(topics.SampleKey{Lang: lang, End: end}, topics.NewPost(p, found))
	}
}

// OtherSource is how many posts of another source than Config.Source Add
// skipped: the pipeline's trending/posts_other_source.
func (c *Calculator) OtherSource() int64 { return c.otherSource }

// Retracted is how many counted posts deletes retracted (RetractDeletes).
func (c *Calculator) Retracted() int64 { return c.retracted }

// retract removes the contribution of the post uri by author, deleted at
// event time ts, from the windows that hold both the delete's period and
// the post's. A delete of a post not counted (or already retracted), or
// after every window of the post closed, changes nothing.
func (c *Calculator) retract(uri string, author uint64, ts int64) {
	rec, ok := c.recent[uri]
	if !ok || rec.author != author {
		return
	}
	del := max(termwindow.PeriodEnd(ts, c.cfg.Period.Milliseconds()), rec.end)
	if del-rec.end >= c.cfg.Size.Milliseconds() {
		return
	}
	delete(c.recent, uri)
	c.retracted++
	if del == rec.end {
		c.count(rec, -1) // every window of the post holds the delete
		return
	}
	at := [2]int64{del, rec.end}
	b := c.retractions[at]
	if b == nil {
		b = &termwindow.Builder{}
		c.retractions[at] = b
	}
	b.Add(termwindow.VolumeKey(rec.lang), 0, -1)
	for _, k := range rec.keys {
		b.Add(k, rec.author, -1)
	}
	for _, l := range []string{"", rec.lang} {
		m := c.retractionPosts[l]
		if m == nil {
			m = map[[2]int64]int64{}
			c.retractionPosts[l] = m
		}
		m[at]--
	}
}

// count adds n (1, or −1 to retract) of one post's contribution to its
// bucket and post counts.
func (c *Calculator) count(rec counted, n int64) {
	b := c.buckets[rec.end]
	if b == nil {
		b = &termwindow.Builder{}
		c.buckets[rec.end] = b
	}
	// As the pipeline does, the language's volume travels with the terms,
	// so that Merge skips what is negligible at that volume.
	b.Add(termwindow.VolumeKey(rec.lang), 0, n)
	for _, k := range rec.keys {
		b.Add(k, rec.author, n)
	}
	for _, l := range []string{"", rec.lang} {
		m := c.posts[l]
		if m == nil {
			m = map[int64]int64{}
			c.posts[l] = m
		}
		m[rec.end] += n
	}
}

// Snapshots computes the ranking of every (language, window) that holds at
// least one post, ordered by window end, then language.
func (c *Calculator) Snapshots() []*tsv1.WindowSnapshot {
	per := c.cfg.Period.Milliseconds()
	n := c.cfg.Size.Milliseconds() / per

	// Post counts per sliding window: every bucket contributes to the n
	// windows that contain it.
	postsPerWindow := map[string]map[int64]int64{}
	for lang, bs := range c.posts {
		m := map[int64]int64{}
		for end, cnt := range bs {
			for i := int64(0); i < n; i++ {
				m[end+i*per] += cnt
			}
		}
		// A retraction counts in the windows from its delete's period to
		// the last that holds its post's.
		for at, cnt := range c.retractionPosts[lang] {
			for end := at[0]; end < at[1]+n*per; end += per {
				m[end] += cnt
			}
		}
		for end, cnt := range m {
			if cnt == 0 {
				delete(m, end) // every post retracted: no window to rank
			}
		}
		postsPerWindow[lang] = m
	}
	retracted := make(map[[2]int64]termwindow.Bucket, len(c.retractions))
	for at, b := range c.retractions {
		retracted[at] = b.Bucket(1)[0]
	}

	// Every window that holds a bucket, scored in window order so each
	// term's baseline sees its windows in order, as the pipeline's does.
	buckets := make(map[int64]termwindow.Bucket, len(c.buckets))
	windowEnds := map[int64]bool{}
	for end, b := range c.buckets {
		buckets[end] = b.Bucket(1)[0]
		for i := int64(0); i < n; i++ {
			windowEnds[end+i*per] = true
		}
	}
	ends := make([]int64, 0, len(windowEnds))
	for e := range windowEnds {
		ends = append(ends, e)
	}
	sort.Slice(ends, func(i, j int) bool { return ends[i] < ends[j] })

	states := map[termwindow.Key]*trendscore.State{}
	entries := map[string]map[int64][]Entry{} // ranking lang → window end → entries
	for _, end := range ends {
		// The newest period's bucket first (i = 0), for the
		// newest-period score; deletes within their post's period are in
		// it (count), retractions hold only earlier periods'.
		var window []termwindow.Bucket
		newest := 0
		for i := int64(0); i < n; i++ {
			if b, ok := buckets[end-i*per]; ok {
				window = append(window, b)
				if i == 0 {
					newest = 1
				}
			}
		}
		for at, b := range retracted {
			if at[0] <= end && at[1] > end-c.cfg.Size.Milliseconds() {
				window = append(window, b)
			}
		}
		newestVolume := map[string]int64{}
		for _, a := range termwindow.MergeNewest(window, newest, c.cfg.Score.MinPosts) {
			if a.Key.IsVolume() {
				// The window's volume is counted in postsPerWindow.
				newestVolume[a.Key.Term] = a.NewestPosts
				continue
			}
			obs := trendscore.Observation{
				WindowStart: time.UnixMilli(end - c.cfg.Size.Milliseconds()),
				WindowEnd:   time.UnixMilli(end), Count: a.Posts, Authors: a.Authors, TopAuthorPosts: a.TopAuthorPosts,
				Volume:      postsPerWindow[a.Key.Lang][end],
				NewestCount: a.NewestPosts, NewestAuthors: a.NewestAuthors, NewestVolume: newestVolume[a.Key.Lang],
			}
			if c.cfg.Score.Negligible(obs) {
				continue // as the pipeline does: an empty window for the baseline
			}
			st := states[a.Key]
			if st == nil {
				st = &trendscore.State{}
				states[a.Key] = st
			}
			res := c.cfg.Score.Update(st, obs, c.cfg.Period)
			e := Entry{
				Lang: a.Key.Lang, Kind: a.Key.Kind, Term: a.Key.Term,
				Count: a.Posts, Authors: a.Authors, TopAuthor: a.TopAuthorPosts,
				Baseline: res.Baseline, Score: res.Score, RankBy: res.Rank, Trending: res.Trending,
				Eligible: res.Eligible, StartedAt: res.StartedAt,
			}
			for _, l := range []string{"", a.Key.Lang} {
				if entries[l] == nil {
					entries[l] = map[int64][]Entry{}
				}
				entries[l][end] = append(entries[l][end], e)
				if a.Key.Lang == "" {
					break
				}
			}
		}
	}

	var out []*tsv1.WindowSnapshot
	for lang, ws := range postsPerWindow {
		for end, posts := range ws {
			ranked := c.rank(entries[lang][end])
			terms := make([]trendscore.Ranked, len(ranked))
			for i, e := range ranked {
				terms[i] = e.ranked()
			}
			out = append(out, trendscore.Window{
				Source: c.cfg.Source, Lang: lang,
				Start: time.UnixMilli(end - c.cfg.Size.Milliseconds()), End: time.UnixMilli(end), Posts: posts,
			}.Snapshot(terms))
		}
	}
	if c.cfg.Topics.Enabled() {
		samples := c.sample.Samples()
		for i, s := range out {
			out[i] = topics.Enrich(s, samples, c.cfg.Topics)
		}
	}
	sort.Slice(out, func(i, j int) bool {
		ei, ej := out[i].WindowEnd.AsTime(), out[j].WindowEnd.AsTime()
		if !ei.Equal(ej) {
			return ei.Before(ej)
		}
		return out[i].Lang < out[j].Lang
	})
	return out
}

func (c *Calculator) rank(es []Entry) []Entry {
	if c.cfg.Rank != nil {
		return c.cfg.Rank(es)
	}
	return RankTrending(es, c.cfg.TopK)
}

// RankTrending lists eligible, trending entries in the pipeline's order
// (trendscore.TopK): score, then distinct authors, then term.
func RankTrending(es []Entry, k int) []Entry {
	var items []trendscore.Ranked
	for _, e := range es {
		if e.Eligible && e.Trending {
			items = append(items, e.ranked())
		}
	}
	return entries(trendscore.TopK(items, k), es)
}

// RankRawCount lists the k most-posted terms, trending or not: the
// volume ranking most trend lists use, kept as the evaluation's baseline.
func RankRawCount(es []Entry, k int) []Entry {
	items := make([]trendscore.Ranked, len(es))
	for i, e := range es {
		items[i] = e.ranked()
	}
	return entries(trendscore.RawCount(items, k), es)
}

func (e Entry) ranked() trendscore.Ranked {
	return trendscore.Ranked{
		Term: e.Term, Kind: e.Kind, Lang: e.Lang, Score: e.RankBy, Shown: e.Score,
		Count: e.Count, Authors: e.Authors, Baseline: e.Baseline, StartedAt: e.StartedAt,
	}
}

// entries maps ranked items back to their full entries, in ranked order.
func entries(rs []trendscore.Ranked, es []Entry) []Entry {
	idx := make(map[termwindow.Key]Entry, len(es))
	for _, e := range es {
		idx[termwindow.Key{Lang: e.Lang, Kind: e.Kind, Term: e.Term}] = e
	}
	out := make([]Entry, len(rs))
	for i, r := range rs {
		out[i] = idx[termwindow.Key{Lang: r.Lang, Kind: r.Kind, Term: r.Term}]
	}
	return out
}
