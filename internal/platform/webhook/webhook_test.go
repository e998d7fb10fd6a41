package webhook

import (
	"context"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"
	"time"
)

// receiver is a local HTTP endpoint that answers the first failures
// requests with status and then 200, recording what it got.
type receiver struct {
	mu       sync.Mutex
	failures int
	status   int
	bodies   []string
	keys     []string
}

func (r *receiver) ServeHTTP(w http.ResponseWriter, req *http.Request) {
	b, _ := io.ReadAll(req.Body)
	r.mu.Lock()
	defer r.mu.Unlock()
	r.bodies = append(r.bodies, string(b))
	r.keys = append(r.keys, req.Header.Get("Idempotency-Key"))
	if len(r.bodies) <= r.failures {
		w.WriteHeader(r.status)
		return
	}
	w.WriteHeader(http.StatusNoContent)
}

func fastConfig(url string) Config {
	c := DefaultConfig()
	c.URL, c.FirstBackoff, c.MaxBackoff, c.Attempts = url, 10*time.Millisecond, 40*time.Millisecond, 4
	return c
}

func TestPost(t *testing.T) {
	for _, tc := range []struct {
		name         string
		failures     int
		status       int
		wantAttempts int
		wantErr      error // nil: accepted
	}{
		{"accepted at once", 0, 0, 1, nil},
		{"retried after 503s", 2, http.StatusServiceUnavailable, 3, nil},
		{"retried after 429", 1, http.StatusTooManyRequests, 2, nil},
		{"gives up after the attempts", 10, http.StatusInternalServerError, 4, errors.New("any")},
		{"refused, not retried", 10, http.StatusBadRequest, 1, ErrRejected},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := &receiver{failures: tc.failures, status: tc.status}
			srv := httptest.NewServer(r)
			defer srv.Close()
			c, err := New(fastConfig(srv.URL))
			if err != nil {
				t.Fatal(err)
			}
			n, err := c.Post(context.Background(), "k1", []byte(`{"a":1}`))
			if n != tc.wantAttempts {
				t.Errorf("attempts %d, want %d", n, tc.wantAttempts)
			}
			if (err == nil) != (tc.wantErr == nil) || (tc.wantErr == ErrRejected && !errors.Is(err, ErrRejected)) {
				t.Errorf("error %v, want %v", err, tc.wantErr)
			}
			r.mu.Lock()
			defer r.mu.Unlock()
			if len(r.bodies) != tc.wantAttempts {
				t.Errorf("receiver got %d requests, want %d", len(r.bodies), tc.wantAttempts)
			}
			for i := range r.bodies {
				if r.bodies[i] != `{"a":1}` || r.keys[i] != "k1" {
					t.Errorf("request %d: body %q key %q", i, r.bodies[i], r.keys[i])
				}
			}
		})
	}
}

// TestPostHonoursContext: a cancelled context stops the retries during the
// backoff instead of sleeping them out.
func TestPostHonoursContext(t *testing.T) {
	r := &receiver{failures: 100, status: http.StatusBadGateway}
	srv := httptest.NewServer(r)
	defer srv.Close()
	cfg := fastConfig(srv.URL)
	cfg.FirstBackoff, cfg.MaxBackoff, cfg.Attempts = time.Hour, time.Hour, 5
	c, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 200*time.Millisecond)
	defer cancel()
	start := time.Now()
	n, err := c.Post(ctx, "k", []byte(`{}`))
	if err == nil || !errors.Is(err, context.DeadlineExceeded) || n != 1 {
		t.Errorf("attempts %d, err %v: want 1 attempt and the context's error", n, err)
	}
	if d := time.Since(start); d > 5*time.Second {
		t.Errorf("took %v after the context ended", d)
	}
}
