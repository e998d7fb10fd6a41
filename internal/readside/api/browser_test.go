package api_test

import (
	"cmp"
	"context"
	"math"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
	"google.golang.org/protobuf/types/known/timestamppb"

	"github.com/trendstream/trendstream/internal/readside/api"
	"github.com/trendstream/trendstream/internal/readside/store"
	"github.com/trendstream/trendstream/internal/testenv"
	"github.com/trendstream/trendstream/internal/testenv/dashtest"
	tsv1 "github.com/trendstream/trendstream/proto/trendstream/v1"
)

// vary gives a snapshot's terms uneven counts, baselines and scores, so
// sparklines and the screenshot look like real data; ranks follow scores.
func vary(s *tsv1.WindowSnapshot, k int) *tsv1.WindowSnapshot {
	for j, t := range s.Terms {
		t.Count = int64(40 + (len(t.Term)*37+j*53+k*k*11)%260)
		t.UniqueAuthors = t.Count*3/4 + int64(j)
		t.Baseline = float64(3 + (len(t.Term)*7+k*5)%25)
		t.Score = (float64(t.Count) - t.Baseline) / math.Sqrt(t.Baseline+1)
		t.FirstSeen = timestamppb.New(s.WindowEnd.AsTime().Add(-time.Duration(5+len(t.Term)*3) * time.Minute))
	}
	slices.SortStableFunc(s.Terms, func(a, b *tsv1.TrendingTerm) int { return cmp.Compare(b.Score, a.Score) })
	for j, t := range s.Terms {
		t.Rank = int32(j + 1)
	}
	return s
}

// termTexts is what the dashboard should show for a ranking, derived from
// the snapshot the same way the read model stores it.
func termTexts(s *tsv1.WindowSnapshot) []string {
	return dashtest.TermTexts(store.FromSnapshot(s).Terms)
}

// TestDashboardInBrowser feeds rankings through the real path, PostgreSQL via
// the store and the Kafka results topic via ConsumeTrends, and checks in
// headless Chromium that the dashboard shows them, updates live, filters by
// language, and renders hostile terms as inert text.
func TestDashboardInBrowser(t *testing.T) {
	const topic = "trendstream.trends"
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()

	st := openStore(t)
	k := testenv.Kafka(t, 1, topic)
	srv := api.New(st, api.Options{})
	base := dashtest.Serve(t, ctx, srv)
	dashtest.Feed(t, ctx, srv, k.Addrs(), topic)
	feed := func(snaps ...*tsv1.WindowSnapshot) {
		t.Helper()
		if err := st.WriteSnapshots(ctx, snaps); err != nil {
			t.Fatal(err)
		}
		produce(t, k.Addrs(), topic, snaps...)
	}

	// Some history, so sparklines have a shape, then the current window.
	for i := 8; i >= 1; i-- {
		feed(vary(snap("", t0.Add(-time.Duration(i)*time.Minute), "coffee", "rain", "hashtag:bluesky", "monday", "solar eclipse"), i))
	}
	current := vary(snap("", t0, "hashtag:bluesky", "coffee", scriptTerm, imgTerm, "rain", "solar eclipse", "monday"), 0)
	english := snap("en", t0, "coffee", "rain")
	feed(current, english)

	bctx := dashtest.Browser(t, ctx)
	dashtest.Open(t, bctx, base+"/")
	if err := dashtest.WaitTerm(bctx, "", imgTerm); err != nil {
		t.Fatalf("wait for the first ranking: %v", err)
	}
	if _, err := chromedp.Run(bctx, chromedp.Evaluate[int](`window.__noReload = 42`)); err != nil {
		t.Fatal(err)
	}
	shown, err := dashtest.Terms(bctx, "")
	if err != nil {
		t.Fatal(err)
	}
	if want := termTexts(current); !slices.Equal(shown, want) {
		t.Errorf("dashboard shows %q, want %q", shown, want)
	}

	// Hostile terms: shown verbatim as text, never parsed or executed.
	inert, err := dashtest.Inert(bctx)
	if err != nil {
		t.Fatal(err)
	}
	if inert != (dashtest.Inertness{}) {
		t.Errorf("hostile term was interpreted as markup: %+v", inert)
	}
	sparklines, err := chromedp.Run(bctx, chromedp.Evaluate[int](`document.querySelectorAll('#rankings svg.spark polyline.count').length`))
	if err != nil || sparklines != len(shown) {
		t.Errorf("%d sparklines for %d terms (%v)", sparklines, len(shown), err)
	}
	spark, err := chromedp.Run(bctx, chromedp.AttributeValue(chromedp.CSS(`#rankings section[data-lang=""] tr[data-term="coffee"] polyline.count`), "points"))
	if err != nil {
		t.Fatal(err)
	}
	if n := len(strings.Fields(spark.Value)); n != 9 {
		t.Errorf("coffee's sparkline has %d points (%q), want 9 windows", n, spark.Value)
	}

	// A new window arrives through Kafka and replaces the ranking in place.
	next := vary(snap("", t0.Add(time.Minute), "aurora", "hashtag:bluesky", scriptTerm, imgTerm, "coffee", "rain", "monday", "solar eclipse", "hashtag:firstsnow"), 9)
	feed(next)
	if err := dashtest.WaitTerm(bctx, "", "aurora"); err != nil {
		t.Fatalf("wait for live update: %v", err)
	}
	if marker, err := chromedp.Run(bctx, chromedp.Evaluate[*int](`window.__noReload`)); err != nil || marker == nil || *marker != 42 {
		t.Errorf("page was reloaded to show the update (err %v)", err)
	}
	if shown, err = dashtest.Terms(bctx, ""); err != nil {
		t.Fatal(err)
	}
	if want := termTexts(next); !slices.Equal(shown, want) {
		t.Errorf("after update dashboard shows %q, want %q", shown, want)
	}

	// Language filter: the English ranking replaces the overall one.
	if err := dashtest.SelectLang(bctx, "en"); err != nil {
		t.Fatalf("language filter: %v", err)
	}
	if shown, err = dashtest.Terms(bctx, "en"); err != nil {
		t.Fatal(err)
	}
	if others, err := chromedp.Run(bctx, chromedp.Evaluate[int](`document.querySelectorAll('#rankings section').length`)); err != nil || others != 1 {
		t.Errorf("lang=en shows %d rankings (%v), want only the English one", others, err)
	}
	if want := termTexts(english); !slices.Equal(shown, want) {
		t.Errorf("lang=en shows %q, want %q", shown, want)
	}
	if inert, err := dashtest.Inert(bctx); err != nil || inert.Pwned {
		t.Errorf("window.pwned set after updates: %+v (%v)", inert, err)
	}
}

