package trending

import (
	"context"

	"github.com/apache/beam/sdks/v2/go/pkg/beam"
	"github.com/apache/beam/sdks/v2/go/pkg/beam/register"

	tsv1 "github.com/trendstream/trendstream/proto/trendstream/v1"
)

func init() {
	register.DoFn3x0[context.Context, *tsv1.WindowSnapshot, func(*tsv1.WindowSnapshot)](&dropPartialFn{})
	register.Emitter1[*tsv1.WindowSnapshot]()
}

var partialWindows = beam.NewCounter("trending", "partial_windows_dropped")

// dropPartialFn drops the snapshots of windows that begin before FromMs
// (Options.EmitFrom): the read began inside them.
type dropPartialFn struct {
	FromMs int64
}

func (fn *dropPartialFn) ProcessElement(ctx context.Context, s *tsv1.WindowSnapshot, emit func(*tsv1.WindowSnapshot)) {
	if s.GetWindowStart().AsTime().UnixMilli() < fn.FromMs {
		partialWindows.Inc(ctx, 1)
		return
	}
	emit(s)
}
