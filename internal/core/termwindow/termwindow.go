// Package termwindow counts term activity per author in period buckets and
// merges buckets into sliding windows. It is the counting core shared by the
// Beam pipeline (transforms/trend) and the single-process reference
// (internal/core/trendcalc), kept free of Beam so it is tested and benchmarked on
// its own.
//
// A bucket keeps, for every term, how many posts each author made with it:
// that is what a window needs to report posts, distinct authors and the
// busiest author's posts exactly, and buckets of one period add up without
// double counting. Authors are 64-bit hashes of their DIDs (AuthorID).
//
// A Bucket is immutable and lives in its encoded form, terms sorted by
// their encoded key. A pipeline moves a bucket between stages as it is, and
// decoding one only checks it: a window merges its buckets by walking them
// side by side, decoding a term's key and authors only when the term has
// enough posts in the window to matter (trendscore.Params.MinPosts). On
// real posts that skips almost every term. Most terms of a bucket are one
// author's single post, which the encoding stores in 22 bytes on average,
// because a sliding window copies every bucket size/period times.
package termwindow

import (
	"bytes"
	"cmp"
	"encoding/binary"
	"slices"

	tsv1 "github.com/trendstream/trendstream/proto/trendstream/v1"
)

// Key identifies a term in one language.
type Key struct {
	Lang string
	Kind tsv1.TermKind
	Term string
}

// Compare orders keys by language, kind, then term.
func (k Key) Compare(o Key) int {
	if c := cmp.Compare(k.Lang, o.Lang); c != 0 {
		return c
	}
	if c := cmp.Compare(k.Kind, o.Kind); c != 0 {
		return c
	}
	return cmp.Compare(k.Term, o.Term)
}

// VolumeKey is the pseudo-term that counts a language's posts in a bucket
// (Builder.Add(VolumeKey(lang), 0, 1) once per post): scorers need each
// language's volume next to its terms, and a term's kind is never
// TERM_KIND_UNSPECIFIED nor its language empty. Bucket puts volume keys
// into every shard, and Merge always returns them; they sort before every
// term.
func VolumeKey(lang string) Key { return Key{Term: lang} }

// IsVolume reports whether k is a VolumeKey; its language is k.Term.
func (k Key) IsVolume() bool { return k.Lang == "" && k.Kind == tsv1.TermKind_TERM_KIND_UNSPECIFIED }

// Hash is a 64-bit hash of k, the same in every process: FNV-1a, then
// MurmurHash3's finaliser, because FNV leaves the high bits of similar
// short strings alike and shards are taken from them.
func (k Key) Hash() uint64 {
	h := fnvString(fnvOffset64, k.Lang)
	h *= fnvPrime64 // a zero byte separates language and kind
	h = (h ^ uint64(uint32(k.Kind))) * fnvPrime64
	h = fnvString(h, k.Term)
	h ^= h >> 33
	h *= 0xff51afd7ed558ccd
	h ^= h >> 33
	h *= 0xc4ceb9fe1a85ec53
	return h ^ h>>33
}

// Shard assigns k to one of n shards (n > 0), the same way in every process.
func (k Key) Shard(n int) int { return shardOf(k.Hash(), n) }

func shardOf(h uint64, n int) int {
	if n <= 1 {
		return 0
	}
	// The high bits: the low ones also order terms within a bucket.
	return int((h >> 32) % uint64(n))
}

const (
	fnvOffset64 uint64 = 14695981039346656037
	fnvPrime64  uint64 = 1099511628211
)

// fnvString is FNV-1a over s's bytes, inlined: hash/fnv would copy s.
func fnvString(h uint64, s string) uint64 {
	for i := 0; i < len(s); i++ {
		h = (h ^ uint64(s[i])) * fnvPrime64
	}
	return h
}

// AuthorID is the 64-bit FNV-1a hash of an author DID. Two of Bluesky's
// tens of millions of accounts collide with probability about 10⁻⁵ in all,
// and two authors of one term in one window practically never.
func AuthorID(did string) uint64 { return fnvString(fnvOffset64, did) }

// PeriodEnd is the end (exclusive) of the period of the given length that
// holds ts, all in Unix ms, with periods aligned to the epoch as Beam's
// fixed windows are: the end of the bucket a post at ts counts in.
func PeriodEnd(ts, period int64) int64 {
	q := ts / period
	if ts%period != 0 && ts < 0 {
		q--
	}
	return q*period + period
}