// english makes every term of s an English term (TrendingTerm.lang).
func english(s *tsv1.WindowSnapshot) *tsv1.WindowSnapshot {
	for _, t := range s.Terms {
		t.Lang = "en"
	}
	return s
}

// TestDashboardAppliesCorrections: the pipeline re-emits windows when late
// data arrives. An older window, corrected, must replace that window's
// points in the sparklines (the hub used to drop it); the newest window
// re-emitted must replace the table, not add rows; and the same word in
// two languages shows as two rows.
func TestDashboardAppliesCorrections(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	st := openStore(t)
	srv := api.New(st, api.Options{})
	base := dashtest.Serve(t, ctx, srv)

	// Three windows in the read model; coffee leads each (count 300).
	var history []*tsv1.WindowSnapshot
	for i := 2; i >= 0; i-- {
		history = append(history, english(snap("", t0.Add(-time.Duration(i)*time.Minute), "coffee", "rain")))
	}
	if err := st.WriteSnapshots(ctx, history); err != nil {
		t.Fatal(err)
	}
	bctx := dashtest.Browser(t, ctx)
	dashtest.Open(t, bctx, base+"/")
	if err := dashtest.WaitTerm(bctx, "", "coffee"); err != nil {
		t.Fatal(err)
	}
	const title = `((document.querySelector('#rankings section[data-lang=""] tr[data-term="coffee"] svg.spark title') || {}).textContent || '')`
	if !dashtest.Poll(bctx, `document.body.dataset.loaded === 'true' && `+title+`.endsWith('count: 300, 300, 300')`) {
		got, _ := chromedp.Run(bctx, chromedp.Evaluate[string](title))
		t.Fatalf("coffee's sparkline before the corrections: %q", got)
	}
	waitStreams(t, base, 1)

	// The window before the newest, corrected: coffee fell to rank 2 (280).
	corrected := english(snap("", t0.Add(-time.Minute), "rain", "coffee"))
	corrected.EmittedAt = timestamppb.New(t0.Add(10 * time.Second))
	srv.Publish(corrected)
	if !dashtest.Poll(bctx, title+`.endsWith('count: 300, 280, 300')`) {
		got, _ := chromedp.Run(bctx, chromedp.Evaluate[string](title))
		t.Errorf("after correcting an older window, coffee's sparkline is %q; want its middle point replaced", got)
	}
	if shown, err := dashtest.Terms(bctx, ""); err != nil || !slices.Equal(shown, []string{"coffee", "rain"}) {
		t.Errorf("the correction of an older window changed the current table: %q (%v)", shown, err)
	}

	// The newest window re-emitted: its rows are replaced, none added.
	refired := english(snap("", t0, "gift", "gift", "coffee"))
	refired.Terms[0].Lang = "de"
	refired.EmittedAt = timestamppb.New(t0.Add(20 * time.Second))
	srv.Publish(refired)
	if err := dashtest.WaitTerm(bctx, "", "gift"); err != nil {
		t.Fatal(err)
	}
	rows, err := chromedp.Run(bctx, chromedp.Evaluate[[]string](`Array.from(document.querySelectorAll('#rankings section[data-lang=""] tbody tr')).map(
		tr => tr.querySelector('td.term').textContent + '/' + tr.querySelector('td.term-lang').textContent)`))
	if err != nil {
		t.Fatal(err)
	}
	if want := []string{"gift/de", "gift/en", "coffee/en"}; !slices.Equal(rows, want) {
		t.Errorf("after the newest window was re-emitted the table shows %q, want %q", rows, want)
	}
	if !dashtest.Poll(bctx, title+`.endsWith('last 3 windows — count: 300, 280, 260')`) {
		got, _ := chromedp.Run(bctx, chromedp.Evaluate[string](title))
		t.Errorf("coffee's sparkline after the re-emitted window: %q; want 3 windows, the last replaced", got)
	}
	if inert, err := dashtest.Inert(bctx); err != nil || inert.Pwned {
		t.Errorf("inertness: %+v (%v)", inert, err)
	}
}
