package trendcalc

import (
	"fmt"
	"testing"
	"time"

	"google.golang.org/protobuf/types/known/timestamppb"

	"github.com/trendstream/trendstream/internal/core/terms"
	"github.com/trendstream/trendstream/internal/core/trendscore"
	tsv1 "github.com/trendstream/trendstream/proto/trendstream/v1"
)

func post(author string, at time.Time, tag string) *tsv1.Post {
	return &tsv1.Post{AuthorDid: author, Text: "#" + tag, Hashtags: []string{tag}, Langs: []string{"en"},
		ObservedAt: timestamppb.New(at), Operation: tsv1.Operation_OPERATION_CREATE}
}

func TestSnapshots(t *testing.T) {
	t0 := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	p := trendscore.DefaultParams()
	p.MinAuthors, p.NoiseFloor, p.WarmUp = 3, 2, 0
	c := New(Config{Size: 2 * time.Minute, Period: time.Minute, TopK: 5, Terms: terms.DefaultOptions(), Score: p})
	// Minute 1: twelve authors use #eclipse, one author posts #spam ten times.
	for i := range 12 {
		c.Add(post(fmt.Sprintf("did:a%d", i), t0.Add(time.Minute+time.Duration(i)*time.Second), "eclipse"))
	}
	for i := range 10 {
		c.Add(post("did:spammer", t0.Add(time.Minute+time.Duration(i)*time.Second), "spam"))
	}
	c.Add(&tsv1.Post{AuthorDid: "did:a0", ObservedAt: timestamppb.New(t0.Add(90 * time.Second)), Operation: tsv1.Operation_OPERATION_DELETE})

	snaps := c.Snapshots()
	type row struct {
		end   int // minutes
		lang  string
		posts int64
		top   string
		count int64
	}
	// Bucket [1m,2m) lies in the windows ending at 2m and 3m.
	want := []row{
		{2, "", 22, "eclipse", 12}, {2, "en", 22, "eclipse", 12},
		{3, "", 22, "eclipse", 12}, {3, "en", 22, "eclipse", 12},
	}
	if len(snaps) != len(want) {
		t.Fatalf("got %d snapshots, want %d: %v", len(snaps), len(want), snaps)
	}
	for i, w := range want {
		s := snaps[i]
		if !s.WindowEnd.AsTime().Equal(t0.Add(time.Duration(w.end)*time.Minute)) || s.Lang != w.lang || s.Posts != w.posts {
			t.Errorf("snapshot %d: end %v lang %q posts %d, want %+v", i, s.WindowEnd.AsTime(), s.Lang, s.Posts, w)
			continue
		}
		for _, term := range s.Terms {
			if term.Term == "spam" {
				t.Errorf("snapshot %d: one-author flood ranked", i)
			}
		}
		if w.end == 2 {
			if len(s.Terms) != 1 || s.Terms[0].Term != w.top || s.Terms[0].Count != w.count || s.Terms[0].UniqueAuthors != 12 {
				t.Errorf("snapshot %d: terms %v, want %s with %d posts by 12 authors", i, s.Terms, w.top, w.count)
			} else if s.Terms[0].Score != 11 {
				// First sighting, all of it in the window's newest
				// period: x/β_new − 1 = 12/1 − 1, above the whole
				// window's x/β − 1 = 12/2 − 1.
				t.Errorf("snapshot %d: score %v, want 11", i, s.Terms[0].Score)
			}
		}
	}
}

func TestRankRawCount(t *testing.T) {
	es := []Entry{
		{Term: "the", Count: 900, Authors: 800, Score: 0.1},
		{Term: "eclipse", Count: 50, Authors: 50, Score: 9, Eligible: true, Trending: true},
		{Term: "spam", Count: 400, Authors: 1, Score: 3},
	}
	raw := RankRawCount(es, 2)
	if len(raw) != 2 || raw[0].Term != "the" || raw[1].Term != "spam" {
		t.Errorf("raw count ranking %v, want the, spam", raw)
	}
	for i := range es {
		es[i].RankBy = es[i].Score
	}
	tr := RankTrending(es, 2)
	if len(tr) != 1 || tr[0].Term != "eclipse" {
		t.Errorf("trending ranking %v, want only eclipse", tr)
	}
}

