package termwindow

import (
	"fmt"
	"reflect"
	"slices"
	"testing"

	"github.com/trendstream/trendstream/internal/core/terms"
	"github.com/trendstream/trendstream/internal/testenv/corpus"
	tsv1 "github.com/trendstream/trendstream/proto/trendstream/v1"
)

func word(s string) Key { return Key{Lang: "en", Kind: tsv1.TermKind_TERM_KIND_WORD, Term: s} }

type hit struct {
	bucket int
	key    Key
	author string
}

// atLeast is a minPosts for Merge that ignores the volume.
func atLeast(n int64) func(int64) int64 { return func(int64) int64 { return n } }

func TestMerge(t *testing.T) {
	for _, tt := range []struct {
		name     string
		hits     []hit
		minPosts func(volume int64) int64
		want     []Activity
	}{
		{
			name: "one bucket",
			hits: []hit{{0, word("a"), "x"}, {0, word("a"), "y"}, {0, word("a"), "x"}, {0, word("b"), "x"}},
			want: []Activity{
				{Key: word("a"), Posts: 3, Authors: 2, TopAuthorPosts: 2},
				{Key: word("b"), Posts: 1, Authors: 1, TopAuthorPosts: 1},
			},
		},
		{
			name: "an author in two buckets is one author",
			hits: []hit{{0, word("a"), "x"}, {1, word("a"), "x"}, {2, word("a"), "y"}},
			want: []Activity{{Key: word("a"), Posts: 3, Authors: 2, TopAuthorPosts: 2}},
		},
		{
			name:     "pruned below minPosts, kept at it",
			hits:     []hit{{0, word("a"), "x"}, {1, word("a"), "y"}, {0, word("b"), "x"}},
			minPosts: atLeast(2),
			want:     []Activity{{Key: word("a"), Posts: 2, Authors: 2, TopAuthorPosts: 1}},
		},
		{
			// A language's minimum follows its volume, as the scorer's
			// noise floor does: two posts matter in the thin language,
			// not in the busy one.
			name: "minimum per language, from its volume",
			hits: []hit{
				{0, VolumeKey("de"), ""}, {0, VolumeKey("de"), ""},
				{0, VolumeKey("en"), ""}, {0, VolumeKey("en"), ""}, {0, VolumeKey("en"), ""}, {0, VolumeKey("en"), ""},
				{0, Key{"de", tsv1.TermKind_TERM_KIND_WORD, "a"}, "x"}, {1, Key{"de", tsv1.TermKind_TERM_KIND_WORD, "a"}, "y"},
				{0, word("a"), "x"}, {1, word("a"), "y"},
				{0, word("b"), "x"}, {1, word("b"), "y"}, {2, word("b"), "z"},
			},
			minPosts: func(v int64) int64 { return v - 1 }, // de: 1, en: 3
			want: []Activity{
				{Key: VolumeKey("de"), Posts: 2, Authors: 1, TopAuthorPosts: 2},
				{Key: VolumeKey("en"), Posts: 4, Authors: 1, TopAuthorPosts: 4},
				{Key: Key{"de", tsv1.TermKind_TERM_KIND_WORD, "a"}, Posts: 2, Authors: 2, TopAuthorPosts: 1},
				{Key: word("b"), Posts: 3, Authors: 3, TopAuthorPosts: 1},
			},
		},
		{
			name: "same text, different language or kind, is another term",
			hits: []hit{{0, word("a"), "x"}, {0, Key{"de", tsv1.TermKind_TERM_KIND_WORD, "a"}, "x"},
				{0, Key{"en", tsv1.TermKind_TERM_KIND_HASHTAG, "a"}, "x"}},
			want: []Activity{
				{Key: Key{"de", tsv1.TermKind_TERM_KIND_WORD, "a"}, Posts: 1, Authors: 1, TopAuthorPosts: 1},
				{Key: Key{"en", tsv1.TermKind_TERM_KIND_HASHTAG, "a"}, Posts: 1, Authors: 1, TopAuthorPosts: 1},
				{Key: word("a"), Posts: 1, Authors: 1, TopAuthorPosts: 1},
			},
		},
		{name: "empty"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			var bs [3]Builder
			for _, h := range tt.hits {
				bs[h.bucket].Add(h.key, AuthorID(h.author), 1)
			}
			var buckets []Bucket
			for i := range bs {
				buckets = append(buckets, bs[i].Bucket(1)...)
			}
			got := Merge(buckets, tt.minPosts)
			slices.SortFunc(got, func(a, b Activity) int { return a.Key.Compare(b.Key) })
			if !reflect.DeepEqual(got, tt.want) {
				t.Errorf("Merge = %+v\nwant    %+v", got, tt.want)
			}
		})
	}
}

