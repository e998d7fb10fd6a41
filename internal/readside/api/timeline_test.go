package api_test

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/url"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/trendstream/trendstream/internal/readside/api"
	"github.com/trendstream/trendstream/internal/readside/store"
	tsv1 "github.com/trendstream/trendstream/proto/trendstream/v1"
)

// mins is the end of the window i minutes after t0.
func mins(i int) time.Time { return t0.Add(time.Duration(i) * time.Minute) }

// replayed writes what a replay leaves: overall windows ending at minutes
// 0–7, rain trending in 0–3 and snow in 2–4, then three windows that rank
// nothing (the recording's last posts sliding out), and one English window.
func replayed(t *testing.T) *store.Store {
	t.Helper()
	st := openStore(t)
	ranked := [][]string{{"rain"}, {"rain"}, {"rain", "hashtag:snow"}, {"hashtag:snow", "rain"}, {"hashtag:snow", scriptTerm}, {}, {}, {}}
	var snaps []*tsv1.WindowSnapshot
	for i, ts := range ranked {
		snaps = append(snaps, snap("", mins(i), ts...))
	}
	snaps = append(snaps, snap("en", mins(3), "rain"))
	if err := st.WriteSnapshots(context.Background(), snaps); err != nil {
		t.Fatal(err)
	}
	return st
}

func getJSON(t *testing.T, base, path string, v any) int {
	t.Helper()
	code, hdr, body := get(t, base, path)
	if code == http.StatusOK {
		if !strings.HasPrefix(hdr.Get("Content-Type"), "application/json") {
			t.Fatalf("%s: content type %q", path, hdr.Get("Content-Type"))
		}
		if err := json.Unmarshal(body, v); err != nil {
			t.Fatalf("%s: %v: %s", path, err, body)
		}
	}
	return code
}

