package trending

import (
	"context"
	"net/url"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/trendstream/trendstream/internal/readside/api"
	"github.com/trendstream/trendstream/internal/readside/store"
	"github.com/trendstream/trendstream/internal/testenv/corpus"
	"github.com/trendstream/trendstream/internal/testenv/dashtest"
	"github.com/trendstream/trendstream/internal/testenv/replaytest"
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
// These are the pictures of the dashboard in docs/ (`make screenshots`,
// UPDATE_SCREENSHOT=1): docs/timeline.png (the dashboard as a replay opens
// it), docs/topics.png (the window with the most topics of several terms),
// docs/dashboard.png (the same for the windows that share none of those
// topics: other stories), docs/topic-page.png (the best-ranked topic of
// several terms of topics.png) and docs/term-page.png (that topic's
// label).
func TestDashboardOfRealReplay(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 12*time.Minute)
	defer cancel()
	all := replaytest.MustCorpus(t)
	st := runRecording(t, ctx, corpus.Retime(all, t0, realReplayRate))
	tl, err := st.Timeline(ctx, store.TimelineFilter{Terms: 20})
	if err != nil {
		t.Fatal(err)
	}
	if tl.LatestTrending == nil {
		t.Fatal("nothing trended in the replay of real posts")
	}

	// The overall windows with topics of several terms, those with the
	// most such topics first (then the most such members, then the
	// earliest).
	multi := func(tw store.TopicWindow) (n, members int) {
		for _, tp := range tw.Topics {
			if len(tp.Members) > 1 {
				n, members = n+1, members+len(tp.Members)
			}
		}
		return n, members
	}
	var windows []store.TopicWindow
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
		if n, _ := multi(ws[0]); n > 0 {
			windows = append(windows, ws[0])
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
	}
	if len(windows) == 0 {
		t.Fatalf("no window of the replay of real posts has a topic of several terms (%d windows)", len(seen))
	}
	t.Logf("%d topics of several terms in the replay: %v", len(stories), stories)
	slices.SortStableFunc(windows, func(a, b store.TopicWindow) int {
		an, am := multi(a)
		bn, bm := multi(b)
		if an != bn {
			return bn - an
		}
		return bm - am
	})
	// docs/topics.png: the first of them, and its best-ranked topic of
	// several terms.
	best := windows[0]
	at := best.End
	var topic store.Topic
	shownTopics := map[string]bool{}
	for _, tp := range best.Topics {
		if len(tp.Members) > 1 {
			if topic.ID == "" {
				topic = tp
			}
			shownTopics[tp.ID] = true
		}
	}
	t.Logf("topics at %v: %q", at, dashtest.CardsOf(best))
	// docs/dashboard.png, the README's picture: the first window of other
	// stories, none of its topics of several terms shown in topics.png, so
	// the two pictures show two moments of the replay.
	other := slices.IndexFunc(windows, func(tw store.TopicWindow) bool {
		return !slices.ContainsFunc(tw.Topics, func(tp store.Topic) bool { return shownTopics[tp.ID] })
	})
	if other < 0 {
		t.Fatalf("every window with topics of several terms shares one with the window at %v", at)
	}
	story := windows[other]
	t.Logf("other stories at %v: %q", story.End, dashtest.CardsOf(story))

	base := dashtest.Serve(t, ctx, api.New(st, api.Options{}))
	docs := func(name string) string { return filepath.Join("..", "..", "docs", name) }
	atURL := func(at time.Time) string { return base + "/?at=" + url.QueryEscape(at.Format(time.RFC3339)) }
	bctx := dashtest.Browser(t, ctx)

	// The dashboard as a replay opens it: the last window with trends.
	dashtest.Open(t, bctx, base+"/")
	dashtest.WaitView(t, bctx, *tl.LatestTrending)
	ranking := dashtest.Ranking(t, ctx, st, *tl.LatestTrending)
	if got, err := dashtest.Terms(bctx, ""); err != nil || !slices.Equal(got, ranking) {
		t.Errorf("the dashboard opened on %q (%v), want the read model's newest ranking with trends %q", got, err, ranking)
	}
	latestTopics, err := st.Topics(ctx, store.Filter{At: *tl.LatestTrending, Limit: 12})
	if err != nil || len(latestTopics) != 1 {
		t.Fatalf("read model topics at %v: %v (%v)", *tl.LatestTrending, latestTopics, err)
	}
	dashtest.WaitCards(t, bctx, dashtest.CardsOf(latestTopics[0]))
	dashtest.CheckInert(t, bctx, "dashboard")
	dashtest.Screenshot(t, bctx, docs("timeline.png"))

	// The window of other stories: its ranking and topics as the read
	// model has them.
	dashtest.Open(t, bctx, atURL(story.End))
	dashtest.WaitView(t, bctx, story.End)
	ranking = dashtest.Ranking(t, ctx, st, story.End)
	if got, err := dashtest.Terms(bctx, ""); err != nil || !slices.Equal(got, ranking) {
		t.Errorf("at %v the dashboard shows %q (%v), want the read model's %q", story.End, got, err, ranking)
	}
	dashtest.WaitCards(t, bctx, dashtest.CardsOf(story))
	dashtest.CheckInert(t, bctx, "dashboard at "+dashtest.ISO(story.End))
	dashtest.Screenshot(t, bctx, docs("dashboard.png"))

	// The window with the most topics: the read model's topics, in order.
	dashtest.Open(t, bctx, atURL(at))
	dashtest.WaitView(t, bctx, at)
	dashtest.WaitCards(t, bctx, dashtest.CardsOf(best))
	dashtest.CheckInert(t, bctx, "dashboard at "+dashtest.ISO(at))
	dashtest.Screenshot(t, bctx, docs("topics.png"))

	// The topic's page, from its card: label, history, members and
	// examples as the read model has them.
	dashtest.CheckTopicPage(t, ctx, bctx, st, topic.ID, at)
	dashtest.Screenshot(t, bctx, docs("topic-page.png"))

	// The page of the topic's label term: its history and example posts as
	// the read model has them.
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
	ex := dashtest.CheckTermPage(t, ctx, bctx, st, base+"/term/"+url.PathEscape(label.Term)+"?"+q.Encode(), label.Term,
		store.HistoryFilter{Kind: label.Kind, TermLang: topic.TermLang}, at)
	if len(ex) == 0 {
		t.Errorf("the label term %q of topic %s has no example posts", label.Term, topic.ID)
	}
	dashtest.Screenshot(t, bctx, docs("term-page.png"))
}
