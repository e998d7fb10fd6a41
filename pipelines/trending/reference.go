package trending

import "github.com/trendstream/trendstream/internal/core/trendcalc"

// Reference is the configuration of the single-process reference
// (internal/core/trendcalc) that computes what the pipeline o configures
// computes: the same windows, ranking, term extraction and scoring, the
// warm-up counted from o.StreamStart. Harnesses outside this package
// (cmd/trendchaos) build their expectation from it, so it cannot drift
// from the options the pipeline ran with.
func (o Options) Reference() trendcalc.Config {
	c := o.trendConfig().Reference()
	c.Topics = o.Topics
	return c
}
