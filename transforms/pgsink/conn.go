package pgsink

import (
	"context"
	"fmt"
	"log/slog"
	"time"

	"github.com/trendstream/trendstream/internal/readside/store"
)

// Connect opens the read model at databaseURL (migrating its schema), as
// every DoFn that writes it does in Setup: retrying for up to retryFor
// (DefaultRetryFor if 0) while PostgreSQL is unreachable, since a worker
// set up during a database restart must not fail the job.
func Connect(ctx context.Context, databaseURL string, retryFor time.Duration) (*store.Store, error) {
	var st *store.Store
	err := Retry(ctx, retryFor, "connect", func() error {
		s, err := store.Open(ctx, databaseURL)
		if err != nil {
			return fmt.Errorf("pgsink: %w", err)
		}
		st = s
		return nil
	})
	return st, err
}

// Retry runs op until it succeeds, ctx ends or retryFor (DefaultRetryFor
// if 0) has passed, backing off from 100 ms to 5 s; what names op in the
// log. A PostgreSQL restart must not fail the bundle: Prism fails the whole
// job on a failed bundle, and a runner that retries bundles (Flink) would
// only retry into the same outage. Blocking here holds the pipeline back
// until the database is back; callers' writes are idempotent upserts, so a
// write that failed half-way is simply done again. Retries count in
// pgsink/write_retries.
func Retry(ctx context.Context, retryFor time.Duration, what string, op func() error) error {
	if retryFor <= 0 {
		retryFor = DefaultRetryFor
	}
	deadline := time.Now().Add(retryFor)
	backoff := 100 * time.Millisecond
	for attempt := 1; ; attempt++ {
		err := op()
		if err == nil {
			if attempt > 1 {
				slog.InfoContext(ctx, "pgsink: PostgreSQL reachable again", "op", what, "attempts", attempt)
			}
			return nil
		}
		if ctx.Err() != nil || time.Now().Add(backoff).After(deadline) {
			return fmt.Errorf("%w (after %d attempts)", err, attempt)
		}
		writeRetries.Inc(ctx, 1)
		slog.WarnContext(ctx, "pgsink: write failed, retrying", "op", what, "attempt", attempt, "backoff", backoff, "err", err)
		select {
		case <-ctx.Done():
			return fmt.Errorf("%w (after %d attempts)", err, attempt)
		case <-time.After(backoff):
		}
		backoff = min(2*backoff, 5*time.Second)
	}
}
