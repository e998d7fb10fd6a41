package api

import (
	"fmt"
	"net/http"
	"strings"
	"time"

	"github.com/trendstream/trendstream/internal/readside/store"
)

// Symbol history spans: the symbol page shows the last hours of a symbol.
const (
	defaultSymbolHours = 4
	maxSymbolHours     = 72
	maxSymbolLen       = 16
)

// marketRoutes registers the market (stock ticker) routes: the ranking of
// unusual symbols, a symbol's history, and the symbol page.
func (s *Server) marketRoutes(handle func(pattern, route string, h http.HandlerFunc)) {
	handle("GET /api/market", "/api/market", s.market)
	handle("GET /api/symbols/{symbol}", "/api/symbols/{symbol}", s.symbol)
	// A symbol's page: the symbol is read from the path by symbol.js.
	handle("GET /symbol/{symbol}", "/symbol/{symbol}", serveAsset("symbol.html"))
}

// MarketResponse is the body of GET /api/market: the newest market window
// ending at or before ?at= (the newest of all without it), null when the
// read model has none.
type MarketResponse struct {
	Window *store.MarketWindow `json:"window"`
}

func (s *Server) market(w http.ResponseWriter, r *http.Request) {
	at, err := timeParam(r.URL.Query(), "at")
	if err != nil {
		s.fail(w, r, err)
		return
	}
	mw, err := s.store.MarketRanking(r.Context(), at)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, MarketResponse{Window: mw})
}

// SymbolResponse is the body of GET /api/symbols/{symbol}: the symbol's
// market activity in every window it traded in over the last Hours up to
// Until, and, over the same span, its Bluesky mentions: the history of the
// cashtag term (kind "cashtag", text = the symbol) in the trending windows
// of ranking Lang, as GET /api/terms/{term}/history gives it (empty when the
// cashtag never ranked then).
type SymbolResponse struct {
	Symbol   string                 `json:"symbol"`
	Until    time.Time              `json:"until"`
	Hours    int                    `json:"hours"`
	Lang     string                 `json:"lang"`
	Activity []store.MarketActivity `json:"activity"`
	Mentions []store.Point          `json:"mentions"`
}

func (s *Server) symbol(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	sym := strings.ToUpper(strings.TrimPrefix(r.PathValue("symbol"), "$"))
	if sym == "" || len(sym) > maxSymbolLen {
		s.fail(w, r, fmt.Errorf("%w: symbol must be 1 to %d characters", errBadRequest, maxSymbolLen))
		return
	}
	hours, err := intParam(q.Get("hours"), "hours")
	if err != nil {
		s.fail(w, r, err)
		return
	}
	if hours == 0 {
		hours = defaultSymbolHours
	}
	hours = min(hours, maxSymbolHours)
	until, err := timeParam(q, "until")
	if err != nil {
		s.fail(w, r, err)
		return
	}
	span := time.Duration(hours) * time.Hour
	acts, err := s.store.SymbolHistory(r.Context(), sym, until, span)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	if until.IsZero() && len(acts) > 0 {
		until = acts[len(acts)-1].End
	}
	f := store.HistoryFilter{Lang: q.Get("lang"), Kind: "cashtag", Windows: store.MaxHistory, Until: until}
	if !until.IsZero() {
		f.From = until.Add(-span)
	}
	mentions, err := s.store.TermHistory(r.Context(), sym, f)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	if acts == nil {
		acts = []store.MarketActivity{}
	}
	if mentions == nil {
		mentions = []store.Point{}
	}
	writeJSON(w, http.StatusOK, SymbolResponse{Symbol: sym, Until: until, Hours: hours, Lang: f.Lang, Activity: acts, Mentions: mentions})
}
