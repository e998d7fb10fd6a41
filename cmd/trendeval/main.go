// Command trendeval measures trend quality: it replays real Bluesky posts
// with injected bursts of known onset, shape and strength (plus negative
// controls) through the real trending pipeline on Prism, scores the output
// against the ground truth, does the same for a raw-count top-K baseline,
// and writes the table to EVAL.md and a score-over-time plot.
//
//	go run ./cmd/trendeval                    # what `make eval` runs
//	go run ./cmd/trendeval -prism=false       # reference calculator only, seconds
//
// Every flag has an environment twin TRENDSTREAM_<FLAG>.
package main

import (
	"bytes"
	"context"
	"flag"
	"fmt"
	"log/slog"
	"math"
	"os"
	"os/signal"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/apache/beam/sdks/v2/go/pkg/beam"

	"github.com/trendstream/trendstream/cmd/trendeval/evaluate"
	"github.com/trendstream/trendstream/internal/core/terms"
	"github.com/trendstream/trendstream/internal/core/trendcalc"
	"github.com/trendstream/trendstream/internal/core/trendscore"
	"github.com/trendstream/trendstream/internal/platform/envflag"
	"github.com/trendstream/trendstream/pipelines/trending"
	tsv1 "github.com/trendstream/trendstream/proto/trendstream/v1"
)

// options are the program's flags.
type options struct {
	replay        evaluate.Config
	volumes       string
	strengths     string
	topN          int
	targetAuthors int
	targetShare   float64
	prism         bool
	retract       bool
	prismMaxRate  float64
	timeout       time.Duration
	out, plot     string
	termOpts      terms.Options
	score         trendscore.Params
	topicSample   int
}

// EvalParams are the scorer parameters the evaluation runs with: the
// product's defaults, which are meant to work at every volume.
func EvalParams() trendscore.Params { return trendscore.DefaultParams() }

func (o *options) register(fs *flag.FlagSet) {
	r := &o.replay
	fs.Uint64Var(&r.Seed, "seed", r.Seed, "random seed of burst placement and content")
	fs.DurationVar(&r.Span, "span", r.Span, "event time the background posts are re-timed onto")
	fs.IntVar(&r.BackgroundPosts, "background-posts", r.BackgroundPosts, "real posts used as background (0: the whole bundled corpus)")
	fs.DurationVar(&r.Size, "window-size", r.Size, "sliding window length")
	fs.DurationVar(&r.Period, "window-period", r.Period, "sliding window period")
	fs.DurationVar(&r.Quiet, "quiet", r.Quiet, "time after the replay start before the first burst (at least warm-up + window)")
	fs.StringVar(&o.volumes, "volumes", o.volumes, "background volumes to replay, in posts/s, comma-separated")
	fs.StringVar(&o.strengths, "strengths", o.strengths, "burst strengths at full intensity, comma-separated SHARE%≥AUTHORS: a share of a period's posts, at least AUTHORS distinct authors per period")
	fs.IntVar(&r.ThinLangBursts, "thin-lang-bursts", r.ThinLangBursts, "pulses in the smallest burst language, sized by that language's posts")
	fs.IntVar(&r.BurstsPerCell, "bursts-per-cell", r.BurstsPerCell, "bursts per (shape, strength)")
	fs.IntVar(&r.PulsePeriods, "pulse-periods", r.PulsePeriods, "pulse duration, in periods")
	fs.IntVar(&r.ShiftPeriods, "shift-periods", r.ShiftPeriods, "mean-shift duration, in periods")
	fs.IntVar(&r.RampPeriods, "ramp-periods", r.RampPeriods, "ramp-up rise time, in periods (then it holds for half as long)")
	fs.IntVar(&r.FrequentPerPeriod, "frequent-per-period", r.FrequentPerPeriod, "always-frequent control: posts per period, all replay long")
	fs.IntVar(&r.SpamPosts, "spam-posts", r.SpamPosts, "single-author flood: posts")
	fs.IntVar(&r.SpamPeriods, "spam-periods", r.SpamPeriods, "single-author flood: duration, in periods")
	fs.IntVar(&r.StopwordAuthorsPerPeriod, "stopword-authors", r.StopwordAuthorsPerPeriod, "stopword control: authors per period")
	fs.IntVar(&r.StopwordPeriods, "stopword-periods", r.StopwordPeriods, "stopword control: duration, in periods")
	fs.IntVar(&o.topN, "top-n", o.topN, "list length judged (and the pipeline's -top-k)")
	fs.IntVar(&o.targetAuthors, "target-authors", o.targetAuthors, "target group: bursts with at least this many distinct authors in their first 3 periods")
	fs.Float64Var(&o.targetShare, "target-share", o.targetShare, "target group: bursts with at least this share of a period's posts in one of their first 3 periods")
	fs.Float64Var(&r.ControlShare, "control-share", r.ControlShare, "negative controls: at least this share of the background's posts per period")
	fs.Float64Var(&r.DeleteShare, "delete-share", r.DeleteShare, "share of the bursts' posts their authors delete (at most -delete-after after posting)")
	fs.DurationVar(&r.DeleteAfter, "delete-after", r.DeleteAfter, "longest time between a deleted burst post and its delete")
	fs.IntVar(&r.RetractedBursts, "retracted-bursts", r.RetractedBursts, "pulses at the strongest strength whose every post is deleted (at most -delete-after after posting)")
	fs.BoolVar(&o.retract, "retract-deletes", o.retract, "run the pipeline and the reference with -retract-deletes (the product default): a delete retracts its post from the windows that still take corrections")
	fs.BoolVar(&o.prism, "prism", o.prism, "run the real pipeline on Prism (false: the reference calculator only)")
	fs.Float64Var(&o.prismMaxRate, "prism-max-volume", o.prismMaxRate, "run Prism only for volumes up to this many posts/s (higher ones: the reference calculator)")
	fs.DurationVar(&o.timeout, "timeout", o.timeout, "give up on the Prism run after this long")
	fs.StringVar(&o.out, "out", o.out, "Markdown report to write (empty: stdout only)")
	fs.StringVar(&o.plot, "plot", o.plot, "PNG plot of score over time to write (empty: none)")
	fs.IntVar(&o.topicSample, "topic-sample", o.topicSample, "posts sampled per language and period for topics, as the pipeline's -topic-sample (0: no topics)")
	o.termOpts.RegisterFlags(fs)
	o.score.RegisterFlags(fs)
}

