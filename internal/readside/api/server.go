// Package api serves trendstream's read model over HTTP: a JSON API for
// current trends, a term's history and windows, a Server-Sent Events stream
// of new rankings, Prometheus metrics, and the embedded live dashboard.
//
// Queries go to PostgreSQL through the store package. Live updates come
// from Publish, fed either in-process by the pipeline or from the Kafka
// results topic by ConsumeTrends.
package api

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"os"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/trendstream/trendstream/internal/readside/store"
	tsv1 "github.com/trendstream/trendstream/proto/trendstream/v1"
)

// ContentSecurityPolicy is sent with every response. The dashboard needs
// nothing but its own scripts, styles and API; even if some data did reach
// the DOM as markup, no inline script or handler could run.
const ContentSecurityPolicy = "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; " +
	"connect-src 'self'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'"

// Options tune a Server. The zero value is usable.
type Options struct {
	// Logger receives request errors and feed events; nil means slog.Default().
	Logger *slog.Logger
	// Registry receives the server's metrics and is served on /metrics; nil
	// means a new registry with Go runtime and process collectors.
	Registry *prometheus.Registry
	// KeepAlive is the interval of SSE comment lines that keep idle proxies
	// from closing a healthy stream; 0 means DefaultKeepAlive.
	KeepAlive time.Duration
	// StreamBuffer is how many undelivered updates a stream client may fall
	// behind before it is dropped; 0 means 64.
	StreamBuffer int
	// WriteTimeout bounds every write to a stream client: one whose socket
	// accepts nothing for this long (it stopped reading) is disconnected,
	// freeing its goroutine and socket. 0 means DefaultWriteTimeout.
	WriteTimeout time.Duration
	// MaxStreams caps concurrent stream clients; beyond it /api/stream
	// answers 503 with Retry-After. 0 means DefaultMaxStreams, negative
	// means no cap.
	MaxStreams int
	// WatchlistToken, if set, is the bearer token that allows changing
	// watchlist entries through the API; empty keeps them read-only.
	WatchlistToken string
}

// Defaults of the server's options, shared with the command-line flags.
const (
	// DefaultAddr is loopback only: exposing the API is a decision.
	DefaultAddr         = "127.0.0.1:8080"
	DefaultKeepAlive    = 15 * time.Second
	DefaultWriteTimeout = 10 * time.Second
	DefaultMaxStreams   = 1000
	// streamRetryAfter is the Retry-After, in seconds, of a stream refused
	// for the cap: long enough for clients to leave, short enough that a
	// dashboard comes back soon.
	streamRetryAfter = 10
)

// Server is the HTTP API and dashboard. Create it with New.
type Server struct {
	store        *store.Store
	log          *slog.Logger
	reg          *prometheus.Registry
	hub          *hub
	keepAlive    time.Duration
	writeTimeout time.Duration
	maxStreams   int64 // <= 0: no cap
	handler      http.Handler
	m            metrics
	// lastPublish is the unix-nano time of the last accepted snapshot.
	lastPublish atomic.Int64
	// streams counts stream connections from accept to close, including
	// one blocked writing to a client that stopped reading: the gauge
	// and the cap must see exactly those.
	streams atomic.Int64
	// watchlistToken guards the watchlist's write routes (watchlist.go).
	watchlistToken string
}

// New returns a Server reading from st.
func New(st *store.Store, o Options) *Server {
	s := &Server{store: st, log: o.Logger, reg: o.Registry, keepAlive: o.KeepAlive,
		writeTimeout: o.WriteTimeout, maxStreams: int64(o.MaxStreams), watchlistToken: o.WatchlistToken}
	if s.log == nil {
		s.log = slog.Default()
	}
	if s.reg == nil {
		s.reg = prometheus.NewRegistry()
		s.reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	}
	if s.keepAlive <= 0 {
		s.keepAlive = DefaultKeepAlive
	}
	if s.writeTimeout <= 0 {
		s.writeTimeout = DefaultWriteTimeout
	}
	if s.maxStreams == 0 {
		s.maxStreams = DefaultMaxStreams
	}
	buf := o.StreamBuffer
	if buf <= 0 {
		buf = 64
	}
	s.hub = newHub(buf)
	s.m = newMetrics(s.reg, func() int { return int(s.streams.Load()) })
	s.hub.onDrop = s.m.dropped.Inc
	s.handler = s.routes()
	return s
}