// naive is the obvious computation Merge must agree with: per term, a map
// of author → posts over the whole window.
func naive(hits []hit, buckets map[int]bool, minPosts int64) []Activity {
	perTerm := map[Key]map[string]int64{}
	for _, h := range hits {
		if !buckets[h.bucket] {
			continue
		}
		if perTerm[h.key] == nil {
			perTerm[h.key] = map[string]int64{}
		}
		perTerm[h.key][h.author]++
	}
	var out []Activity
	for k, as := range perTerm {
		a := Activity{Key: k, Authors: int64(len(as))}
		for _, n := range as {
			a.Posts += n
			a.TopAuthorPosts = max(a.TopAuthorPosts, n)
		}
		if a.Posts >= minPosts {
			out = append(out, a)
		}
	}
	slices.SortFunc(out, func(a, b Activity) int { return a.Key.Compare(b.Key) })
	return out
}

// TestMergeRealPosts builds buckets from real posts, some of them split
// into partial buckets, merged and round-tripped through the encoding as
// the pipeline does, and checks every sliding window against naive.
func TestMergeRealPosts(t *testing.T) {
	posts, err := corpus.Posts()
	if err != nil {
		t.Fatal(err)
	}
	const nBuckets, size, shards = 8, 3, 4
	ex := terms.New(terms.DefaultOptions())
	var hits []hit
	for i, p := range posts[:4000] {
		// Few authors, so authors repeat within and across buckets.
		author := fmt.Sprintf("did:plc:author%d", i%97)
		for _, tm := range ex.Extract(p) {
			hits = append(hits, hit{i % nBuckets, Key{tm.Lang, tm.Kind, tm.Text}, author})
		}
	}
	// Each bucket comes from two partial builders (two bundles), sharded.
	partial := make([][2]Builder, nBuckets)
	for i, h := range hits {
		partial[h.bucket][i%2].Add(h.key, AuthorID(h.author), 1)
	}
	shardBuckets := make([][]Bucket, nBuckets) // bucket → shard → merged bucket
	for b := range partial {
		shardBuckets[b] = make([]Bucket, shards)
		for j := range partial[b] {
			for s, sb := range partial[b][j].Bucket(shards) {
				enc, err := sb.MarshalBinary()
				if err != nil {
					t.Fatal(err)
				}
				dec, err := Decode(enc)
				if err != nil {
					t.Fatal(err)
				}
				shardBuckets[b][s] = MergeBuckets(shardBuckets[b][s], dec)
			}
		}
	}
	for _, minPosts := range []int64{0, 3} {
		for end := 1; end <= nBuckets; end++ {
			in := map[int]bool{}
			var got []Activity
			for s := range shards {
				var window []Bucket
				for b := max(0, end-size); b < end; b++ {
					in[b] = true
					for _, ta := range shardBuckets[b][s].Terms() {
						if ta.Key.Shard(shards) != s {
							t.Fatalf("term %v in shard %d, belongs to %d", ta.Key, s, ta.Key.Shard(shards))
						}
					}
					window = append(window, shardBuckets[b][s])
				}
				got = append(got, Merge(window, atLeast(minPosts))...)
			}
			slices.SortFunc(got, func(a, b Activity) int { return a.Key.Compare(b.Key) })
			want := naive(hits, in, minPosts)
			if len(want) == 0 {
				t.Fatalf("window ending at bucket %d is empty: test data too thin", end)
			}
			if !reflect.DeepEqual(got, want) {
				t.Fatalf("minPosts %d, window ending at bucket %d: %d terms, naive %d", minPosts, end, len(got), len(want))
			}
		}
	}
}

