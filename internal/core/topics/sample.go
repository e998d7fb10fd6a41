// Package topics groups the trending terms of a window into topics and picks
// example posts for terms and topics. It is pure logic: the Beam stages in
// transforms/topics and the single-process reference (internal/core/trendcalc)
// both call it, so the two compute the same topics from the same sample.
//
// Co-occurrence is measured on a sample of posts: for each (term language,
// period) the SamplePosts posts whose URI hashes lowest, each with its
// terms. A bottom-k sample by hash is uniform, deterministic (the same
// posts whatever the bundle boundaries and order) and mergeable (the
// bottom k of a union is the bottom k of the parts' bottom k), so every
// stage keeps at most SamplePosts posts per language and period. A window's
// sample is the union of its periods' samples.
package topics

import (
	"cmp"
	"flag"
	"fmt"
	"hash/fnv"
	"slices"
	"strings"
	"unicode/utf8"

	"github.com/trendstream/trendstream/internal/core/terms"
	tsv1 "github.com/trendstream/trendstream/proto/trendstream/v1"
)

// Config sets the sample and the grouping.
type Config struct {
	// SamplePosts is how many posts are kept per (term language, period).
	// 0 disables topics and examples.
	SamplePosts int
	// Examples is how many example posts each term and topic gets.
	Examples int
	// MinShared is how many sampled posts two terms must share to be
	// linked.
	MinShared int
	// MinOverlap is the share of the rarer term's sampled posts that must
	// also hold the other term (the overlap coefficient) to link them.
	MinOverlap float64
}

// MaxText is how many characters of a post's text an example keeps.
const MaxText = 300

// DefaultConfig returns the documented defaults.
func DefaultConfig() Config {
	return Config{SamplePosts: 1000, Examples: 3, MinShared: 2, MinOverlap: 0.5}
}

// Enabled says whether topics are computed at all.
func (c Config) Enabled() bool { return c.SamplePosts > 0 }

// RegisterFlags binds c's fields to flags on fs, with c's current values as
// defaults.
func (c *Config) RegisterFlags(fs *flag.FlagSet) {
	fs.IntVar(&c.SamplePosts, "topic-sample", c.SamplePosts, "posts sampled per language and window period for topics and example posts (lowest URI hashes); 0 disables topics and examples")
	fs.IntVar(&c.Examples, "topic-examples", c.Examples, "example posts kept per trending term and topic")
	fs.IntVar(&c.MinShared, "topic-min-shared", c.MinShared, "sampled posts two trending terms must share to be grouped into one topic")
	fs.Float64Var(&c.MinOverlap, "topic-min-overlap", c.MinOverlap, "share of the rarer term's sampled posts that must also hold the other for the two to be grouped (0-1]")
}

// Validate reports a configuration that cannot work.
func (c Config) Validate() error {
	switch {
	case c.SamplePosts < 0:
		return fmt.Errorf("topics: -topic-sample must not be negative, got %d", c.SamplePosts)
	case !c.Enabled():
		return nil
	case c.Examples < 0:
		return fmt.Errorf("topics: -topic-examples must not be negative, got %d", c.Examples)
	case c.MinShared < 1:
		return fmt.Errorf("topics: -topic-min-shared must be at least 1, got %d", c.MinShared)
	case c.MinOverlap <= 0 || c.MinOverlap > 1:
		return fmt.Errorf("topics: -topic-min-overlap must be in (0, 1], got %v", c.MinOverlap)
	}
	return nil
}

// Term is one term of a sampled post.
type Term struct {
	Kind tsv1.TermKind
	Text string
}

func (t Term) compare(u Term) int {
	return cmp.Or(cmp.Compare(t.Kind, u.Kind), strings.Compare(t.Text, u.Text))
}

// Post is one sampled post.
type Post struct {
	Hash   uint64
	URI    string
	Author string
	Text   string
	At     int64 // event time, Unix ms
	// Terms are the post's terms, sorted, without duplicates.
	Terms []Term
}