// Handler returns the server's HTTP handler, for embedding in another mux
// or an httptest.Server.
func (s *Server) Handler() http.Handler { return s.handler }

// Serve serves HTTP on l until ctx is cancelled, then shuts down, giving
// in-flight requests a few seconds. Open streams end at once.
func (s *Server) Serve(ctx context.Context, l net.Listener) error {
	hs := &http.Server{
		Handler:           s.handler,
		ReadHeaderTimeout: 10 * time.Second,
		// Idle keep-alive connections are closed; streams are not idle, and
		// their writes have their own deadline (WriteTimeout).
		IdleTimeout: 2 * time.Minute,
		BaseContext: func(net.Listener) context.Context { return ctx },
	}
	errc := make(chan error, 1)
	go func() { errc <- hs.Serve(l) }()
	select {
	case err := <-errc:
		return fmt.Errorf("api: serve: %w", err)
	case <-ctx.Done():
	}
	sctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := hs.Shutdown(sctx); err != nil {
		return fmt.Errorf("api: shutdown: %w", err)
	}
	return nil
}

// Publish pushes a pipeline snapshot to the stream clients that selected
// its ranking: as a "snapshot" event if it is the ranking's newest window
// (new, or re-emitted with newer content), as an "update" event if it
// corrects an older window (the pipeline re-fires panes when late data
// arrives). A pane not emitted after the copy already sent is a stale
// retry and dropped. It is safe for concurrent use.
func (s *Server) Publish(snap *tsv1.WindowSnapshot) {
	w := store.FromSnapshot(snap)
	event, err := s.hub.publish(w)
	if err != nil {
		s.log.Error("api: encode snapshot", "err", err)
		return
	}
	switch event {
	case "":
		s.m.stale.Inc()
		return
	case eventUpdate:
		s.m.updates.Inc()
	case eventSnapshot:
		s.m.lastWindow.Set(float64(w.End.UnixMilli()) / 1000)
	}
	s.m.published.Inc()
	s.lastPublish.Store(time.Now().UnixNano())
}

func (s *Server) routes() http.Handler {
	mux := http.NewServeMux()
	handle := func(pattern, route string, h http.HandlerFunc) {
		mux.Handle(pattern, s.m.instrument(route, h))
	}
	handle("GET /api/trends", "/api/trends", s.trends)
	handle("GET /api/terms/{term}/history", "/api/terms/{term}/history", s.termHistory)
	handle("GET /api/windows", "/api/windows", s.windows)
	handle("GET /api/timeline", "/api/timeline", s.timeline)
	handle("GET /api/terms/{term}/examples", "/api/terms/{term}/examples", s.termExamples)
	handle("GET /api/topics", "/api/topics", s.topics)
	handle("GET /api/topics/{id}", "/api/topics/{id}", s.topicHistory)
	handle("GET /api/stream", "/api/stream", s.stream)
	handle("GET /healthz", "/healthz", s.health)
	mux.Handle("GET /metrics", promhttp.HandlerFor(s.reg, promhttp.HandlerOpts{Registry: s.reg}))
	handle("GET /{$}", "/", serveAsset("index.html"))
	// A term's page: the term is read from the path by term.js.
	handle("GET /term/{term}", "/term/{term}", serveAsset("term.html"))
	handle("GET /topic/{id}", "/topic/{id}", serveAsset("topic.html"))
	s.marketRoutes(handle)
	handle("GET /static/{file}", "/static", s.static)
	s.watchlistRoutes(handle)
	return securityHeaders(mux)
}

