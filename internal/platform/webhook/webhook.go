// Package webhook posts JSON notifications to an HTTP endpoint with
// retries and exponential backoff, as the watchlist alert sink delivers
// alerts (docs/watchlists.md).
//
// A delivery is retried while the failure may pass: the connection failed,
// the request timed out, or the receiver answered 408, 429 or 5xx. Any
// other status is the receiver refusing the notification, which a retry
// would not change. Each request carries an Idempotency-Key header (the
// alert id), so a receiver can drop a delivery it has already accepted:
// the sender records deliveries, but a crash between the receiver's answer
// and the record can still repeat one.
package webhook

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"time"
)

// Config configures a Client. Start from DefaultConfig.
type Config struct {
	URL string
	// Attempts is the most requests one delivery makes.
	Attempts int
	// FirstBackoff is the wait after the first failure; it doubles up to
	// MaxBackoff.
	FirstBackoff, MaxBackoff time.Duration
	// Timeout bounds one request.
	Timeout time.Duration
}

// DefaultConfig returns the defaults: 6 attempts over about 15 s.
func DefaultConfig() Config {
	return Config{Attempts: 6, FirstBackoff: 500 * time.Millisecond, MaxBackoff: 8 * time.Second, Timeout: 10 * time.Second}
}

// Validate reports a configuration that cannot work.
func (c Config) Validate() error {
	if c.Attempts < 1 || c.FirstBackoff <= 0 || c.MaxBackoff < c.FirstBackoff || c.Timeout <= 0 {
		return fmt.Errorf("webhook: want attempts >= 1, 0 < first backoff <= max backoff, timeout > 0; got %+v", c)
	}
	return nil
}

// Client delivers notifications. It is safe for concurrent use.
type Client struct {
	cfg Config
	hc  *http.Client
}

// New returns a client for cfg.
func New(cfg Config) (*Client, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if cfg.URL == "" {
		return nil, errors.New("webhook: no URL")
	}
	return &Client{cfg: cfg, hc: &http.Client{Timeout: cfg.Timeout}}, nil
}

// ErrRejected wraps the error of a delivery the receiver refused with a
// status that is not worth retrying.
var ErrRejected = errors.New("rejected")

// Post delivers body (JSON) with the idempotency key, retrying as the
// package says, until it is accepted (2xx), refused, the attempts are used
// up or ctx ends. It returns how many requests it made and, unless
// accepted, the last error.
func (c *Client) Post(ctx context.Context, key string, body []byte) (int, error) {
	backoff := c.cfg.FirstBackoff
	for attempt := 1; ; attempt++ {
		err := c.once(ctx, key, body)
		if err == nil {
			return attempt, nil
		}
		if errors.Is(err, ErrRejected) || attempt >= c.cfg.Attempts || ctx.Err() != nil {
			return attempt, fmt.Errorf("webhook: %d attempts: %w", attempt, err)
		}
		t := time.NewTimer(backoff)
		select {
		case <-ctx.Done():
			t.Stop()
			return attempt, fmt.Errorf("webhook: %d attempts: %w (%w)", attempt, err, ctx.Err())
		case <-t.C:
		}
		backoff = min(2*backoff, c.cfg.MaxBackoff)
	}
}

func (c *Client) once(ctx context.Context, key string, body []byte) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, c.cfg.URL, bytes.NewReader(body))
	if err != nil {
		return fmt.Errorf("%w: %w", ErrRejected, err) // a bad URL will not get better
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Idempotency-Key", key)
	resp, err := c.hc.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 64<<10)) // reuse the connection
	switch {
	case resp.StatusCode >= 200 && resp.StatusCode < 300:
		return nil
	case resp.StatusCode == http.StatusRequestTimeout, resp.StatusCode == http.StatusTooManyRequests, resp.StatusCode >= 500:
		return fmt.Errorf("receiver answered %s", resp.Status)
	default:
		return fmt.Errorf("%w: receiver answered %s", ErrRejected, resp.Status)
	}
}
