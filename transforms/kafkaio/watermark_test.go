package kafkaio

import (
	"testing"
	"time"
)

func TestWatermarkEstimator(t *testing.T) {
	ms := func(v int64) time.Time { return time.UnixMilli(v) }
	type step struct {
		observe  int64 // record timestamp, ms; 0 = none
		idle     int64 // wall clock when idle, ms; 0 = none
		wantLate bool  // late() of the observed timestamp, checked before observing
		want     int64 // watermark after the step
	}
	tests := []struct {
		name       string
		outOfOrder int64
		steps      []step
	}{
		{
			name: "trails the newest timestamp by the out-of-order bound", outOfOrder: 100,
			steps: []step{
				{observe: 1000, want: 900},
				{observe: 950, want: 900}, // older but within the bound: on time, no regression
				{observe: 2000, want: 1900},
				{observe: 1800, wantLate: true, want: 1900},
			},
		},
		{
			name: "zero bound is the max timestamp", outOfOrder: 0,
			steps: []step{{observe: 5, want: 5}, {observe: 4, wantLate: true, want: 5}},
		},
		{
			name: "idle partition follows the wall clock, never backwards", outOfOrder: 1000,
			steps: []step{
				{observe: 10_000, want: 9_000},
				{idle: 20_000, want: 19_000},
				{idle: 15_000, want: 19_000},
				{observe: 19_500, want: 19_000}, // a record just behind the clock is still on time
				{observe: 17_000, wantLate: true, want: 19_000},
			},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e := &watermarkEstimator{state: initialWatermark, outOfOrder: tt.outOfOrder}
			for i, s := range tt.steps {
				if s.observe != 0 {
					if got := e.behind(ms(s.observe)) > 0; got != s.wantLate {
						t.Fatalf("step %d: late(%d) = %v, want %v", i, s.observe, got, s.wantLate)
					}
					e.ObserveTimestamp(ms(s.observe))
				}
				if s.idle != 0 {
					e.Idle(ms(s.idle))
				}
				if got := e.CurrentWatermark().UnixMilli(); got != s.want {
					t.Fatalf("step %d: watermark = %d, want %d", i, got, s.want)
				}
			}
		})
	}
}

func TestWatermarkStateRoundTrip(t *testing.T) {
	// The SDK rebuilds estimators from WatermarkEstimatorState after every
	// checkpoint; the watermark must not move back.
	fn := &readFn{OutOfOrder: 2 * time.Second}
	e := fn.CreateWatermarkEstimator(fn.InitialWatermarkEstimatorState(0, offsetrangeZero, partitionSpec{}))
	e.ObserveTimestamp(time.UnixMilli(50_000))
	restored := fn.CreateWatermarkEstimator(fn.WatermarkEstimatorState(e))
	if got := restored.CurrentWatermark().UnixMilli(); got != 48_000 {
		t.Fatalf("restored watermark = %d, want 48000", got)
	}
	restored.ObserveTimestamp(time.UnixMilli(49_000))
	if got := restored.CurrentWatermark().UnixMilli(); got != 48_000 {
		t.Fatalf("watermark moved back to %d", got)
	}
}
