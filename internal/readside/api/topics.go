package api

import (
	"context"
	"net/http"

	"github.com/trendstream/trendstream/internal/readside/store"
)

// TopicsResponse is the body of GET /api/topics.
type TopicsResponse struct {
	Windows []store.TopicWindow `json:"windows"`
}

// topics answers the newest window of each selected ranking (with at=, the
// newest that ended by then) with its topics, like /api/trends.
func (s *Server) topics(w http.ResponseWriter, r *http.Request) {
	source, lang, all, limit, err := selection(r)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	at, err := timeParam(r.URL.Query(), "at")
	if err != nil {
		s.fail(w, r, err)
		return
	}
	ws, err := s.store.Topics(r.Context(), store.Filter{Source: source, Lang: lang, AllLangs: all, Limit: limit, At: at})
	if err != nil {
		s.fail(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, TopicsResponse{Windows: nonNil(ws)})
}

// topicHistory answers a topic's history in one ranking and its newest
// examples.
func (s *Server) topicHistory(w http.ResponseWriter, r *http.Request) {
	f, err := historyFilter(r)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	page, err := s.store.TopicHistory(r.Context(), r.PathValue("id"), f)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	if page == nil {
		writeJSON(w, http.StatusNotFound, errorBody{Error: "topic was not ranked in the selected windows"})
		return
	}
	writeJSON(w, http.StatusOK, page)
}

// ExamplesResponse is the body of GET /api/terms/{term}/examples.
type ExamplesResponse struct {
	Term     string          `json:"term"`
	Lang     string          `json:"lang"`
	Examples []store.Example `json:"examples"`
}

// termExamples answers a term's example posts in the newest window of the
// ranking (until= bounds it) that has any.
func (s *Server) termExamples(w http.ResponseWriter, r *http.Request) {
	f, err := historyFilter(r)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	term := r.PathValue("term")
	ex, err := s.store.TermExamples(r.Context(), term, f)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, ExamplesResponse{Term: term, Lang: f.Lang, Examples: ex})
}

// Topics asks GET /api/topics for what store.Store.Topics would return
// with f (f.At included).
func (c *Client) Topics(ctx context.Context, f store.Filter) ([]store.TopicWindow, error) {
	var resp TopicsResponse
	if err := c.get(ctx, "/api/topics?"+filterQuery(f).Encode(), &resp); err != nil {
		return nil, err
	}
	return resp.Windows, nil
}
