// Command trending runs the trending-terms Beam pipeline.
//
// It follows Beam's conventions: standard flags, beam.Init, and a runner
// chosen with -runner (prism in-process by default; universal or flink with
// -endpoint for a portable job server). Every flag also reads its
// environment twin TRENDSTREAM_<FLAG>, e.g. TRENDSTREAM_BROKERS.
//
//	trending -brokers kafka:9092 -database-url postgres://… \
//	  -runner flink -endpoint jobserver:8099 -environment_type EXTERNAL \
//	  -environment_config localhost:50000 -worker_binary ./trending -job_name trending
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
	"github.com/trendstream/trendstream/pipelines/trending"
)

func main() {
	o := trending.DefaultOptions()
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

	p, err := trending.Build(o)
	if err != nil {
		slog.Error("trending: build pipeline", "err", err)
		os.Exit(2)
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	// The Go SDK's flink runner cannot send Flink's checkpoint options
	// (internal/platform/flinkrunner says why).
	err = flinkrunner.Run(ctx, p, fo, o.Bounded)
	if ctx.Err() != nil {
		// Asked to stop. The runner reports the cancelled job as an error
		// (Prism: "failed to get metrics: context canceled"), but nothing
		// failed: results written so far are durable, the reader committed
		// its position, and a restart with -start earliest (Prism keeps no
		// state) or from a Flink savepoint carries on (docs/pipeline.md,
		// "Resuming").
		slog.Info("trending: stopped on signal", "signal_err", context.Cause(ctx), "runner_said", err)
		return
	}
	if err != nil {
		slog.Error("trending: pipeline failed", "err", err)
		os.Exit(1)
	}
}
