package pgsink

import (
	"context"
	"fmt"
	"time"

	"github.com/apache/beam/sdks/v2/go/pkg/beam"
	"github.com/apache/beam/sdks/v2/go/pkg/beam/register"

	"github.com/trendstream/trendstream/internal/readside/store"
	tsv1 "github.com/trendstream/trendstream/proto/trendstream/v1"
)

func init() {
	register.DoFn3x1[context.Context, *tsv1.MarketWindowSnapshot, *tsv1.MarketWindowSnapshot, error](&marketWriteFn{})
}

var marketWindowsWritten = beam.NewCounter("pgsink", "market_windows_written")

// marketWriteFn writes market windows (pipelines/market) to the read model,
// connecting and retrying as writeFn does (Connect, Retry).
type marketWriteFn struct {
	DatabaseURL string
	RetryFor    time.Duration

	batch[store.MarketWrite]
}

func (fn *marketWriteFn) Setup(ctx context.Context) error {
	return fn.open(ctx, fn.DatabaseURL, fn.RetryFor)
}

func (fn *marketWriteFn) ProcessElement(ctx context.Context, ranked, all *tsv1.MarketWindowSnapshot) error {
	return fn.add(ctx, store.MarketWrite{Snapshot: ranked, Activity: all.GetSymbols(), Revision: ranked.GetRevision()}, fn.write)
}

func (fn *marketWriteFn) FinishBundle(ctx context.Context) error { return fn.flush(ctx, fn.write) }

func (fn *marketWriteFn) write(ctx context.Context, ws []store.MarketWrite) error {
	if err := Retry(ctx, fn.RetryFor, "write market", func() error { return fn.st.WriteMarketWindows(ctx, ws) }); err != nil {
		return fmt.Errorf("pgsink: write %d market windows: %w", len(ws), err)
	}
	marketWindowsWritten.Inc(ctx, int64(len(ws)))
	return nil
}

// WriteMarket stores the market pipeline's windows in the read model at
// databaseURL: col holds KV(ranking snapshot, snapshot of every symbol's
// activity in the window). Writes are idempotent upserts
// (store.WriteMarketWindows); while PostgreSQL is unreachable each write
// retries for up to retryFor (DefaultRetryFor if 0).
func WriteMarket(s beam.Scope, databaseURL string, col beam.PCollection, retryFor time.Duration) {
	s = s.Scope("pgsink.WriteMarket")
	if retryFor <= 0 {
		retryFor = DefaultRetryFor
	}
	beam.ParDo0(s, &marketWriteFn{DatabaseURL: databaseURL, RetryFor: retryFor}, col)
}
