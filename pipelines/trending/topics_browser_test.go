package trending

import (
	"context"
	"fmt"
	"net/url"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
	"google.golang.org/protobuf/types/known/timestamppb"

	"github.com/trendstream/trendstream/internal/readside/api"
	"github.com/trendstream/trendstream/internal/readside/store"
	"github.com/trendstream/trendstream/internal/testenv/corpus"
	"github.com/trendstream/trendstream/internal/testenv/dashtest"
	"github.com/trendstream/trendstream/internal/testenv/replaytest"
	tsv1 "github.com/trendstream/trendstream/proto/trendstream/v1"
)

// story is a story told by authors with several hashtags and words within
// two minutes from at; the last of them posts markup as text.
func story(name string, authors int, at time.Time, tags []string, text string) []*tsv1.Post {
	var out []*tsv1.Post
	for i := range authors {
		did := fmt.Sprintf("did:plc:%s%02d", name, i)
		body := fmt.Sprintf(text, i)
		if i == authors-1 {
			body += " " + imgTag
		}
		out = append(out, &tsv1.Post{
			Uri: fmt.Sprintf("at://%s/app.bsky.feed.post/3%s%d", did, name, i), AuthorDid: did,
			Text: body, Hashtags: tags, Langs: []string{"en"},
			ObservedAt: timestamppb.New(at.Add(time.Duration(i*120/authors) * time.Second)),
			Source:     tsv1.Source_SOURCE_BLUESKY, Operation: tsv1.Operation_OPERATION_CREATE,
		})
	}
	return out
}

// TestTopicsFedByPipeline runs the pipeline with production defaults over
// an hour of real posts with two planted multi-hashtag stories, serves its
// read model, and checks in headless Chromium that the dashboard's topics
// view shows the read model's topics with their member terms, that a
// topic's page shows its history, members and example posts, and that a
// term's page shows its example posts. Post text stays text.
//
// The stories are planted, so the pictures in docs/ come from
// TestDashboardOfRealReplay instead.
func TestTopicsFedByPipeline(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 6*time.Minute)
	defer cancel()
	all := replaytest.MustCorpus(t)
	replay := corpus.Retime(all[:1800], t0, 0.5) // an hour
	replay = append(replay, story("aurora", 24, t0.Add(40*time.Minute), []string{"Aurora", "NorthernLights"},
		"#Aurora #NorthernLights over the lake tonight, photo %d")...)
	replay = append(replay, story("quake", 18, t0.Add(41*time.Minute), []string{"Earthquake", "Quake"},
		"#Earthquake felt downtown, shaking for ten seconds #Quake (%d)")...)
	replaytest.SortByEventTime(replay)
	st := runRecording(t, ctx, replay)
	at := t0.Add(43 * time.Minute)
	ws, err := st.Topics(ctx, store.Filter{At: at, Limit: 12})
	if err != nil || len(ws) != 1 {
		t.Fatalf("read model topics at %v: %v (%v)", at, ws, err)
	}
	var aurora *store.Topic
	for i, tp := range ws[0].Topics {
		for _, m := range tp.Members {
			if m.Term == "aurora" {
				aurora = &ws[0].Topics[i]
			}
		}
	}
	if aurora == nil || len(aurora.Members) < 2 || len(aurora.Examples) == 0 {
		t.Fatalf("at %v the aurora story is not a topic of several terms with examples: %+v", at, ws[0].Topics)
	}

	base := dashtest.Serve(t, ctx, api.New(st, api.Options{}))

	// The topics view at the story's window: the read model's topics and
	// members, in order.
	bctx := dashtest.Browser(t, ctx)
	dashtest.Open(t, bctx, base+"/?at="+url.QueryEscape(at.Format(time.RFC3339)))
	dashtest.WaitView(t, bctx, at)
	dashtest.WaitCards(t, bctx, dashtest.CardsOf(ws[0]))
	dashtest.CheckInert(t, bctx, "dashboard")

	// The topic's page, from its card, with links to the example posts.
	page := dashtest.CheckTopicPage(t, ctx, bctx, st, aurora.ID, at)
	links, err := chromedp.Run(bctx, chromedp.Evaluate[int](`Array.from(document.querySelectorAll('#examples a.post-link')).filter(a => a.href.startsWith('https://bsky.app/profile/did:plc:aurora')).length`))
	if err != nil || links != len(page.Examples) {
		t.Errorf("%d bsky.app links on the topic page (%v), want %d", links, err, len(page.Examples))
	}

	// A member's term page shows its history and example posts.
	ex := dashtest.CheckTermPage(t, ctx, bctx, st, base+"/term/aurora?kind=hashtag&at="+url.QueryEscape(at.Format(time.RFC3339)),
		"aurora", store.HistoryFilter{Kind: "hashtag"}, at)
	if len(ex) == 0 {
		t.Error("the term page of #aurora has no example posts in the read model")
	}
}
