package api

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/trendstream/trendstream/internal/readside/store"
)

// Client queries a running API server, for tools such as `trendstream top
// -api` that have no database access.
type Client struct {
	base string
	hc   *http.Client
}

// NewClient returns a client for the server at baseURL
// (e.g. "http://127.0.0.1:8080"); hc nil means http.DefaultClient.
func NewClient(baseURL string, hc *http.Client) *Client {
	if hc == nil {
		hc = http.DefaultClient
	}
	return &Client{base: strings.TrimRight(baseURL, "/"), hc: hc}
}

// CurrentTrends asks GET /api/trends for what store.Store.CurrentTrends
// would return with f (f.At included).
func (c *Client) CurrentTrends(ctx context.Context, f store.Filter) ([]store.Window, error) {
	var resp TrendsResponse
	if err := c.get(ctx, "/api/trends?"+filterQuery(f).Encode(), &resp); err != nil {
		return nil, err
	}
	return resp.Windows, nil
}

// filterQuery is f as /api/trends and /api/topics take it.
func filterQuery(f store.Filter) url.Values {
	q := url.Values{}
	if f.Source != "" {
		q.Set("source", f.Source)
	}
	if f.AllLangs {
		q.Set("lang", "*")
	} else if f.Lang != "" {
		q.Set("lang", f.Lang)
	}
	if f.Limit > 0 {
		q.Set("limit", strconv.Itoa(f.Limit))
	}
	if f.History > 0 {
		q.Set("history", strconv.Itoa(f.History))
	}
	if !f.At.IsZero() {
		q.Set("at", f.At.UTC().Format(time.RFC3339Nano))
	}
	return q
}

func (c *Client) get(ctx context.Context, path string, v any) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, c.base+path, nil)
	if err != nil {
		return fmt.Errorf("api client: %w", err)
	}
	req.Header.Set("Accept", "application/json")
	resp, err := c.hc.Do(req)
	if err != nil {
		return fmt.Errorf("api client: %w", err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		var e errorBody
		body, _ := io.ReadAll(io.LimitReader(resp.Body, 4096))
		if json.Unmarshal(body, &e) != nil || e.Error == "" {
			e.Error = strings.TrimSpace(string(body))
		}
		return fmt.Errorf("api client: GET %s: %s: %s", path, resp.Status, e.Error)
	}
	if err := json.NewDecoder(resp.Body).Decode(v); err != nil {
		return fmt.Errorf("api client: GET %s: decode: %w", path, err)
	}
	return nil
}

// Timeline asks GET /api/timeline for what store.Store.Timeline would
// return with f.
func (c *Client) Timeline(ctx context.Context, f store.TimelineFilter) (*store.Timeline, error) {
	q := url.Values{}
	if f.Source != "" {
		q.Set("source", f.Source)
	}
	q.Set("lang", f.Lang)
	if f.Terms > 0 {
		q.Set("terms", strconv.Itoa(f.Terms))
	}
	if !f.From.IsZero() {
		q.Set("from", f.From.UTC().Format(time.RFC3339Nano))
	}
	if !f.To.IsZero() {
		q.Set("to", f.To.UTC().Format(time.RFC3339Nano))
	}
	var tl store.Timeline
	if err := c.get(ctx, "/api/timeline?"+q.Encode(), &tl); err != nil {
		return nil, err
	}
	return &tl, nil
}