func (p Post) compare(q Post) int {
	return cmp.Or(cmp.Compare(p.Hash, q.Hash), strings.Compare(p.URI, q.URI))
}

// Has says whether the post holds t.
func (p Post) Has(t Term) bool {
	_, ok := slices.BinarySearchFunc(p.Terms, t, Term.compare)
	return ok
}

// Hash is a post's sampling key: FNV-1a of its URI.
func Hash(uri string) uint64 {
	h := fnv.New64a()
	h.Write([]byte(uri))
	return h.Sum64()
}

// NewPost makes the sampled form of p with the terms extracted from it.
func NewPost(p *tsv1.Post, found []terms.Term) Post {
	ts := make([]Term, len(found))
	for i, t := range found {
		ts[i] = Term{Kind: t.Kind, Text: t.Text}
	}
	slices.SortFunc(ts, Term.compare)
	ts = slices.Compact(ts)
	return Post{
		Hash: Hash(p.GetUri()), URI: p.GetUri(), Author: p.GetAuthorDid(),
		Text: cut(p.GetText(), MaxText), At: p.GetObservedAt().AsTime().UnixMilli(), Terms: ts,
	}
}

// cut returns s's first n characters, on a rune boundary.
func cut(s string, n int) string {
	if len(s) <= n {
		return s
	}
	i := 0
	for k := 0; k < n && i < len(s); k++ {
		_, w := utf8.DecodeRuneInString(s[i:])
		i += w
	}
	return s[:i]
}

// Sample is the sampled posts of one (term language, period).
type Sample struct {
	Lang string
	End  int64 // period end, Unix ms
	// Posts are sorted by hash (then URI), without duplicates.
	Posts []Post
}

// Merge returns the bottom k of a and b together, in a new slice: its
// inputs may be pipeline elements, which must not change.
func Merge(a, b []Post, k int) []Post {
	out := make([]Post, 0, min(k, len(a)+len(b)))
	i, j := 0, 0
	for len(out) < k && (i < len(a) || j < len(b)) {
		switch {
		case j == len(b) || (i < len(a) && a[i].compare(b[j]) < 0):
			out = append(out, a[i])
			i++
		case i == len(a) || b[j].compare(a[i]) < 0:
			out = append(out, b[j])
			j++
		default: // the same post twice (a re-delivered record)
			out = append(out, a[i])
			i, j = i+1, j+1
		}
	}
	return out
}

// SampleKey identifies one sample.
type SampleKey struct {
	Lang string
	End  int64
}

// Sampler collects bottom-k samples per (term language, period).
type Sampler struct {
	k    int
	sets map[SampleKey]*bottom
}

type bottom struct {
	posts []Post
	// limit is the highest hash that can still enter: the k-th lowest seen
	// once k posts were kept.
	limit uint64
}

// NewSampler returns a Sampler keeping k posts per key.
func NewSampler(k int) *Sampler { return &Sampler{k: k, sets: map[SampleKey]*bottom{}} }

// Admits says whether a post with hash h may enter key's sample, so
// callers skip extracting the terms of a post that cannot.
func (s *Sampler) Admits(key SampleKey, h uint64) bool {
	b := s.sets[key]
	return b == nil || len(b.posts) < s.k || h <= b.limit
}

// Add offers p to key's sample.
func (s *Sampler) Add(key SampleKey, p Post) {
	b := s.sets[key]
	if b == nil {
		b = &bottom{limit: ^uint64(0)}
		s.sets[key] = b
	}
	if len(b.posts) >= s.k && p.Hash > b.limit {
		return
	}
	b.posts = append(b.posts, p)
	if len(b.posts) >= 2*s.k {
		b.trim(s.k)
	}
}

func (b *bottom) trim(k int) {
	slices.SortFunc(b.posts, Post.compare)
	b.posts = slices.CompactFunc(b.posts, func(p, q Post) bool { return p.compare(q) == 0 })
	if len(b.posts) > k {
		b.posts = b.posts[:k]
	}
	if len(b.posts) == k {
		b.limit = b.posts[k-1].Hash
	}
}

