package api_test

import (
	"bytes"
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/trendstream/trendstream/internal/core/watchlist"
	"github.com/trendstream/trendstream/internal/readside/api"
	"github.com/trendstream/trendstream/internal/readside/store"
	"github.com/trendstream/trendstream/internal/testenv/dashtest"
)

const token = "s3cret-token"

// watched stores two entries, windows for one of them and an alert, as
// the watchlist pipeline leaves them.
func watched(t *testing.T) *store.Store {
	t.Helper()
	ctx := context.Background()
	st := openStore(t)
	if err := st.PutEntries(ctx, []watchlist.Entry{
		{ID: "gaza", Watchlist: "world", Kind: watchlist.KindKeyword, Text: "Gaza"},
		{ID: "hostile", Watchlist: scriptTerm, Kind: watchlist.KindEntity, Text: imgTerm, Aliases: []string{scriptTerm}},
	}); err != nil {
		t.Fatal(err)
	}
	ms := func(i int) int64 { return mins(i).UnixMilli() }
	if err := st.WriteWatchStatuses(ctx, []watchlist.Status{
		{EntryID: "hostile", WindowStart: ms(-10), WindowEnd: ms(0), Count: 3, Authors: 3, Score: 0.5, Scored: true},
		{EntryID: "hostile", WindowStart: ms(-9), WindowEnd: ms(1), Count: 14, Authors: 12, Score: 5, Baseline: 1.5, Scored: true, Active: true},
	}); err != nil {
		t.Fatal(err)
	}
	a := watchlist.Alert{ID: watchlist.AlertID("hostile", ms(1)), EntryID: "hostile", WindowStart: ms(-9), WindowEnd: ms(1), Count: 14, Authors: 12, Score: 5, Baseline: 1.5, Enter: 4}
	if _, err := st.UpsertAlert(ctx, a); err != nil {
		t.Fatal(err)
	}
	return st
}

