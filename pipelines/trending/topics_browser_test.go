package trending

import (
	"context"
	"fmt"
	"net"
	"net/url"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
	"google.golang.org/protobuf/types/known/timestamppb"

	"github.com/trendstream/trendstream/internal/api"
	"github.com/trendstream/trendstream/internal/api/dashtest"
	"github.com/trendstream/trendstream/internal/corpus"
	"github.com/trendstream/trendstream/internal/replaytest"
	"github.com/trendstream/trendstream/internal/store"
	"github.com/trendstream/trendstream/internal/testenv"
	tsv1 "github.com/trendstream/trendstream/proto/trendstream/v1"
	"github.com/trendstream/trendstream/transforms/kafkaio"
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
	const postsTopic, trendsTopic = "trendstream.posts", "trendstream.trends"
	kc := testenv.Kafka(t, 2, postsTopic, trendsTopic)
	db := testenv.Postgres(t)
	ctx, cancel := context.WithTimeout(context.Background(), 6*time.Minute)
	defer cancel()
	all, err := corpus.Posts()
	if err != nil {
		t.Fatal(err)
	}
	replay := corpus.Retime(all[:1800], t0, 0.5) // an hour
	replay = append(replay, story("aurora", 24, t0.Add(40*time.Minute), []string{"Aurora", "NorthernLights"},
		"#Aurora #NorthernLights over the lake tonight, photo %d")...)
	replay = append(replay, story("quake", 18, t0.Add(41*time.Minute), []string{"Earthquake", "Quake"},
		"#Earthquake felt downtown, shaking for ten seconds #Quake (%d)")...)
	slices.SortStableFunc(replay, func(a, b *tsv1.Post) int { return a.ObservedAt.AsTime().Compare(b.ObservedAt.AsTime()) })
	replaytest.MustProduce(t, kc.Addrs(), postsTopic, replay)

	o := DefaultOptions()
	o.Brokers, o.DatabaseURL = strings.Join(kc.Addrs(), ","), db
	o.Bounded, o.Start = true, kafkaio.Start{Kind: kafkaio.StartEarliest}
	run(t, o)

	st, err := store.Open(ctx, db)
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	at := t0.Add(43 * time.Minute)
	ws, err := st.Topics(ctx, store.Filter{At: at, Limit: 12})
	if err != nil || len(ws) != 1 {
		t.Fatalf("read model topics at %v: %v (%v)", at, ws, err)
	}
	var aurora *store.Topic
	var want []string
	for i, tp := range ws[0].Topics {
		var ms []string
		for _, m := range tp.Members {
			ms = append(ms, m.Term)
			if m.Term == "aurora" {
				aurora = &ws[0].Topics[i]
			}
		}
		want = append(want, tp.ID+" "+strings.Join(ms, ","))
	}
	if aurora == nil || len(aurora.Members) < 2 || len(aurora.Examples) == 0 {
		t.Fatalf("at %v the aurora story is not a topic of several terms with examples: %+v", at, ws[0].Topics)
	}

	srv := api.New(st, api.Options{})
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	go func() { _ = srv.Serve(ctx, ln) }()
	base := "http://" + ln.Addr().String()
	inert := func(bctx context.Context, page string) {
		t.Helper()
		if in, err := dashtest.Inert(bctx); err != nil || in != (dashtest.Inertness{}) {
			t.Errorf("%s: post text interpreted as markup: %+v (%v)", page, in, err)
		}
	}

	// The topics view at the story's window: the read model's topics and
	// members, in order.
	bctx := dashtest.Browser(t, ctx)
	if err := chromedp.Do(bctx, chromedp.Navigate(base+"/?at="+url.QueryEscape(at.Format(time.RFC3339)))); err != nil {
		t.Fatal(err)
	}
	dashtest.WaitJS(t, bctx, `document.body.dataset.topics !== undefined && document.body.dataset.loaded === 'true'`)
	cards, err := chromedp.Run(bctx, chromedp.Evaluate[[]string](`Array.from(document.querySelectorAll('#topics article.topic')).map(a =>
		a.dataset.id + ' ' + Array.from(a.querySelectorAll('a.member')).map(m => m.dataset.term).join(','))`))
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(cards, want) {
		t.Errorf("topics view %q, want the read model's %q", cards, want)
	}
	inert(bctx, "dashboard")

	// The topic's page, from its card.
	href, err := chromedp.Run(bctx, chromedp.Evaluate[string](`document.querySelector('#topics article.topic[data-id="`+aurora.ID+`"] a.topic-link').href`))
	if err != nil {
		t.Fatal(err)
	}
	if err := chromedp.Do(bctx, chromedp.Navigate(href)); err != nil {
		t.Fatal(err)
	}
	dashtest.WaitJS(t, bctx, `document.body.dataset.loaded === 'true'`)
	page, err := st.TopicHistory(ctx, aurora.ID, store.HistoryFilter{Windows: 1440, From: at.Add(-4 * time.Hour), Until: at})
	if err != nil || page == nil {
		t.Fatalf("topic history: %v %v", page, err)
	}
	last := page.History[len(page.History)-1]
	var members []string
	for _, m := range last.Members {
		members = append(members, m.Term)
	}
	var exTexts []string
	for _, e := range page.Examples {
		exTexts = append(exTexts, e.Text)
	}
	got, err := chromedp.Run(bctx, chromedp.Evaluate[[]string](`[document.getElementById('label').textContent, document.body.dataset.points,
		Array.from(document.querySelectorAll('#members tbody tr')).map(tr => tr.dataset.term).join(','),
		...Array.from(document.querySelectorAll('#examples blockquote.post-text')).map(b => b.textContent)]`))
	if err != nil {
		t.Fatal(err)
	}
	if w := append([]string{last.Label, fmt.Sprint(len(page.History)), strings.Join(members, ",")}, exTexts...); !slices.Equal(got, w) {
		t.Errorf("topic page %q, want %q", got, w)
	}
	links, err := chromedp.Run(bctx, chromedp.Evaluate[int](`Array.from(document.querySelectorAll('#examples a.post-link')).filter(a => a.href.startsWith('https://bsky.app/profile/did:plc:aurora')).length`))
	if err != nil || links != len(page.Examples) {
		t.Errorf("%d bsky.app links on the topic page (%v), want %d", links, err, len(page.Examples))
	}
	inert(bctx, "topic page")

	// A member's term page shows its example posts.
	if err := chromedp.Do(bctx, chromedp.Navigate(base+"/term/aurora?kind=hashtag&at="+url.QueryEscape(at.Format(time.RFC3339)))); err != nil {
		t.Fatal(err)
	}
	dashtest.WaitJS(t, bctx, `document.body.dataset.examples !== undefined`)
	ex, err := st.TermExamples(ctx, "aurora", store.HistoryFilter{Kind: "hashtag", From: at.Add(-4 * time.Hour), Until: at})
	if err != nil {
		t.Fatal(err)
	}
	n, err := chromedp.Run(bctx, chromedp.Evaluate[int](`document.querySelectorAll('#examples li.example').length`))
	if err != nil || n != len(ex) || n == 0 {
		t.Errorf("term page shows %d examples (%v), the read model has %d", n, err, len(ex))
	}
	inert(bctx, "term page")
}
