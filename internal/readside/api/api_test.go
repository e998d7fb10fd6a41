package api_test

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/IBM/sarama"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/timestamppb"

	"github.com/trendstream/trendstream/internal/platform/kafkaconf"
	"github.com/trendstream/trendstream/internal/readside/api"
	"github.com/trendstream/trendstream/internal/readside/store"
	"github.com/trendstream/trendstream/internal/testenv"
	tsv1 "github.com/trendstream/trendstream/proto/trendstream/v1"
)

func TestMain(m *testing.M) { testenv.Main(m) }

var t0 = time.Date(2026, 11, 27, 12, 0, 0, 0, time.UTC)

// Terms a hostile poster could make trend.
const (
	scriptTerm = `<script>window.pwned=1</script>`
	imgTerm    = `<img src=x onerror="window.pwned=2">`
)

// snap builds the snapshot of the 10-minute window ending at end, ranking
// terms in the order given ("hashtag:x" is a hashtag, anything else a word).
func snap(lang string, end time.Time, terms ...string) *tsv1.WindowSnapshot {
	s := &tsv1.WindowSnapshot{
		Source:      tsv1.Source_SOURCE_BLUESKY,
		Lang:        lang,
		WindowStart: timestamppb.New(end.Add(-10 * time.Minute)),
		WindowEnd:   timestamppb.New(end),
		Posts:       int64(5000 + 10*len(terms)),
		EmittedAt:   timestamppb.New(end.Add(time.Second)),
	}
	for i, t := range terms {
		kind := tsv1.TermKind_TERM_KIND_WORD
		if rest, ok := strings.CutPrefix(t, "hashtag:"); ok {
			kind, t = tsv1.TermKind_TERM_KIND_HASHTAG, rest
		}
		s.Terms = append(s.Terms, &tsv1.TrendingTerm{
			Term: t, Kind: kind, Lang: lang, Source: s.Source, WindowStart: s.WindowStart, WindowEnd: s.WindowEnd,
			Count: int64(300 - 20*i), UniqueAuthors: int64(200 - 10*i), Baseline: 4, Score: float64(40 - 3*i),
			Rank: int32(i + 1), FirstSeen: timestamppb.New(end.Add(-30 * time.Minute)),
		})
	}
	return s
}

func openStore(t *testing.T) *store.Store {
	t.Helper()
	st, err := store.Open(context.Background(), testenv.Postgres(t))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(st.Close)
	return st
}

func get(t *testing.T, base, path string) (int, http.Header, []byte) {
	t.Helper()
	resp, err := http.Get(base + path)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return resp.StatusCode, resp.Header, b
}

func rankingSummary(ws []store.Window) string {
	var out []string
	for _, w := range ws {
		var ts []string
		for _, t := range w.Terms {
			ts = append(ts, t.Term)
		}
		out = append(out, fmt.Sprintf("%s|%s|%s|%s", w.Source, w.Lang, w.End.Format("15:04"), strings.Join(ts, ",")))
	}
	return strings.Join(out, "\n")
}