func TestBucketEncoding(t *testing.T) {
	var b Builder
	b.Add(word("héllo wörld"), 1<<63+5, 3)
	b.Add(word("héllo wörld"), 7, 1)
	b.Add(Key{"ja", tsv1.TermKind_TERM_KIND_HASHTAG, "東京"}, 7, 2)
	orig := b.Bucket(1)[0]
	enc, err := orig.MarshalBinary()
	if err != nil {
		t.Fatal(err)
	}
	var got Bucket
	if err := got.UnmarshalBinary(enc); err != nil {
		t.Fatal(err)
	}
	terms := got.Terms()
	slices.SortFunc(terms, func(a, b TermActivity) int { return a.Key.Compare(b.Key) })
	want := []TermActivity{
		{Key: word("héllo wörld"), Posts: 4, Authors: []AuthorPosts{{7, 1}, {1<<63 + 5, 3}}},
		{Key: Key{"ja", tsv1.TermKind_TERM_KIND_HASHTAG, "東京"}, Posts: 2, Authors: []AuthorPosts{{7, 2}}},
	}
	if !reflect.DeepEqual(terms, want) {
		t.Fatalf("round trip: %+v, want %+v", terms, want)
	}
	if got.Hits() != 3 || got.Len() != 2 {
		t.Errorf("Hits %d, Len %d; want 3, 2", got.Hits(), got.Len())
	}
	var empty Bucket
	if e, _ := empty.MarshalBinary(); len(e) == 0 {
		t.Error("the zero Bucket has no encoding")
	} else if d, err := Decode(e); err != nil || d.Len() != 0 {
		t.Errorf("the zero Bucket decodes to %d terms, %v", d.Len(), err)
	}
	corrupt := func(i int, v byte) []byte { c := slices.Clone(enc); c[i] = v; return c }

	for _, tt := range []struct {
		name string
		data []byte
	}{
		{"empty", nil},
		{"unknown version", append([]byte{9}, enc[1:]...)},
		{"truncated", enc[:len(enc)-3]},
		{"trailing bytes", append(slices.Clone(enc), 0)},
		{"huge count", []byte{encodingVersion, 0xff, 0xff, 0xff, 0x7f}},
		{"count too high", corrupt(1, enc[1]+1)},
		{"count too low", corrupt(1, enc[1]-1)},
		{"key length", corrupt(headerSize, enc[headerSize]+2)},
		{"single flag on a many-author term", corrupt(headerSize, enc[headerSize]|1)},
	} {
		t.Run(tt.name, func(t *testing.T) {
			var b Bucket
			if err := b.UnmarshalBinary(tt.data); err == nil {
				t.Errorf("decoded %x without error: %+v", tt.data, b)
			}
		})
	}
}

// FuzzBucketDecode checks that no input makes the decoder panic or
// allocate beyond its input, and that whatever it accepts is safe to read
// and merge: the accessors trust what Decode checked.
func FuzzBucketDecode(f *testing.F) {
	var b Builder
	b.Add(word("a"), 1, 1)
	b.Add(word("b"), 2, 5)
	enc, _ := b.Bucket(1)[0].MarshalBinary()
	f.Add(enc)
	f.Add([]byte{encodingVersion, 0})
	f.Fuzz(func(t *testing.T, data []byte) {
		var b Bucket
		if err := b.UnmarshalBinary(data); err != nil {
			return
		}
		b.Terms()
		m := MergeBuckets(b, b)
		if got := Merge([]Bucket{b, m}, nil); len(got) != b.Len() {
			t.Fatalf("merging a bucket of %d terms with itself gave %d", b.Len(), len(got))
		}
	})
}

