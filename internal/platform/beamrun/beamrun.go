// Package beamrun runs Beam pipelines on an in-process Prism job server that
// can be stopped: cancelling the context cancels the running job through the
// Job API and waits for it to end.
//
// beam.Run on the default "prism" runner only stops waiting when its context
// is cancelled; the job itself keeps going. Long-running, unbounded
// pipelines (`trendstream run`, streaming tests) need a real stop, which the
// Job API's Cancel provides.
package beamrun

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"time"

	"github.com/apache/beam/sdks/v2/go/pkg/beam"
	jobpb "github.com/apache/beam/sdks/v2/go/pkg/beam/model/jobmanagement_v1"
	"github.com/apache/beam/sdks/v2/go/pkg/beam/options/jobopts"
	"github.com/apache/beam/sdks/v2/go/pkg/beam/runners/prism"
	_ "github.com/apache/beam/sdks/v2/go/pkg/beam/runners/universal" // registers "universal"

	"github.com/trendstream/trendstream/internal/services/freeport"
)

// Prism is an in-process Prism job server.
type Prism struct {
	cli      jobpb.JobServiceClient
	endpoint string
}

var (
	mu      sync.Mutex
	started *Prism
)

// StartPrism starts (once per process) an in-process Prism job server on
// port (0: a free port) and points Beam's global job options at it in
// LOOPBACK mode, so DoFns run as goroutines of this process.
func StartPrism(ctx context.Context, port int) (*Prism, error) {
	mu.Lock()
	defer mu.Unlock()
	if started != nil {
		return started, nil
	}
	if !beam.Initialized() {
		// Runs Beam's init hooks; outside worker mode it does nothing else.
		// One hook is the SDK's log setup (beam/forward.go,
		// log.SetupLoggingWithDefault), which replaces the default slog
		// logger with its own, on os.Stderr at level info: the command's
		// -log-level and output would be lost from the first pipeline on.
		// A process that never set a logger keeps Beam's: restoring slog's
		// initial one after Beam's would route the log package back into
		// slog and deadlock (log/slog.SetDefault's note on the default
		// handler; it hung cmd/marketweek in CI).
		prev := slog.Default()
		beam.Init()
		if prev != initialLogger {
			slog.SetDefault(prev)
		}
	}
	if port == 0 {
		p, err := freeport.One()
		if err != nil {
			return nil, fmt.Errorf("beamrun: %w", err)
		}
		port = p
	}
	// The server must outlive the caller's context: it is shared by every
	// pipeline run in this process.
	// Prism keeps the default logger it finds now (cancelLog says why).
	prev := slog.Default()
	slog.SetDefault(slog.New(cancelLog{prev.Handler()}))
	cli, err := prism.CreateJobServer(context.WithoutCancel(ctx), prism.Options{Port: port})
	slog.SetDefault(prev)
	if err != nil {
		return nil, fmt.Errorf("beamrun: start prism job server: %w", err)
	}
	started = &Prism{cli: cli, endpoint: fmt.Sprintf("localhost:%d", port)}
	return started, nil
}

// initialLogger is slog's default logger as this package found it: one
// no caller has replaced.
var initialLogger = slog.Default()

// Endpoint is the job server's address.
func (p *Prism) Endpoint() string { return p.endpoint }

// Client is the Job API client, for the web UI or job inspection.
func (p *Prism) Client() jobpb.JobServiceClient { return p.cli }

// Run submits pl and waits for it to finish. When ctx is cancelled, every
// job this server is running is cancelled and Run returns ctx's error once
// beam.Run has returned.
func (p *Prism) Run(ctx context.Context, pl *beam.Pipeline) error {
	*jobopts.Endpoint = p.endpoint
	*jobopts.EnvironmentType = "loopback"
	DisableDynamicSplitting()
	done := make(chan error, 1)
	go func() {
		// beam.Run's own context is not cancelled with ctx: the Job API
		// cancel below is what stops the job, and beam.Run then returns.
		_, err := beam.Run(context.WithoutCancel(ctx), "universal", pl)
		done <- err
	}()
	select {
	case err := <-done:
		return err
	case <-ctx.Done():
	}
	cctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := p.cancelAll(cctx); err != nil {
		slog.Warn("beamrun: cancel jobs", "err", err)
	}
	select {
	case err := <-done:
		if err != nil && !isCancelled(err) {
			return err
		}
		return ctx.Err()
	case <-cctx.Done():
		return errors.Join(ctx.Err(), errors.New("beamrun: job did not stop within 30s of cancellation"))
	}
}

func (p *Prism) cancelAll(ctx context.Context) error {
	// The job may not be registered yet if cancellation came right after
	// submission; poll briefly.
	for i := 0; i < 50; i++ {
		jobs, err := p.cli.GetJobs(ctx, &jobpb.GetJobsRequest{})
		if err != nil {
			return err
		}
		n := 0
		for _, j := range jobs.GetJobInfo() {
			switch j.GetState() {
			case jobpb.JobState_DONE, jobpb.JobState_FAILED, jobpb.JobState_CANCELLED, jobpb.JobState_UPDATED, jobpb.JobState_DRAINED:
				continue
			}
			n++
			if _, err := p.cli.Cancel(ctx, &jobpb.CancelJobRequest{JobId: j.GetJobId()}); err != nil {
				return err
			}
		}
		if n > 0 {
			return nil
		}
		time.Sleep(100 * time.Millisecond)
	}
	return nil
}

func isCancelled(err error) bool {
	return err != nil && (errors.Is(err, context.Canceled) || strings.Contains(strings.ToLower(err.Error()), "cancel"))
}

// DisableDynamicSplitting turns off Prism's dynamic splitting of stages.
// Prism v2.77 splits the bundles of the stateful, timer-driven scoring
// stage, which it cannot do correctly (apache/beam#35771): large replays
// stall or lose state updates. Other runners ignore the experiment.
func DisableDynamicSplitting() {
	const exp = "prism_disable_sdf_split"
	for _, e := range jobopts.GetExperiments() {
		if e == exp {
			return
		}
	}
	if *jobopts.Experiments == "" {
		*jobopts.Experiments = exp
	} else {
		*jobopts.Experiments += "," + exp
	}
}
