package api

import (
	"crypto/subtle"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"time"

	"github.com/trendstream/trendstream/internal/core/watchlist"
	"github.com/trendstream/trendstream/internal/readside/store"
)

// Watchlist routes (docs/watchlists.md, docs/api.md): the entries (read by
// anyone who can read the API; changed only with Options.WatchlistToken as
// a bearer token), each entry's newest per-window status, an entry's
// windows, the alerts, and the dashboard's watchlist page. The pipeline
// reads the entries when it starts (trendstream watchlist), so a change
// applies from its next start.
func (s *Server) watchlistRoutes(handle func(pattern, route string, h http.HandlerFunc)) {
	handle("GET /api/watchlist/entries", "/api/watchlist/entries", s.watchEntries)
	handle("POST /api/watchlist/entries", "/api/watchlist/entries", s.writer(s.createWatchEntry))
	handle("GET /api/watchlist/entries/{id}", "/api/watchlist/entries/{id}", s.watchEntry)
	handle("PUT /api/watchlist/entries/{id}", "/api/watchlist/entries/{id}", s.writer(s.putWatchEntry))
	handle("DELETE /api/watchlist/entries/{id}", "/api/watchlist/entries/{id}", s.writer(s.deleteWatchEntry))
	handle("GET /api/watchlist/entries/{id}/windows", "/api/watchlist/entries/{id}/windows", s.watchWindows)
	handle("GET /api/watchlist/status", "/api/watchlist/status", s.watchStatus)
	handle("GET /api/watchlist/alerts", "/api/watchlist/alerts", s.watchAlerts)
	handle("GET /watchlist", "/watchlist", serveAsset("watchlist.html"))
}

// writer guards a route that changes entries: it needs the configured
// token as "Authorization: Bearer <token>". Without a configured token the
// API is read-only.
func (s *Server) writer(h http.HandlerFunc) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		if s.watchlistToken == "" {
			writeJSON(w, http.StatusForbidden, errorBody{Error: "watchlist editing is disabled: start the server with -watchlist-token"})
			return
		}
		got, ok := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer ")
		if !ok || subtle.ConstantTimeCompare([]byte(got), []byte(s.watchlistToken)) != 1 {
			w.Header().Set("WWW-Authenticate", `Bearer realm="trendstream watchlist"`)
			writeJSON(w, http.StatusUnauthorized, errorBody{Error: "a valid bearer token is required"})
			return
		}
		h(w, r)
	}
}

// EntriesResponse is the body of GET /api/watchlist/entries.
type EntriesResponse struct {
	Entries []watchlist.Entry `json:"entries"`
}

func (s *Server) watchEntries(w http.ResponseWriter, r *http.Request) {
	es, err := s.store.WatchEntries(r.Context())
	if err != nil {
		s.fail(w, r, err)
		return
	}
	if es == nil {
		es = []watchlist.Entry{}
	}
	writeJSON(w, http.StatusOK, EntriesResponse{Entries: es})
}

func (s *Server) watchEntry(w http.ResponseWriter, r *http.Request) {
	e, err := s.store.WatchEntry(r.Context(), r.PathValue("id"))
	if errors.Is(err, store.ErrNotFound) {
		writeJSON(w, http.StatusNotFound, errorBody{Error: "no such entry"})
		return
	}
	if err != nil {
		s.fail(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, e)
}

// maxEntryBytes bounds a request body: an entry is a few hundred bytes.
const maxEntryBytes = 64 << 10

func readEntry(w http.ResponseWriter, r *http.Request) (watchlist.Entry, error) {
	var e watchlist.Entry
	dec := json.NewDecoder(http.MaxBytesReader(w, r.Body, maxEntryBytes))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&e); err != nil {
		return e, fmt.Errorf("%w: entry: %w", errBadRequest, err)
	}
	if err := e.Validate(); err != nil {
		return e, fmt.Errorf("%w: %w", errBadRequest, err)
	}
	return e, nil
}

func (s *Server) createWatchEntry(w http.ResponseWriter, r *http.Request) {
	e, err := readEntry(w, r)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	if _, err := s.store.WatchEntry(r.Context(), e.ID); err == nil {
		writeJSON(w, http.StatusConflict, errorBody{Error: "an entry with this id exists; PUT /api/watchlist/entries/{id} replaces it"})
		return
	} else if !errors.Is(err, store.ErrNotFound) {
		s.fail(w, r, err)
		return
	}
	if err := s.store.PutEntries(r.Context(), []watchlist.Entry{e}); err != nil {
		s.fail(w, r, err)
		return
	}
	w.Header().Set("Location", "/api/watchlist/entries/"+e.ID)
	writeJSON(w, http.StatusCreated, e)
}

