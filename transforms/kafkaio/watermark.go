package kafkaio

import (
	"math"
	"time"

	"github.com/apache/beam/sdks/v2/go/pkg/beam/core/graph/mtime"
)

// watermarkEstimator is the per-partition watermark of Read. Its whole state
// is one int64 (the watermark in Unix milliseconds), which the SDK stores with
// every residual, so the watermark survives self-checkpoints, Prism splits
// and Flink checkpoints. Beam's own estimators keep time.Time, which the SDK
// refuses to encode as estimator state.
//
// Records within a partition are roughly, not strictly, in event-time order,
// so the watermark trails the largest timestamp seen by OutOfOrder: a record
// up to that much older than the newest one is still on time.
type watermarkEstimator struct {
	state      int64 // watermark, Unix ms; only ever increases
	outOfOrder int64 // ms
}

// initialWatermark is the state of a partition that has read nothing yet:
// it holds the output watermark at the beginning of time.
var initialWatermark = int64(mtime.MinTimestamp)

// CurrentWatermark implements sdf.WatermarkEstimator.
func (e *watermarkEstimator) CurrentWatermark() time.Time {
	return time.UnixMilli(e.state)
}

// ObserveTimestamp implements sdf.TimestampObservingEstimator; the SDK calls
// it for every emitted record.
func (e *watermarkEstimator) ObserveTimestamp(t time.Time) {
	e.advance(t.UnixMilli())
}

// Idle moves the watermark of a caught-up partition toward now minus the
// out-of-order bound. Without it a partition that receives nothing would
// hold every window of the pipeline open forever (apache/beam#31085): the
// output watermark is the minimum over partitions. Records produced later
// carry timestamps near the wall clock, so they stay on time.
func (e *watermarkEstimator) Idle(now time.Time) {
	e.advance(now.UnixMilli())
}

// behind returns how far (ms) a record with timestamp t is behind the
// watermark; more than 0 means windows it belongs to may already have fired.
func (e *watermarkEstimator) behind(t time.Time) int64 {
	return max(0, e.state-t.UnixMilli())
}

func (e *watermarkEstimator) advance(ms int64) {
	if ms < math.MinInt64+e.outOfOrder {
		return
	}
	if w := ms - e.outOfOrder; w > e.state {
		e.state = w
	}
}