func main() {
	o := options{
		replay: evaluate.DefaultConfig(), volumes: "0.05,0.5,5,50", strengths: "5%≥4,10%≥10,20%≥10", topN: 10,
		targetAuthors: 10, targetShare: 0.05,
		prism: true, retract: trending.DefaultOptions().RetractDeletes, prismMaxRate: 50, timeout: 20 * time.Minute, out: "EVAL.md", plot: "docs/eval.png",
		termOpts: terms.DefaultOptions(), score: EvalParams(),
		topicSample: trending.DefaultOptions().Topics.SamplePosts,
	}
	o.register(flag.CommandLine)
	flag.Usage = envflag.Usage(flag.CommandLine, "TRENDSTREAM", "trendeval [flags]")
	flag.Parse()
	if err := envflag.Apply(flag.CommandLine, "TRENDSTREAM", os.LookupEnv); err != nil {
		slog.Error("configuration", "err", err)
		os.Exit(2)
	}
	beam.Init()
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := run(ctx, o); err != nil {
		slog.Error("trendeval", "err", err)
		os.Exit(1)
	}
}

// parseStrengths reads "5%≥5,10%≥5" (">=" for "≥" too).
func parseStrengths(s string) ([]evaluate.Strength, error) {
	var out []evaluate.Strength
	for _, f := range strings.Split(s, ",") {
		f = strings.ReplaceAll(strings.TrimSpace(f), ">=", "≥")
		share, floor, ok := strings.Cut(f, "≥")
		pct, err1 := strconv.ParseFloat(strings.TrimSuffix(share, "%"), 64)
		n, err2 := strconv.Atoi(floor)
		if !ok || err1 != nil || err2 != nil || !(pct > 0 && pct < 100) || n < 0 {
			return nil, fmt.Errorf("strength %q: want SHARE%%≥AUTHORS, such as 5%%≥5", f)
		}
		out = append(out, evaluate.Strength{Share: pct / 100, Floor: n})
	}
	return out, nil
}

func parseVolumes(s string) ([]float64, error) {
	var out []float64
	for _, f := range strings.Split(s, ",") {
		v, err := strconv.ParseFloat(strings.TrimSpace(f), 64)
		if err != nil || !(v > 0) {
			return nil, fmt.Errorf("volume %q: want posts/s above zero", f)
		}
		out = append(out, v)
	}
	return out, nil
}

