// Command trendsoak is the live soak harness of `trendstream run`: it
// serves real post texts stamped with the current time at a chosen rate
// from a local Jetstream-like (or relay-like) websocket server, runs
// `trendstream run` against it as a child process with its own data
// directory and ports, and records, for every sliding window, the delay from
// its end to its row in PostgreSQL and to its push on the API's SSE stream,
// the newest window's lag behind the wall clock, and the child's RSS and
// CPU. After -duration it stops the child with SIGINT, checks its exit
// status and that it logged no ERROR after the stop began, and writes a
// Markdown report (-out) and a JSON one (-json).
//
//	go run ./cmd/trendsoak                                         # production windows (10m/1m), 50 posts/s, 30 min
//	go run ./cmd/trendsoak -rate 500 -duration 30m -out soak-500.md
//	go run ./cmd/trendsoak -window-size 60s -window-period 5s -duration 3m
//	go run ./cmd/trendsoak -serve-only -rate 50                    # only the server, for a hand-run `trendstream run`
//	go run ./cmd/trendsoak -- -shards 4                            # arguments after -- go to `trendstream run`
//
// Every flag has an environment twin TRENDSTREAM_<FLAG>. The exit status is
// 1 when the run violates the criteria (see docs/soak.md) and -check is set.
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
	"time"

	"github.com/trendstream/trendstream/internal/platform/envflag"
	"github.com/trendstream/trendstream/internal/tools/livesoak"
	"github.com/trendstream/trendstream/internal/tools/reportfile"
)

// EnvPrefix prefixes every flag's environment twin.
const EnvPrefix = "TRENDSTREAM"

// options are the command's flags.
type options struct {
	cfg       livesoak.Config
	mode      string
	out, js   string
	childLog  string
	verbose   bool
	check     bool
	serveOnly bool
	addr      string
	posts     int64
}

func register(fs *flag.FlagSet, o *options) {
	c := &o.cfg
	fs.StringVar(&o.mode, "mode", "jetstream", "protocol of the local server: jetstream (real post texts as Jetstream v1 JSON) or relay (recorded firehose frames, re-stamped)")
	fs.Float64Var(&c.Rate, "rate", 50, "posts per second")
	fs.DurationVar(&c.Duration, "duration", 30*time.Minute, "how long to stream, from the first post to the stop")
	fs.DurationVar(&c.WindowSize, "window-size", 10*time.Minute, "sliding window length, passed to trendstream run")
	fs.DurationVar(&c.WindowPeriod, "window-period", time.Minute, "sliding window period, passed to trendstream run")
	fs.DurationVar(&c.MaxOutOfOrder, "max-out-of-order", 0, "passed to trendstream run when not 0 (its default is 5s; the watermark, and so every window, trails the newest post by this much)")
	fs.DurationVar(&c.MaxDelay, "max-delay", 0, "the criterion: every window after the first must be written within this of its end (emitted_at - window_end); 0 means window period + 5s")
	fs.IntVar(&c.Authors, "authors", 500000, "size of the author pool posts are drawn from (Zipf); 0 keeps each text's real author")
	fs.Uint64Var(&c.Seed, "seed", 1, "seed of the text order and the authors")
	fs.StringVar(&c.FramesPath, "frames", "ingest/frame/testdata/frames.bin.zst", "frame recording replayed in -mode relay")
	fs.StringVar(&c.TrendstreamBin, "trendstream-bin", "", "trendstream binary under test; empty builds ./cmd/trendstream with go build")
	fs.StringVar(&c.DataDir, "data-dir", "", "the run's -data-dir (kept); empty uses a temporary one")
	fs.BoolVar(&c.KeepData, "keep-data", false, "keep the temporary data directory")
	fs.StringVar(&c.DatabaseURL, "database-url", "", "PostgreSQL for the run's read model; empty lets it start its private one")
	fs.DurationVar(&c.PollEvery, "poll-every", time.Second, "how often to poll the windows table")
	fs.DurationVar(&c.SampleEvery, "sample-every", 5*time.Second, "how often to sample RSS, CPU and the newest window's lag")
	fs.DurationVar(&c.StartTimeout, "start-timeout", 3*time.Minute, "how long the run may take to connect to the server")
	fs.DurationVar(&c.StopTimeout, "stop-timeout", 90*time.Second, "how long the run may take to exit after SIGINT before it is killed")
	fs.StringVar(&o.out, "out", "", "Markdown report; empty writes trendsoak-<time>.md in the temporary directory")
	fs.StringVar(&o.js, "json", "", "JSON report; empty writes it next to -out with the extension .json")
	fs.StringVar(&o.childLog, "log", "", "the run's output; empty writes it next to -out with the extension .log")
	fs.BoolVar(&o.verbose, "v", false, "also copy the run's output to stderr")
	fs.BoolVar(&o.check, "check", true, "exit with status 1 when the run violates the criteria")
	fs.BoolVar(&o.serveOnly, "serve-only", false, "only serve the stream (for a hand-run trendstream run) until -duration or Ctrl-C")
	fs.StringVar(&o.addr, "addr", "127.0.0.1:0", "listen address of the server with -serve-only")
	fs.Int64Var(&o.posts, "posts", 0, "with -serve-only: stop the stream after this many posts (0: only -duration bounds it)")
}

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	go func() { <-ctx.Done(); stop() }()
	_, code := soak(ctx, os.Args[1:], os.Stdout, os.Stderr)
	os.Exit(code)
}

