package trending

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"google.golang.org/protobuf/types/known/timestamppb"

	"github.com/trendstream/trendstream/internal/core/recentposts"
	"github.com/trendstream/trendstream/internal/testenv/replaytest"
	tsv1 "github.com/trendstream/trendstream/proto/trendstream/v1"
)

// TestDeletesRetractOnPrism runs the pipeline on Prism over the scenario
// with deletes, as the ingest writes them into the posts topic, and checks
// that the results topic holds exactly the rankings of the reference with
// RetractDeletes: ten of the burst's fifteen posts deleted while some of
// its windows are open (half 20 s after they were made, half 3 minutes
// after), every 7th background post deleted a minute after it was made,
// and deletes after the posts' last window, which change nothing. The deletes change the reference's rankings, so a pipeline that
// only counted them would fail (checked by hand with -retract-deletes=false).
func TestDeletesRetractOnPrism(t *testing.T) {
	posts := replaytest.MustScenario(t, t0)
	del := func(p *tsv1.Post, after time.Duration) *tsv1.Post {
		return &tsv1.Post{
			Uri: p.GetUri(), AuthorDid: p.GetAuthorDid(), Operation: tsv1.Operation_OPERATION_DELETE,
			ObservedAt: timestamppb.New(p.GetObservedAt().AsTime().Add(after)), Source: p.GetSource(),
		}
	}
	var deletes []*tsv1.Post
	burst, n := 0, 0
	for _, p := range posts {
		if p.GetOperation() == tsv1.Operation_OPERATION_DELETE {
			continue
		}
		switch {
		case strings.HasPrefix(p.GetAuthorDid(), "did:plc:burst"):
			switch burst++; {
			case burst <= 5:
				deletes = append(deletes, del(p, 20*time.Second))
			case burst <= 10:
				deletes = append(deletes, del(p, 3*time.Minute))
			}
		case p.GetUri() != "" && !strings.Contains(p.GetAuthorDid(), "spammer"):
			if n++; n%7 == 0 {
				deletes = append(deletes, del(p, time.Minute))
			} else if n%11 == 0 {
				deletes = append(deletes, del(p, 12*time.Minute)) // after the post's last window
			}
		}
	}
	posts = append(posts, deletes...)
	replaytest.SortByEventTime(posts)
	// As the ingest writes them: a delete of a post it read carries it.
	if n := recentposts.Attach(posts); n == 0 {
		t.Fatal("no delete carries its post")
	}

	o := testOptions(nil, "")
	o.RetractDeletes = true
	if o.WindowSize != 5*time.Minute || o.WindowPeriod != time.Minute {
		t.Fatalf("default windows changed to %v every %v: the deletes above no longer test what they say", o.WindowSize, o.WindowPeriod)
	}
	want := expected(t, posts, o)
	off := o
	off.RetractDeletes = false
	notRetracted := expected(t, posts, off)
	if sameSnapshots(notRetracted, want) {
		t.Fatal("the deletes change no ranking of the reference: the test would prove nothing")
	}
	got := rankOnPrism(t, posts, &o)
	// A window ranked before all its language's posts in it were deleted
	// is withdrawn by a snapshot of no posts and no terms; the reference
	// has no such window.
	for k, s := range got {
		if s.GetPosts() == 0 && len(s.GetTerms()) == 0 && want[k] == nil {
			delete(got, k)
		}
	}
	compareSnapshots(t, got, want)

	// Counted, the deleted burst would lead the overall ranking of the
	// window ending at minute 14. Five of its posts were deleted 20 s
	// after they were made, before that window closed: ten authors are
	// left there. Five more were deleted 3 minutes later, after it closed:
	// from the window ending at minute 16, which holds those deletes, five
	// are left, too few to trend.
	key := fmt.Sprintf("1||%d", t0.Add(14*time.Minute).UnixMilli())
	if s := notRetracted[key]; s == nil || len(s.GetTerms()) == 0 || s.GetTerms()[0].GetTerm() != "solareclipse" {
		t.Fatalf("without retraction, the reference's window ending at minute 14 is %v: the burst no longer tests retraction", s.GetTerms())
	}
	authors := func(minute int) int64 {
		for _, term := range got[fmt.Sprintf("1||%d", t0.Add(time.Duration(minute)*time.Minute).UnixMilli())].GetTerms() {
			if term.GetTerm() == "solareclipse" {
				return term.GetUniqueAuthors()
			}
		}
		return 0
	}
	if n := authors(14); n != 10 {
		t.Errorf("window ending at minute 14: solareclipse by %d authors, want 10 (5 of its 15 posts deleted while it was open)", n)
	}
	if n := authors(16); n > 5 {
		t.Errorf("window ending at minute 16: solareclipse by %d authors, 10 of its 15 posts were deleted", n)
	}
}