// outcome is everything the report shows of one volume.
type outcome struct {
	rate       float64
	rep        *evaluate.Replay
	ours, base evaluate.Result
	// ref is the reference calculator judged on the same replay, when
	// ours came from the pipeline.
	ref              *evaluate.Result
	params           evaluate.Params
	engine           string
	compared, differ int
	diffs            []string
	elapsed          time.Duration
	all              []*tsv1.WindowSnapshot
	// groups is how ours grouped the injected stories into topics;
	// topicsCompared and topicsDiffer the pipeline's topics against the
	// reference's.
	groups                       evaluate.Grouping
	topicsCompared, topicsDiffer int
	// retracted is how many posts the deletes retracted (reference
	// calculator); unretracted the windows in which a retracted burst was
	// listed by the reference with deletes ignored (−1: not run).
	retracted   int64
	unretracted int
}

func run(ctx context.Context, o options) error {
	var err error
	if o.replay.Strengths, err = parseStrengths(o.strengths); err != nil {
		return err
	}
	volumes, err := parseVolumes(o.volumes)
	if err != nil {
		return err
	}
	if err := o.score.Validate(); err != nil {
		return fmt.Errorf("score flags: %w", err)
	}
	var all []*outcome
	tables := map[*outcome]string{}
	for _, v := range volumes {
		cfg := o.replay
		cfg.Rate = v
		res, err := evaluateReplay(ctx, o, cfg, o.plot != "" && v == volumes[len(volumes)/2])
		if err != nil {
			return fmt.Errorf("volume %g posts/s: %w", v, err)
		}
		var buf bytes.Buffer
		evaluate.WriteTable(&buf, res.ours, res.base, res.params)
		buf.WriteString("\nTopics (ours):\n\n")
		evaluate.WriteGrouping(&buf, res.groups, res.params)
		if res.ref != nil {
			fmt.Fprintf(&buf, "\nTopics of the pipeline vs the reference: %d of %d (window, language) snapshots differ.\n", res.topicsDiffer, res.topicsCompared)
		}
		tables[res] = buf.String()
		fmt.Printf("\n## %g posts/s (%d posts)\n\n%s", v, len(res.rep.Posts), buf.String())
		fmt.Printf("\nrankings from %s; pipeline vs reference: %d of %d (window, language) rankings differ; %s\n",
			res.engine, res.differ, res.compared, res.elapsed.Round(time.Second))
		for _, d := range res.diffs {
			fmt.Println("  " + d)
		}
		if res.ref != nil {
			fmt.Println(refLine(*res.ref))
		}
		fmt.Println(deletesLine(res))
		all = append(all, res)
	}
	var sum bytes.Buffer
	summary(&sum, all)
	fmt.Printf("\n## Summary\n\n%s", sum.String())
	plotted := all[len(volumes)/2]
	if o.plot != "" {
		if err := writePlot(o, plotted); err != nil {
			return err
		}
	}
	if o.out != "" {
		if err := os.WriteFile(o.out, []byte(report(o, all, tables, sum.String(), plotted)), 0o644); err != nil {
			return fmt.Errorf("trendeval: %w", err)
		}
	}
	return nil
}

func evaluateReplay(ctx context.Context, o options, rc evaluate.Config, plot bool) (*outcome, error) {
	began := time.Now()
	rep, err := evaluate.Generate(rc)
	if err != nil {
		return nil, err
	}
	slog.Info("trendeval: replay", "posts/s", rc.Rate, "posts", len(rep.Posts))
	score := o.score.StartingAt(rep.Start)
	cfg := trendcalc.Config{
		Size: rc.Size, Period: rc.Period, TopK: o.topN,
		Terms: o.termOpts, Score: score, Source: tsv1.Source_SOURCE_BLUESKY,
		// Topics as the pipeline computes them, so every volume has them.
		Topics: trending.DefaultOptions().Topics,
		// Deletes as the pipeline retracts them.
		RetractDeletes: o.retract,
	}
	cfg.Topics.SamplePosts = o.topicSample
	runs := evaluate.Reference(rep, cfg, plot)
	ref, raw, all := runs.Ours, runs.Raw, runs.All

	out := &outcome{rate: rc.Rate, rep: rep, engine: "the reference calculator (internal/core/trendcalc)", all: all,
		retracted: runs.Retracted, unretracted: -1}
	ours := ref
	prism := o.prism && rc.Rate <= o.prismMaxRate
	if prism {
		slog.Info("trendeval: running the pipeline on Prism", "posts", len(rep.Posts))
		pctx, cancel := context.WithTimeout(ctx, o.timeout)
		defer cancel()
		po := trending.DefaultOptions()
		po.WindowSize, po.WindowPeriod, po.TopK = rc.Size, rc.Period, o.topN
		po.Terms, po.Score, po.StreamStart = o.termOpts, o.score, rep.Start
		po.RetractDeletes = o.retract
		po.Topics.SamplePosts = o.topicSample
		ours, err = runPrism(pctx, rep.Posts, po)
		if err != nil {
			return nil, err
		}
		out.engine = "the real pipeline on Prism (bounded)"
		out.compared, out.differ, out.diffs = evaluate.Mismatch(ours, ref)
		out.topicsCompared, out.topicsDiffer = evaluate.TopicMismatch(ours, ref)
	}
	out.params = evaluate.Params{
		TopN: o.topN, Period: rc.Period, Size: rc.Size,
		ScoredFrom: score.WarmUpUntil, TargetAuthors: o.targetAuthors, TargetShare: o.targetShare,
	}
	// Only the listed terms need counting: a replay can be millions of
	// posts.
	oracle := evaluate.NewOracle(rep.Posts, o.termOpts, rc.Period, rc.Size, rep.Start, rep.End, evaluate.Listed(ours, ref, raw))
	out.ours = evaluate.Evaluate("ours", rep, ours, oracle, out.params)
	if prism {
		r := evaluate.Evaluate("reference", rep, ref, oracle, out.params)
		out.ref = &r
	}
	out.base = evaluate.Evaluate("raw count", rep, raw, oracle, out.params)
	out.groups = evaluate.Group(rep, ours, out.params)
	if runs.Unretracted != nil {
		out.unretracted = evaluate.Evaluate("deletes ignored", rep, runs.Unretracted, nil, out.params).RetractedWindows
	}
	out.elapsed = time.Since(began)
	return out, nil
}