func (s *Server) putWatchEntry(w http.ResponseWriter, r *http.Request) {
	e, err := readEntry(w, r)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	if e.ID != r.PathValue("id") {
		s.fail(w, r, fmt.Errorf("%w: the body's id %q is not the path's %q", errBadRequest, e.ID, r.PathValue("id")))
		return
	}
	if err := s.store.PutEntries(r.Context(), []watchlist.Entry{e}); err != nil {
		s.fail(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, e)
}

func (s *Server) deleteWatchEntry(w http.ResponseWriter, r *http.Request) {
	err := s.store.DeleteWatchEntry(r.Context(), r.PathValue("id"))
	if errors.Is(err, store.ErrNotFound) {
		writeJSON(w, http.StatusNotFound, errorBody{Error: "no such entry"})
		return
	}
	if err != nil {
		s.fail(w, r, err)
		return
	}
	w.WriteHeader(http.StatusNoContent)
}

// WatchStatus is one entry's newest window as the API returns it.
type WatchStatus struct {
	EntryID     string    `json:"entry_id"`
	WindowStart time.Time `json:"window_start"`
	WindowEnd   time.Time `json:"window_end"`
	Posts       int64     `json:"posts"`
	Authors     int64     `json:"authors"`
	Score       float64   `json:"score"`
	Baseline    float64   `json:"baseline"`
	Scored      bool      `json:"scored"`
	Active      bool      `json:"active"`
}

func watchStatus(st watchlist.Status) WatchStatus {
	return WatchStatus{
		EntryID: st.EntryID, WindowStart: time.UnixMilli(st.WindowStart).UTC(), WindowEnd: time.UnixMilli(st.WindowEnd).UTC(),
		Posts: st.Count, Authors: st.Authors, Score: st.Score, Baseline: st.Baseline, Scored: st.Scored, Active: st.Active,
	}
}

// StatusResponse is the body of GET /api/watchlist/status: every entry,
// with its newest window if it has one.
type StatusResponse struct {
	Entries []EntryStatus `json:"entries"`
}

// EntryStatus is an entry and its newest window (nil: no match yet).
type EntryStatus struct {
	watchlist.Entry
	Latest *WatchStatus `json:"latest"`
}

func (s *Server) watchStatus(w http.ResponseWriter, r *http.Request) {
	es, err := s.store.WatchEntries(r.Context())
	if err != nil {
		s.fail(w, r, err)
		return
	}
	latest, err := s.store.LatestWatchWindows(r.Context())
	if err != nil {
		s.fail(w, r, err)
		return
	}
	by := map[string]watchlist.Status{}
	for _, st := range latest {
		by[st.EntryID] = st
	}
	out := StatusResponse{Entries: []EntryStatus{}}
	for _, e := range es {
		es := EntryStatus{Entry: e}
		if st, ok := by[e.ID]; ok {
			ws := watchStatus(st)
			es.Latest = &ws
		}
		out.Entries = append(out.Entries, es)
	}
	writeJSON(w, http.StatusOK, out)
}

// WindowsResponse is the body of GET /api/watchlist/entries/{id}/windows.
type WatchWindowsResponse struct {
	EntryID string        `json:"entry_id"`
	Windows []WatchStatus `json:"windows"`
}

// defaultWatchHistory is the span of windows returned without from/to.
const defaultWatchHistory = 4 * time.Hour

func (s *Server) watchWindows(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	from, err := timeParam(q, "from")
	if err != nil {
		s.fail(w, r, err)
		return
	}
	to, err := timeParam(q, "to")
	if err != nil {
		s.fail(w, r, err)
		return
	}
	id := r.PathValue("id")
	if to.IsZero() {
		// The newest window's end, not the wall clock: after a replay the
		// entry's windows lie in the recording's past.
		latest, err := s.store.LatestWatchWindows(r.Context())
		if err != nil {
			s.fail(w, r, err)
			return
		}
		to = time.Now()
		for _, st := range latest {
			if st.EntryID == id {
				to = time.UnixMilli(st.WindowEnd + 1)
			}
		}
	}
	if from.IsZero() {
		from = to.Add(-defaultWatchHistory)
	}
	ss, err := s.store.WatchWindows(r.Context(), id, from, to)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	out := WatchWindowsResponse{EntryID: id, Windows: []WatchStatus{}}
	for _, st := range ss {
		out.Windows = append(out.Windows, watchStatus(st))
	}
	writeJSON(w, http.StatusOK, out)
}

// WatchAlert is one alert as the API returns it.
type WatchAlert struct {
	ID          string     `json:"id"`
	EntryID     string     `json:"entry_id"`
	WindowStart time.Time  `json:"window_start"`
	WindowEnd   time.Time  `json:"window_end"`
	Posts       int64      `json:"posts"`
	Authors     int64      `json:"authors"`
	Score       float64    `json:"score"`
	Baseline    float64    `json:"baseline"`
	Enter       float64    `json:"enter_threshold"`
	CreatedAt   time.Time  `json:"created_at"`
	PublishedAt *time.Time `json:"published_at"`
	DeliveredAt *time.Time `json:"delivered_at"`
	// WebhookAttempts and WebhookError say how delivery went (error: the
	// last failure, "" once delivered).
	WebhookAttempts int    `json:"webhook_attempts"`
	WebhookError    string `json:"webhook_error,omitempty"`
}

// AlertsResponse is the body of GET /api/watchlist/alerts.
type AlertsResponse struct {
	Alerts []WatchAlert `json:"alerts"`
}

func (s *Server) watchAlerts(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	limit, err := intParam(q.Get("limit"), "limit")
	if err != nil {
		s.fail(w, r, err)
		return
	}
	recs, err := s.store.Alerts(r.Context(), store.AlertFilter{EntryID: q.Get("entry"), Limit: min(limit, 1000)})
	if err != nil {
		s.fail(w, r, err)
		return
	}
	out := AlertsResponse{Alerts: []WatchAlert{}}
	for _, a := range recs {
		out.Alerts = append(out.Alerts, WatchAlert{
			ID: a.ID, EntryID: a.EntryID, WindowStart: time.UnixMilli(a.WindowStart).UTC(), WindowEnd: time.UnixMilli(a.WindowEnd).UTC(),
			Posts: a.Count, Authors: a.Authors, Score: a.Score, Baseline: a.Baseline, Enter: a.Enter,
			CreatedAt: a.CreatedAt.UTC(), PublishedAt: a.PublishedAt, DeliveredAt: a.DeliveredAt,
			WebhookAttempts: a.WebhookAttempts, WebhookError: a.WebhookError,
		})
	}
	writeJSON(w, http.StatusOK, out)
}