func TestShardSpread(t *testing.T) {
	const n = 8
	var per [n]int
	for i := range 8000 {
		s := word(fmt.Sprint("term", i)).Shard(n)
		if s < 0 || s >= n {
			t.Fatalf("shard %d out of range", s)
		}
		per[s]++
	}
	for s, c := range per {
		if c < 800 || c > 1200 {
			t.Errorf("shard %d holds %d of 8000 terms: uneven", s, c)
		}
	}
}

func TestPeriodEnd(t *testing.T) {
	for _, tt := range []struct{ ts, period, want int64 }{
		{0, 60000, 60000},
		{59999, 60000, 60000},
		{60000, 60000, 120000},
		{-1, 60000, 0},
		{-60000, 60000, 0},
		{-60001, 60000, -60000},
	} {
		if got := PeriodEnd(tt.ts, tt.period); got != tt.want {
			t.Errorf("PeriodEnd(%d, %d) = %d, want %d", tt.ts, tt.period, got, tt.want)
		}
	}
}

// TestVolumeKeys checks that a language's post count reaches every shard
// and every window, however few posts: scorers need it next to the terms.
func TestVolumeKeys(t *testing.T) {
	var b Builder
	for i := range 3 {
		b.Add(VolumeKey("pt"), 0, 1)
		b.Add(Key{Lang: "pt", Kind: tsv1.TermKind_TERM_KIND_WORD, Term: fmt.Sprintf("w%d", i)}, uint64(i+1), 1)
	}
	b.Add(VolumeKey("en"), 0, 1)
	shards := b.Bucket(4)
	terms := 0
	for s, sb := range shards {
		got := map[string]int64{}
		for _, a := range Merge([]Bucket{sb, sb}, atLeast(100)) { // minPosts far above every count
			if !a.Key.IsVolume() {
				t.Errorf("shard %d: term %v returned below minPosts", s, a.Key)
				continue
			}
			got[a.Key.Term] = a.Posts
		}
		if got["pt"] != 6 || got["en"] != 2 || len(got) != 2 {
			t.Errorf("shard %d: volumes %v, want pt 6 and en 2 (two buckets)", s, got)
		}
		terms += sb.Len() - 2
	}
	if terms != 3 {
		t.Errorf("%d terms over the shards, want each of the 3 once", terms)
	}
	for _, k := range []Key{{Lang: "pt", Kind: tsv1.TermKind_TERM_KIND_WORD, Term: "pt"}, {Lang: "", Kind: tsv1.TermKind_TERM_KIND_HASHTAG, Term: "pt"}} {
		if k.IsVolume() {
			t.Errorf("%v is not a volume key", k)
		}
	}
}

