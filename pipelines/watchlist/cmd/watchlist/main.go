// Command watchlist runs the watchlist Beam pipeline: posts matching
// watchlist entries counted in sliding windows, and alerts when an entry
// surges against its own baseline (docs/watchlists.md).
//
// `trendstream watchlist` runs the same pipeline on in-process Prism. This
// command is what a cluster runs: standard Beam flags, beam.Init, and a
// runner chosen with -runner (prism in-process by default; flink with
// -endpoint for Beam's Flink job server). Every flag also reads its
// environment twin TRENDSTREAM_<FLAG>.
//
//	watchlist -brokers kafka:9092 -database-url postgres://… -watchlist-file watch.yaml \
//	  -runner flink -endpoint jobserver:8099 -environment_type EXTERNAL \
//	  -environment_config localhost:50000 -worker_binary ./watchlist -job_name watchlist
//
// The binary is also the worker binary: Beam starts it with -worker on the
// cluster, where beam.Init takes over.
package main

import (
	"context"
	"log/slog"

	"github.com/apache/beam/sdks/v2/go/pkg/beam"

	"github.com/trendstream/trendstream/internal/platform/pipelinemain"
	"github.com/trendstream/trendstream/pipelines/watchlist"
)

// A stop on a signal exits 0: alerts are stored before they are sent, and
// the next start re-derives and deduplicates them (docs/watchlists.md).
func main() {
	o := watchlist.DefaultOptions()
	pipelinemain.Main(pipelinemain.Program{
		Name:          "watchlist",
		RegisterFlags: o.RegisterFlags,
		Prepare: func(ctx context.Context) error {
			if err := o.Resolve(ctx); err != nil {
				return pipelinemain.Fail(pipelinemain.ExitConfig, "entries", err)
			}
			if err := o.Validate(); err != nil {
				return pipelinemain.Fail(pipelinemain.ExitConfig, "configuration", err)
			}
			// What an earlier run stored but did not get through goes
			// first, as `trendstream watchlist` does, so a stop or an
			// outage loses no alert.
			n, err := watchlist.DeliverPending(ctx, o)
			if err != nil {
				return pipelinemain.Fail(pipelinemain.ExitFailed, "pending alerts", err)
			}
			if n > 0 {
				slog.Info("watchlist: sent alerts pending from an earlier run", "alerts", n)
			}
			return nil
		},
		Build: func() (*beam.Pipeline, bool, error) {
			p, err := watchlist.Build(o)
			return p, o.Bounded, err
		},
	})
}
