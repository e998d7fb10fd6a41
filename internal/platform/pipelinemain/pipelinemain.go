// Package pipelinemain is the main of the pipeline programs
// (pipelines/*/cmd/*): Beam's conventions (standard flags, beam.Init, a
// runner chosen with -runner), every flag's environment twin
// TRENDSTREAM_<FLAG>, and a stop on SIGINT or SIGTERM. Each program gives
// its options' flags and how to build its pipeline; the sequence and its
// exit codes are the same for all of them.
package pipelinemain

import (
	"context"
	"errors"
	"flag"
	"log/slog"
	"os"
	"os/signal"
	"syscall"

	"github.com/apache/beam/sdks/v2/go/pkg/beam"

	"github.com/trendstream/trendstream/internal/platform/beamrun"
	"github.com/trendstream/trendstream/internal/platform/envflag"
	"github.com/trendstream/trendstream/internal/platform/flinkrunner"
)

// The exit codes of a program that did not run to its end.
const (
	ExitFailed = 1 // the pipeline, or a step before it, failed
	ExitConfig = 2 // a configuration the program cannot run with
)

// Program is one pipeline program.
type Program struct {
	// Name prefixes the program's log messages ("<Name>: pipeline failed").
	Name string
	// RegisterFlags registers the pipeline's options on the command line.
	RegisterFlags func(*flag.FlagSet)
	// Prepare, if set, runs once the flags are parsed and Beam is
	// initialised, before Build, for steps that talk to other services; its
	// ctx ends on SIGINT or SIGTERM.
	Prepare func(ctx context.Context) error
	// Build builds the pipeline; bounded says whether its read ends
	// (-bounded): flinkrunner runs a bounded read without checkpoints.
	Build func() (p *beam.Pipeline, bounded bool, err error)
}

// Error is an error of Prepare's or Build's that ends the program with its
// own log message and exit code. Any other error of theirs ends it with
// exit code 2, logged as "<Name>: build pipeline".
type Error struct {
	What string // logged as "<Name>: <What>"
	Code int
	Err  error
}

// Fail returns an *Error: err ends the program with code, logged as
// "<Name>: <what>".
func Fail(code int, what string, err error) error {
	return &Error{What: what, Code: code, Err: err}
}

func (e *Error) Error() string { return e.What + ": " + e.Err.Error() }
func (e *Error) Unwrap() error { return e.Err }

// Main runs prog: it registers prog's flags and flinkrunner's, parses the
// command line, applies the environment twins, initialises Beam (on a
// cluster, where Beam starts the binary with -worker, beam.Init takes over
// and never returns), prepares and builds the pipeline and runs it until
// it ends or a signal stops it.
//
// It exits 2 when the configuration, Prepare or Build fails (unless an
// *Error says otherwise), 1 when the pipeline fails, and returns when the
// pipeline finished or a signal stopped it.
func Main(prog Program) {
	prog.RegisterFlags(flag.CommandLine)
	// The Go SDK's flink runner cannot send Flink's checkpoint options, so
	// every program takes them here and runs through flinkrunner
	// (internal/platform/flinkrunner says why).
	fo := flinkrunner.DefaultOptions()
	fo.RegisterFlags(flag.CommandLine)
	flag.Parse()
	if err := envflag.Apply(flag.CommandLine, "TRENDSTREAM", os.LookupEnv); err != nil {
		slog.Error("configuration", "err", err)
		os.Exit(ExitConfig)
	}
	beam.Init()
	beamrun.DisableDynamicSplitting()

	// Signals are caught from the first step that watches ctx: Build does
	// not, and a pipeline's Build can wait long for Kafka (the trending
	// reader's start position, retried for -kafka-retry-for), so a signal
	// then must end the program as it does by default.
	var ctx context.Context
	var stop context.CancelFunc
	if prog.Prepare != nil {
		ctx, stop = signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
		defer stop()
		if err := prog.Prepare(ctx); err != nil {
			exitSetup(prog.Name, err)
		}
	}
	p, bounded, err := prog.Build()
	if err != nil {
		exitSetup(prog.Name, err)
	}
	if ctx == nil {
		ctx, stop = signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
		defer stop()
	}
	if code := runOutcome(ctx, slog.Default(), prog.Name, flinkrunner.Run(ctx, p, fo, bounded)); code != 0 {
		os.Exit(code)
	}
}

// exitSetup ends the program after Prepare or Build failed.
func exitSetup(name string, err error) {
	what, code := setupFailure(err)
	slog.Error(name+": "+what, "err", err)
	os.Exit(code)
}

// setupFailure is the log message (after "<Name>: ") and exit code for an
// error of Prepare's or Build's.
func setupFailure(err error) (what string, code int) {
	if e, ok := errors.AsType[*Error](err); ok {
		return e.What, e.Code
	}
	return "build pipeline", ExitConfig
}

// runOutcome logs how the run ended and returns the exit code, given the
// signal context and what the runner returned.
func runOutcome(ctx context.Context, log *slog.Logger, name string, runErr error) int {
	if ctx.Err() != nil {
		// Asked to stop. The runner reports the cancelled job as an error
		// (Prism: "failed to get metrics: context canceled"), but nothing
		// failed: what the pipeline wrote so far is durable, the reader
		// committed its position, and a restart carries on from -start
		// (Prism keeps no state) or a Flink savepoint (docs/pipeline.md,
		// "Resuming"; each program's main says what its restart redoes).
		log.Info(name+": stopped on signal", "signal_err", context.Cause(ctx), "runner_said", runErr)
		return 0
	}
	if runErr != nil {
		log.Error(name+": pipeline failed", "err", runErr)
		return ExitFailed
	}
	return 0
}