func securityHeaders(h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		hd := w.Header()
		hd.Set("Content-Security-Policy", ContentSecurityPolicy)
		hd.Set("X-Content-Type-Options", "nosniff")
		hd.Set("Referrer-Policy", "no-referrer")
		hd.Set("X-Frame-Options", "DENY")
		h.ServeHTTP(w, r)
	})
}

// errBadRequest marks errors caused by the request, answered with 400.
var errBadRequest = errors.New("bad request")

// selection parses source, lang and limit. lang=* selects every language;
// no lang (or lang=) is the overall ranking.
func selection(r *http.Request) (source, lang string, allLangs bool, limit int, err error) {
	q := r.URL.Query()
	source, lang = q.Get("source"), q.Get("lang")
	if lang == "*" {
		lang, allLangs = "", true
	}
	limit, err = intParam(q.Get("limit"), "limit")
	return source, lang, allLangs, limit, err
}

func intParam(v, name string) (int, error) {
	if v == "" {
		return 0, nil
	}
	n, err := strconv.Atoi(v)
	if err != nil || n < 0 {
		return 0, fmt.Errorf("%w: %s must be a non-negative integer, got %q", errBadRequest, name, v)
	}
	return n, nil
}

// TimeLayouts are the forms a time parameter (at, from, to, until) and
// `trendstream top -at` accept: RFC 3339, or a UTC date and time to the
// minute or second, as people type them.
var TimeLayouts = []string{time.RFC3339Nano, "2006-01-02T15:04:05", "2006-01-02T15:04", "2006-01-02 15:04:05", "2006-01-02 15:04"}

// ParseTime parses v in one of TimeLayouts; times without a zone are UTC.
func ParseTime(v string) (time.Time, error) {
	for _, l := range TimeLayouts {
		if t, err := time.Parse(l, v); err == nil {
			return t.UTC(), nil
		}
	}
	return time.Time{}, fmt.Errorf("not a time: %q (want RFC 3339, e.g. 2026-03-01T14:00:00Z)", v)
}

// timeParam parses an optional time parameter; absent is the zero time.
func timeParam(q url.Values, name string) (time.Time, error) {
	v := q.Get(name)
	if v == "" {
		return time.Time{}, nil
	}
	t, err := ParseTime(v)
	if err != nil {
		return time.Time{}, fmt.Errorf("%w: %s: %w", errBadRequest, name, err)
	}
	return t, nil
}

// TrendsResponse is the body of GET /api/trends.
type TrendsResponse struct {
	Windows []store.Window `json:"windows"`
}

func (s *Server) trends(w http.ResponseWriter, r *http.Request) {
	source, lang, all, limit, err := selection(r)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	hist, err := intParam(r.URL.Query().Get("history"), "history")
	if err != nil {
		s.fail(w, r, err)
		return
	}
	at, err := timeParam(r.URL.Query(), "at")
	if err != nil {
		s.fail(w, r, err)
		return
	}
	ws, err := s.store.CurrentTrends(r.Context(), store.Filter{Source: source, Lang: lang, AllLangs: all, Limit: limit, History: hist, At: at})
	if err != nil {
		s.fail(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, TrendsResponse{Windows: nonNil(ws)})
}

// HistoryResponse is the body of GET /api/terms/{term}/history.
type HistoryResponse struct {
	Term string `json:"term"`
	// Lang is the ranking's language ("" the overall ranking).
	Lang   string `json:"lang"`
	Source string `json:"source,omitempty"`
	Kind   string `json:"kind,omitempty"`
	// TermLang, when asked for, restricts to the term counted in one
	// language (store.Term.TermLang).
	TermLang string        `json:"term_lang,omitempty"`
	Points   []store.Point `json:"points"`
}

// historyFilter parses the parameters of a term's or topic's history:
// source, lang, kind, term_lang, windows, from and until.
func historyFilter(r *http.Request) (store.HistoryFilter, error) {
	q := r.URL.Query()
	f := store.HistoryFilter{Source: q.Get("source"), Lang: q.Get("lang"), Kind: q.Get("kind"), TermLang: q.Get("term_lang")}
	var err error
	if f.Windows, err = intParam(q.Get("windows"), "windows"); err != nil {
		return f, err
	}
	if f.From, err = timeParam(q, "from"); err != nil {
		return f, err
	}
	f.Until, err = timeParam(q, "until")
	return f, err
}

func (s *Server) termHistory(w http.ResponseWriter, r *http.Request) {
	f, err := historyFilter(r)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	term := r.PathValue("term")
	ps, err := s.store.TermHistory(r.Context(), term, f)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	if ps == nil {
		writeJSON(w, http.StatusNotFound, errorBody{Error: "term was not ranked in the selected windows"})
		return
	}
	writeJSON(w, http.StatusOK, HistoryResponse{Term: term, Lang: f.Lang, Source: f.Source, Kind: f.Kind, TermLang: f.TermLang, Points: ps})
}

// WindowsResponse is the body of GET /api/windows.
type WindowsResponse struct {
	Windows []store.Window `json:"windows"`
}

func (s *Server) windows(w http.ResponseWriter, r *http.Request) {
	source, lang, all, limit, err := selection(r)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	current, _ := strconv.ParseBool(r.URL.Query().Get("current"))
	f := store.WindowFilter{Source: source, Lang: lang, AllLangs: all, Current: current, Limit: limit}
	if f.From, err = timeParam(r.URL.Query(), "from"); err != nil {
		s.fail(w, r, err)
		return
	}
	if f.To, err = timeParam(r.URL.Query(), "to"); err != nil {
		s.fail(w, r, err)
		return
	}
	ws, err := s.store.Windows(r.Context(), f)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, WindowsResponse{Windows: nonNil(ws)})
}

