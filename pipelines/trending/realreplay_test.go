package trending

import (
	"context"
	"encoding/json"
	"fmt"
	"net"
	"net/url"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/trendstream/trendstream/internal/api"
	"github.com/trendstream/trendstream/internal/api/dashtest"
	"github.com/trendstream/trendstream/internal/corpus"
	"github.com/trendstream/trendstream/internal/replaytest"
	"github.com/trendstream/trendstream/internal/store"
	"github.com/trendstream/trendstream/internal/testenv"
	"github.com/trendstream/trendstream/transforms/kafkaio"
)

// realReplayRate is the compressed clock of the real replay, in posts per
// second of event time. The bundled corpus is daily "most-liked" snapshots,
// about 200 posts a day over six weeks: at their own created_at times no
// window holds enough authors for anything to rank. In created_at order at
// one post a second (8,552 posts in 2.4 hours) the stories of May 2024 that
// many of them were about (Steve Albini's death, RFK Jr.'s brain worm,
// Alito's flags) are dense enough to trend and group into topics.
const realReplayRate = 1.0

// TestDashboardOfRealReplay replays every post of the bundled corpus of
// real Bluesky posts, and nothing else, through the pipeline with the
// options of `trendstream run -source file:` (production windows, scoring
// and topics, a bounded job), and checks in headless Chromium that the
// dashboard, a topic's page and a term's page show what the read model
// holds. It needs real topics: the replay must group some ranked terms into
// a topic of several terms, or the test fails.
//
// These are the pictures in docs/ (`make screenshots`, UPDATE_SCREENSHOT=1):
// docs/timeline.png (the dashboard as a replay opens it), docs/topics.png
// (the window with the most topics of several terms), docs/topic-page.png
// (its best-ranked such topic) and docs/term-page.png (that topic's label).
func TestDashboardOfRealReplay(t *testing.T) {
	const postsTopic, trendsTopic = "trendstream.posts", "trendstream.trends"
	kc := testenv.Kafka(t, 2, postsTopic, trendsTopic)
	db := testenv.Postgres(t)
	ctx, cancel := context.WithTimeout(context.Background(), 12*time.Minute)
	defer cancel()
	all, err := corpus.Posts()
	if err != nil {
		t.Fatal(err)
	}
	replaytest.MustProduce(t, kc.Addrs(), postsTopic, corpus.Retime(all, t0, realReplayRate))

	o := DefaultOptions()
	o.Brokers, o.DatabaseURL = strings.Join(kc.Addrs(), ","), db
	o.Bounded, o.Start = true, kafkaio.Start{Kind: kafkaio.StartEarliest}
	started := time.Now()
	run(t, o)
	t.Logf("pipeline over %d real posts: %v", len(all), time.Since(started).Round(time.Second))

	st, err := store.Open(ctx, db)
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	tl, err := st.Timeline(ctx, store.TimelineFilter{Terms: 20})
	if err != nil {
		t.Fatal(err)
	}
	if tl.LatestTrending == nil {
		t.Fatal("nothing trended in the replay of real posts")
	}

	// The overall window with the most topics of several terms (then the
	// most such members, then the earliest), and its best-ranked one.
	multi := func(tw store.TopicWindow) (n, members int) {
		for _, tp := range tw.Topics {
			if len(tp.Members) > 1 {
				n, members = n+1, members+len(tp.Members)
			}
		}
		return n, members
	}
	var best *store.TopicWindow
	seen := map[time.Time]bool{}
	stories := map[string]string{}
	for _, w := range tl.Windows {
		if seen[w.End] {
			continue
		}
		seen[w.End] = true
		ws, err := st.Topics(ctx, store.Filter{At: w.End, Limit: 12})
		if err != nil {
			t.Fatal(err)
		}
		if len(ws) != 1 || !ws[0].End.Equal(w.End) {
			continue
		}
		for _, tp := range ws[0].Topics {
			if len(tp.Members) > 1 {
				var ms []string
				for _, m := range tp.Members {
					ms = append(ms, m.Term)
				}
				stories[tp.ID] = strings.Join(ms, ",")
			}
		}
		n, m := multi(ws[0])
		if bn, bm := 0, 0; best != nil {
			bn, bm = multi(*best)
			if n < bn || n == bn && m <= bm {
				continue
			}
		} else if n == 0 {
			continue
		}
		best = &ws[0]
	}
	if best == nil {
		t.Fatalf("no window of the replay of real posts has a topic of several terms (%d windows)", len(seen))
	}
	t.Logf("%d topics of several terms in the replay: %v", len(stories), stories)
	at := best.End
	var topic store.Topic
	for _, tp := range best.Topics {
		if len(tp.Members) > 1 {
			topic = tp
			break
		}
	}
	want := cardsOf(*best)
	t.Logf("topics at %v: %q", at, want)

	srv := api.New(st, api.Options{})
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	go func() { _ = srv.Serve(ctx, ln) }()
	base := "http://" + ln.Addr().String()
	docs := func(name string) string { return filepath.Join("..", "..", "docs", name) }
	iso := func(t time.Time) string { return t.UTC().Format("2006-01-02T15:04:05.000Z") }
	shown := func(kind, term string) string {
		if kind == "hashtag" {
			return "#" + term
		}
		return term
	}
	// waitCards waits until the topics view shows the cards want (topic id
	// and member terms, in order): it loads after the ranking, and again
	// when the page pins the window it opens on.
	waitCards := func(bctx context.Context, want []string) {
		t.Helper()
		// JSON of the JSON: a JavaScript string literal of the array's
		// JSON, whatever the terms hold.
		js, err := json.Marshal(want)
		if err == nil {
			js, err = json.Marshal(string(js))
		}
		if err != nil {
			t.Fatal(err)
		}
		dashtest.WaitJS(t, bctx, `document.body.dataset.topics !== undefined && JSON.stringify(Array.from(document.querySelectorAll('#topics article.topic')).map(a =>
			a.dataset.id + ' ' + Array.from(a.querySelectorAll('a.member')).map(m => m.dataset.term).join(','))) === `+string(js))
	}
	inert := func(bctx context.Context, page string) {
		t.Helper()
		if in, err := dashtest.Inert(bctx); err != nil || in != (dashtest.Inertness{}) {
			t.Errorf("%s: post text interpreted as markup: %+v (%v)", page, in, err)
		}
	}

	// The dashboard as a replay opens it: the last window with trends.
	bctx := dashtest.Browser(t, ctx)
	if err := chromedp.Do(bctx, chromedp.Navigate(base+"/")); err != nil {
		t.Fatal(err)
	}
	dashtest.WaitJS(t, bctx, `document.body.dataset.loaded === 'true' && document.body.dataset.view === '`+iso(*tl.LatestTrending)+`'`)
	latest, err := st.CurrentTrends(ctx, store.Filter{At: *tl.LatestTrending, Limit: 20})
	if err != nil || len(latest) == 0 {
		t.Fatalf("no overall ranking at %v (%v)", *tl.LatestTrending, err)
	}
	var ranking []string
	for _, term := range latest[0].Terms {
		ranking = append(ranking, shown(term.Kind, term.Term))
	}
	if got, err := dashtest.Terms(bctx, ""); err != nil || !slices.Equal(got, ranking) {
		t.Errorf("the dashboard opened on %q (%v), want the read model's newest ranking with trends %q", got, err, ranking)
	}
	latestTopics, err := st.Topics(ctx, store.Filter{At: *tl.LatestTrending, Limit: 12})
	if err != nil || len(latestTopics) != 1 {
		t.Fatalf("read model topics at %v: %v (%v)", *tl.LatestTrending, latestTopics, err)
	}
	waitCards(bctx, cardsOf(latestTopics[0]))
	inert(bctx, "dashboard")
	dashtest.Screenshot(t, bctx, docs("timeline.png"))

	// The window with the most topics: the read model's topics, in order.
	if err := chromedp.Do(bctx, chromedp.Navigate(base+"/?at="+url.QueryEscape(at.Format(time.RFC3339)))); err != nil {
		t.Fatal(err)
	}
	dashtest.WaitJS(t, bctx, `document.body.dataset.loaded === 'true' && document.body.dataset.view === '`+iso(at)+`'`)
	waitCards(bctx, want)
	inert(bctx, "dashboard at "+iso(at))
	dashtest.Screenshot(t, bctx, docs("topics.png"))

	// The topic's page, from its card: label, history, members and
	// examples as the read model has them.
	href, err := chromedp.Run(bctx, chromedp.Evaluate[string](`document.querySelector('#topics article.topic[data-id="`+topic.ID+`"] a.topic-link').href`))
	if err != nil {
		t.Fatal(err)
	}
	if err := chromedp.Do(bctx, chromedp.Navigate(href)); err != nil {
		t.Fatal(err)
	}
	dashtest.WaitJS(t, bctx, `document.body.dataset.loaded === 'true'`)
	page, err := st.TopicHistory(ctx, topic.ID, store.HistoryFilter{Windows: 1440, From: at.Add(-4 * time.Hour), Until: at})
	if err != nil || page == nil || len(page.History) == 0 {
		t.Fatalf("topic history of %s: %v %v", topic.ID, page, err)
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
	if len(exTexts) == 0 {
		t.Errorf("topic %s (%s) has no example posts", topic.ID, topic.Label)
	}
	inert(bctx, "topic page")
	dashtest.Screenshot(t, bctx, docs("topic-page.png"))

	// The page of the topic's label term, from the topic's card: its
	// history and example posts as the read model has them.
	var label store.TopicMember
	for _, m := range topic.Members {
		if m.Term == topic.Label && m.Kind == topic.LabelKind {
			label = m
		}
	}
	if label.Term == "" {
		t.Fatalf("topic %s: label %q is none of its members %+v", topic.ID, topic.Label, topic.Members)
	}
	q := url.Values{"kind": {label.Kind}, "term_lang": {topic.TermLang}, "at": {at.Format(time.RFC3339)}}
	if err := chromedp.Do(bctx, chromedp.Navigate(base+"/term/"+url.PathEscape(label.Term)+"?"+q.Encode())); err != nil {
		t.Fatal(err)
	}
	dashtest.WaitJS(t, bctx, `document.body.dataset.loaded === 'true' && document.body.dataset.examples !== undefined`)
	hf := store.HistoryFilter{Kind: label.Kind, TermLang: topic.TermLang, Windows: store.MaxHistory, From: at.Add(-4 * time.Hour), Until: at}
	ps, err := st.TermHistory(ctx, label.Term, hf)
	if err != nil {
		t.Fatal(err)
	}
	ex, err := st.TermExamples(ctx, label.Term, hf)
	if err != nil {
		t.Fatal(err)
	}
	termPage, err := chromedp.Run(bctx, chromedp.Evaluate[[]string](`[document.getElementById('term').textContent, document.body.dataset.points,
		...Array.from(document.querySelectorAll('#examples li.example blockquote.post-text')).map(b => b.textContent)]`))
	if err != nil {
		t.Fatal(err)
	}
	wantTerm := []string{shown(label.Kind, label.Term), fmt.Sprint(len(ps))}
	for _, e := range ex {
		wantTerm = append(wantTerm, e.Text)
	}
	if !slices.Equal(termPage, wantTerm) || len(ex) == 0 {
		t.Errorf("term page %q, want the read model's %q (with examples)", termPage, wantTerm)
	}
	inert(bctx, "term page")
	dashtest.Screenshot(t, bctx, docs("term-page.png"))
}

// cardsOf is what the topics view shows of a window's topics: each topic's
// id and member terms, in rank order.
func cardsOf(tw store.TopicWindow) []string {
	var out []string
	for _, tp := range tw.Topics {
		var ms []string
		for _, m := range tp.Members {
			ms = append(ms, m.Term)
		}
		out = append(out, tp.ID+" "+strings.Join(ms, ","))
	}
	return out
}
