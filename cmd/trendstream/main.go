// Command trendstream is the one user-facing program of trendstream: it
// ingests the Bluesky firehose into Kafka, runs the trending pipeline,
// serves the API and dashboard, and queries current trends.
//
// Each subcommand lives in its own file and registers itself in init, so
// adding one touches nothing else. Every flag has an environment twin
// TRENDSTREAM_<FLAG_NAME>.
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
	"sort"
	"syscall"

	"github.com/trendstream/trendstream/internal/platform/envflag"
)

// EnvPrefix prefixes every flag's environment twin.
const EnvPrefix = "TRENDSTREAM"

// command is one subcommand.
type command struct {
	name    string
	summary string
	// setup defines the flags on fs and returns the function that runs once
	// they are parsed.
	setup func(fs *flag.FlagSet) func(ctx context.Context) error
}

var commands = map[string]command{}

func register(c command) { commands[c.name] = c }

func main() {
	os.Exit(run(os.Args[1:], os.Stdout, os.Stderr))
}

func run(args []string, stdout, stderr io.Writer) int {
	if len(args) == 0 || args[0] == "-h" || args[0] == "--help" || args[0] == "help" {
		usage(stderr)
		if len(args) == 0 {
			return 2
		}
		return 0
	}
	c, ok := commands[args[0]]
	if !ok {
		fmt.Fprintf(stderr, "trendstream: unknown command %q\n\n", args[0])
		usage(stderr)
		return 2
	}
	fs := flag.NewFlagSet("trendstream "+c.name, flag.ContinueOnError)
	fs.SetOutput(stderr)
	logLevel := fs.String("log-level", "info", "log level: debug, info, warn, error")
	runFn := c.setup(fs)
	fs.Usage = envflag.Usage(fs, EnvPrefix, fmt.Sprintf("usage: trendstream %s [flags]\n\n%s", c.name, c.summary))
	if err := envflag.Parse(fs, EnvPrefix, args[1:]); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return 0
		}
		fmt.Fprintf(stderr, "trendstream %s: %v\n", c.name, err)
		return 2
	}
	var lvl slog.Level
	if err := lvl.UnmarshalText([]byte(*logLevel)); err != nil {
		fmt.Fprintf(stderr, "trendstream %s: -log-level: %v\n", c.name, err)
		return 2
	}
	slog.SetDefault(slog.New(slog.NewTextHandler(stderr, &slog.HandlerOptions{Level: lvl})))

	// The first SIGINT/SIGTERM cancels ctx so commands flush and exit
	// cleanly; a second one kills the process the default way.
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	go func() { <-ctx.Done(); stop() }()
	if err := runFn(ctx); err != nil && !errors.Is(err, context.Canceled) {
		slog.Error("trendstream "+c.name+" failed", "err", err)
		return 1
	}
	return 0
}

func usage(w io.Writer) {
	fmt.Fprintln(w, "usage: trendstream <command> [flags]\n\nCommands:")
	names := make([]string, 0, len(commands))
	for n := range commands {
		names = append(names, n)
	}
	sort.Strings(names)
	for _, n := range names {
		fmt.Fprintf(w, "  %-10s %s\n", n, commands[n].summary)
	}
	fmt.Fprintln(w, "\nRun 'trendstream <command> -h' for a command's flags. Every flag has an")
	fmt.Fprintln(w, "environment twin: -kafka-brokers is also TRENDSTREAM_KAFKA_BROKERS.")
}
