package evaluate

import (
	"testing"

	"github.com/trendstream/trendstream/internal/core/terms"
	"github.com/trendstream/trendstream/internal/core/trendcalc"
	tsv1 "github.com/trendstream/trendstream/proto/trendstream/v1"
)

// BenchmarkDefaultReplay measures what `make eval -prism=false` does on the
// default replay: generate it, rank it three ways with the reference
// calculator, and judge both rankings.
func BenchmarkDefaultReplay(b *testing.B) {
	cfg := DefaultConfig()
	posts := 0
	for b.Loop() {
		rep, err := Generate(cfg)
		if err != nil {
			b.Fatal(err)
		}
		posts = len(rep.Posts)
		score := smallParams().StartingAt(rep.Start)
		runs := Reference(rep, trendcalc.Config{
			Size: cfg.Size, Period: cfg.Period, TopK: 10, Terms: terms.DefaultOptions(),
			Score: score, Source: tsv1.Source_SOURCE_BLUESKY,
		}, false)
		p := Params{TopN: 10, Period: cfg.Period, Size: cfg.Size, ScoredFrom: score.WarmUpUntil, TargetAuthors: 10, TargetShare: 0.05}
		oracle := NewOracle(rep.Posts, terms.DefaultOptions(), cfg.Period, cfg.Size, rep.Start, rep.End, nil)
		Evaluate("ours", rep, runs.Ours, oracle, p)
		Evaluate("raw count", rep, runs.Raw, oracle, p)
	}
	b.ReportMetric(float64(posts)*float64(b.N)/b.Elapsed().Seconds(), "posts/s")
}
