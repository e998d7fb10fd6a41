// Command trendchaos is the chaos test of the whole system: a live-like
// local source (Jetstream-like, or a relay replaying recorded frames) feeds
// `trendstream ingest` through a fault proxy into a real Kafka broker; the
// trending pipeline reads the posts on Prism and writes rankings to the
// results topic and PostgreSQL. Meanwhile a seeded schedule of faults hits
// every part: relay drops and stalls, an ingest SIGKILL, broker and
// PostgreSQL restarts, a pipeline cancel and resume. After the stream it
// drains the system and checks that every post the source wrote is in
// Kafka, that none is there twice, and that PostgreSQL and the results
// topic hold, window by window, what the single-process reference
// computes over the distinct posts in Kafka. It writes the figures and the
// evidence to -out (RELIABILITY.md) with the command line that produced
// them, and -json if set.
//
//	go run ./cmd/trendchaos                         # what `make chaos` runs: 15 minutes, rewrites RELIABILITY.md
//	go run ./cmd/trendchaos -duration 3m -out /tmp/chaos.md -seed 7
//
// Every flag has an environment twin TRENDSTREAM_<FLAG>. The exit status is
// 1 when a check fails (with -check, the default) or the run could not be
// done, 2 for bad flags. docs/chaos.md describes the harness.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"path/filepath"
	"strings"
	"syscall"

	"github.com/trendstream/trendstream/internal/platform/envflag"
	"github.com/trendstream/trendstream/internal/tools/chaos"
	"github.com/trendstream/trendstream/internal/tools/livesoak"
	"github.com/trendstream/trendstream/internal/tools/reportfile"
)

// EnvPrefix prefixes every flag's environment twin.
const EnvPrefix = "TRENDSTREAM"

// options are the command's flags.
type options struct {
	cfg        chaos.Config
	mode       string
	partitions int
	out        string
	js         string
	verbose    bool
	check      bool
}

func register(fs *flag.FlagSet, o *options) {
	c := &o.cfg
	fs.StringVar(&o.mode, "mode", string(c.Mode), "source protocol: jetstream (real post texts as Jetstream v1 JSON) or relay (recorded firehose frames, re-stamped)")
	fs.StringVar(&c.FramesPath, "frames", c.FramesPath, "frame recording replayed in -mode relay")
	fs.Float64Var(&c.Rate, "rate", c.Rate, "posts per second the source writes")
	fs.IntVar(&c.Authors, "authors", c.Authors, "size of the author pool posts are drawn from")
	fs.DurationVar(&c.Duration, "duration", c.Duration, "how long the source streams; the faults happen inside it")
	fs.Uint64Var(&c.Seed, "seed", c.Seed, "seed of the fault schedule, the outages and the source's texts and authors")
	fs.IntVar(&c.Faults, "faults", c.Faults, "faults to inject (0: one per -fault-every, at least one of each kind)")
	fs.DurationVar(&c.FaultEvery, "fault-every", c.FaultEvery, "with -faults 0: one fault per this much of the stream")
	fs.BoolVar(&c.NoFaults, "no-faults", c.NoFaults, "control run: the same system and checks without any fault")
	fs.DurationVar(&c.Settle, "settle", c.Settle, "fault-free time after the stream starts and before it ends")
	fs.DurationVar(&c.MinOutage, "min-outage", c.MinOutage, "shortest outage (stall, process or service down)")
	fs.DurationVar(&c.MaxOutage, "max-outage", c.MaxOutage, "longest outage (cut to half the time between faults)")
	fs.DurationVar(&c.WindowSize, "window-size", c.WindowSize, "the pipeline's sliding window length")
	fs.DurationVar(&c.WindowPeriod, "window-period", c.WindowPeriod, "the pipeline's sliding window period")
	fs.DurationVar(&c.MaxOutOfOrder, "max-out-of-order", c.MaxOutOfOrder, "the pipeline's -max-out-of-order")
	fs.IntVar(&c.TopK, "top-k", c.TopK, "the pipeline's -top-k")
	fs.DurationVar(&c.Score.WarmUp, "score-warm-up", c.Score.WarmUp, "the pipeline's -score-warm-up (0: terms trend from the first window); the other scoring knobs are chaos.ChaosScore's")
	fs.IntVar(&o.partitions, "partitions", int(c.Partitions), "partitions of the posts topic")
	fs.DurationVar(&c.DrainTimeout, "drain-timeout", c.DrainTimeout, "bound of each drain wait: the ingest catching up, the newest window reaching PostgreSQL")
	fs.DurationVar(&c.StartTimeout, "start-timeout", c.StartTimeout, "bound of starting the Kafka broker (fetching its jars when missing) and of every restart")
	fs.DurationVar(&c.StopTimeout, "stop-timeout", c.StopTimeout, "how long a process may take to exit after SIGINT before it is killed")
	fs.StringVar(&c.Binaries.Trendstream, "trendstream-bin", "", "trendstream binary under test; empty builds ./cmd/trendstream")
	fs.StringVar(&c.Binaries.Trending, "trending-bin", "", "pipeline binary under test; empty builds ./pipelines/trending/cmd/trending")
	fs.StringVar(&c.Dir, "dir", "", "work directory for state and logs (kept); empty: a temporary one, removed after a run whose checks pass")
	fs.BoolVar(&c.Keep, "keep", false, "keep the temporary work directory even when every check passes")
	fs.StringVar(&o.out, "out", "RELIABILITY.md", "Markdown report to write")
	fs.StringVar(&o.js, "json", "", "JSON report to write as well (empty: none; a kept work directory gets report.json either way)")
	fs.BoolVar(&o.verbose, "v", false, "also copy the processes' output to stderr")
	fs.BoolVar(&o.check, "check", true, "exit with status 1 when a check fails")
}

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	_, code := run(ctx, os.Args[1:], os.Stdout, os.Stderr)
	os.Exit(code)
}