func TestHTTPAPI(t *testing.T) {
	ctx := context.Background()
	st := openStore(t)
	t1 := t0.Add(time.Minute)
	if err := st.WriteSnapshots(ctx, []*tsv1.WindowSnapshot{
		snap("", t0, "hashtag:bsky", "rain", "a/b"),
		snap("", t1, "rain", scriptTerm, "a/b"),
		snap("en", t1, "rain", "coffee"),
	}); err != nil {
		t.Fatal(err)
	}
	srv := api.New(st, api.Options{})
	hs := httptest.NewServer(srv.Handler())
	defer hs.Close()

	trends := []struct {
		query string
		want  string
	}{
		{"", "bluesky||12:01|rain," + scriptTerm + ",a/b"},
		{"?lang=en", "bluesky|en|12:01|rain,coffee"},
		{"?lang=*&limit=1", "bluesky||12:01|rain\nbluesky|en|12:01|rain"},
		{"?source=other", ""},
		{"?lang=xx", ""},
	}
	for _, tt := range trends {
		t.Run("trends"+tt.query, func(t *testing.T) {
			code, hdr, body := get(t, hs.URL, "/api/trends"+tt.query)
			if code != http.StatusOK || !strings.HasPrefix(hdr.Get("Content-Type"), "application/json") {
				t.Fatalf("status %d, content type %q: %s", code, hdr.Get("Content-Type"), body)
			}
			var r api.TrendsResponse
			if err := json.Unmarshal(body, &r); err != nil {
				t.Fatal(err)
			}
			if r.Windows == nil {
				t.Error("windows encoded as null, want []")
			}
			if got := rankingSummary(r.Windows); got != tt.want {
				t.Errorf("got\n%s\nwant\n%s", got, tt.want)
			}
		})
	}

	t.Run("trends with history", func(t *testing.T) {
		_, _, body := get(t, hs.URL, "/api/trends?history=5")
		var r api.TrendsResponse
		if err := json.Unmarshal(body, &r); err != nil {
			t.Fatal(err)
		}
		ab := r.Windows[0].Terms[2]
		if ab.Term != "a/b" || len(ab.History) != 2 || ab.History[0].Rank != 3 || ab.History[1].Count != 260 {
			t.Errorf("history of a/b: %+v", ab)
		}
	})

	histories := []struct {
		path string
		code int
		want string // rank per window
	}{
		{"/api/terms/rain/history", 200, "2,1"},
		{"/api/terms/" + url.PathEscape("a/b") + "/history?windows=1", 200, "3"},
		{"/api/terms/" + url.PathEscape(scriptTerm) + "/history", 200, "0,2"},
		{"/api/terms/bsky/history?kind=word", 404, ""},
		{"/api/terms/coffee/history?lang=en", 200, "2"},
		{"/api/terms/rain/history?windows=x", 400, ""},
	}
	for _, tt := range histories {
		t.Run("history "+tt.path, func(t *testing.T) {
			code, _, body := get(t, hs.URL, tt.path)
			if code != tt.code {
				t.Fatalf("status %d, want %d: %s", code, tt.code, body)
			}
			if code != 200 {
				return
			}
			var r api.HistoryResponse
			if err := json.Unmarshal(body, &r); err != nil {
				t.Fatal(err)
			}
			var ranks []string
			for _, p := range r.Points {
				ranks = append(ranks, fmt.Sprint(p.Rank))
			}
			if got := strings.Join(ranks, ","); got != tt.want {
				t.Errorf("ranks %s, want %s", got, tt.want)
			}
		})
	}

	t.Run("windows", func(t *testing.T) {
		_, _, body := get(t, hs.URL, "/api/windows?current=true&lang=*")
		var r api.WindowsResponse
		if err := json.Unmarshal(body, &r); err != nil {
			t.Fatal(err)
		}
		if got := rankingSummary(r.Windows); got != "bluesky||12:01|\nbluesky|en|12:01|" {
			t.Errorf("got %q", got)
		}
		_, _, body = get(t, hs.URL, "/api/windows")
		if err := json.Unmarshal(body, &r); err != nil {
			t.Fatal(err)
		}
		if got := rankingSummary(r.Windows); got != "bluesky||12:01|\nbluesky||12:00|" {
			t.Errorf("got %q", got)
		}
	})

	t.Run("bad limit", func(t *testing.T) {
		if code, _, body := get(t, hs.URL, "/api/trends?limit=-1"); code != http.StatusBadRequest || !strings.Contains(string(body), "limit") {
			t.Errorf("status %d: %s", code, body)
		}
	})

	t.Run("health", func(t *testing.T) {
		code, _, body := get(t, hs.URL, "/healthz")
		var h api.HealthResponse
		if err := json.Unmarshal(body, &h); err != nil || code != 200 || h.Status != "ok" || h.Database != "ok" {
			t.Errorf("status %d: %s (%v)", code, body, err)
		}
	})

	t.Run("dashboard assets and headers", func(t *testing.T) {
		for path, ctype := range map[string]string{
			"/": "text/html", "/static/app.js": "text/javascript", "/static/style.css": "text/css",
		} {
			code, hdr, body := get(t, hs.URL, path)
			if code != 200 || !strings.HasPrefix(hdr.Get("Content-Type"), ctype) || len(body) == 0 {
				t.Errorf("%s: status %d, type %q", path, code, hdr.Get("Content-Type"))
			}
			if csp := hdr.Get("Content-Security-Policy"); !strings.Contains(csp, "script-src 'self'") {
				t.Errorf("%s: CSP %q", path, csp)
			}
		}
		if code, _, _ := get(t, hs.URL, "/static/nope.js"); code != 404 {
			t.Errorf("missing asset: status %d", code)
		}
		if _, _, body := get(t, hs.URL, "/"); strings.Contains(string(body), "http://") || strings.Contains(string(body), "https://") {
			t.Error("dashboard references an external URL")
		}
	})

	t.Run("metrics", func(t *testing.T) {
		code, _, body := get(t, hs.URL, "/metrics")
		for _, want := range []string{
			`trendstream_api_requests_total{code="200",route="/api/trends"}`,
			`trendstream_api_requests_total{code="404",route="/api/terms/{term}/history"}`,
			"trendstream_api_stream_clients 0", "go_goroutines",
		} {
			if code != 200 || !strings.Contains(string(body), want) {
				t.Errorf("metrics lack %q", want)
			}
		}
	})
}