// parse reads the flags (and their environment twins); ok is false when
// the command should exit with code without running.
func parse(args []string, stderr io.Writer) (o options, code int, ok bool) {
	fs := flag.NewFlagSet("trendsoak", flag.ContinueOnError)
	fs.SetOutput(stderr)
	register(fs, &o)
	fs.Usage = envflag.Usage(fs, EnvPrefix, "usage: trendsoak [flags] [-- trendstream run flags]\n\n"+
		"Live soak of trendstream run against a local stream of real posts stamped with the current time.")
	if err := envflag.Parse(fs, EnvPrefix, args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return o, 0, false
		}
		fmt.Fprintf(stderr, "trendsoak: %v\n", err)
		return o, 2, false
	}
	o.cfg.ExtraArgs = fs.Args()
	o.cfg.Mode = livesoak.Mode(o.mode)
	if o.cfg.Mode != livesoak.ModeJetstream && o.cfg.Mode != livesoak.ModeRelay {
		fmt.Fprintf(stderr, "trendsoak: -mode %q: want jetstream or relay\n", o.mode)
		return o, 2, false
	}
	return o, 0, true
}

// soak runs the command with args and returns the report (nil when there
// is none) and the exit status.
func soak(ctx context.Context, args []string, stdout, stderr io.Writer) (*livesoak.Report, int) {
	o, code, ok := parse(args, stderr)
	if !ok {
		return nil, code
	}
	log := slog.New(slog.NewTextHandler(stderr, nil))
	o.cfg.Logger = log
	if o.serveOnly {
		if err := serveOnly(ctx, o, stdout, log); err != nil {
			fmt.Fprintf(stderr, "trendsoak: %v\n", err)
			return nil, 1
		}
		return nil, 0
	}
	paths(&o)
	o.cfg.LogPath = o.childLog
	if o.verbose {
		o.cfg.ChildLog = stderr
	}
	rep, err := livesoak.Run(ctx, o.cfg)
	if err != nil {
		fmt.Fprintf(stderr, "trendsoak: %v\n", err)
		return nil, 1
	}
	if err := writeReports(rep, o.out, o.js); err != nil {
		fmt.Fprintf(stderr, "trendsoak: %v\n", err)
		return rep, 1
	}
	fmt.Fprint(stdout, rep.Summary())
	fmt.Fprintf(stdout, "report: %s (JSON: %s; run log: %s)\n", o.out, o.js, o.childLog)
	if o.check && len(rep.Violations) > 0 {
		return rep, 1
	}
	return rep, 0
}

// paths fills in the default report and log paths.
func paths(o *options) {
	if o.out == "" {
		o.out = filepath.Join(os.TempDir(), "trendsoak-"+time.Now().UTC().Format("20060102T150405Z")+".md")
	}
	base := strings.TrimSuffix(o.out, filepath.Ext(o.out))
	if o.js == "" {
		o.js = base + ".json"
	}
	if o.childLog == "" {
		o.childLog = base + ".log"
	}
}

func writeReports(rep *livesoak.Report, md, js string) error {
	if err := reportfile.Write(md, rep.WriteMarkdown); err != nil {
		return err
	}
	return reportfile.Write(js, rep.WriteJSON)
}

// serveOnly runs the server alone until the duration has passed after the
// first connection, or ctx ends.
func serveOnly(ctx context.Context, o options, stdout io.Writer, log *slog.Logger) error {
	so := livesoak.ServerOptions{Mode: o.cfg.Mode, Rate: o.cfg.Rate, Duration: o.cfg.Duration, Posts: o.posts,
		Authors: o.cfg.Authors, Seed: o.cfg.Seed, Addr: o.addr, Logger: log}
	if o.cfg.Mode == livesoak.ModeRelay {
		frames, err := livesoak.LoadFrames(o.cfg.FramesPath)
		if err != nil {
			return err
		}
		so.Frames = frames
	}
	srv, err := livesoak.NewServer(so)
	if err != nil {
		return err
	}
	defer srv.Close()
	flagName := "-jetstream-url"
	source := "jetstream"
	if o.cfg.Mode == livesoak.ModeRelay {
		flagName, source = "-relay", "firehose"
	}
	bound := o.cfg.Duration.String()
	if o.posts > 0 {
		bound = fmt.Sprintf("%s or %d posts", bound, o.posts)
	}
	fmt.Fprintf(stdout, "serving %s at %s (%g posts/s once a client connects, for %s)\n", o.cfg.Mode, srv.URL(), o.cfg.Rate, bound)
	fmt.Fprintf(stdout, "try: go run ./cmd/trendstream run -source %s %s %s\n", source, flagName, srv.URL())
	select {
	case <-srv.Done():
		srv.WaitDrained(10 * time.Second) // let clients read the end of the stream
	case <-ctx.Done():
	}
	st := srv.Stats()
	fmt.Fprintf(stdout, "sent %d events, %d posts (%.1f posts/s), %d connections\n", st.Events, st.Posts, st.AchievedRate(), st.Conns)
	return nil
}