// parse reads the flags and their environment twins; ok is false when the
// command should exit with code at once.
func parse(args []string, stderr io.Writer) (o options, code int, ok bool) {
	o.cfg = chaos.DefaultConfig()
	fs := flag.NewFlagSet("trendchaos", flag.ContinueOnError)
	fs.SetOutput(stderr)
	register(fs, &o)
	fs.Usage = envflag.Usage(fs, EnvPrefix, "usage: trendchaos [flags]\n\n"+
		"Chaos test of the whole system: source → ingest → Kafka → pipeline → PostgreSQL under a seeded schedule of faults.")
	if err := envflag.Parse(fs, EnvPrefix, args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return o, 0, false
		}
		fmt.Fprintf(stderr, "trendchaos: %v\n", err)
		return o, 2, false
	}
	if fs.NArg() > 0 {
		fmt.Fprintf(stderr, "trendchaos: unexpected arguments %q\n", fs.Args())
		return o, 2, false
	}
	o.cfg.Mode = livesoak.Mode(o.mode)
	if o.cfg.Mode != livesoak.ModeJetstream && o.cfg.Mode != livesoak.ModeRelay {
		fmt.Fprintf(stderr, "trendchaos: -mode %q: want jetstream or relay\n", o.mode)
		return o, 2, false
	}
	o.cfg.Partitions = int32(o.partitions)
	o.cfg.Command = command(args)
	return o, 0, true
}

// command is the command line as a reader would type it again.
func command(args []string) string {
	parts := []string{"go run ./cmd/trendchaos"}
	for _, a := range args {
		if strings.ContainsAny(a, " \t'\"$") {
			a = "'" + strings.ReplaceAll(a, "'", `'\''`) + "'"
		}
		parts = append(parts, a)
	}
	return strings.Join(parts, " ")
}

// run runs the command and returns the report (nil when there is none) and
// the exit status.
func run(ctx context.Context, args []string, stdout, stderr io.Writer) (*chaos.Report, int) {
	o, code, ok := parse(args, stderr)
	if !ok {
		return nil, code
	}
	o.cfg.Logger = slog.New(slog.NewTextHandler(stderr, nil))
	if o.verbose {
		o.cfg.ChildLog = stderr
	}
	rep, err := chaos.Run(ctx, o.cfg)
	if err != nil {
		fmt.Fprintf(stderr, "trendchaos: %v\n", err)
		return rep, 1
	}
	if err := writeReports(rep, o.out, o.js); err != nil {
		fmt.Fprintf(stderr, "trendchaos: %v\n", err)
		return rep, 1
	}
	if rep.Dir != "" {
		// The kept work directory holds the logs the report points to:
		// keep the report with them.
		if err := writeReports(rep, filepath.Join(rep.Dir, "report.md"), filepath.Join(rep.Dir, "report.json")); err != nil {
			fmt.Fprintf(stderr, "trendchaos: %v\n", err)
			return rep, 1
		}
		fmt.Fprintf(stdout, "work directory kept: %s\n", rep.Dir)
	}
	fmt.Fprint(stdout, rep.Summary())
	fmt.Fprintf(stdout, "report: %s\n", o.out)
	if o.check && len(rep.Failed()) > 0 {
		return rep, 1
	}
	return rep, 0
}

func writeReports(rep *chaos.Report, md, js string) error {
	if err := reportfile.Write(md, rep.WriteMarkdown); err != nil {
		return err
	}
	if js == "" {
		return nil
	}
	return reportfile.Write(js, rep.WriteJSON)
}