// sseEvent is one "snapshot" or "update" event of a stream.
type sseEvent struct {
	Event string
	store.Window
}

// sseEvents reads "snapshot" and "update" events from an open stream.
func sseEvents(t *testing.T, body io.Reader) <-chan sseEvent {
	ch := make(chan sseEvent, 16)
	go func() {
		defer close(ch)
		sc := bufio.NewScanner(body)
		sc.Buffer(make([]byte, 1<<20), 1<<20)
		event := ""
		for sc.Scan() {
			line := sc.Text()
			switch {
			case strings.HasPrefix(line, "event: "):
				event = strings.TrimPrefix(line, "event: ")
			case strings.HasPrefix(line, "data: ") && (event == "snapshot" || event == "update"):
				var w store.Window
				if err := json.Unmarshal([]byte(strings.TrimPrefix(line, "data: ")), &w); err != nil {
					t.Errorf("bad event data %q: %v", line, err)
					return
				}
				ch <- sseEvent{event, w}
			case line == "":
				event = ""
			}
		}
	}()
	return ch
}

func openStream(t *testing.T, ctx context.Context, base, query string) <-chan sseEvent {
	t.Helper()
	req, _ := http.NewRequestWithContext(ctx, http.MethodGet, base+"/api/stream"+query, nil)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { resp.Body.Close() })
	if ct := resp.Header.Get("Content-Type"); ct != "text/event-stream" {
		t.Fatalf("stream content type %q", ct)
	}
	return sseEvents(t, resp.Body)
}

func waitStreams(t *testing.T, base string, n int) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for time.Now().Before(deadline) {
		_, _, body := get(t, base, "/healthz")
		var h api.HealthResponse
		if json.Unmarshal(body, &h) == nil && h.Streams == n {
			return
		}
		time.Sleep(10 * time.Millisecond)
	}
	t.Fatalf("never saw %d stream clients", n)
}