// TestRetractions checks that negative counts (a deleted post's
// retraction) take an author out when its posts sum to zero, in a Builder
// and across the buckets of a window, and a term out when no author is left.
func TestRetractions(t *testing.T) {
	eclipse := Key{Lang: "en", Kind: tsv1.TermKind_TERM_KIND_HASHTAG, Term: "eclipse"}
	gone := Key{Lang: "en", Kind: tsv1.TermKind_TERM_KIND_HASHTAG, Term: "gone"}
	var b Builder
	for a := uint64(1); a <= 20; a++ {
		b.Add(eclipse, a, 1)
	}
	b.Add(eclipse, 1, 1) // author 1's second post
	b.Add(gone, 7, 1)
	b.Add(gone, 7, -1)
	b.Add(eclipse, 1, -1) // one of author 1's two: it still counts
	b.Add(eclipse, 2, -1) // author 2's only post
	got := Merge(b.Bucket(1), nil)
	if len(got) != 1 || got[0].Key != eclipse || got[0].Posts != 19 || got[0].Authors != 19 || got[0].TopAuthorPosts != 1 {
		t.Errorf("builder with retractions: %+v, want only eclipse with 19 posts by 19 authors", got)
	}
	// A term whose only author was retracted takes a new author.
	b.Add(gone, 8, 1)
	if got := Merge(b.Bucket(1), nil); len(got) != 2 || got[1].Key != gone || got[1].Authors != 1 || got[1].Posts != 1 {
		t.Errorf("term re-added after its retraction: %+v", got)
	}
	// Across buckets: a bucket of retractions cancels another's posts.
	var pos, neg Builder
	pos.Add(eclipse, 1, 1)
	pos.Add(eclipse, 2, 1)
	neg.Add(eclipse, 2, -1)
	got = Merge([]Bucket{pos.Bucket(1)[0], neg.Bucket(1)[0]}, nil)
	if len(got) != 1 || got[0].Posts != 1 || got[0].Authors != 1 {
		t.Errorf("window with a bucket of retractions: %+v, want 1 post by 1 author", got)
	}
	// A bucket of retractions travels between pipeline stages: its
	// negative counts survive the encoding, and summed with the posts it
	// retracts (the scorer's ring, the period's combine) it leaves no
	// zero-post author or term behind.
	neg.Add(gone, 9, -1)
	enc, err := neg.Bucket(1)[0].MarshalBinary()
	if err != nil {
		t.Fatal(err)
	}
	var back Bucket
	if err := back.UnmarshalBinary(enc); err != nil {
		t.Fatalf("decode a bucket of retractions: %v", err)
	}
	if ts := back.Terms(); len(ts) != 2 || ts[0].Posts != -1 || ts[0].Authors[0] != (AuthorPosts{2, -1}) || ts[1].Posts != -1 {
		t.Errorf("bucket of retractions decoded as %+v", ts)
	}
	var gonePost Builder
	gonePost.Add(gone, 9, 1)
	for _, tc := range []struct {
		name string
		a, b Bucket
	}{
		{"posts, retractions", MergeBuckets(pos.Bucket(1)[0], gonePost.Bucket(1)[0]), back},
		{"retractions, posts", back, MergeBuckets(pos.Bucket(1)[0], gonePost.Bucket(1)[0])},
	} {
		sum := MergeBuckets(tc.a, tc.b)
		enc, _ := sum.MarshalBinary()
		if _, err := Decode(enc); err != nil {
			t.Errorf("%s: the sum does not decode: %v", tc.name, err)
		}
		ts := sum.Terms()
		if len(ts) != 1 || ts[0].Key != eclipse || ts[0].Posts != 1 || len(ts[0].Authors) != 1 || ts[0].Authors[0] != (AuthorPosts{1, 1}) {
			t.Errorf("%s: summed to %+v, want eclipse with author 1's post only", tc.name, ts)
		}
	}
}

func TestBucketLangs(t *testing.T) {
	de := Key{Lang: "de", Kind: tsv1.TermKind_TERM_KIND_HASHTAG, Term: "en"}
	noLang := Key{Kind: tsv1.TermKind_TERM_KIND_HASHTAG, Term: "pt"}
	for _, tc := range []struct {
		name string
		keys []Key
		want []string
	}{
		{"empty", nil, nil},
		{"volumes name their language in the term", []Key{VolumeKey("pt"), VolumeKey("en"), VolumeKey("pt")}, []string{"en", "pt"}},
		{"a term's language, not its text", []Key{de, word("x"), word("y")}, []string{"de", "en"}},
		{"a term of no language", []Key{noLang, VolumeKey("ja")}, []string{"", "ja"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var b Builder
			for i, k := range tc.keys {
				author := uint64(i + 1)
				if k.IsVolume() {
					author = 0
				}
				b.Add(k, author, 1)
			}
			var got []string
			for _, sb := range b.Bucket(1) {
				got = append(got, sb.Langs()...)
			}
			if !slices.Equal(got, tc.want) {
				t.Errorf("Langs() = %q, want %q", got, tc.want)
			}
		})
	}
}