// TimelineResponse is the body of GET /api/timeline.
type TimelineResponse = store.Timeline

// timeline answers one ranking's windows over a stretch and the terms that
// trended in them: the dashboard's time slider and overview.
func (s *Server) timeline(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	f := store.TimelineFilter{Source: q.Get("source"), Lang: q.Get("lang")}
	var err error
	if f.Lang == "*" {
		s.fail(w, r, fmt.Errorf("%w: lang: a timeline is one ranking's; lang=* is not one", errBadRequest))
		return
	}
	if f.Terms, err = intParam(q.Get("terms"), "terms"); err != nil {
		s.fail(w, r, err)
		return
	}
	if f.From, err = timeParam(q, "from"); err != nil {
		s.fail(w, r, err)
		return
	}
	if f.To, err = timeParam(q, "to"); err != nil {
		s.fail(w, r, err)
		return
	}
	if !f.From.IsZero() && !f.To.IsZero() && f.From.After(f.To) {
		s.fail(w, r, fmt.Errorf("%w: from is after to", errBadRequest))
		return
	}
	tl, err := s.store.Timeline(r.Context(), f)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, tl)
}

// HealthResponse is the body of GET /healthz.
type HealthResponse struct {
	Status string `json:"status"`
	// Database is "ok" or "unavailable"; the reason is only logged.
	Database string `json:"database"`
	// LastSnapshot is when the live feed last delivered a ranking.
	LastSnapshot *time.Time `json:"last_snapshot,omitempty"`
	Streams      int        `json:"streams"`
}

func (s *Server) health(w http.ResponseWriter, r *http.Request) {
	ctx, cancel := context.WithTimeout(r.Context(), 2*time.Second)
	defer cancel()
	h := HealthResponse{Status: "ok", Database: "ok", Streams: int(s.streams.Load())}
	code := http.StatusOK
	if err := s.store.Ping(ctx); err != nil {
		// The error names hosts, ports, users and databases: it goes to the
		// log, and whoever can reach /healthz learns only that it failed.
		s.log.Error("api: health check: database unavailable", "err", err)
		h.Status, h.Database, code = "unavailable", "unavailable", http.StatusServiceUnavailable
	}
	if ns := s.lastPublish.Load(); ns != 0 {
		t := time.Unix(0, ns).UTC()
		h.LastSnapshot = &t
	}
	writeJSON(w, code, h)
}