func TestStream(t *testing.T) {
	st := openStore(t)
	srv := api.New(st, api.Options{KeepAlive: 50 * time.Millisecond})
	hs := httptest.NewServer(srv.Handler())
	defer hs.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()

	en := openStream(t, ctx, hs.URL, "?lang=en")
	all := openStream(t, ctx, hs.URL, "?lang=*")
	waitStreams(t, hs.URL, 2)

	t1 := t0.Add(time.Minute)
	srv.Publish(snap("en", t1, "coffee", scriptTerm))
	srv.Publish(snap("de", t1, "kaffee"))
	srv.Publish(snap("en", t1, "coffee", scriptTerm)) // a retry of the same pane: never pushed twice
	// An older window re-fired with late data: pushed as an update (it used
	// to be dropped), never as the current ranking.
	late := snap("en", t0, "late")
	late.EmittedAt = timestamppb.New(t1.Add(5 * time.Second))
	srv.Publish(late)
	srv.Publish(snap("en", t1.Add(time.Minute), "tea"))

	recv := func(ch <-chan sseEvent) string {
		select {
		case e, ok := <-ch:
			if !ok {
				t.Fatal("stream ended")
			}
			return e.Event + " " + rankingSummary([]store.Window{e.Window})
		case <-ctx.Done():
			t.Fatal("timed out waiting for an event")
		}
		return ""
	}
	for _, want := range []string{"snapshot bluesky|en|12:01|coffee," + scriptTerm, "update bluesky|en|12:00|late", "snapshot bluesky|en|12:02|tea"} {
		if got := recv(en); got != want {
			t.Errorf("lang=en stream: got %q, want %q", got, want)
		}
	}
	for _, want := range []string{"snapshot bluesky|en|12:01|coffee," + scriptTerm, "snapshot bluesky|de|12:01|kaffee",
		"update bluesky|en|12:00|late", "snapshot bluesky|en|12:02|tea"} {
		if got := recv(all); got != want {
			t.Errorf("lang=* stream: got %q, want %q", got, want)
		}
	}
	_, _, body := get(t, hs.URL, "/metrics")
	for _, want := range []string{"trendstream_api_snapshots_published_total 4", "trendstream_api_snapshots_stale_total 1",
		"trendstream_api_window_updates_total 1", "trendstream_api_stream_clients 2"} {
		if !strings.Contains(string(body), want) {
			t.Errorf("metrics lack %q", want)
		}
	}
}

// collector is a Publisher that remembers what it was given.
type collector struct {
	mu    sync.Mutex
	snaps []*tsv1.WindowSnapshot
	got   chan struct{}
}

func (c *collector) Publish(s *tsv1.WindowSnapshot) {
	c.mu.Lock()
	c.snaps = append(c.snaps, s)
	c.mu.Unlock()
	c.got <- struct{}{}
}

// produce writes snapshots to topic the way the pipeline does: key
// "<source>|<lang>|<window_end unix ms>", protobuf value.
func produce(t *testing.T, brokers []string, topic string, snaps ...*tsv1.WindowSnapshot) {
	t.Helper()
	p, err := sarama.NewSyncProducer(brokers, kafkaconf.Producer("api-test"))
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	for _, s := range snaps {
		v, err := proto.Marshal(s)
		if err != nil {
			t.Fatal(err)
		}
		key := fmt.Sprintf("%s|%s|%d", store.SourceName(s.GetSource()), s.GetLang(), s.GetWindowEnd().AsTime().UnixMilli())
		if _, _, err := p.SendMessage(&sarama.ProducerMessage{Topic: topic, Key: sarama.StringEncoder(key), Value: sarama.ByteEncoder(v)}); err != nil {
			t.Fatal(err)
		}
	}
}