// AuthorPosts is how many posts one author made with a term.
type AuthorPosts struct {
	Author uint64
	Posts  int64
}

// TermActivity is one term's activity in one bucket: its posts per author,
// sorted by author, each author once.
type TermActivity struct {
	Key     Key
	Posts   int64 // sum of Authors[i].Posts
	Authors []AuthorPosts
}

// Builder accumulates hits into Buckets. The zero Builder is ready to use.
type Builder struct {
	idx   map[Key]int
	terms []builderTerm
}

type builderTerm struct {
	key   Key
	hash  uint64
	posts int64
	// one holds the only author until a second one comes; most terms of a
	// bucket have one, and keeping it inline saves an allocation each.
	one     AuthorPosts
	authors []AuthorPosts // all authors once there are two
	sorted  int           // authors[:sorted] is sorted and unique
}

// Add counts n posts by author with term k. n may be negative: a deleted
// post's retraction (docs/pipeline.md, "Deletes"). An author whose posts sum
// to zero drops out of the bucket, and a term with no authors left with it.
func (b *Builder) Add(k Key, author uint64, n int64) {
	t := b.term(k)
	switch {
	case t.authors == nil && t.one.Posts == 0:
		// A new term, or one whose only author was retracted (n < 0).
		t.one = AuthorPosts{author, n}
	case t.authors == nil && t.one.Author == author:
		t.one.Posts += n
	default:
		if t.authors == nil {
			t.authors = append(make([]AuthorPosts, 0, 4), t.one)
			t.sorted = 1
		}
		t.authors = append(t.authors, AuthorPosts{author, n})
		// Compacting when the unsorted tail outgrows the sorted head keeps
		// every author list O(distinct authors) at O(log n) amortised per hit.
		if tail := len(t.authors) - t.sorted; tail > 8 && tail > t.sorted {
			t.compact()
		}
	}
	t.posts += n
}

// Len is the number of distinct terms added.
func (b *Builder) Len() int { return len(b.terms) }

func (b *Builder) term(k Key) *builderTerm {
	i, ok := b.idx[k]
	if !ok {
		if b.idx == nil {
			b.idx = map[Key]int{}
		}
		i = len(b.terms)
		b.idx[k] = i
		b.terms = append(b.terms, builderTerm{key: k, hash: k.Hash()})
	}
	return &b.terms[i]
}

func (t *builderTerm) compact() {
	t.authors = compactAuthors(t.authors)
	t.sorted = len(t.authors)
}

// compactAuthors sorts as by author and sums each author's posts, in place.
func compactAuthors(as []AuthorPosts) []AuthorPosts {
	slices.SortFunc(as, func(a, b AuthorPosts) int { return cmp.Compare(a.Author, b.Author) })
	out := as[:0]
	for _, a := range as {
		if n := len(out); n > 0 && out[n-1].Author == a.Author {
			out[n-1].Posts += a.Posts
			continue
		}
		out = append(out, a)
	}
	// Retractions (negative posts) can leave an author with none.
	out = slices.DeleteFunc(out, func(a AuthorPosts) bool { return a.Posts == 0 })
	return out
}

// Bucket returns the accumulated activity, split into n shards by
// Key.Shard (n ≤ 1: one). Shards with no terms are empty Buckets. The
// Buckets share no memory with b, which stays usable.
func (b *Builder) Bucket(n int) []Bucket {
	n = max(n, 1)
	type term struct {
		key []byte
		t   *builderTerm
	}
	// All encoded keys share one allocation.
	size := 0
	for i := range b.terms {
		size += len(b.terms[i].key.Lang) + len(b.terms[i].key.Term) + 2*binary.MaxVarintLen64
	}
	keys := make([]byte, 0, size)
	shards := make([][]term, n)
	for i := range b.terms {
		t := &b.terms[i]
		if t.sorted < len(t.authors) {
			t.compact()
		}
		if t.authors == nil && t.one.Posts == 0 || t.authors != nil && len(t.authors) == 0 {
			continue // every post retracted
		}
		at := len(keys)
		keys = appendKey(keys, t.key)
		k := keys[at:len(keys):len(keys)]
		if t.key.IsVolume() {
			for s := range shards {
				shards[s] = append(shards[s], term{k, t})
			}
			continue
		}
		s := shardOf(t.hash, n)
		shards[s] = append(shards[s], term{k, t})
	}
	out := make([]Bucket, n)
	for s, ts := range shards {
		slices.SortFunc(ts, func(a, b term) int { return bytes.Compare(a.key, b.key) })
		size := 0
		for _, t := range ts {
			size += len(t.key) + 12 + 10*len(t.t.authors)
		}
		w := newWriter(size)
		for _, t := range ts {
			if t.t.authors == nil {
				w.addOne(t.key, t.t.one)
			} else {
				w.add(t.key, t.t.posts, t.t.authors)
			}
		}
		out[s] = w.bucket()
	}
	return out
}

