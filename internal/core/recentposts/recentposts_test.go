package recentposts

import (
	"strings"
	"testing"
	"time"

	"google.golang.org/protobuf/types/known/timestamppb"

	tsv1 "github.com/trendstream/trendstream/proto/trendstream/v1"
)

var t0 = time.Date(2026, 12, 3, 12, 0, 0, 0, time.UTC)

func post(author, rkey string, at time.Duration) *tsv1.Post {
	return &tsv1.Post{
		Uri: "at://" + author + "/app.bsky.feed.post/" + rkey, AuthorDid: author, Cid: "bafy" + rkey,
		Text: "text of " + rkey, Langs: []string{"en"}, Hashtags: []string{"tag"}, Cursor: int64(at),
		ObservedAt: timestamppb.New(t0.Add(at)), Operation: tsv1.Operation_OPERATION_CREATE, Source: tsv1.Source_SOURCE_BLUESKY,
	}
}

func del(author, rkey string, at time.Duration) *tsv1.Post {
	return &tsv1.Post{
		Uri: "at://" + author + "/app.bsky.feed.post/" + rkey, AuthorDid: author, Cursor: int64(at),
		ObservedAt: timestamppb.New(t0.Add(at)), Operation: tsv1.Operation_OPERATION_DELETE, Source: tsv1.Source_SOURCE_BLUESKY,
	}
}

// TestObserve feeds streams through a Cache and checks which deletes carry
// their post.
func TestObserve(t *testing.T) {
	cfg := Config{Lookback: 10 * time.Minute, MaxPosts: 3}
	a1 := func() *tsv1.Post { return post("did:a", "1", 0) }
	d1 := func(at time.Duration) *tsv1.Post { return del("did:a", "1", at) }
	for _, tc := range []struct {
		name   string
		cfg    Config
		stream []*tsv1.Post
		want   string // per delete in the stream: A attached, U unknown
	}{
		{"delete of a post read", cfg, []*tsv1.Post{a1(), d1(time.Minute)}, "A"},
		{"delete of a post never read", cfg, []*tsv1.Post{d1(time.Minute)}, "U"},
		{"another author", cfg, []*tsv1.Post{a1(), del("did:b", "1", time.Minute)}, "U"},
		{"a second delete", cfg, []*tsv1.Post{a1(), d1(time.Minute), d1(2 * time.Minute)}, "AU"},
		{"the same delete read again", cfg, []*tsv1.Post{a1(), d1(time.Minute), d1(time.Minute)}, "AA"},
		{"post and delete read again", cfg, []*tsv1.Post{a1(), d1(time.Minute), a1(), d1(time.Minute)}, "AA"},
		{"just inside the lookback", cfg, []*tsv1.Post{a1(), post("did:c", "9", 10*time.Minute), d1(10 * time.Minute)}, "A"},
		{"past the lookback", cfg, []*tsv1.Post{a1(), post("did:c", "9", 10*time.Minute+time.Millisecond), d1(10*time.Minute + time.Millisecond)}, "U"},
		{"pushed out by MaxPosts", cfg, []*tsv1.Post{a1(), post("did:c", "2", 1), post("did:c", "3", 2), post("did:c", "4", 3), d1(time.Minute), del("did:c", "2", time.Minute)}, "UA"},
		{"lookback 0 keeps nothing", Config{}, []*tsv1.Post{a1(), d1(time.Minute)}, "U"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := New(tc.cfg)
			var got strings.Builder
			for _, p := range tc.stream {
				o := c.Observe(p)
				if p.GetOperation() != tsv1.Operation_OPERATION_DELETE {
					continue
				}
				switch {
				case o == Attached && p.GetDeleted() != nil:
					got.WriteByte('A')
				case o != Attached && p.GetDeleted() == nil:
					got.WriteByte('U')
				default:
					t.Fatalf("outcome %v, deleted %v", o, p.GetDeleted())
				}
			}
			if got.String() != tc.want {
				t.Errorf("deletes %q, want %q", got.String(), tc.want)
			}
			if c.Len() > max(tc.cfg.MaxPosts, 0) {
				t.Errorf("%d posts remembered, MaxPosts %d", c.Len(), tc.cfg.MaxPosts)
			}
		})
	}
}

// TestAttachedPost checks what a delete carries: what a pipeline extracts
// terms from and the post's identity and time, not its CID or cursor.
func TestAttachedPost(t *testing.T) {
	p := post("did:a", "1", 0)
	d := del("did:a", "1", time.Minute)
	c := New(DefaultConfig())
	c.Observe(p)
	c.Observe(d)
	got := Post(d)
	if got.GetUri() != p.GetUri() || got.GetAuthorDid() != p.GetAuthorDid() || got.GetText() != p.GetText() ||
		strings.Join(got.GetLangs(), ",") != "en" || strings.Join(got.GetHashtags(), ",") != "tag" ||
		!got.GetObservedAt().AsTime().Equal(t0) || got.GetOperation() != tsv1.Operation_OPERATION_CREATE {
		t.Errorf("attached %v, want the post's identity, text, langs, tags and time", got)
	}
	if Post(del("did:a", "2", time.Minute)) != nil {
		t.Error("Post of a delete without its post is not nil")
	}
}

// TestMemoryBounded streams an hour at 100 posts/s and checks the cache
// holds about the lookback's posts, not the hour's.
func TestMemoryBounded(t *testing.T) {
	c := New(Config{Lookback: time.Minute, MaxPosts: 1 << 20})
	for i := range 360_000 {
		c.Observe(post("did:a", "r"+strings.Repeat("x", i%7)+string(rune('a'+i%26))+time.Duration(i).String(), time.Duration(i)*10*time.Millisecond))
	}
	if n := c.Len(); n < 5_900 || n > 6_001 {
		t.Errorf("%d posts remembered, want the last minute's 6,000", n)
	}
	if len(c.queue)-c.head > 2*c.Len()+1024 || cap(c.queue) > 4*c.Len()+4096 {
		t.Errorf("queue of %d slots (cap %d) for %d posts", len(c.queue)-c.head, cap(c.queue), c.Len())
	}
}

// TestAttach orders by event time, as a stream is read.
func TestAttach(t *testing.T) {
	p, d := post("did:a", "1", 0), del("did:a", "1", time.Minute)
	posts := []*tsv1.Post{d, p} // delete first in the slice, later in time
	if n := Attach(posts); n != 1 || d.GetDeleted() == nil {
		t.Errorf("Attach = %d, deleted %v", n, d.GetDeleted())
	}
	if posts[0] != d {
		t.Error("Attach reordered the caller's slice")
	}
}

func TestValidate(t *testing.T) {
	for _, tc := range []struct {
		cfg Config
		ok  bool
	}{
		{DefaultConfig(), true},
		{Config{}, true},
		{Config{Lookback: -time.Second, MaxPosts: 1}, false},
		{Config{Lookback: time.Second}, false},
	} {
		if err := tc.cfg.Validate(); (err == nil) != tc.ok {
			t.Errorf("%+v: Validate() = %v", tc.cfg, err)
		}
	}
}
