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
	"flag"
	"log/slog"
	"os"
	"os/signal"
	"syscall"

	"github.com/apache/beam/sdks/v2/go/pkg/beam"

	"github.com/trendstream/trendstream/internal/platform/beamrun"
	"github.com/trendstream/trendstream/internal/platform/envflag"
	"github.com/trendstream/trendstream/internal/platform/flinkrunner"
	"github.com/trendstream/trendstream/pipelines/watchlist"
)

func main() {
	o := watchlist.DefaultOptions()
	o.RegisterFlags(flag.CommandLine)
	fo := flinkrunner.DefaultOptions()
	fo.RegisterFlags(flag.CommandLine)
	flag.Parse()
	if err := envflag.Apply(flag.CommandLine, "TRENDSTREAM", os.LookupEnv); err != nil {
		slog.Error("configuration", "err", err)
		os.Exit(2)
	}
	beam.Init()
	beamrun.DisableDynamicSplitting()

	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := o.Resolve(ctx); err != nil {
		slog.Error("watchlist: entries", "err", err)
		os.Exit(2)
	}
	if err := o.Validate(); err != nil {
		slog.Error("watchlist: configuration", "err", err)
		os.Exit(2)
	}
	// What an earlier run stored but did not get through goes first, as
	// `trendstream watchlist` does, so a stop or an outage loses no alert.
	if n, err := watchlist.DeliverPending(ctx, o); err != nil {
		slog.Error("watchlist: pending alerts", "err", err)
		os.Exit(1)
	} else if n > 0 {
		slog.Info("watchlist: sent alerts pending from an earlier run", "alerts", n)
	}
	p, err := watchlist.Build(o)
	if err != nil {
		slog.Error("watchlist: build pipeline", "err", err)
		os.Exit(2)
	}
	err = flinkrunner.Run(ctx, p, fo, o.Bounded)
	if ctx.Err() != nil {
		// Asked to stop: alerts are stored before they are sent, and the
		// next start re-derives and deduplicates them (docs/watchlists.md).
		slog.Info("watchlist: stopped on signal", "signal_err", context.Cause(ctx), "runner_said", err)
		return
	}
	if err != nil {
		slog.Error("watchlist: pipeline failed", "err", err)
		os.Exit(1)
	}
}
