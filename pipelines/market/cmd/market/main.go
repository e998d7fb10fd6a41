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
	"github.com/apache/beam/sdks/v2/go/pkg/beam"

	"github.com/trendstream/trendstream/internal/platform/pipelinemain"
	"github.com/trendstream/trendstream/pipelines/market"
)

// A stop on a signal exits 0: the windows written so far are durable; a
// restart scores the topic again from -start (docs/market.md).
func main() {
	o := market.DefaultOptions()
	pipelinemain.Main(pipelinemain.Program{
		Name:          "market",
		RegisterFlags: o.RegisterFlags,
		Build: func() (*beam.Pipeline, bool, error) {
			p, err := market.Build(o)
			return p, o.Bounded, err
		},
	})
}
