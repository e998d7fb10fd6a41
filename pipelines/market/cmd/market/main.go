// Command market runs the stock-ticker Beam pipeline (pipelines/market),
// streaming unless -bounded, on any runner: in-process Prism by default,
// Flink with -runner flink -endpoint for a portable job server. It is
// pipelines/trending/cmd/trending for the market pipeline, with the same
// runner flags; every flag also reads its environment twin
// TRENDSTREAM_<FLAG>, e.g. TRENDSTREAM_BROKERS. (`trendstream
// market-trends` runs the same pipeline on in-process Prism only.)
//
//	market -brokers kafka:9092 -database-url postgres://… \
//	  -runner flink -endpoint jobserver:8099 -environment_type EXTERNAL \
//	  -environment_config localhost:50000 -worker_binary ./market -job_name market
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
	"github.com/trendstream/trendstream/pipelines/market"
)

func main() {
	o := market.DefaultOptions()
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

	p, err := market.Build(o)
	if err != nil {
		slog.Error("market: build pipeline", "err", err)
		os.Exit(2)
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	// The Go SDK's flink runner cannot send Flink's checkpoint options
	// (internal/platform/flinkrunner says why).
	err = flinkrunner.Run(ctx, p, fo, o.Bounded)
	if ctx.Err() != nil {
		// Asked to stop: the windows written so far are durable; a restart
		// scores the topic again from -start (docs/market.md).
		slog.Info("market: stopped on signal", "signal_err", context.Cause(ctx), "runner_said", err)
		return
	}
	if err != nil {
		slog.Error("market: pipeline failed", "err", err)
		os.Exit(1)
	}
}
