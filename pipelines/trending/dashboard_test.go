package trending

import (
	"context"
	"fmt"
	"maps"
	"net/url"
	"slices"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
	"google.golang.org/protobuf/types/known/timestamppb"

	"github.com/trendstream/trendstream/internal/readside/api"
	"github.com/trendstream/trendstream/internal/readside/store"
	"github.com/trendstream/trendstream/internal/testenv"
	"github.com/trendstream/trendstream/internal/testenv/corpus"
	"github.com/trendstream/trendstream/internal/testenv/dashtest"
	"github.com/trendstream/trendstream/internal/testenv/replaytest"
	tsv1 "github.com/trendstream/trendstream/proto/trendstream/v1"
	"github.com/trendstream/trendstream/transforms/kafkaio"
)

// Hostile hashtags: Bluesky tags are free text, so markup can arrive as a
// term through the real pipeline.
const (
	scriptTag = "<script>window.pwned=1</script>"
	imgTag    = "<img src=x onerror=window.pwned=1>"
)

func burst(tag string, authors int, at time.Time) []*tsv1.Post {
	var out []*tsv1.Post
	for i := range authors {
		did := fmt.Sprintf("did:plc:%x%02d", len(tag)*7919+int(tag[0]), i)
		out = append(out, &tsv1.Post{
			Uri: fmt.Sprintf("at://%s/app.bsky.feed.post/%d", did, i), AuthorDid: did,
			Text: "#" + tag, Hashtags: []string{tag}, Langs: []string{"en"},
			ObservedAt: timestamppb.New(at.Add(time.Duration(i) * time.Second)),
			Source:     tsv1.Source_SOURCE_BLUESKY, Operation: tsv1.Operation_OPERATION_CREATE,
		})
	}
	return out
}

// TestDashboardFedByPipeline runs the real pipeline on Prism, serves its
// read model and results topic, and checks in headless Chromium that the
// dashboard shows the pipeline's trends, that a second pipeline run's
// rankings arrive without a reload, and that hostile terms stay text.
func TestDashboardFedByPipeline(t *testing.T) {
	db := testenv.Postgres(t)
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()

	all := replaytest.MustCorpus(t)
	// Phase 1: 12 minutes of real posts, then three bursts in minute 12.
	phase1 := corpus.Retime(all[:360], t0, 0.5)
	phase1 = append(phase1, burst("SolarEclipse", 30, t0.Add(12*time.Minute))...)
	phase1 = append(phase1, burst(scriptTag, 20, t0.Add(12*time.Minute))...)
	phase1 = append(phase1, burst(imgTag, 20, t0.Add(12*time.Minute))...)
	kc := testenv.Replay(t, 2, phase1)

	o := testOptions(kc.Addrs(), db)
	o.Start = kafkaio.Start{Kind: kafkaio.StartCommitted}
	o.Score.Exit = 0.5 // keep the bursts listed while their windows slide on
	run(t, o)
	st := openStore(t, ctx, db)
	srv := api.New(st, api.Options{})
	base := dashtest.Serve(t, ctx, srv)
	dashtest.Feed(t, ctx, srv, kc.Addrs(), testenv.TrendsTopic)

	// What the read model says is current is what the page must show.
	current, err := st.CurrentTrends(ctx, store.Filter{Limit: 20})
	if err != nil || len(current) == 0 {
		t.Fatalf("no current ranking after the pipeline ran (%v)", err)
	}
	want := dashtest.TermTexts(current[0].Terms)
	for _, tag := range []string{"#solareclipse", "#" + scriptTag, "#" + imgTag} {
		if !slices.Contains(want, tag) {
			t.Fatalf("the pipeline's current ranking %q lacks %q", want, tag)
		}
	}

	bctx := dashtest.Browser(t, ctx)
	dashtest.Open(t, bctx, base+"/")
	if err := dashtest.WaitTerm(bctx, "", "solareclipse"); err != nil {
		t.Fatalf("dashboard never showed the pipeline's top term: %v", err)
	}
	shown, err := dashtest.Terms(bctx, "")
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(shown, want) {
		t.Errorf("dashboard shows %q, want the read model's %q", shown, want)
	}
	// The bursts are planted, so the pictures in docs/ come from
	// TestDashboardOfRealReplay instead.
	dashtest.CheckInert(t, bctx, "dashboard")
	if _, err := chromedp.Run(bctx, chromedp.Evaluate[int](`window.__noReload = 42`)); err != nil {
		t.Fatal(err)
	}

	// Phase 2: more posts and a new burst; a second pipeline run resumes
	// from the committed offsets and its rankings are pushed live.
	phase2 := corpus.Retime(all[360:420], t0.Add(14*time.Minute), 0.5)
	phase2 = append(phase2, burst("Aurora", 25, t0.Add(15*time.Minute))...)
	replaytest.MustProduce(t, kc.Addrs(), testenv.PostsTopic, phase2)
	run(t, o)
	if err := dashtest.WaitTerm(bctx, "", "aurora"); err != nil {
		t.Fatalf("the second run's ranking never reached the open page: %v", err)
	}
	if marker, err := chromedp.Run(bctx, chromedp.Evaluate[*int](`window.__noReload`)); err != nil || marker == nil || *marker != 42 {
		t.Errorf("the page reloaded to show the update (err %v)", err)
	}
	if inert, err := dashtest.Inert(bctx); err != nil || inert.Pwned {
		t.Errorf("window.pwned set after the update: %+v (%v)", inert, err)
	}
}