func deleteOf(p *tsv1.Post, at time.Time) *tsv1.Post {
	return &tsv1.Post{Uri: p.GetUri(), AuthorDid: p.GetAuthorDid(), ObservedAt: timestamppb.New(at), Operation: tsv1.Operation_OPERATION_DELETE}
}

// TestDeletesRetract checks the retraction rule: a delete removes its post
// from the windows still open when it comes, those holding both the
// delete's period and the post's; windows closed before keep it, a delete
// after every window of the post changes nothing, and distinct authors
// stay exact.
func TestDeletesRetract(t *testing.T) {
	t0 := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	p := trendscore.DefaultParams()
	p.MinAuthors, p.NoiseFloor, p.WarmUp = 3, 2, 0
	newCalc := func(retract bool) *Calculator {
		return New(Config{Size: 2 * time.Minute, Period: time.Minute, TopK: 5, Terms: terms.DefaultOptions(), Score: p,
			RetractDeletes: retract})
	}
	// Period [1m,2m): twelve authors post #eclipse, a0 twice. Two windows
	// hold the period: [0,2m) and [1m,3m).
	var posts []*tsv1.Post
	for i := range 12 {
		pp := post(fmt.Sprintf("did:a%d", i), t0.Add(time.Minute+time.Duration(i)*time.Second), "eclipse")
		pp.Uri = fmt.Sprintf("at://a%d/1", i)
		posts = append(posts, pp)
	}
	second := post("did:a0", t0.Add(100*time.Second), "eclipse")
	second.Uri = "at://a0/2"
	posts = append(posts, second)
	type want struct {
		posts, count, authors int64 // authors 0: not ranked
	}
	all, oneFewer := want{13, 13, 12}, want{12, 12, 11}
	deleteBurst := func(at time.Duration) []*tsv1.Post {
		var ds []*tsv1.Post
		for _, pp := range posts[:10] {
			ds = append(ds, deleteOf(pp, t0.Add(at)))
		}
		return ds
	}
	for _, tc := range []struct {
		name          string
		retract       bool
		deletes       []*tsv1.Post
		first, second want // the windows ending 2m and 3m
	}{
		{"none", true, nil, all, all},
		{"off", false, []*tsv1.Post{deleteOf(posts[1], t0.Add(2*time.Minute))}, all, all},
		// a0 still has a post with the term: it counts once, as before.
		{"one of two", true, []*tsv1.Post{deleteOf(second, t0.Add(110*time.Second))}, want{12, 12, 12}, want{12, 12, 12}},
		{"same period", true, []*tsv1.Post{deleteOf(posts[1], t0.Add(2*time.Minute-time.Millisecond))}, oneFewer, oneFewer},
		// The window ending 2m closed before the delete: it keeps the post.
		{"next period", true, []*tsv1.Post{deleteOf(posts[1], t0.Add(2*time.Minute))}, all, oneFewer},
		{"last window closed", true, []*tsv1.Post{deleteOf(posts[1], t0.Add(3*time.Minute))}, all, all},
		// Clocks that disagree: a delete stamped before its post retracts
		// it from every window.
		{"before its post", true, []*tsv1.Post{deleteOf(posts[1], t0.Add(30*time.Second))}, oneFewer, oneFewer},
		{"wrong author", true, []*tsv1.Post{{Uri: posts[1].Uri, AuthorDid: "did:other", ObservedAt: timestamppb.New(t0.Add(2 * time.Minute)), Operation: tsv1.Operation_OPERATION_DELETE}}, all, all},
		{"twice", true, []*tsv1.Post{deleteOf(posts[1], t0.Add(2*time.Minute)), deleteOf(posts[1], t0.Add(2*time.Minute))}, all, oneFewer},
		// A burst mostly deleted while open does not trend: 3 authors are
		// below the gate (MinAuthors 3 with a noise floor of 2 scores too low).
		{"burst deleted", true, deleteBurst(115 * time.Second), want{3, 3, 0}, want{3, 3, 0}},
		{"burst deleted after a window", true, deleteBurst(2 * time.Minute), all, want{3, 3, 0}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := newCalc(tc.retract)
			for _, pp := range posts {
				c.Add(pp)
			}
			for _, d := range tc.deletes {
				c.Add(d)
			}
			snaps := c.Snapshots()
			if len(snaps) != 4 {
				t.Fatalf("got %d snapshots, want 4 (windows ending 2m and 3m, all and en)", len(snaps))
			}
			for _, s := range snaps {
				w := tc.first
				if s.WindowEnd.AsTime().Equal(t0.Add(3 * time.Minute)) {
					w = tc.second
				}
				if s.Posts != w.posts {
					t.Errorf("window %v %q: %d posts, want %d", s.WindowEnd.AsTime(), s.Lang, s.Posts, w.posts)
				}
				if w.authors == 0 {
					if len(s.Terms) != 0 {
						t.Errorf("window %v %q: %v ranked, want nothing", s.WindowEnd.AsTime(), s.Lang, s.Terms)
					}
					continue
				}
				if len(s.Terms) != 1 || s.Terms[0].Count != w.count || s.Terms[0].UniqueAuthors != w.authors {
					t.Errorf("window %v %q: terms %v, want eclipse with %d posts by %d authors", s.WindowEnd.AsTime(), s.Lang, s.Terms, w.count, w.authors)
				}
			}
		})
	}
}

