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
	"github.com/apache/beam/sdks/v2/go/pkg/beam"

	"github.com/trendstream/trendstream/internal/platform/pipelinemain"
	"github.com/trendstream/trendstream/pipelines/trending"
)

// A stop on a signal exits 0: results written so far are durable, and a
// restart with -start earliest (Prism keeps no state) or from a Flink
// savepoint carries on (docs/pipeline.md, "Resuming").
func main() {
	o := trending.DefaultOptions()
	pipelinemain.Main(pipelinemain.Program{
		Name:          "trending",
		RegisterFlags: o.RegisterFlags,
		Build: func() (*beam.Pipeline, bool, error) {
			p, err := trending.Build(o)
			return p, o.Bounded, err
		},
	})
}
