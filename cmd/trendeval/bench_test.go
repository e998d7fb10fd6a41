package main

import (
	"context"
	"testing"

	"github.com/trendstream/trendstream/cmd/trendeval/evaluate"
	"github.com/trendstream/trendstream/pipelines/trending"
)

// BenchmarkPrismDefaultReplay measures the expensive part of `make eval`:
// the default replay produced to the in-process Kafka cluster, run through
// the pipeline bounded on Prism, and read back.
func BenchmarkPrismDefaultReplay(b *testing.B) {
	cfg := evaluate.DefaultConfig()
	rep, err := evaluate.Generate(cfg)
	if err != nil {
		b.Fatal(err)
	}
	o := trending.DefaultOptions()
	o.WindowSize, o.WindowPeriod, o.TopK = cfg.Size, cfg.Period, 10
	o.Score, o.StreamStart = EvalParams(), rep.Start
	for b.Loop() {
		if _, err := runPrism(context.Background(), rep.Posts, o); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(len(rep.Posts))*float64(b.N)/b.Elapsed().Seconds(), "posts/s")
}
