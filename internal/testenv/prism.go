package testenv

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/apache/beam/sdks/v2/go/pkg/beam"

	"github.com/trendstream/trendstream/internal/platform/beamrun"
)

// RunOnPrism runs p to completion on the process's in-process Prism job
// server (started on first use), as the commands do, failing t if it fails
// or takes longer than 5 minutes. It returns how long the run took.
func RunOnPrism(t testing.TB, p *beam.Pipeline) time.Duration {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	pr, err := beamrun.StartPrism(ctx, 0)
	if err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	if err := pr.Run(ctx, p); err != nil {
		t.Fatalf("pipeline: %v", err)
	}
	return time.Since(start)
}

// Running is a pipeline running on Prism in the background: an unbounded
// one, which a test stops once it has seen what it waits for.
type Running struct {
	stop context.CancelFunc
	done chan error
}

// StartOnPrism starts p on the process's in-process Prism job server and
// returns while it runs. The run ends when ctx ends, when the test ends, or
// at Stop.
func StartOnPrism(ctx context.Context, t testing.TB, p *beam.Pipeline) *Running {
	t.Helper()
	pr, err := beamrun.StartPrism(ctx, 0)
	if err != nil {
		t.Fatal(err)
	}
	runCtx, stop := context.WithCancel(ctx)
	t.Cleanup(stop)
	// Buffered, so that the run can end after a test that failed stopped
	// listening.
	r := &Running{stop: stop, done: make(chan error, 1)}
	go func() { r.done <- pr.Run(runCtx, p) }()
	return r
}

// Done receives the run's error when it ends: for an unbounded pipeline
// before Stop, a failure.
func (r *Running) Done() <-chan error { return r.done }

// Stop cancels the run and fails t unless it ends cleanly (or as canceled)
// within 45 s: a pipeline that does not stop would hold the process's
// Prism and the test's Kafka and PostgreSQL.
func (r *Running) Stop(t testing.TB) {
	t.Helper()
	r.stop()
	select {
	case err := <-r.done:
		if err != nil && !errors.Is(err, context.Canceled) {
			t.Fatalf("pipeline did not stop cleanly: %v", err)
		}
	case <-time.After(45 * time.Second):
		t.Fatal("pipeline did not stop within 45 s of cancellation")
	}
}