func TestConsumeTrends(t *testing.T) {
	const topic = "trendstream.trends"
	k := testenv.Kafka(t, 2, topic)
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()

	// A record written before the consumer starts is only seen FromOldest.
	early := snap("", t0, "early")
	produce(t, k.Addrs(), topic, early)

	c := &collector{got: make(chan struct{}, 16)}
	ready := make(chan struct{})
	done := make(chan error, 1)
	go func() {
		done <- api.ConsumeTrends(ctx, k.Addrs(), topic, c, api.OnReady(func() { close(ready) }))
	}()
	select {
	case <-ready:
	case <-ctx.Done():
		t.Fatal("consumer never became ready")
	}
	p, err := sarama.NewSyncProducer(k.Addrs(), kafkaconf.Producer("api-test"))
	if err != nil {
		t.Fatal(err)
	}
	if _, _, err := p.SendMessage(&sarama.ProducerMessage{Topic: topic, Value: sarama.StringEncoder("\xff not protobuf")}); err != nil {
		t.Fatal(err)
	}
	p.Close()
	late := snap("en", t0.Add(time.Minute), "late", scriptTerm)
	produce(t, k.Addrs(), topic, late)
	select {
	case <-c.got:
	case <-ctx.Done():
		t.Fatal("no snapshot delivered")
	}
	c.mu.Lock()
	if len(c.snaps) != 1 || !proto.Equal(c.snaps[0], late) {
		t.Errorf("delivered %v, want only the late snapshot", c.snaps)
	}
	c.mu.Unlock()

	// FromOldest replays both.
	c2 := &collector{got: make(chan struct{}, 16)}
	ctx2, cancel2 := context.WithCancel(ctx)
	done2 := make(chan error, 1)
	go func() { done2 <- api.ConsumeTrends(ctx2, k.Addrs(), topic, c2, api.FromOldest()) }()
	for range 2 {
		select {
		case <-c2.got:
		case <-ctx.Done():
			t.Fatal("replay incomplete")
		}
	}
	cancel2()
	if err := <-done2; err != context.Canceled {
		t.Errorf("ConsumeTrends returned %v, want context.Canceled", err)
	}
	got := map[string]bool{}
	for _, s := range c2.snaps {
		got[s.GetTerms()[0].GetTerm()] = true
	}
	if !got["early"] || !got["late"] {
		t.Errorf("replay delivered %v", got)
	}
	cancel()
	<-done
}

func TestClient(t *testing.T) {
	st := openStore(t)
	if err := st.WriteSnapshots(context.Background(), []*tsv1.WindowSnapshot{snap("", t0, "rain", "sun"), snap("en", t0, "coffee")}); err != nil {
		t.Fatal(err)
	}
	hs := httptest.NewServer(api.New(st, api.Options{}).Handler())
	defer hs.Close()
	c := api.NewClient(hs.URL+"/", nil)
	tests := []struct {
		f    store.Filter
		want string
	}{
		{store.Filter{}, "bluesky||12:00|rain,sun"},
		{store.Filter{Limit: 1, AllLangs: true}, "bluesky||12:00|rain\nbluesky|en|12:00|coffee"},
		{store.Filter{Lang: "en", Source: "bluesky"}, "bluesky|en|12:00|coffee"},
	}
	for _, tt := range tests {
		ws, err := c.CurrentTrends(context.Background(), tt.f)
		if err != nil {
			t.Fatal(err)
		}
		direct, err := st.CurrentTrends(context.Background(), tt.f)
		if err != nil {
			t.Fatal(err)
		}
		if got := rankingSummary(ws); got != tt.want || got != rankingSummary(direct) {
			t.Errorf("%+v: client %q, store %q, want %q", tt.f, got, rankingSummary(direct), tt.want)
		}
	}
	if _, err := api.NewClient(hs.URL+"/nope", nil).CurrentTrends(context.Background(), store.Filter{}); err == nil || !strings.Contains(err.Error(), "404") {
		t.Errorf("error for a wrong base URL = %v", err)
	}
}