func TestPastWindowsAPI(t *testing.T) {
	st := replayed(t)
	hs := httptest.NewServer(api.New(st, api.Options{}).Handler())
	defer hs.Close()
	q := func(kv ...string) string {
		v := url.Values{}
		for i := 0; i < len(kv); i += 2 {
			v.Set(kv[i], kv[i+1])
		}
		return "?" + v.Encode()
	}

	trends := []struct {
		query string
		code  int
		want  string
	}{
		{"", 200, "bluesky||12:07|"},
		{q("at", mins(3).Format(time.RFC3339)), 200, "bluesky||12:03|snow,rain"},
		{q("at", "2026-11-27T12:04:30+01:00"), 200, ""}, // 11:04:30 UTC: before every window
		{q("at", "2026-11-27T12:04:30Z"), 200, "bluesky||12:04|snow," + scriptTerm},
		{q("at", "2026-11-27 12:02", "lang", "*"), 200, "bluesky||12:02|rain,snow"},
		{q("at", "2026-11-27T12:06", "lang", "en"), 200, "bluesky|en|12:03|rain"},
		{q("at", "yesterday"), 400, ""},
	}
	for _, tt := range trends {
		t.Run("trends"+tt.query, func(t *testing.T) {
			var r api.TrendsResponse
			if code := getJSON(t, hs.URL, "/api/trends"+tt.query, &r); code != tt.code {
				t.Fatalf("status %d, want %d", code, tt.code)
			}
			if got := rankingSummary(r.Windows); got != tt.want {
				t.Errorf("got %q, want %q", got, tt.want)
			}
		})
	}

	windows := []struct {
		query string
		code  int
		want  string // end=ranked, newest first
	}{
		{q("limit", "3"), 200, "12:07=0 12:06=0 12:05=0"},
		{q("from", mins(3).Format(time.RFC3339), "to", mins(5).Format(time.RFC3339)), 200, "12:05=0 12:04=2 12:03=2"},
		{q("to", mins(1).Format(time.RFC3339)), 200, "12:01=1 12:00=1"},
		{q("from", "x"), 400, ""},
	}
	for _, tt := range windows {
		t.Run("windows"+tt.query, func(t *testing.T) {
			var r api.WindowsResponse
			if code := getJSON(t, hs.URL, "/api/windows"+tt.query, &r); code != tt.code {
				t.Fatalf("status %d, want %d", code, tt.code)
			}
			var got []string
			for _, w := range r.Windows {
				got = append(got, fmt.Sprintf("%s=%d", w.End.Format("15:04"), *w.Ranked))
			}
			if strings.Join(got, " ") != tt.want {
				t.Errorf("got %q, want %q", strings.Join(got, " "), tt.want)
			}
		})
	}

	histories := []struct {
		path string
		code int
		want string // end:rank
	}{
		{"/api/terms/rain/history" + q("windows", "3"), 404, ""}, // the empty tail
		{"/api/terms/rain/history" + q("until", mins(4).Format(time.RFC3339), "windows", "3"), 200, "12:02:1 12:03:2 12:04:0"},
		{"/api/terms/snow/history" + q("from", mins(3).Format(time.RFC3339), "until", mins(5).Format(time.RFC3339), "kind", "hashtag"), 200, "12:03:1 12:04:1 12:05:0"},
		{"/api/terms/snow/history" + q("until", "noon"), 400, ""},
	}
	for _, tt := range histories {
		t.Run("history "+tt.path, func(t *testing.T) {
			var r api.HistoryResponse
			if code := getJSON(t, hs.URL, tt.path, &r); code != tt.code {
				t.Fatalf("status %d, want %d", code, tt.code)
			}
			var got []string
			for _, p := range r.Points {
				got = append(got, fmt.Sprintf("%s:%d", p.End.Format("15:04"), p.Rank))
			}
			if strings.Join(got, " ") != tt.want {
				t.Errorf("got %q, want %q", strings.Join(got, " "), tt.want)
			}
		})
	}

	timelines := []struct {
		query    string
		code     int
		trending string
		windows  string // end=ranked
		terms    string // term:windows
	}{
		{"", 200, "12:04", "12:00=1 12:01=1 12:02=2 12:03=2 12:04=2 12:05=0 12:06=0 12:07=0",
			"rain:4 snow:3 " + scriptTerm + ":1"},
		{q("from", mins(3).Format(time.RFC3339), "to", mins(4).Format(time.RFC3339), "terms", "1"), 200, "12:04", "12:03=2 12:04=2", "snow:2"},
		{q("to", mins(1).Format(time.RFC3339)), 200, "12:01", "12:00=1 12:01=1", "rain:2"},
		{q("lang", "en"), 200, "12:03", "12:03=1", "rain:1"},
		{q("lang", "xx"), 200, "", "", ""},
		{q("lang", "*"), 400, "", "", ""},
		{q("from", mins(5).Format(time.RFC3339), "to", mins(4).Format(time.RFC3339)), 400, "", "", ""},
		{q("terms", "-1"), 400, "", "", ""},
	}
	for _, tt := range timelines {
		t.Run("timeline"+tt.query, func(t *testing.T) {
			var r api.TimelineResponse
			if code := getJSON(t, hs.URL, "/api/timeline"+tt.query, &r); code != tt.code {
				t.Fatalf("status %d, want %d", code, tt.code)
			}
			if tt.code != 200 {
				return
			}
			if r.Windows == nil || r.Terms == nil {
				t.Error("windows or terms encoded as null, want []")
			}
			trending := ""
			if r.LatestTrending != nil {
				trending = r.LatestTrending.Format("15:04")
			}
			var ws, ts []string
			for _, w := range r.Windows {
				ws = append(ws, fmt.Sprintf("%s=%d", w.End.Format("15:04"), *w.Ranked))
			}
			for _, term := range r.Terms {
				ts = append(ts, fmt.Sprintf("%s:%d", term.Term, term.Windows))
			}
			if trending != tt.trending || strings.Join(ws, " ") != tt.windows || strings.Join(ts, " ") != tt.terms {
				t.Errorf("got trending %q windows %q terms %q\nwant trending %q windows %q terms %q",
					trending, strings.Join(ws, " "), strings.Join(ts, " "), tt.trending, tt.windows, tt.terms)
			}
		})
	}

	t.Run("term page", func(t *testing.T) {
		for _, path := range []string{"/term/rain", "/term/" + url.PathEscape(scriptTerm), "/term/" + url.PathEscape("a/b")} {
			code, hdr, body := get(t, hs.URL, path)
			if code != 200 || !strings.HasPrefix(hdr.Get("Content-Type"), "text/html") || !strings.Contains(string(body), "/static/term.js") {
				t.Errorf("%s: status %d, type %q", path, code, hdr.Get("Content-Type"))
			}
			if hdr.Get("Content-Security-Policy") != api.ContentSecurityPolicy {
				t.Errorf("%s: CSP %q", path, hdr.Get("Content-Security-Policy"))
			}
		}
		if code, _, _ := get(t, hs.URL, "/static/term.html"); code != 404 {
			t.Errorf("/static/term.html: status %d, want 404 (the page lives at /term/{term})", code)
		}
	})
}

// TestClientPastWindows: `trendstream top -api` asks the server for what
// the store answers directly.
func TestClientPastWindows(t *testing.T) {
	ctx := context.Background()
	st := replayed(t)
	hs := httptest.NewServer(api.New(st, api.Options{}).Handler())
	defer hs.Close()
	c := api.NewClient(hs.URL, nil)
	for _, f := range []store.Filter{{At: mins(3)}, {AllLangs: true, At: mins(3).Add(time.Second), Limit: 1}, {}} {
		want, err := st.CurrentTrends(ctx, f)
		if err != nil {
			t.Fatal(err)
		}
		got, err := c.CurrentTrends(ctx, f)
		if err != nil {
			t.Fatal(err)
		}
		if rankingSummary(got) != rankingSummary(want) {
			t.Errorf("%+v: client %q, store %q", f, rankingSummary(got), rankingSummary(want))
		}
	}
	for _, f := range []store.TimelineFilter{{}, {Lang: "en"}, {From: mins(1), To: mins(3), Terms: 1}} {
		want, err := st.Timeline(ctx, f)
		if err != nil {
			t.Fatal(err)
		}
		got, err := c.Timeline(ctx, f)
		if err != nil {
			t.Fatal(err)
		}
		if !reflect.DeepEqual(got, want) {
			t.Errorf("%+v: client\n%+v\nstore\n%+v", f, got, want)
		}
	}
}