// TestSumBuckets checks that a window merged with its retraction buckets
// summed into one (as the scorer does) has the activity of the window
// merged with each of them.
func TestSumBuckets(t *testing.T) {
	var posts Builder
	for a := range uint64(40) {
		posts.Add(VolumeKey("en"), 0, 1)
		posts.Add(word(fmt.Sprint("w", a%7)), a, 1)
		posts.Add(word(fmt.Sprint("w", a%3)), a, 1)
	}
	retraction := func(i int) Bucket {
		var b Builder
		for a := uint64(i); a < 40; a += uint64(5 + i) {
			b.Add(VolumeKey("en"), 0, -1)
			b.Add(word(fmt.Sprint("w", a%7)), a, -1)
		}
		return b.Bucket(1)[0]
	}
	for _, n := range []int{0, 1, 2, 3, 7} {
		t.Run(fmt.Sprint(n, " retraction buckets"), func(t *testing.T) {
			rs := make([]Bucket, n)
			for i := range rs {
				rs[i] = retraction(i)
			}
			want := Merge(append([]Bucket{posts.Bucket(1)[0]}, rs...), nil)
			got := Merge([]Bucket{posts.Bucket(1)[0], SumBuckets(rs)}, nil)
			if !reflect.DeepEqual(got, want) {
				t.Errorf("merged with the sum:\n%+v\nwant (merged one by one)\n%+v", got, want)
			}
			if n > 0 && reflect.DeepEqual(want, Merge([]Bucket{posts.Bucket(1)[0]}, nil)) {
				t.Fatal("the retractions changed nothing: the test checks nothing")
			}
		})
	}
}

func TestMergeNewest(t *testing.T) {
	// A window of three periods, newest first, and a bucket retracting
	// author 3's "old" from the oldest (as the scorer's summed retractions
	// of earlier periods).
	period := func(from, to uint64, words ...string) Bucket {
		var b Builder
		for a := from; a < to; a++ {
			b.Add(VolumeKey("en"), 0, 1)
			for _, w := range words {
				b.Add(word(w), a, 1)
			}
		}
		return b.Bucket(1)[0]
	}
	var retract Builder
	retract.Add(VolumeKey("en"), 0, -1)
	retract.Add(word("old"), 3, -1)
	newest := period(10, 16, "burst", "old")
	newestRetraction := func() Bucket { // a delete of one newest post, in its own bucket
		var b Builder
		b.Add(VolumeKey("en"), 0, -1)
		b.Add(word("burst"), 15, -1)
		return b.Bucket(1)[0]
	}()
	rest := []Bucket{period(0, 8, "old"), period(5, 9, "old", "burst"), retract.Bucket(1)[0]}
	tests := []struct {
		name    string
		buckets []Bucket
		newest  int
	}{
		{"no newest period", rest, 0},
		{"one newest bucket", append([]Bucket{newest}, rest...), 1},
		{"newest bucket and its retraction", append([]Bucket{newest, newestRetraction}, rest...), 2},
		{"every bucket newest", append([]Bucket{newest}, rest...), 4},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := MergeNewest(tt.buckets, tt.newest, nil)
			// The window's figures are Merge's; the newest ones are
			// Merge's of the newest buckets alone.
			all := Merge(tt.buckets, nil)
			alone := map[Key]Activity{}
			for _, a := range Merge(tt.buckets[:tt.newest], nil) {
				alone[a.Key] = a
			}
			if len(got) != len(all) {
				t.Fatalf("MergeNewest gave %d terms, Merge %d", len(got), len(all))
			}
			for i, a := range got {
				w := all[i]
				w.NewestPosts, w.NewestAuthors = alone[a.Key].Posts, alone[a.Key].Authors
				if a != w {
					t.Errorf("%v: %+v, want %+v", a.Key, a, w)
				}
			}
		})
	}
	// The case the scorer needs: 6 new authors of "burst" in the newest
	// period, 4 more earlier; the window's volume and the period's.
	got := MergeNewest(append([]Bucket{newest}, rest...), 1, nil)
	byTerm := map[string]Activity{}
	for _, a := range got {
		byTerm[a.Key.Term] = a
	}
	if b := byTerm["burst"]; b.Authors != 10 || b.NewestAuthors != 6 || b.NewestPosts != 6 {
		t.Errorf("burst: %+v, want 10 authors in the window, 6 in its newest period", b)
	}
	if v := byTerm["en"]; v.Posts != 6+8+4-1 || v.NewestPosts != 6 {
		t.Errorf("volume: %+v, want 17 posts in the window, 6 in its newest period", v)
	}
}