func do(t *testing.T, method, url, auth, body string) (int, []byte) {
	t.Helper()
	req, err := http.NewRequest(method, url, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	if auth != "" {
		req.Header.Set("Authorization", "Bearer "+auth)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var b bytes.Buffer
	_, _ = b.ReadFrom(resp.Body)
	return resp.StatusCode, b.Bytes()
}

func TestWatchlistCRUD(t *testing.T) {
	st := watched(t)
	srv := httptest.NewServer(api.New(st, api.Options{WatchlistToken: token}).Handler())
	defer srv.Close()
	readOnly := httptest.NewServer(api.New(st, api.Options{}).Handler())
	defer readOnly.Close()
	u := srv.URL + "/api/watchlist/entries"
	e := `{"id":"warren","watchlist":"us","kind":"entity","text":"Elizabeth Warren","aliases":["Senator Warren"],"langs":["en"],"enter":5,"exit":2}`
	for _, tc := range []struct {
		name, method, url, auth, body string
		want                          int
		wantBody                      string
	}{
		{"list", "GET", u, "", "", 200, `"id":"gaza"`},
		{"create without token", "POST", u, "", e, 401, "bearer token"},
		{"create with a wrong token", "POST", u, "nope", e, 401, "bearer token"},
		{"read-only server", "POST", readOnly.URL + "/api/watchlist/entries", token, e, 403, "-watchlist-token"},
		{"create", "POST", u, token, e, 201, `"Senator Warren"`},
		{"create again", "POST", u, token, e, 409, "exists"},
		{"get", "GET", u + "/warren", "", "", 200, `"enter":5`},
		{"invalid entry", "POST", u, token, `{"id":"Bad Id","kind":"keyword","text":"x"}`, 400, "id"},
		{"unknown field", "POST", u, token, `{"id":"x","kind":"keyword","text":"x","alias":["y"]}`, 400, "alias"},
		{"put with another id", "PUT", u + "/warren", token, strings.Replace(e, `"warren"`, `"other"`, 1), 400, "path"},
		{"put", "PUT", u + "/warren", token, strings.Replace(e, `"enter":5`, `"enter":6`, 1), 200, `"enter":6`},
		{"get after put", "GET", u + "/warren", "", "", 200, `"enter":6`},
		{"delete without token", "DELETE", u + "/warren", "", "", 401, ""},
		{"delete", "DELETE", u + "/warren", token, "", 204, ""},
		{"get deleted", "GET", u + "/warren", "", "", 404, "no such entry"},
		{"delete again", "DELETE", u + "/warren", token, "", 404, "no such entry"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			code, body := do(t, tc.method, tc.url, tc.auth, tc.body)
			if code != tc.want || !strings.Contains(string(body), tc.wantBody) {
				t.Errorf("%s %s: %d %s; want %d with %q", tc.method, tc.url, code, body, tc.want, tc.wantBody)
			}
		})
	}
}

func TestWatchlistStatusAndAlerts(t *testing.T) {
	st := watched(t)
	srv := httptest.NewServer(api.New(st, api.Options{}).Handler())
	defer srv.Close()

	code, _, body := get(t, srv.URL, "/api/watchlist/status")
	var sr api.StatusResponse
	if code != 200 || json.Unmarshal(body, &sr) != nil || len(sr.Entries) != 2 {
		t.Fatalf("status: %d %s", code, body)
	}
	if sr.Entries[0].ID != "gaza" || sr.Entries[0].Latest != nil {
		t.Errorf("gaza: %+v, want no window yet", sr.Entries[0])
	}
	if l := sr.Entries[1].Latest; l == nil || !l.WindowEnd.Equal(mins(1)) || l.Posts != 14 || !l.Active || l.Score != 5 {
		t.Errorf("hostile's newest window: %+v", l)
	}

	code, _, body = get(t, srv.URL, "/api/watchlist/entries/hostile/windows")
	var wr api.WatchWindowsResponse
	if code != 200 || json.Unmarshal(body, &wr) != nil || len(wr.Windows) != 2 || !wr.Windows[0].WindowEnd.Equal(mins(0)) {
		t.Errorf("windows: %d %s", code, body)
	}

	code, _, body = get(t, srv.URL, "/api/watchlist/alerts?entry=hostile")
	var ar api.AlertsResponse
	if code != 200 || json.Unmarshal(body, &ar) != nil || len(ar.Alerts) != 1 {
		t.Fatalf("alerts: %d %s", code, body)
	}
	if a := ar.Alerts[0]; a.ID != watchlist.AlertID("hostile", mins(1).UnixMilli()) || a.Posts != 14 || a.PublishedAt != nil || a.DeliveredAt != nil {
		t.Errorf("alert: %+v", a)
	}
	if code, _, _ := get(t, srv.URL, "/api/watchlist/alerts?limit=x"); code != 400 {
		t.Errorf("bad limit: %d", code)
	}
}

// TestWatchlistPageInBrowser loads /watchlist in headless Chromium: it
// lists the entries with their newest window and the alert, shows hostile
// entry texts as inert text, and keeps the CSP.
func TestWatchlistPageInBrowser(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	st := watched(t)
	base := dashtest.Serve(t, ctx, api.New(st, api.Options{}))
	if _, h, _ := get(t, base, "/watchlist"); h.Get("Content-Security-Policy") != api.ContentSecurityPolicy {
		t.Errorf("CSP of /watchlist: %q", h.Get("Content-Security-Policy"))
	}
	bctx := dashtest.Browser(t, ctx)
	if err := chromedp.Do(bctx, chromedp.Navigate(base+"/watchlist")); err != nil {
		t.Fatal(err)
	}
	if err := chromedp.Do(bctx, chromedp.WaitVisible(`#alerts tr[data-alert]`)); err != nil {
		t.Fatalf("wait for the alerts: %v", err)
	}
	rows, err := chromedp.Run(bctx, chromedp.Evaluate[[]string](`Array.from(document.querySelectorAll('#entries tbody tr')).map(tr => tr.innerText.replace(/\s+/g, ' ').trim())`))
	if err != nil {
		t.Fatal(err)
	}
	if len(rows) != 2 || !strings.HasPrefix(rows[0], "gaza world keyword Gaza no match yet") ||
		!strings.Contains(rows[1], imgTerm+" · "+scriptTerm) || !strings.Contains(rows[1], "14 12 1.50 5.00 ALERT") {
		t.Errorf("entry rows: %q", rows)
	}
	alerts, err := chromedp.Run(bctx, chromedp.Evaluate[[]string](`Array.from(document.querySelectorAll('#alerts tbody tr')).map(tr => tr.innerText.replace(/\s+/g, ' ').trim())`))
	if err != nil {
		t.Fatal(err)
	}
	if len(alerts) != 1 || !strings.Contains(alerts[0], "hostile 14 12 1.50 5.00 pending —") {
		t.Errorf("alert rows: %q", alerts)
	}
	inert, err := dashtest.Inert(bctx)
	if err != nil {
		t.Fatal(err)
	}
	if inert != (dashtest.Inertness{}) {
		t.Errorf("hostile entry text was interpreted as markup: %+v", inert)
	}
	links, err := chromedp.Run(bctx, chromedp.Evaluate[[]string](`Array.from(document.querySelectorAll('a')).map(a => a.getAttribute('href'))`))
	if err != nil || !slices.Contains(links, "/") {
		t.Errorf("links %q (%v): want one back to the dashboard", links, err)
	}
}