// Activity is one term's activity in one window.
type Activity struct {
	Key            Key
	Posts          int64 // posts with the term
	Authors        int64 // distinct authors
	TopAuthorPosts int64 // posts of the author who used it most
	// NewestPosts and NewestAuthors are the same for the window's newest
	// period alone (MergeNewest's first buckets; zero from Merge). A
	// scorer tests them against the baseline too, so that a burst that
	// fills one period is not diluted by the window's quiet rest
	// (trendscore.Observation.NewestAuthors).
	NewestPosts, NewestAuthors int64
}

// MergeBuckets returns the sum of two buckets of the same period as a new
// Bucket; a and b are not modified, so they may be shared.
func MergeBuckets(a, b Bucket) Bucket {
	w := newWriter(len(a.body) + len(b.body))
	ra, rb := a.reader(), b.reader()
	oka, okb := ra.next(), rb.next()
	for oka || okb {
		c := 0
		switch {
		case !oka:
			c = 1
		case !okb:
			c = -1
		default:
			c = bytes.Compare(ra.rec.key, rb.rec.key)
		}
		switch {
		case c < 0:
			w.addRaw(ra.raw)
			oka = ra.next()
		case c > 0:
			w.addRaw(rb.raw)
			okb = rb.next()
		default:
			authors := mergeAuthors(ra.rec.appendAuthors(nil), rb.rec.appendAuthors(nil))
			// A bucket of retractions cancels posts: an author whose posts
			// sum to zero drops out, and a term with no author left, as
			// in Builder.Bucket.
			authors = slices.DeleteFunc(authors, func(a AuthorPosts) bool { return a.Posts == 0 })
			if len(authors) > 0 {
				w.add(ra.rec.key, ra.rec.posts+rb.rec.posts, authors)
			}
			oka, okb = ra.next(), rb.next()
		}
	}
	return w.bucket()
}

// SumBuckets returns the sum of bs, merged pairwise (each term is copied
// about log₂ len(bs) times); bs are not modified. The zero Bucket sums
// none.
//
// It is for many small buckets that Merge would otherwise take one by
// one: Merge looks at every bucket it merges for each key, so a window's
// handful of retraction buckets, each holding a few terms, made every key
// of the window cost twice the comparisons (BENCHMARKS.md, "Retraction:
// where the extra CPU went").
func SumBuckets(bs []Bucket) Bucket {
	switch len(bs) {
	case 0:
		return Bucket{}
	case 1:
		return bs[0]
	}
	half := len(bs) / 2
	return MergeBuckets(SumBuckets(bs[:half]), SumBuckets(bs[half:]))
}

// mergeAuthors merges two sorted, unique author lists into a new one.
func mergeAuthors(a, b []AuthorPosts) []AuthorPosts {
	return appendMergedAuthors(make([]AuthorPosts, 0, len(a)+len(b)), a, b)
}

// appendMergedAuthors appends the merge of two sorted, unique author lists
// to out, which must not overlap them, summing an author's posts.
func appendMergedAuthors(out, a, b []AuthorPosts) []AuthorPosts {
	i, j := 0, 0
	for i < len(a) && j < len(b) {
		switch {
		case a[i].Author < b[j].Author:
			out = append(out, a[i])
			i++
		case a[i].Author > b[j].Author:
			out = append(out, b[j])
			j++
		default:
			out = append(out, AuthorPosts{a[i].Author, a[i].Posts + b[j].Posts})
			i++
			j++
		}
	}
	out = append(out, a[i:]...)
	return append(out, b[j:]...)
}

// Merge sums buckets into a window and returns the activity of every term
// with at least minPosts(v) posts in it, where v is the posts of the
// term's language in the window (its VolumeKey's; 0 without one), and of
// every VolumeKey, ordered by encoded key (the same order in every process:
// volume keys first). Terms below their minimum are counted, but their keys
// and authors are never decoded. minPosts is called once per language; nil
// keeps every term.
func Merge(buckets []Bucket, minPosts func(volume int64) int64) []Activity {
	return MergeNewest(buckets, 0, minPosts)
}