// TestTimelineFedByPipeline replays four hours of real Bluesky posts (the
// bundled corpus on a compressed clock) through the pipeline on Prism, as
// `trendstream run -source file:` does with a recording, and checks the
// timeline in headless Chromium against the read model: the dashboard
// opens on the newest window that ranked anything, not on the windows of
// the recording's trickling end; the slider lists every window; the
// overview lists the terms that trended and when; a past window shows its
// ranking; a term's page shows its history. Hostile hashtags stay text.
//
// The hostile bursts are planted, so the pictures in docs/ come from
// TestDashboardOfRealReplay instead.
func TestTimelineFedByPipeline(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 8*time.Minute)
	defer cancel()

	all := replaytest.MustCorpus(t)
	// Four hours at one post every two seconds, then a recording's end: six
	// more posts over ten minutes, too few to rank anything.
	const dense = 4 * 3600 / 2
	replay := corpus.Retime(all[:dense], t0, 0.5)
	end := t0.Add(4 * time.Hour)
	replay = append(replay, corpus.Retime(all[dense:dense+6], end.Add(time.Minute), 1.0/100)...)
	// Markup as hashtags, trending in the second hour.
	replay = append(replay, burst(scriptTag, 20, t0.Add(90*time.Minute))...)
	replay = append(replay, burst(imgTag, 20, t0.Add(90*time.Minute))...)
	// In time order, as a recording is: posts produced after later ones
	// would be late and dropped.
	replaytest.SortByEventTime(replay)
	st := runRecording(t, ctx, replay)
	// The dashboard asks for the default stretch and 20 terms.
	tl, err := st.Timeline(ctx, store.TimelineFilter{Terms: 20})
	if err != nil {
		t.Fatal(err)
	}
	if tl.LatestTrending == nil || !tl.LatestTrending.Before(*tl.Newest) || len(tl.Terms) == 0 {
		t.Fatalf("the replay should end in windows that rank nothing after windows that do: newest %v, latest trending %v, %d terms",
			tl.Newest, tl.LatestTrending, len(tl.Terms))
	}
	entries := 0
	for _, w := range tl.Windows {
		entries += *w.Ranked
	}
	t.Logf("%d windows from %v to %v, %d ranked entries, newest with trends %v; overview: %d terms",
		len(tl.Windows), tl.Windows[0].End, *tl.Newest, entries, *tl.LatestTrending, len(tl.Terms))

	base := dashtest.Serve(t, ctx, api.New(st, api.Options{}))
	rankingAt := func(at time.Time) []string { return dashtest.Ranking(t, ctx, st, at) }
	bctx := dashtest.Browser(t, ctx)
	dashtest.Open(t, bctx, base+"/")
	dashtest.WaitView(t, bctx, *tl.LatestTrending)
	if shown, err := dashtest.Terms(bctx, ""); err != nil || !slices.Equal(shown, rankingAt(*tl.LatestTrending)) {
		t.Errorf("the dashboard opened on %q (%v), want the read model's newest ranking with trends %q", shown, err, rankingAt(*tl.LatestTrending))
	}
	ends := map[time.Time]bool{}
	for _, w := range tl.Windows {
		ends[w.End] = true
	}
	if max, err := chromedp.Run(bctx, chromedp.Evaluate[string](`document.getElementById('slider').max`)); err != nil || max != fmt.Sprint(len(ends)-1) {
		t.Errorf("slider max %q (%v), want %d windows", max, err, len(ends))
	}
	type row struct {
		Label string `json:"label"`
		Marks int    `json:"marks"`
	}
	rows, err := chromedp.Run(bctx, chromedp.Evaluate[[]row](`Array.from(document.querySelectorAll('#overview .ov-row[data-term]')).map(r => ({
		label: r.querySelector('.ov-term a').textContent, marks: r.querySelectorAll('rect.mark').length}))`))
	if err != nil {
		t.Fatal(err)
	}
	var want []row
	for _, term := range tl.Terms {
		want = append(want, row{dashtest.Shown(term.Kind, term.Term), term.Windows})
	}
	if !slices.Equal(rows, want) {
		t.Errorf("overview rows %+v, want the read model's %+v", rows, want)
	}
	// A past window: of those that ranked the most persistent term, the
	// one that ranked the most terms.
	top := tl.Terms[0]
	for _, term := range tl.Terms {
		if term.Windows > top.Windows {
			top = term
		}
	}
	rankedIn := map[time.Time]int{}
	for _, w := range tl.Windows {
		rankedIn[w.End] = max(rankedIn[w.End], *w.Ranked)
	}
	at := top.Points[0].End
	for _, p := range top.Points {
		if rankedIn[p.End] > rankedIn[at] {
			at = p.End
		}
	}
	sorted := slices.SortedFunc(maps.Keys(ends), time.Time.Compare)
	idx := slices.IndexFunc(sorted, func(e time.Time) bool { return e.Equal(at) })
	if _, err := chromedp.Run(bctx, chromedp.Evaluate[bool](fmt.Sprintf(`(() => { const s = document.getElementById('slider');
		s.value = '%d'; s.dispatchEvent(new Event('input')); return s.dispatchEvent(new Event('change')); })()`, idx))); err != nil {
		t.Fatal(err)
	}
	dashtest.WaitView(t, bctx, at)
	if shown, err := dashtest.Terms(bctx, ""); err != nil || !slices.Equal(shown, rankingAt(at)) {
		t.Errorf("at %v the dashboard shows %q (%v), want %q", at, shown, err, rankingAt(at))
	}
	dashtest.CheckInert(t, bctx, "dashboard at "+dashtest.ISO(at))

	// The term page of the most persistent term, as linked from the
	// overview, as of the window shown.
	href, err := chromedp.Run(bctx, chromedp.Evaluate[string](fmt.Sprintf(
		`Array.from(document.querySelectorAll('#overview .ov-row')).find(r => r.dataset.term === %q && r.dataset.kind === %q && r.dataset.termLang === %q).querySelector('a.term-link').href`,
		top.Term, top.Kind, top.TermLang)))
	if err != nil {
		t.Fatal(err)
	}
	checkTermPage := func(href string, term store.TimelineTerm, at time.Time) {
		t.Helper()
		dashtest.CheckTermPage(t, ctx, bctx, st, href, term.Term, store.HistoryFilter{Source: term.Source, Kind: term.Kind, TermLang: term.TermLang}, at)
	}
	checkTermPage(href, top, at)

	// The hostile hashtag trended briefly in the second hour: a link to
	// the window where it ranked best shows it as text, and so does its
	// page, opened from the ranking's table.
	every, err := st.Timeline(ctx, store.TimelineFilter{Terms: store.MaxTimelineTerms})
	if err != nil {
		t.Fatal(err)
	}
	h := slices.IndexFunc(every.Terms, func(tt store.TimelineTerm) bool { return tt.Term == scriptTag })
	if h < 0 {
		t.Fatalf("the hostile hashtag %q never trended in the replay", scriptTag)
	}
	hostile := every.Terms[h]
	atH := hostile.Points[0].End
	for _, p := range hostile.Points {
		if p.Rank < hostile.Points[0].Rank {
			atH = p.End
		}
	}
	dashtest.Open(t, bctx, base+"/?at="+url.QueryEscape(atH.Format(time.RFC3339)))
	dashtest.WaitView(t, bctx, atH)
	shown, err := dashtest.Terms(bctx, "")
	if err != nil || !slices.Equal(shown, rankingAt(atH)) || !slices.Contains(shown, "#"+scriptTag) {
		t.Errorf("at %v the dashboard shows %q (%v), want %q with the hostile hashtag", atH, shown, err, rankingAt(atH))
	}
	dashtest.CheckInert(t, bctx, "dashboard at "+dashtest.ISO(atH))
	href, err = chromedp.Run(bctx, chromedp.Evaluate[string](fmt.Sprintf(
		`Array.from(document.querySelectorAll('#rankings tr')).find(r => r.dataset.term === %q).querySelector('a.term-link').href`, scriptTag)))
	if err != nil {
		t.Fatal(err)
	}
	checkTermPage(href, hostile, atH)
}
