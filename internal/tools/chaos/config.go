package chaos

import (
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math"
	"time"

	"github.com/trendstream/trendstream/internal/core/trendscore"
	"github.com/trendstream/trendstream/internal/tools/livesoak"
)

// Config configures Run. DefaultConfig holds the values `make chaos` runs
// with.
type Config struct {
	// Mode is the source's protocol: Jetstream (real post texts) or the
	// relay firehose (recorded frames from FramesPath, re-stamped).
	Mode       livesoak.Mode
	FramesPath string
	// Rate is posts per second; Authors the author pool (livesoak.Authors).
	Rate    float64
	Authors int
	// Duration is how long the source streams; the faults happen inside it.
	Duration time.Duration
	// Seed seeds the fault schedule and the source's texts and authors.
	Seed uint64
	// Faults is how many faults to inject; 0 means one per FaultEvery of
	// the fault span, and never fewer than one of each kind.
	Faults     int
	FaultEvery time.Duration
	// NoFaults makes a control run: the same system and checks with no
	// fault at all, which tells a defect of the steady state from one a
	// fault causes.
	NoFaults bool
	// Settle is the fault-free time after the stream's start (the system
	// comes up) and before its end (the last recovery is done under load).
	Settle time.Duration
	// MinOutage and MaxOutage bound how long a component stays down.
	MinOutage, MaxOutage time.Duration
	// The pipeline's windows, ranking and scoring, which the reference
	// uses too.
	WindowSize, WindowPeriod time.Duration
	MaxOutOfOrder            time.Duration
	TopK                     int
	Score                    trendscore.Params
	// Partitions of the posts topic.
	Partitions int32
	// DrainTimeout bounds each wait of the drain: the ingest catching up,
	// the newest window reaching PostgreSQL.
	DrainTimeout time.Duration
	// StartTimeout bounds starting the Kafka broker (with fetching its
	// jars when missing); StopTimeout a process's exit after SIGINT.
	StartTimeout, StopTimeout time.Duration
	// Binaries are the programs under test; empty ones are built.
	Binaries Binaries
	// Dir keeps the run's state and logs; empty: a temporary directory,
	// removed after a run whose checks pass unless Keep.
	Dir  string
	Keep bool
	// ChildLog, if set, also receives the processes' output.
	ChildLog io.Writer
	Logger   *slog.Logger
	// Command is the command line, recorded in the report.
	Command string
}

// ChaosScore is the scoring of a chaos run. The defaults are sized for
// the whole firehose and 10-minute windows: over a steady 30 posts/s of
// real texts in 1-minute windows almost nothing would trend after the
// first windows, and comparing empty rankings proves little. A low noise
// floor and entry threshold, a one-minute half-life and no warm-up make
// most windows rank terms (measured: 42 of 48 overall windows of a
// 3-minute stream rank 1,050 terms in all), so the comparison covers
// counts, distinct authors, baselines, scores and first-seen times, and
// a pipeline that lost its scoring state shows it.
func ChaosScore() trendscore.Params {
	p := trendscore.DefaultParams()
	p.NoiseFloor, p.MinAuthors, p.Enter, p.Exit, p.HalfLife, p.WarmUp = 1, 3, 2, 1, 12, 0
	return p
}

// DefaultConfig is `make chaos`: 15 minutes at 30 posts/s, 60-second
// windows sliding every 5 seconds.
func DefaultConfig() Config {
	return Config{
		Mode: livesoak.ModeJetstream, FramesPath: "ingest/frame/testdata/frames.bin.zst",
		Rate: 30, Authors: 5000, Duration: 15 * time.Minute, Seed: 1,
		FaultEvery: 40 * time.Second, Settle: 20 * time.Second,
		MinOutage: 8 * time.Second, MaxOutage: 20 * time.Second,
		WindowSize: time.Minute, WindowPeriod: 5 * time.Second, MaxOutOfOrder: 5 * time.Second, TopK: 10,
		Score:        ChaosScore(),
		Partitions:   4,
		DrainTimeout: 3 * time.Minute, StartTimeout: 5 * time.Minute, StopTimeout: time.Minute,
	}
}

func (c *Config) validate() error {
	var errs []error
	if c.Mode != livesoak.ModeJetstream && c.Mode != livesoak.ModeRelay {
		errs = append(errs, fmt.Errorf("mode %q: want jetstream or relay", c.Mode))
	}
	if !(c.Rate > 0) || math.IsInf(c.Rate, 0) {
		errs = append(errs, fmt.Errorf("rate %v must be positive", c.Rate))
	}
	if c.Settle <= 0 || c.Duration <= 2*c.Settle {
		errs = append(errs, fmt.Errorf("duration %s must exceed twice the settle time %s", c.Duration, c.Settle))
	}
	if c.Faults == 0 && c.FaultEvery <= 0 {
		errs = append(errs, errors.New("with faults 0, fault-every must be positive"))
	}
	if c.WindowPeriod <= 0 || c.WindowSize < c.WindowPeriod || c.WindowSize%c.WindowPeriod != 0 {
		errs = append(errs, fmt.Errorf("window size %s must be a positive multiple of the period %s", c.WindowSize, c.WindowPeriod))
	}
	if err := c.Score.Validate(); err != nil {
		errs = append(errs, fmt.Errorf("scoring: %w", err))
	}
	if c.Partitions <= 0 {
		errs = append(errs, fmt.Errorf("partitions %d must be positive", c.Partitions))
	}
	for name, d := range map[string]time.Duration{"drain timeout": c.DrainTimeout, "start timeout": c.StartTimeout, "stop timeout": c.StopTimeout} {
		if d <= 0 {
			errs = append(errs, fmt.Errorf("%s %s must be positive", name, d))
		}
	}
	if c.Logger == nil {
		c.Logger = slog.Default()
	}
	return errors.Join(errs...)
}

// scheduleOptions places the faults between the settle times.
func (c Config) scheduleOptions() ScheduleOptions {
	from, to := c.Settle, c.Duration-c.Settle
	n := c.Faults
	if n == 0 {
		n = max(len(Kinds), int((to-from)/c.FaultEvery))
	}
	return ScheduleOptions{Seed: c.Seed, From: from, To: to, Count: n, MinOutage: c.MinOutage, MaxOutage: c.MaxOutage}
}