// Len is how many samples the Sampler holds.
func (s *Sampler) Len() int { return len(s.sets) }

// Reset empties the Sampler.
func (s *Sampler) Reset() { s.sets = map[SampleKey]*bottom{} }

// Samples returns every sample, sorted by key.
func (s *Sampler) Samples() []Sample {
	out := make([]Sample, 0, len(s.sets))
	for key, b := range s.sets {
		b.trim(s.k)
		out = append(out, Sample{Lang: key.Lang, End: key.End, Posts: b.posts})
	}
	slices.SortFunc(out, func(a, b Sample) int {
		return cmp.Or(strings.Compare(a.Lang, b.Lang), cmp.Compare(a.End, b.End))
	})
	return out
}

// Floor remembers, per sample key, the k lowest post hashes that a
// sampler's earlier bundles already sent on, so that a later bundle sends
// only posts that can still be in the key's bottom k. A bundle's Sampler
// alone admits every post until it holds k, and small bundles (Prism's
// hold tens of posts) then send on nearly every post, though the merged
// sample keeps only k per key.
//
// It is exact: a post is refused only if k distinct posts of its key with
// hashes no higher were sent before it, so the bottom k of everything sent
// is the bottom k of every post, wherever bundles fall. (Two posts whose
// hashes collide count once, which only admits more.) Keys whose period
// ended more than keep before the newest one recorded are forgotten:
// their posts are then all admitted again, which is always correct.
type Floor struct {
	k      int
	keep   int64
	newest int64
	sets   map[SampleKey]*floor
}

type floor struct {
	hashes []uint64
	// limit is the k-th lowest distinct hash once there are k.
	limit uint64
	full  bool
}

// NewFloor returns a Floor for bottom-k samples that forgets periods ended
// keep ms before the newest it was given.
func NewFloor(k int, keep int64) *Floor {
	return &Floor{k: k, keep: keep, sets: map[SampleKey]*floor{}}
}

// Admits says whether a post with hash h can still be in key's bottom k.
func (f *Floor) Admits(key SampleKey, h uint64) bool {
	fl := f.sets[key]
	return fl == nil || !fl.full || h <= fl.limit
}

// Sent records the samples' posts as sent on. Call it only once they
// were emitted.
func (f *Floor) Sent(samples []Sample) {
	for _, s := range samples {
		f.newest = max(f.newest, s.End)
		key := SampleKey{Lang: s.Lang, End: s.End}
		fl := f.sets[key]
		if fl == nil {
			fl = &floor{}
			f.sets[key] = fl
		}
		fl.add(s.Posts, f.k)
	}
	for key := range f.sets {
		if key.End < f.newest-f.keep {
			delete(f.sets, key)
		}
	}
}

// add merges the hashes of posts (sorted by hash, as a Sample's are) into
// the floor's k lowest.
func (fl *floor) add(posts []Post, k int) {
	out := make([]uint64, 0, min(k, len(fl.hashes)+len(posts)))
	i, j := 0, 0
	for len(out) < k && (i < len(fl.hashes) || j < len(posts)) {
		var h uint64
		if j == len(posts) || (i < len(fl.hashes) && fl.hashes[i] <= posts[j].Hash) {
			h, i = fl.hashes[i], i+1
		} else {
			h, j = posts[j].Hash, j+1
		}
		if n := len(out); n == 0 || out[n-1] != h {
			out = append(out, h)
		}
	}
	fl.hashes = out
	if len(out) == k {
		fl.limit, fl.full = out[k-1], true
	}
}

// WindowPosts returns the posts of the samples whose period lies in the
// window (end-size, end], sorted by hash.
func WindowPosts(samples []Sample, end, size int64) []Post {
	var out []Post
	for _, s := range samples {
		if s.End > end-size && s.End <= end {
			out = append(out, s.Posts...)
		}
	}
	slices.SortFunc(out, Post.compare)
	return slices.CompactFunc(out, func(p, q Post) bool { return p.compare(q) == 0 })
}
