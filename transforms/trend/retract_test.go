package trend

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/apache/beam/sdks/v2/go/pkg/beam"
	"google.golang.org/protobuf/types/known/timestamppb"

	"github.com/trendstream/trendstream/internal/core/recentposts"
	tsv1 "github.com/trendstream/trendstream/proto/trendstream/v1"
)

// retractCase is referenceCase with deletes: most of two bursts deleted
// while some of their windows are open (one 20 s after each post, one 4
// minutes after, and those deletes arrive 3 minutes late, behind the
// watermark, through the correction path: late says which), every 9th
// background post deleted a minute after it was made, and deletes that
// must change nothing: past the horizon, by another author, twice, and of
// a post never made.
func retractCase(t *testing.T) (all []*tsv1.Post, cfg Config, late func(i int) bool) {
	posts, cfg := referenceCase(t)
	cfg.AllowedLateness = 10 * time.Minute
	cfg.RetractDeletes = true
	burst := map[int][]*tsv1.Post{}
	for _, p := range posts {
		var k, i int
		if _, err := fmt.Sscanf(p.GetAuthorDid(), "did:plc:burst%d-%d", &k, &i); err == nil {
			// The bursts copy one post's text, URI included: each copy is
			// a post of its own.
			p.Uri = fmt.Sprintf("at://%s/app.bsky.feed.post/b%d", p.GetAuthorDid(), k)
			burst[k] = append(burst[k], p)
		}
	}
	del := func(p *tsv1.Post, after time.Duration) *tsv1.Post {
		return &tsv1.Post{
			Uri: p.GetUri(), AuthorDid: p.GetAuthorDid(), Operation: tsv1.Operation_OPERATION_DELETE,
			ObservedAt: timestamppb.New(p.GetObservedAt().AsTime().Add(after)), Source: p.GetSource(),
		}
	}
	var deletes []*tsv1.Post
	for _, p := range burst[1][:30] {
		deletes = append(deletes, del(p, 20*time.Second)) // mostly before release
	}
	lateFrom := len(posts) + len(deletes)
	for _, p := range burst[2][:25] {
		deletes = append(deletes, del(p, 4*time.Minute)) // after a release
	}
	lateTo := len(posts) + len(deletes)
	for _, p := range burst[3][:20] {
		deletes = append(deletes, del(p, 15*time.Minute)) // past the horizon
	}
	n := 0
	for _, p := range posts {
		if strings.HasPrefix(p.GetAuthorDid(), "did:plc:burst") || p.GetUri() == "" {
			continue
		}
		if n++; n%9 == 0 {
			deletes = append(deletes, del(p, time.Minute))
			if n%27 == 0 {
				deletes = append(deletes, del(p, 2*time.Minute)) // twice
			}
		}
	}
	other := del(burst[0][0], time.Minute)
	other.AuthorDid = "did:plc:someone-else"
	never := del(burst[0][1], time.Minute)
	never.Uri += "-never-posted"
	all = append(posts, append(deletes, other, never)...)
	// As the ingest does: each delete of a post it read carries the post.
	if n := recentposts.Attach(all); n == 0 {
		t.Fatal("no delete carries its post")
	}
	return all, cfg, func(i int) bool { return i >= lateFrom && i < lateTo }
}

// TestDeletesRetract streams posts and deletes of some of them through the
// composite and checks every ranking against the reference with
// RetractDeletes, with the worker's state cache and without; the late
// deletes correct windows through the undo log with the cache and by
// replay without it. The deletes
// change the reference's rankings, so a pipeline that ignored them would
// fail (checked by hand with RetractDeletes off in the pipeline only).
func TestDeletesRetract(t *testing.T) {
	posts, cfg, late := retractCase(t)
	want := referenceSnapshots(t, cfg, posts)
	off := cfg
	off.RetractDeletes = false
	if len(diffSnapshots(referenceSnapshots(t, off, posts), want)) == 0 {
		t.Fatal("the deletes change no ranking of the reference: the test would prove nothing")
	}
	for _, cached := range []bool{true, false} {
		t.Run(fmt.Sprintf("cache=%v", cached), func(t *testing.T) {
			run := runTrends(t, cached, cfg, func(s beam.Scope) beam.PCollection {
				return streamPosts(t, s, posts, late, 3*time.Minute)
			})
			checkCorrectionPaths(t, run, cached)
			got := withoutWithdrawn(latestSnapshots(run.Snapshots))
			for _, d := range diffSnapshots(got, want) {
				t.Error(d)
			}
			for k, g := range got {
				if want[k] == nil {
					t.Errorf("ranking %s not in the reference: %d posts, %d terms", k, g.GetPosts(), len(g.GetTerms()))
				}
			}
		})
	}
}

// withoutWithdrawn drops the rankings a correction withdrew: a window
// ranked before every post of its language in it was deleted ends with a
// snapshot of no posts and no terms, where the reference has none.
func withoutWithdrawn(snaps map[string]*tsv1.WindowSnapshot) map[string]*tsv1.WindowSnapshot {
	out := map[string]*tsv1.WindowSnapshot{}
	for k, s := range snaps {
		if s.GetPosts() != 0 || len(s.GetTerms()) != 0 {
			out[k] = s
		}
	}
	return out
}
