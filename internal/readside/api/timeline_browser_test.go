package api_test

import (
	"context"
	"encoding/json"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/trendstream/trendstream/internal/readside/api"
	"github.com/trendstream/trendstream/internal/readside/store"
	"github.com/trendstream/trendstream/internal/testenv/dashtest"
	tsv1 "github.com/trendstream/trendstream/proto/trendstream/v1"
)

// TestTimelineInBrowser checks the dashboard's timeline in headless
// Chromium over what a replay leaves in the read model (trends, then
// windows that rank nothing): it opens on the newest window with trends,
// the slider and the overview list the windows and terms the read model
// holds, any past window can be shown and left again, and a term's page
// shows its history. Hostile terms stay text throughout.
func TestTimelineInBrowser(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	st := replayed(t)
	srv := api.New(st, api.Options{})
	base := dashtest.Serve(t, ctx, srv)
	tl, err := st.Timeline(ctx, store.TimelineFilter{})
	if err != nil {
		t.Fatal(err)
	}
	trendsAt := func(at time.Time) []string {
		t.Helper()
		ws, err := st.CurrentTrends(ctx, store.Filter{At: at})
		if err != nil || len(ws) != 1 {
			t.Fatalf("read model at %v: %d rankings (%v)", at, len(ws), err)
		}
		return dashtest.TermTexts(ws[0].Terms)
	}

	bctx := dashtest.Browser(t, ctx)
	if err := chromedp.Do(bctx, chromedp.Navigate(base+"/")); err != nil {
		t.Fatal(err)
	}
	// It opens on the newest window that ranked anything, not on the tail.
	trending := tl.LatestTrending.Format(time.RFC3339Nano)
	if !dashtest.Poll(bctx, `document.body.dataset.loaded === 'true' && document.body.dataset.view === `+jsStr(isoJS(*tl.LatestTrending))) {
		got, _ := chromedp.Run(bctx, chromedp.Evaluate[string](`document.body.dataset.view + ' opened ' + document.body.dataset.opened`))
		t.Fatalf("the dashboard opened on %s, want the newest window with trends, %s", got, trending)
	}
	if shown, err := dashtest.Terms(bctx, ""); err != nil || !slices.Equal(shown, trendsAt(*tl.LatestTrending)) {
		t.Errorf("opened on %q (%v), want %q", shown, err, trendsAt(*tl.LatestTrending))
	}
	slider, err := chromedp.Run(bctx, chromedp.Evaluate[[]string](`[document.getElementById('slider').value, document.getElementById('slider').max]`))
	if err != nil {
		t.Fatal(err)
	}
	if want := []string{"4", "7"}; !slices.Equal(slider, want) {
		t.Errorf("slider value and max %q, want %q (window 5 of the 8 that exist)", slider, want)
	}

	// The overview: the read model's terms, in the order they trended,
	// each marked in the windows that ranked it.
	type row struct {
		Term  string `json:"term"`
		Label string `json:"label"`
		Marks int    `json:"marks"`
	}
	rows, err := chromedp.Run(bctx, chromedp.Evaluate[[]row](`Array.from(document.querySelectorAll('#overview .ov-row[data-term]')).map(r => ({
		term: r.dataset.term, label: r.querySelector('.ov-term a').textContent, marks: r.querySelectorAll('rect.mark').length}))`))
	if err != nil {
		t.Fatal(err)
	}
	var want []row
	for _, term := range tl.Terms {
		label := term.Term
		if term.Kind == "hashtag" {
			label = "#" + label
		}
		want = append(want, row{term.Term, label, term.Windows})
	}
	if !slices.Equal(rows, want) {
		t.Errorf("overview rows %+v, want %+v", rows, want)
	}

	// Slide back to the second window.
	if err := slideTo(bctx, 1); err != nil {
		t.Fatal(err)
	}
	if !dashtest.Poll(bctx, `document.body.dataset.view === `+jsStr(isoJS(mins(1)))) {
		t.Fatal("the slider did not move the view to 12:01")
	}
	if shown, err := dashtest.Terms(bctx, ""); err != nil || !slices.Equal(shown, trendsAt(mins(1))) {
		t.Errorf("at 12:01 the table shows %q (%v), want %q", shown, err, trendsAt(mins(1)))
	}
	if sub, err := chromedp.Run(bctx, chromedp.Evaluate[string](`document.querySelector('h1 .sub').textContent`)); err != nil || sub != "trending on Bluesky, 2026-11-27 12:01 UTC" {
		t.Errorf("the heading says %q (%v) at a past window", sub, err)
	}
	if loc, err := chromedp.Run(bctx, chromedp.Evaluate[string](`location.search`)); err != nil || !strings.Contains(loc, "at=2026-11-27T12%3A01") {
		t.Errorf("the address does not name the window shown: %q (%v)", loc, err)
	}

	// A live window while a past one is shown: the table stays, the slider grows.
	// As the pipeline does: the read model, then the push.
	hail := snap("", mins(8), "hail")
	if err := st.WriteSnapshots(ctx, []*tsv1.WindowSnapshot{hail}); err != nil {
		t.Fatal(err)
	}
	srv.Publish(hail)
	if !dashtest.Poll(bctx, `document.getElementById('slider').max === '8'`) {
		t.Error("a live window did not extend the slider")
	}
	if shown, _ := dashtest.Terms(bctx, ""); !slices.Equal(shown, trendsAt(mins(1))) {
		t.Errorf("a live window replaced the past window shown: %q", shown)
	}
	// "latest" follows the newest window again.
	if err := chromedp.Do(bctx, chromedp.Click(chromedp.CSS(`#latest`))); err != nil {
		t.Fatal(err)
	}
	if !dashtest.Poll(bctx, `document.body.dataset.view === 'live'`) {
		t.Fatal("latest did not return to the live view")
	}
	if err := dashtest.WaitTerm(bctx, "", "hail"); err != nil {
		t.Fatalf("the live view lacks the newest window: %v", err)
	}
	if inert, err := dashtest.Inert(bctx); err != nil || inert != (dashtest.Inertness{}) {
		t.Errorf("hostile terms were interpreted as markup: %+v (%v)", inert, err)
	}

	// A term's page, from the overview, as of the window shown there.
	if err := slideTo(bctx, 4); err != nil {
		t.Fatal(err)
	}
	if !dashtest.Poll(bctx, `document.body.dataset.view === `+jsStr(isoJS(mins(4)))) {
		t.Fatal("the slider did not move the view to 12:04")
	}
	cases := []struct{ term, kind, heading, href string }{{"rain", "word", "rain", ""}, {scriptTerm, "word", scriptTerm, ""}, {"snow", "hashtag", "#snow", ""}}
	for i, tc := range cases {
		if cases[i].href, err = chromedp.Run(bctx, chromedp.Evaluate[string](`document.querySelector('#overview .ov-row[data-term=`+jsStr(tc.term)+`] a.term-link').href`)); err != nil {
			t.Fatal(err)
		}
	}
	for _, tc := range cases {
		if err := chromedp.Do(bctx, chromedp.Navigate(tc.href)); err != nil {
			t.Fatal(err)
		}
		if !dashtest.Poll(bctx, `document.body.dataset.loaded === 'true'`) {
			t.Fatalf("the term page of %q never loaded", tc.term)
		}
		ps, err := st.TermHistory(ctx, tc.term, store.HistoryFilter{Kind: tc.kind, TermLang: "", Windows: 1440, From: mins(4).Add(-4 * time.Hour), Until: mins(4)})
		if err != nil {
			t.Fatal(err)
		}
		var wantRows []string
		for _, p := range slices.Backward(ps) {
			if p.Rank > 0 {
				wantRows = append(wantRows, p.End.Format(time.RFC3339)+" "+itoa(p.Rank)+" "+itoa(int32(p.Count)))
			}
		}
		page, err := chromedp.Run(bctx, chromedp.Evaluate[[]string](`[document.getElementById('term').textContent, document.body.dataset.points,
			...Array.from(document.querySelectorAll('#windows tbody tr')).map(tr =>
				new Date(tr.dataset.end).toISOString().replace('.000', '') + ' ' + tr.querySelector('.rank').textContent + ' ' + tr.querySelector('.count').textContent)]`))
		if err != nil {
			t.Fatal(err)
		}
		if want := append([]string{tc.heading, itoa(int32(len(ps)))}, wantRows...); !slices.Equal(page, want) {
			t.Errorf("term page of %q: %q, want %q", tc.term, page, want)
		}
		lines, err := chromedp.Run(bctx, chromedp.Evaluate[int](`document.querySelectorAll('#history-chart polyline.count, #history-chart circle.count').length`))
		if err != nil || lines == 0 {
			t.Errorf("term page of %q draws no count line (%v)", tc.term, err)
		}
		if inert, err := dashtest.Inert(bctx); err != nil || inert != (dashtest.Inertness{}) {
			t.Errorf("term page of %q: interpreted as markup: %+v (%v)", tc.term, inert, err)
		}
	}
	// Back to the dashboard at the window the page was opened from.
	back, err := chromedp.Run(bctx, chromedp.Evaluate[string](`document.getElementById('back').href`))
	if err != nil {
		t.Fatal(err)
	}
	if err := chromedp.Do(bctx, chromedp.Navigate(back)); err != nil {
		t.Fatal(err)
	}
	if !dashtest.Poll(bctx, `document.body.dataset.loaded === 'true' && document.body.dataset.view === `+jsStr(isoJS(mins(4)))) {
		got, _ := chromedp.Run(bctx, chromedp.Evaluate[string](`location.href + ' ' + document.body.dataset.view`))
		t.Errorf("back from the term page: %s, want the dashboard at 12:04", got)
	}

	// A link to a window older than the default stretch (the last 6 hours)
	// opens on it, with a stretch around it; latest comes back to now.
	fog := snap("", mins(-600), "fog")
	if err := st.WriteSnapshots(ctx, []*tsv1.WindowSnapshot{fog}); err != nil {
		t.Fatal(err)
	}
	if err := chromedp.Do(bctx, chromedp.Navigate(base+"/?at="+mins(-600).Format(time.RFC3339))); err != nil {
		t.Fatal(err)
	}
	if !dashtest.Poll(bctx, `document.body.dataset.loaded === 'true' && document.body.dataset.view === `+jsStr(isoJS(mins(-600)))) {
		got, _ := chromedp.Run(bctx, chromedp.Evaluate[string](`document.body.dataset.view`))
		t.Fatalf("a link to 02:00 opened %s", got)
	}
	if shown, err := dashtest.Terms(bctx, ""); err != nil || !slices.Equal(shown, []string{"fog"}) {
		t.Errorf("at 02:00 the table shows %q (%v), want fog", shown, err)
	}
	if err := chromedp.Do(bctx, chromedp.Click(chromedp.CSS(`#latest`))); err != nil {
		t.Fatal(err)
	}
	if !dashtest.Poll(bctx, `document.body.dataset.view === 'live' && document.getElementById('slider').max === '8'`) {
		got, _ := chromedp.Run(bctx, chromedp.Evaluate[string](`document.body.dataset.view + ' ' + document.getElementById('slider').max`))
		t.Errorf("latest after an old window: %s, want live over the 9 windows of the last 6 hours", got)
	}
}

// slideTo moves the dashboard's time slider to the i-th window as a user
// would: the value changes, then the change event fires.
func slideTo(bctx context.Context, i int) error {
	_, err := chromedp.Run(bctx, chromedp.Evaluate[bool](`(() => { const s = document.getElementById('slider');
		s.value = '`+itoa(int32(i))+`'; s.dispatchEvent(new Event('input')); return s.dispatchEvent(new Event('change')); })()`))
	return err
}

// isoJS is t as JavaScript's Date.toISOString writes it.
func isoJS(t time.Time) string { return t.UTC().Format("2006-01-02T15:04:05.000Z") }

func jsStr(s string) string {
	b, _ := json.Marshal(s)
	return string(b)
}

func itoa(n int32) string {
	b, _ := json.Marshal(n)
	return string(b)
}