// refLine summarises the reference calculator's figures on the replay the
// pipeline ran, so a difference between the two is visible in the figures.
func refLine(r evaluate.Result) string {
	return fmt.Sprintf("reference calculator, same replay and parameters: recall %.2f (%d/%d), precision %.2f (%d TP, %d FP, %d neither, %d entries)",
		r.Recall(), r.TargetEver, r.Target, r.Precision(), r.TP, r.FP, r.Neither, r.Entries)
}

// plotted picks the strongest burst of each shape and the always-frequent
// control.
func plotted(res *outcome) []evaluate.Series {
	var out []evaluate.Series
	for _, shape := range evaluate.Shapes {
		var best *evaluate.Burst
		for i := range res.rep.Bursts {
			b := &res.rep.Bursts[i]
			if b.Shape == shape && !b.ThinLang && b.Lang == "en" && (best == nil || b.Strength.Share > best.Strength.Share) {
				best = b
			}
		}
		if best != nil {
			out = append(out, evaluate.Series{Name: fmt.Sprintf("#%s (%s, %s, onset %s)", best.Term, shape, best.Strength, best.Onset.Format("15:04")), Onset: best.Onset})
		}
	}
	out = append(out, evaluate.Series{Name: "#" + res.rep.Controls.Frequent + " (always frequent)"})
	keys := []string{}
	for _, s := range out {
		keys = append(keys, strings.Fields(strings.TrimPrefix(s.Name, "#"))[0])
	}
	scores := make([]map[int64]float64, len(out))
	for i := range scores {
		scores[i] = map[int64]float64{}
	}
	for _, s := range res.all {
		if s.GetLang() != "" {
			continue
		}
		for _, t := range s.GetTerms() {
			for i, k := range keys {
				if t.GetTerm() == k && t.GetKind() == tsv1.TermKind_TERM_KIND_HASHTAG {
					scores[i][s.GetWindowEnd().AsTime().UnixMilli()] = t.GetScore()
				}
			}
		}
	}
	for i := range out {
		out[i].Color = evaluate.Palette[i%len(evaluate.Palette)]
		for t := res.params.ScoredFrom; !t.After(res.rep.End); t = t.Add(res.params.Period) {
			v, ok := scores[i][t.UnixMilli()]
			if !ok {
				v = math.NaN()
			}
			out[i].Times = append(out[i].Times, t)
			out[i].Values = append(out[i].Values, v)
		}
	}
	return out
}

func writePlot(o options, res *outcome) error {
	var buf bytes.Buffer
	if err := evaluate.Plot(&buf, plotted(res), o.score.Enter, res.params.ScoredFrom, res.rep.End, 1200, 400); err != nil {
		return fmt.Errorf("trendeval: plot: %w", err)
	}
	if err := os.MkdirAll(filepath.Dir(o.plot), 0o755); err != nil {
		return fmt.Errorf("trendeval: %w", err)
	}
	if err := os.WriteFile(o.plot, buf.Bytes(), 0o644); err != nil {
		return fmt.Errorf("trendeval: %w", err)
	}
	return nil
}
