package topics_test

import (
	"fmt"
	"math/rand/v2"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"

	"google.golang.org/protobuf/types/known/timestamppb"

	"github.com/trendstream/trendstream/internal/core/topics"
	tsv1 "github.com/trendstream/trendstream/proto/trendstream/v1"
)

var t0 = time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)

func post(i int, author string, words ...string) topics.Post {
	uri := fmt.Sprintf("at://%s/app.bsky.feed.post/p%d", author, i)
	var ts []topics.Term
	for _, w := range words {
		ts = append(ts, topics.Term{Kind: tsv1.TermKind_TERM_KIND_WORD, Text: w})
	}
	slices.SortFunc(ts, func(a, b topics.Term) int { return strings.Compare(a.Text, b.Text) })
	return topics.Post{Hash: topics.Hash(uri), URI: uri, Author: author, Text: strings.Join(words, " "),
		At: t0.Add(time.Duration(i) * time.Second).UnixMilli(), Terms: ts}
}

func ranked(words ...string) []*tsv1.TrendingTerm {
	var out []*tsv1.TrendingTerm
	for i, w := range words {
		out = append(out, &tsv1.TrendingTerm{Term: w, Kind: tsv1.TermKind_TERM_KIND_WORD, Lang: "en", Rank: int32(i + 1),
			Count: int64(10 - i), UniqueAuthors: int64(5 - i), Score: float64(10 - i), FirstSeen: timestamppb.New(t0.Add(time.Duration(w[0]-'a') * time.Minute))})
	}
	return out
}

func groups(s *tsv1.WindowSnapshot) string {
	var gs []string
	for _, tp := range s.GetTopics() {
		var ms []string
		for _, m := range tp.GetMembers() {
			ms = append(ms, m.GetTerm())
		}
		gs = append(gs, tp.GetLabel()+":"+strings.Join(ms, ","))
	}
	return strings.Join(gs, " ")
}

func TestPartGroups(t *testing.T) {
	c := topics.DefaultConfig()
	tests := []struct {
		name  string
		terms []string
		posts []topics.Post
		want  string
	}{
		{"no posts: every term alone", []string{"a", "b"}, nil, "a:a b:b"},
		{"two shared posts link", []string{"a", "b", "c"},
			[]topics.Post{post(1, "x", "a", "b"), post(2, "y", "a", "b"), post(3, "z", "c")}, "a:a,b c:c"},
		{"one shared post is not enough", []string{"a", "b"},
			[]topics.Post{post(1, "x", "a", "b"), post(2, "y", "a"), post(3, "z", "b")}, "a:a b:b"},
		{"overlap below half of the rarer term", []string{"a", "b"},
			[]topics.Post{post(1, "x", "a", "b"), post(2, "y", "a", "b"), post(3, "z", "b"), post(4, "w", "b"), post(5, "v", "b"), post(6, "u", "a"), post(7, "s", "a"), post(8, "r", "a")}, "a:a b:b"},
		{"transitive: a-b and b-c make one topic", []string{"a", "b", "c", "d"},
			[]topics.Post{post(1, "x", "a", "b"), post(2, "y", "a", "b"), post(3, "z", "b", "c"), post(4, "w", "b", "c"), post(5, "v", "d")}, "a:a,b,c d:d"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p := topics.Part("en", ranked(tt.terms...), tt.posts, c)
			if got := groups(p); got != tt.want {
				t.Errorf("groups %q, want %q", got, tt.want)
			}
		})
	}
}

func TestExamplesAuthorsFirst(t *testing.T) {
	c := topics.DefaultConfig()
	posts := []topics.Post{post(1, "x", "a"), post(2, "x", "a"), post(3, "x", "a"), post(4, "y", "a"), post(5, "z", "b")}
	slices.SortFunc(posts, func(p, q topics.Post) int { return cmpHash(p, q) })
	p := topics.Part("en", ranked("a"), posts, c)
	var got []string
	for _, e := range p.GetTerms()[0].GetExamples() {
		got = append(got, e.GetUri()[strings.LastIndex(e.GetUri(), "/")+1:])
	}
	// One post per author, earliest first, then the earliest of the rest.
	if want := []string{"p1", "p4", "p2"}; !reflect.DeepEqual(got, want) {
		t.Errorf("examples %v, want %v", got, want)
	}
}

func cmpHash(p, q topics.Post) int {
	switch {
	case p.Hash < q.Hash:
		return -1
	case p.Hash > q.Hash:
		return 1
	}
	return strings.Compare(p.URI, q.URI)
}

// The id is the longest-trending member's: it holds when members join or
// leave, and changes when that member's run starts over.
func TestIDStable(t *testing.T) {
	c := topics.DefaultConfig()
	posts := []topics.Post{post(1, "x", "a", "b", "c"), post(2, "y", "a", "b", "c")}
	first := topics.Part("en", ranked("a", "b"), posts, c).GetTopics()[0]
	later := topics.Part("en", ranked("b", "a", "c"), posts, c).GetTopics()[0]
	if first.GetId() != later.GetId() {
		t.Errorf("id changed from %s to %s as c joined", first.GetId(), later.GetId())
	}
	rs := ranked("a", "b")
	rs[0].FirstSeen = timestamppb.New(t0.Add(time.Hour))
	if again := topics.Part("en", rs, posts, c).GetTopics()[0]; again.GetId() == first.GetId() {
		t.Error("id kept after the longest-trending member's run started over")
	}
}