// TestOtherSourceSkipped: posts of another source than Config.Source are
// skipped and counted, as the pipeline skips them (-post-source,
// trending/posts_other_source); a post naming no source is the
// configured one's, and a Config without Source ranks everything.
func TestOtherSourceSkipped(t *testing.T) {
	t0 := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	p := trendscore.DefaultParams()
	p.MinAuthors, p.NoiseFloor, p.WarmUp = 3, 2, 0
	own, unnamed := tsv1.Source_SOURCE_BLUESKY, tsv1.Source_SOURCE_UNSPECIFIED
	other := tsv1.Source(99) // a source this build does not know yet
	var posts []*tsv1.Post
	add := func(src tsv1.Source, n int, tag string) {
		for i := range n {
			q := post(fmt.Sprintf("did:%s%d-%d", tag, src, i), t0.Add(time.Minute+time.Duration(i)*time.Second), tag)
			q.Source = src
			posts = append(posts, q)
		}
	}
	add(own, 6, "eclipse")
	add(unnamed, 6, "eclipse")
	add(other, 30, "burst")
	// A delete of another source is skipped too, before anything else.
	del := &tsv1.Post{AuthorDid: "did:burst99-0", ObservedAt: timestamppb.New(t0.Add(90 * time.Second)), Operation: tsv1.Operation_OPERATION_DELETE, Source: other}
	posts = append(posts, del)

	tests := []struct {
		name      string
		source    tsv1.Source
		wantTop   string
		wantPosts int64
		wantOther int64
	}{
		{"own source", own, "eclipse", 12, 31},
		{"no source configured", unnamed, "burst", 42, 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := New(Config{Size: 2 * time.Minute, Period: time.Minute, TopK: 5, Terms: terms.DefaultOptions(), Score: p, Source: tt.source})
			for _, q := range posts {
				c.Add(q)
			}
			if got := c.OtherSource(); got != tt.wantOther {
				t.Errorf("OtherSource() = %d, want %d", got, tt.wantOther)
			}
			snaps := c.Snapshots()
			if len(snaps) == 0 {
				t.Fatal("no snapshots")
			}
			s := snaps[0]
			if s.Posts != tt.wantPosts || len(s.Terms) == 0 || s.Terms[0].Term != tt.wantTop || s.Source != tt.source {
				t.Errorf("first snapshot: %d posts, source %v, terms %v; want %d posts led by %q", s.Posts, s.Source, s.Terms, tt.wantPosts, tt.wantTop)
			}
		})
	}
}