// TestSameTermInTwoLanguages: the overall ranking can rank the same word
// once per language (the pipeline scores terms per language). Both entries
// must reach /api/trends, the stream and the history, each with its own
// term_lang; the read model used to keep one of them.
func TestSameTermInTwoLanguages(t *testing.T) {
	st := openStore(t)
	s := snap("", t0, "gift", "gift", "rain")
	for i, lang := range []string{"de", "en", "en"} {
		s.Terms[i].Lang = lang
	}
	if err := st.WriteSnapshots(context.Background(), []*tsv1.WindowSnapshot{s}); err != nil {
		t.Fatal(err)
	}
	srv := api.New(st, api.Options{})
	hs := httptest.NewServer(srv.Handler())
	defer hs.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel() // before hs.Close: ends the stream it would wait for

	// Decoded generically, so the check does not lean on the Go types.
	type entry struct {
		Rank     int    `json:"rank"`
		Term     string `json:"term"`
		TermLang string `json:"term_lang"`
	}
	render := func(es []entry) string {
		var out []string
		for _, e := range es {
			out = append(out, fmt.Sprintf("%d:%s:%s", e.Rank, e.TermLang, e.Term))
		}
		return strings.Join(out, " ")
	}
	const want = "1:de:gift 2:en:gift 3:en:rain"
	_, _, body := get(t, hs.URL, "/api/trends?history=3")
	var r struct {
		Windows []struct {
			Terms []entry `json:"terms"`
		} `json:"windows"`
	}
	if err := json.Unmarshal(body, &r); err != nil || len(r.Windows) != 1 {
		t.Fatalf("%s (%v)", body, err)
	}
	if got := render(r.Windows[0].Terms); got != want {
		t.Errorf("/api/trends: %s, want %s", got, want)
	}

	code, _, body := get(t, hs.URL, "/api/terms/gift/history?term_lang=en")
	var h struct {
		Points []entry `json:"points"`
	}
	if err := json.Unmarshal(body, &h); err != nil || code != 200 || render(h.Points) != "2:en:" {
		t.Errorf("history of the English gift: %d %s (%v)", code, body, err)
	}

	events := openStream(t, ctx, hs.URL, "")
	waitStreams(t, hs.URL, 1)
	live := proto.Clone(s).(*tsv1.WindowSnapshot)
	live.WindowEnd = timestamppb.New(t0.Add(time.Minute))
	srv.Publish(live)
	select {
	case e := <-events:
		var es []entry
		for _, tm := range e.Terms {
			b, _ := json.Marshal(tm)
			var e entry
			_ = json.Unmarshal(b, &e)
			es = append(es, e)
		}
		if got := render(es); got != want {
			t.Errorf("stream: %s, want %s", got, want)
		}
	case <-ctx.Done():
		t.Fatal("no stream event")
	}
}

// TestHealthHidesDatabaseErrors: /healthz used to return the database
// error's text (hosts, ports, users) to anyone who asked. It answers a
// generic status now and logs the reason.
func TestHealthHidesDatabaseErrors(t *testing.T) {
	st, err := store.Open(context.Background(), testenv.Postgres(t))
	if err != nil {
		t.Fatal(err)
	}
	var logs strings.Builder
	var mu sync.Mutex
	srv := api.New(st, api.Options{Logger: slog.New(slog.NewTextHandler(lockedWriter{&mu, &logs}, nil))})
	hs := httptest.NewServer(srv.Handler())
	defer hs.Close()
	st.Close() // every ping fails from now on, with pgx's own words

	code, _, body := get(t, hs.URL, "/healthz")
	var h api.HealthResponse
	if err := json.Unmarshal(body, &h); err != nil {
		t.Fatalf("%s: %v", body, err)
	}
	if code != http.StatusServiceUnavailable || h.Status != "unavailable" || h.Database != "unavailable" {
		t.Errorf("status %d: %s; want 503 with database \"unavailable\"", code, body)
	}
	mu.Lock()
	logged := logs.String()
	mu.Unlock()
	if !strings.Contains(logged, "closed pool") {
		t.Errorf("the database error was not logged: %q", logged)
	}
	if strings.Contains(string(body), "pool") || strings.Contains(string(body), "store:") {
		t.Errorf("/healthz leaks the database error: %s", body)
	}
}

type lockedWriter struct {
	mu *sync.Mutex
	w  io.Writer
}

func (l lockedWriter) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.w.Write(p)
}
