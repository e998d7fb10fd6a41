package trending

import (
	"context"
	"fmt"
	"maps"
	"net"
	"net/url"
	"path/filepath"
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
	const postsTopic, trendsTopic = "trendstream.posts", "trendstream.trends"
	kc := testenv.Kafka(t, 2, postsTopic, trendsTopic)
	db := testenv.Postgres(t)
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()

	all, err := corpus.Posts()
	if err != nil {
		t.Fatal(err)
	}
	// Phase 1: 12 minutes of real posts, then three bursts in minute 12.
	phase1 := corpus.Retime(all[:360], t0, 0.5)
	phase1 = append(phase1, burst("SolarEclipse", 30, t0.Add(12*time.Minute))...)
	phase1 = append(phase1, burst(scriptTag, 20, t0.Add(12*time.Minute))...)
	phase1 = append(phase1, burst(imgTag, 20, t0.Add(12*time.Minute))...)
	replaytest.MustProduce(t, kc.Addrs(), postsTopic, phase1)

	o := testOptions(kc.Addrs(), db)
	o.Start = kafkaio.Start{Kind: kafkaio.StartCommitted}
	o.Score.Exit = 0.5 // keep the bursts listed while their windows slide on
	run(t, o)

	st, err := store.Open(ctx, db)
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	srv := api.New(st, api.Options{})
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	go func() { _ = srv.Serve(ctx, ln) }()
	ready := make(chan struct{})
	go func() { _ = api.ConsumeTrends(ctx, kc.Addrs(), trendsTopic, srv, api.OnReady(func() { close(ready) })) }()
	select {
	case <-ready:
	case <-ctx.Done():
		t.Fatal("trends feed never became ready")
	}

	// What the read model says is current is what the page must show.
	current, err := st.CurrentTrends(ctx, store.Filter{Limit: 20})
	if err != nil || len(current) == 0 {
		t.Fatalf("no current ranking after the pipeline ran (%v)", err)
	}
	var want []string
	for _, term := range current[0].Terms {
		if term.Kind == "hashtag" {
			want = append(want, "#"+term.Term)
		} else {
			want = append(want, term.Term)
		}
	}
	for _, tag := range []string{"#solareclipse", "#" + scriptTag, "#" + imgTag} {
		if !slices.Contains(want, tag) {
			t.Fatalf("the pipeline's current ranking %q lacks %q", want, tag)
		}
	}

	bctx := dashtest.Browser(t, ctx)
	if err := chromedp.Do(bctx, chromedp.Navigate("http://"+ln.Addr().String()+"/")); err != nil {
		t.Fatalf("load dashboard: %v", err)
	}
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
	if inert, err := dashtest.Inert(bctx); err != nil || inert != (dashtest.Inertness{}) {
		t.Errorf("hostile terms were interpreted as markup: %+v (%v)", inert, err)
	}
	// The screenshot in the README: the first run's ranking, hostile
	// hashtags shown as text.
	dashtest.Screenshot(t, bctx, filepath.Join("..", "..", "docs", "dashboard.png"))
	if _, err := chromedp.Run(bctx, chromedp.Evaluate[int](`window.__noReload = 42`)); err != nil {
		t.Fatal(err)
	}

	// Phase 2: more posts and a new burst; a second pipeline run resumes
	// from the committed offsets and its rankings are pushed live.
	phase2 := corpus.Retime(all[360:420], t0.Add(14*time.Minute), 0.5)
	phase2 = append(phase2, burst("Aurora", 25, t0.Add(15*time.Minute))...)
	replaytest.MustProduce(t, kc.Addrs(), postsTopic, phase2)
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
	const postsTopic, trendsTopic = "trendstream.posts", "trendstream.trends"
	kc := testenv.Kafka(t, 2, postsTopic, trendsTopic)
	db := testenv.Postgres(t)
	ctx, cancel := context.WithTimeout(context.Background(), 8*time.Minute)
	defer cancel()

	all, err := corpus.Posts()
	if err != nil {
		t.Fatal(err)
	}
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
	slices.SortStableFunc(replay, func(a, b *tsv1.Post) int { return a.ObservedAt.AsTime().Compare(b.ObservedAt.AsTime()) })
	replaytest.MustProduce(t, kc.Addrs(), postsTopic, replay)

	// The options of `trendstream run -source file:`: production windows
	// and scoring, a bounded job.
	o := DefaultOptions()
	o.Brokers, o.DatabaseURL = strings.Join(kc.Addrs(), ","), db
	o.Bounded, o.Start = true, kafkaio.Start{Kind: kafkaio.StartEarliest}
	started := time.Now()
	run(t, o)
	t.Logf("pipeline over %d posts: %v", len(replay), time.Since(started).Round(time.Second))

	st, err := store.Open(ctx, db)
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
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

	srv := api.New(st, api.Options{})
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	go func() { _ = srv.Serve(ctx, ln) }()
	base := "http://" + ln.Addr().String()
	shownTerm := func(kind, term string) string {
		if kind == "hashtag" {
			return "#" + term
		}
		return term
	}
	rankingAt := func(at time.Time) []string {
		t.Helper()
		ws, err := st.CurrentTrends(ctx, store.Filter{At: at, Limit: 20})
		if err != nil || len(ws) == 0 {
			t.Fatalf("the read model has no overall ranking at %v (%v)", at, err)
		}
		var out []string
		for _, term := range ws[0].Terms {
			out = append(out, shownTerm(term.Kind, term.Term))
		}
		return out
	}
	iso := func(t time.Time) string { return t.UTC().Format("2006-01-02T15:04:05.000Z") }
	bctx := dashtest.Browser(t, ctx)
	if err := chromedp.Do(bctx, chromedp.Navigate(base+"/")); err != nil {
		t.Fatal(err)
	}
	dashtest.WaitJS(t, bctx, `document.body.dataset.loaded === 'true' && document.body.dataset.view === '`+iso(*tl.LatestTrending)+`'`)
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
		want = append(want, row{shownTerm(term.Kind, term.Term), term.Windows})
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
	dashtest.WaitJS(t, bctx, `document.body.dataset.loaded === 'true' && document.body.dataset.view === '`+iso(at)+`'`)
	if shown, err := dashtest.Terms(bctx, ""); err != nil || !slices.Equal(shown, rankingAt(at)) {
		t.Errorf("at %v the dashboard shows %q (%v), want %q", at, shown, err, rankingAt(at))
	}
	if inert, err := dashtest.Inert(bctx); err != nil || inert != (dashtest.Inertness{}) {
		t.Errorf("hostile terms were interpreted as markup: %+v (%v)", inert, err)
	}

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
		if err := chromedp.Do(bctx, chromedp.Navigate(href)); err != nil {
			t.Fatal(err)
		}
		dashtest.WaitJS(t, bctx, `document.body.dataset.loaded === 'true'`)
		ps, err := st.TermHistory(ctx, term.Term, store.HistoryFilter{Source: term.Source, Kind: term.Kind, TermLang: term.TermLang,
			Windows: store.MaxHistory, From: at.Add(-4 * time.Hour), Until: at})
		if err != nil {
			t.Fatal(err)
		}
		want := []string{shownTerm(term.Kind, term.Term), fmt.Sprint(len(ps))}
		for _, p := range slices.Backward(ps) {
			if p.Rank > 0 {
				want = append(want, fmt.Sprintf("%s %d %d %.1f %.1f", iso(p.End), p.Rank, p.Count, p.Baseline, p.Score))
			}
		}
		page, err := chromedp.Run(bctx, chromedp.Evaluate[[]string](`[document.getElementById('term').textContent, document.body.dataset.points,
			...Array.from(document.querySelectorAll('#windows tbody tr')).map(tr => [new Date(tr.dataset.end).toISOString(),
				tr.querySelector('.rank').textContent, tr.querySelector('.count').textContent.replaceAll(',', ''),
				tr.querySelector('.baseline').textContent, tr.querySelector('.score').textContent].join(' '))]`))
		if err != nil {
			t.Fatal(err)
		}
		if !slices.Equal(page, want) {
			t.Errorf("term page of %q shows\n%q\nwant the read model's\n%q", term.Term, page, want)
		}
		if lines, err := chromedp.Run(bctx, chromedp.Evaluate[int](`document.querySelectorAll('#history-chart polyline.count, #history-chart circle.count').length`)); err != nil || lines == 0 {
			t.Errorf("term page of %q draws no count line (%v)", term.Term, err)
		}
		if inert, err := dashtest.Inert(bctx); err != nil || inert != (dashtest.Inertness{}) {
			t.Errorf("term page of %q: interpreted as markup: %+v (%v)", term.Term, inert, err)
		}
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
	if err := chromedp.Do(bctx, chromedp.Navigate(base+"/?at="+url.QueryEscape(atH.Format(time.RFC3339)))); err != nil {
		t.Fatal(err)
	}
	dashtest.WaitJS(t, bctx, `document.body.dataset.loaded === 'true' && document.body.dataset.view === '`+iso(atH)+`'`)
	shown, err := dashtest.Terms(bctx, "")
	if err != nil || !slices.Equal(shown, rankingAt(atH)) || !slices.Contains(shown, "#"+scriptTag) {
		t.Errorf("at %v the dashboard shows %q (%v), want %q with the hostile hashtag", atH, shown, err, rankingAt(atH))
	}
	if inert, err := dashtest.Inert(bctx); err != nil || inert != (dashtest.Inertness{}) {
		t.Errorf("hostile terms were interpreted as markup: %+v (%v)", inert, err)
	}
	href, err = chromedp.Run(bctx, chromedp.Evaluate[string](fmt.Sprintf(
		`Array.from(document.querySelectorAll('#rankings tr')).find(r => r.dataset.term === %q).querySelector('a.term-link').href`, scriptTag)))
	if err != nil {
		t.Fatal(err)
	}
	checkTermPage(href, hostile, atH)
}
