package testenv

import (
	"context"
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