// The bottom-k sample is the same however the posts are split into bundles
// and ordered, and it survives its binary encoding.
func TestSamplerMergeable(t *testing.T) {
	const k = 50
	var all []topics.Post
	for i := range 500 {
		all = append(all, post(i, fmt.Sprintf("did:plc:%d", i%37), "w", fmt.Sprint(i%7)))
	}
	key := topics.SampleKey{Lang: "en", End: 60000}
	whole := topics.NewSampler(k)
	for _, p := range all {
		whole.Add(key, p)
	}
	want := whole.Samples()[0]
	rng := rand.New(rand.NewPCG(1, 2))
	rng.Shuffle(len(all), func(i, j int) { all[i], all[j] = all[j], all[i] })
	var merged []topics.Post
	for start := 0; start < len(all); start += 64 {
		part := topics.NewSampler(k)
		for _, p := range all[start:min(start+64, len(all))] {
			if part.Admits(key, p.Hash) {
				part.Add(key, p)
			}
		}
		s := part.Samples()[0]
		dec, rest, err := topics.DecodeSample(s.AppendBinary(nil))
		if err != nil || len(rest) != 0 {
			t.Fatalf("decode: %v, %d bytes left", err, len(rest))
		}
		if !reflect.DeepEqual(dec, s) {
			t.Fatalf("decoded sample differs")
		}
		merged = topics.Merge(merged, dec.Posts, k)
	}
	if len(want.Posts) != k || !reflect.DeepEqual(merged, want.Posts) {
		t.Errorf("merged bundles' samples (%d posts) differ from the whole stream's (%d)", len(merged), len(want.Posts))
	}
}

func TestPostURL(t *testing.T) {
	for uri, want := range map[string]string{
		"at://did:plc:abc/app.bsky.feed.post/3k2": "https://bsky.app/profile/did:plc:abc/post/3k2",
		"at://did:plc:abc/app.bsky.feed.like/3k2": "",
		"https://example.com/":                    "",
		"at://did:plc:abc/app.bsky.feed.post/":    "",
	} {
		if got := topics.PostURL(uri); got != want {
			t.Errorf("PostURL(%q) = %q, want %q", uri, got, want)
		}
	}
}

// TestDecodeTruncated: every truncation of an encoded sample is an error
// (never a panic or a short sample), and SampleEnd reads the end alone.
func TestDecodeTruncated(t *testing.T) {
	s := topics.Sample{Lang: "en", End: 1_700_000_060_000, Posts: []topics.Post{
		{Hash: 1, URI: "at://a/app.bsky.feed.post/1", Author: "did:plc:a", Text: "héllo world", At: 5,
			Terms: []topics.Term{{Kind: tsv1.TermKind_TERM_KIND_WORD, Text: "hello"}, {Kind: tsv1.TermKind_TERM_KIND_WORD, Text: "world"}}},
		{Hash: 2, URI: "at://b/app.bsky.feed.post/2", Text: "no terms"},
	}}
	b := s.AppendBinary(nil)
	if end, err := topics.SampleEnd(b); err != nil || end != s.End {
		t.Errorf("SampleEnd = %d, %v; want %d", end, err, s.End)
	}
	for n := range len(b) {
		if _, _, err := topics.DecodeSample(b[:n]); err == nil {
			t.Fatalf("DecodeSample of %d of %d bytes: no error", n, len(b))
		}
	}
}

// A Floor shared by a worker's bundles keeps the merged sample exact while
// the bundles send on fewer posts, whatever the bundle size; a post sent
// twice (a re-delivered record) and a forgotten period stay exact too.
func TestFloorExact(t *testing.T) {
	const k = 50
	var all []topics.Post
	for i := range 2000 {
		all = append(all, post(i, fmt.Sprintf("did:plc:%d", i%37), "w"))
	}
	all = append(all, all[:100]...) // re-delivered
	key := topics.SampleKey{Lang: "en", End: 60000}
	whole := topics.NewSampler(k)
	for _, p := range all {
		whole.Add(key, p)
	}
	want := whole.Samples()[0].Posts
	for _, tc := range []struct {
		name   string
		bundle int
		keep   int64 // the Floor's memory; below the period, it forgets key
	}{
		{"bundles of 1", 1, 60000},
		{"bundles of 20", 20, 60000},
		{"bundles above k", 300, 60000},
		{"forgetting", 20, -1},
	} {
		t.Run(tc.name, func(t *testing.T) {
			rng := rand.New(rand.NewPCG(3, uint64(tc.bundle)))
			posts := slices.Clone(all)
			rng.Shuffle(len(posts), func(i, j int) { posts[i], posts[j] = posts[j], posts[i] })
			floor := topics.NewFloor(k, tc.keep)
			var merged []topics.Post
			sent := 0
			for start := 0; start < len(posts); start += tc.bundle {
				s := topics.NewSampler(k)
				for _, p := range posts[start:min(start+tc.bundle, len(posts))] {
					if floor.Admits(key, p.Hash) && s.Admits(key, p.Hash) {
						s.Add(key, p)
					}
				}
				samples := s.Samples()
				for _, smp := range samples {
					sent += len(smp.Posts)
					merged = topics.Merge(merged, smp.Posts, k)
				}
				// A newer period's sample moves the Floor on (and, with a
				// negative keep, makes it forget key).
				floor.Sent(append(samples, topics.Sample{Lang: "en", End: 120000}))
			}
			if !reflect.DeepEqual(merged, want) {
				t.Fatalf("merged sample (%d posts) differs from the whole stream's (%d)", len(merged), len(want))
			}
			if tc.keep >= 0 && sent > len(posts)/2 {
				t.Errorf("sent %d of %d posts: the floor refused too few", sent, len(posts))
			}
			t.Logf("sent %d of %d posts", sent, len(posts))
		})
	}
}