// stream is the Server-Sent Events endpoint: a "snapshot" event per new
// ranking the selection matches and an "update" event per corrected older
// window, whose data is a store.Window as JSON, with keep-alive comments in
// between.
//
// A client that stops reading must not pin a goroutine and a socket: every
// write has a deadline (WriteTimeout), and a client dropped by the hub for
// falling behind has its pending write cut off at once.
func (s *Server) stream(w http.ResponseWriter, r *http.Request) {
	source, lang, all, _, err := selection(r)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	n := s.streams.Add(1)
	defer s.streams.Add(-1)
	if s.maxStreams > 0 && n > s.maxStreams {
		s.m.rejected.Inc()
		w.Header().Set("Retry-After", strconv.Itoa(streamRetryAfter))
		writeJSON(w, http.StatusServiceUnavailable, errorBody{Error: "too many stream clients; retry later"})
		return
	}
	rc := http.NewResponseController(w)
	sub := s.hub.subscribe(selector{source: source, lang: lang, allLangs: all})
	defer s.hub.unsubscribe(sub)

	// A drop interrupts a write blocked on a client that stopped reading;
	// the watcher is gone before the handler returns, so it never touches
	// the connection of a later request.
	watching := make(chan struct{})
	var wg sync.WaitGroup
	wg.Go(func() {
		select {
		case <-sub.dropped:
			_ = rc.SetWriteDeadline(time.Now())
		case <-watching:
		}
	})
	defer func() {
		close(watching)
		wg.Wait()
		select {
		case <-sub.dropped:
			// The deadline stays in the past: the connection closes.
		default:
			// net/http still flushes the end of the response: bounded too.
			_ = rc.SetWriteDeadline(time.Now().Add(s.writeTimeout))
		}
	}()
	// send writes and flushes one chunk within the write deadline.
	send := func(chunk []byte) error {
		if err := rc.SetWriteDeadline(time.Now().Add(s.writeTimeout)); err != nil {
			return err
		}
		if _, err := w.Write(chunk); err != nil {
			return err
		}
		return rc.Flush()
	}

	h := w.Header()
	h.Set("Content-Type", "text/event-stream")
	h.Set("Cache-Control", "no-store")
	h.Set("X-Accel-Buffering", "no") // nginx would otherwise buffer the stream
	w.WriteHeader(http.StatusOK)
	// retry tells EventSource how soon to reconnect after a drop.
	if err := send([]byte("retry: 2000\n: connected\n\n")); err != nil {
		return
	}
	tick := time.NewTicker(s.keepAlive)
	defer tick.Stop()
	keepAlive := []byte(": keep-alive\n\n")
	for {
		var chunk []byte
		select {
		case <-r.Context().Done():
			return
		case <-sub.dropped:
			return // too slow; the client reconnects
		case chunk = <-sub.ch:
		case <-tick.C:
			chunk = keepAlive
		}
		if err := send(chunk); err != nil {
			if errors.Is(err, os.ErrDeadlineExceeded) {
				s.m.timedOut.Inc()
				s.log.Debug("api: stream client stopped reading; disconnected", "remote", r.RemoteAddr, "timeout", s.writeTimeout)
			}
			return
		}
	}
}

type errorBody struct {
	Error string `json:"error"`
}

func (s *Server) fail(w http.ResponseWriter, r *http.Request, err error) {
	switch {
	case errors.Is(err, errBadRequest):
		writeJSON(w, http.StatusBadRequest, errorBody{Error: err.Error()})
	case r.Context().Err() != nil:
		// The client went away; nobody is left to answer.
	default:
		s.log.Error("api: request failed", "path", r.URL.Path, "err", err)
		writeJSON(w, http.StatusInternalServerError, errorBody{Error: "internal error"})
	}
}

func writeJSON(w http.ResponseWriter, code int, v any) {
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(code)
	_ = json.NewEncoder(w).Encode(v) // a failed write means the client left
}

// nonNil makes an empty result encode as [] rather than null.
func nonNil[T any](ws []T) []T {
	if ws == nil {
		return []T{}
	}
	return ws
}
