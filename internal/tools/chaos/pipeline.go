package chaos

import (
	"flag"
	"strings"
	"time"

	"github.com/trendstream/trendstream/internal/core/trendcalc"
	"github.com/trendstream/trendstream/internal/readside/store"
	"github.com/trendstream/trendstream/pipelines/trending"
	tsv1 "github.com/trendstream/trendstream/proto/trendstream/v1"
	"github.com/trendstream/trendstream/transforms/kafkaio"
)

// PipelineOptions are the pipeline's options for a run: the documented
// defaults with the run's windows and scoring. Every run reads the posts
// topic from its earliest offset: a pipeline on Prism keeps no state across
// a restart, so the exact way to resume it is to replay the retained log
// (event sourcing). The replay recomputes every window as the first run
// did, and its snapshots, of a later run, supersede the first run's in
// PostgreSQL (WindowSnapshot.revision). -start committed would resume
// reading where the last run committed, with empty windows and baselines:
// fast, but the windows that span the restart lose the posts read before it
// (docs/pipeline.md, "Resuming").
func PipelineOptions(c Config, brokers []string, databaseURL string) trending.Options {
	o := trending.DefaultOptions()
	o.Brokers = strings.Join(brokers, ",")
	o.Topic, o.TrendsTopic, o.DatabaseURL = PostsTopic, TrendsTopic, databaseURL
	o.Group = Group
	o.Start = kafkaio.Start{Kind: kafkaio.StartEarliest}
	o.WindowSize, o.WindowPeriod, o.TopK = c.WindowSize, c.WindowPeriod, c.TopK
	o.MaxOutOfOrder = c.MaxOutOfOrder
	o.Score = c.Score
	return o
}

// pipelineArgs renders every option of o as the pipeline program's flags,
// through Options.RegisterFlags itself: the process runs with exactly the
// options the reference is computed with, including any the harness does
// not know by name.
func pipelineArgs(o trending.Options) []string {
	fs := flag.NewFlagSet("trending", flag.ContinueOnError)
	o.RegisterFlags(fs)
	var args []string
	fs.VisitAll(func(f *flag.Flag) {
		args = append(args, "-"+f.Name+"="+f.Value.String())
	})
	return args
}

// Reference computes the rankings the pipeline o configures must produce
// from posts (distinct, as the read model should count them), with the
// single-process reference (internal/core/trendcalc), in the read model's form.
// The warm-up counts from the earliest post, where the pipeline's first
// run starts reading.
func Reference(o trending.Options, posts []*tsv1.Post) []store.Window {
	o.StreamStart = earliest(posts)
	calc := trendcalc.New(o.Reference())
	for _, p := range posts {
		calc.Add(p)
	}
	return Windows(calc.Snapshots())
}

func earliest(posts []*tsv1.Post) time.Time {
	var t time.Time
	for _, p := range posts {
		if pt := p.GetObservedAt().AsTime(); t.IsZero() || pt.Before(t) {
			t = pt
		}
	}
	return t
}

// newestEnd is the end of the newest overall window of ws.
func newestEnd(ws []store.Window) time.Time {
	var t time.Time
	for _, w := range ws {
		if w.Lang == "" && w.End.After(t) {
			t = w.End
		}
	}
	return t
}
