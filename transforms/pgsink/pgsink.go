// Package pgsink writes trend snapshots to the PostgreSQL read model from a
// Beam pipeline.
//
// Writes are idempotent: each snapshot replaces its (source, language,
// window) ranking in one transaction (internal/readside/store), so a retried bundle or
// a re-fired pane overwrites instead of duplicating.
package pgsink

import (
	"context"
	"fmt"
	"time"

	"github.com/apache/beam/sdks/v2/go/pkg/beam"
	"github.com/apache/beam/sdks/v2/go/pkg/beam/register"

	tsv1 "github.com/trendstream/trendstream/proto/trendstream/v1"
)

func init() {
	register.DoFn2x1[context.Context, *tsv1.WindowSnapshot, error](&writeFn{})
}

var (
	snapshotsWritten = beam.NewCounter("pgsink", "snapshots_written")
	rowsWritten      = beam.NewCounter("pgsink", "rows_written")
	// writeRetries counts failed writes that were tried again.
	writeRetries = beam.NewCounter("pgsink", "write_retries")
)

// DefaultRetryFor is how long a write keeps trying while PostgreSQL is
// unreachable before the bundle fails.
const DefaultRetryFor = 5 * time.Minute

// maxBuffered bounds a bundle's buffer; past it the buffer is flushed early.
const maxBuffered = 500

type writeFn struct {
	DatabaseURL string
	// RetryFor bounds how long one write (and the first connect) retries.
	RetryFor time.Duration

	batch[*tsv1.WindowSnapshot]
}

func (fn *writeFn) Setup(ctx context.Context) error {
	return fn.open(ctx, fn.DatabaseURL, fn.RetryFor)
}

func (fn *writeFn) ProcessElement(ctx context.Context, snap *tsv1.WindowSnapshot) error {
	return fn.add(ctx, snap, fn.write)
}

// FinishBundle makes the bundle's writes durable before the runner commits
// it; an error fails the bundle and the runner retries it.
func (fn *writeFn) FinishBundle(ctx context.Context) error { return fn.flush(ctx, fn.write) }

func (fn *writeFn) write(ctx context.Context, snaps []*tsv1.WindowSnapshot) error {
	if err := Retry(ctx, fn.RetryFor, "write", func() error { return fn.st.WriteSnapshots(ctx, snaps) }); err != nil {
		return fmt.Errorf("pgsink: write %d snapshots: %w", len(snaps), err)
	}
	var rows int64
	for _, s := range snaps {
		rows += int64(len(s.GetTerms()))
	}
	snapshotsWritten.Inc(ctx, int64(len(snaps)))
	rowsWritten.Inc(ctx, rows)
	return nil
}

// Write stores every *tsv1.WindowSnapshot of col in the read model at
// databaseURL, migrating the schema on first connect. While PostgreSQL is
// unreachable each write retries for up to retryFor (DefaultRetryFor if 0).
func Write(s beam.Scope, databaseURL string, col beam.PCollection, retryFor time.Duration) {
	s = s.Scope("pgsink.Write")
	if retryFor <= 0 {
		retryFor = DefaultRetryFor
	}
	beam.ParDo0(s, &writeFn{DatabaseURL: databaseURL, RetryFor: retryFor}, col)
}