// MergeNewest is Merge, and also sums the first newest buckets apart, as
// the window's newest period (its bucket and what that period's deletes
// retracted from it), into each Activity's NewestPosts and NewestAuthors.
// The same terms are returned as by Merge: the minimum applies to the
// whole window.
func MergeNewest(buckets []Bucket, newest int, minPosts func(volume int64) int64) []Activity {
	rs := make([]reader, len(buckets))
	// live lists the buckets with terms left. Windows hold a handful of
	// buckets, so a linear scan for the smallest key beats a heap.
	live := make([]int, 0, len(buckets))
	for i, b := range buckets {
		rs[i] = b.reader()
		if rs[i].next() {
			live = append(live, i)
		}
	}
	var out []Activity
	var group []int // buckets whose next term is the current one
	var authors, run, merged []AuthorPosts
	// Volume keys sort first, so every language's volume is known before
	// its terms; terms are grouped by language, so its minimum is looked
	// up once.
	var volume map[string]int64
	var lang []byte
	var langStr string // lang, shared by the keys of its terms
	floor := int64(0)  // the current language's minPosts
	langDone := false
	for len(live) > 0 {
		group = append(group[:0], live[0])
		least := rs[live[0]].rec.key
		for _, i := range live[1:] {
			switch c := bytes.Compare(rs[i].rec.key, least); {
			case c < 0:
				least = rs[i].rec.key
				group = append(group[:0], i)
			case c == 0:
				group = append(group, i)
			}
		}
		// group is in ascending bucket order (live is), so the newest
		// period's buckets are its first nNew.
		var posts, newestPosts int64
		nNew := 0
		for _, i := range group {
			posts += rs[i].rec.posts
			if i < newest {
				newestPosts += rs[i].rec.posts
				nNew++
			}
		}
		vk := isVolumeKey(least)
		if vk {
			if volume == nil {
				volume = map[string]int64{}
			}
			volume[string(least[2:])] = posts
		} else if l := keyLang(least); !langDone || !bytes.Equal(l, lang) {
			lang, langStr, langDone = l, string(l), true
			floor = 0
			if minPosts != nil {
				floor = minPosts(volume[string(l)])
			}
		}
		if vk || (posts >= floor && posts > 0) {
			a := Activity{Posts: posts, NewestPosts: newestPosts}
			if vk {
				a.Key = decodeKey(least)
			} else {
				a.Key = decodeKeyIn(least, langStr)
			}
			// Each bucket's authors are sorted and unique: merging the
			// runs is linear, where sorting their concatenation was not.
			authors = rs[group[0]].rec.appendAuthors(authors[:0])
			if nNew == 1 {
				a.NewestAuthors = distinctAuthors(authors)
			}
			for k, i := range group[1:] {
				run = rs[i].rec.appendAuthors(run[:0])
				merged = appendMergedAuthors(merged[:0], authors, run)
				authors, merged = merged, authors
				if k+2 == nNew { // the newest period's runs are all merged
					a.NewestAuthors = distinctAuthors(authors)
				}
			}
			a.Authors = distinctAuthors(authors)
			for _, ap := range authors {
				a.TopAuthorPosts = max(a.TopAuthorPosts, ap.Posts)
			}
			out = append(out, a)
		}
		exhausted := false
		for _, i := range group {
			if !rs[i].next() {
				exhausted = true
			}
		}
		if exhausted {
			live = slices.DeleteFunc(live, func(i int) bool { return rs[i].done })
		}
	}
	return out
}

// distinctAuthors counts the authors of a merged run. An author whose
// posts and retractions sum to zero, in buckets summed here, no longer
// counts.
func distinctAuthors(run []AuthorPosts) int64 {
	var n int64
	for _, ap := range run {
		if ap.Posts != 0 {
			n++
		}
	}
	return n
}

// keyLang returns the language of an encoded key, without copying.
func keyLang(enc []byte) []byte {
	ll, k := binary.Uvarint(enc)
	return enc[k : k+int(ll)]
}

// isVolumeKey reports whether an encoded key is a VolumeKey's: an empty
// language (uvarint 0) and kind 0.
func isVolumeKey(enc []byte) bool { return len(enc) >= 2 && enc[0] == 0 && enc[1] == 0 }
