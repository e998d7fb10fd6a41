package kafkaio

import (
	"context"
	"fmt"
	"math"
	"testing"
	"time"

	"github.com/IBM/sarama"
	"github.com/apache/beam/sdks/v2/go/pkg/beam"
	"github.com/apache/beam/sdks/v2/go/pkg/beam/core/sdf"
	"github.com/apache/beam/sdks/v2/go/pkg/beam/io/rtrackers/offsetrange"

	"github.com/trendstream/trendstream/internal/platform/kafkaconf"
	"github.com/trendstream/trendstream/internal/testenv"
)

// TestReadFnContract drives the reading DoFn by hand against a real
// Kafka-protocol broker, the way the SDK does across self-checkpoints, and
// checks each call's bound, the continuation it returns, the tracker's end
// estimate and the watermark.
func TestReadFnContract(t *testing.T) {
	const topic = "posts"
	kafka := testenv.Kafka(t, 1, topic)
	base := time.Now().Add(-time.Hour).Truncate(time.Millisecond)
	all := produce(t, kafka.Addrs(), topic, []int32{0}, 10, base)

	fn := &readFn{
		Brokers: kafka.Addrs(), ClientID: "kafkaio-test", MaxRecords: 4, MaxDuration: 10 * time.Second,
		PollWait: 200 * time.Millisecond, PollInterval: 700 * time.Millisecond, FetchBytes: DefaultFetchBytes, OutOfOrder: time.Second,
		Group: "g-contract", CommitInterval: time.Nanosecond, Idle: IdleWallClock, FaultTimeout: time.Minute,
	}
	if err := fn.Setup(); err != nil {
		t.Fatal(err)
	}
	defer fn.Teardown()
	spec := partitionSpec{Topic: topic, Partition: 0, Start: 0, End: math.MaxInt64}
	we := fn.CreateWatermarkEstimator(fn.InitialWatermarkEstimatorState(0, fn.CreateInitialRestriction(spec), spec))
	ctx := context.Background()

	var got []Record
	emit := func(et beam.EventTime, r Record) {
		if et.Milliseconds() != r.Timestamp.UnixMilli() {
			t.Errorf("offset %d: event time %d, record timestamp %d", r.Offset, et.Milliseconds(), r.Timestamp.UnixMilli())
		}
		we.ObserveTimestamp(r.Timestamp) // what the SDK does on every emit
		got = append(got, r)
	}
	// call runs one ProcessElement on rest and returns the residual the SDK
	// would schedule (nil when the work is done).
	var remaining float64 // tracker progress just before the checkpoint split
	call := func(rest offsetrange.Restriction) (sdf.ProcessContinuation, *offsetrange.Restriction, *sdf.LockRTracker) {
		t.Helper()
		rt, err := fn.CreateTracker(rest)
		if err != nil {
			t.Fatal(err)
		}
		pc, err := fn.ProcessElement(ctx, we, rt, spec, emit)
		if err != nil {
			t.Fatal(err)
		}
		if !pc.ShouldResume() {
			if !rt.IsDone() {
				t.Fatalf("stopped with unfinished restriction %+v", rt.GetRestriction())
			}
			return pc, nil, rt
		}
		_, remaining = rt.GetProgress()
		_, residual, err := rt.TrySplit(0)
		if err != nil {
			t.Fatal(err)
		}
		r := residual.(offsetrange.Restriction)
		return pc, &r, rt
	}

	// A backlog of 10: the first call stops after MaxRecords and asks to be
	// resumed at once; the tracker already knows the high-water mark.
	pc, res, rt := call(fn.CreateInitialRestriction(spec))
	if len(got) != 4 || pc.ResumeDelay() != 0 || res == nil || res.Start != 4 || res.End != math.MaxInt64 {
		t.Fatalf("first call: %d records, continuation %+v, residual %+v", len(got), pc, res)
	}
	if remaining != 10-3 {
		// The growable tracker's end estimate is the high-water mark (10)
		// from the last fetch, without a broker round trip; 0..3 are claimed.
		t.Fatalf("remaining before checkpoint = %v, want 7", remaining)
	}
	if _, left := rt.GetProgress(); left != 0 {
		t.Fatalf("primary remaining after the checkpoint split = %v, want 0", left)
	}
	if w := we.CurrentWatermark(); !w.Equal(all[3].ts.Add(-time.Second)) {
		t.Fatalf("watermark after 4 records = %v, want %v", w, all[3].ts.Add(-time.Second))
	}

	// Each call commits the position it starts from (the checkpointed
	// restriction start) to the group.
	call(*res)
	if c := committedWithSarama(t, kafka.Addrs(), "g-contract", topic, []int32{0}); c[0] != 4 {
		t.Fatalf("committed offset after the second call = %d, want 4", c[0])
	}

	// Second call: 4 more; third call: the last 2 and caught up, so the
	// watermark of this (now idle) partition moves to the wall clock.
	// Caught up, it asks to be resumed after PollInterval, not at once: on
	// Flink an at-once resume keeps the watermark from ever leaving the
	// reader (ReadPollInterval).
	pc, res, _ = call(offsetrange.Restriction{Start: 8, End: math.MaxInt64})
	if len(got) != 10 || res == nil || res.Start != 10 || pc.ResumeDelay() != fn.PollInterval {
		t.Fatalf("after draining the backlog: %d records, residual %+v, resume in %v", len(got), res, pc.ResumeDelay())
	}
	for i, r := range got {
		if r.Offset != all[i].offset || string(r.Value) != all[i].val || !r.Timestamp.Equal(all[i].ts) {
			t.Fatalf("record %d = %+v, want %+v", i, r, all[i])
		}
	}
	if w := we.CurrentWatermark(); time.Since(w) > 2*time.Second {
		t.Fatalf("caught-up watermark %v is not near the wall clock", w)
	}

	// Nothing new: the call long-polls for PollWait and resumes.
	began := time.Now()
	pc, res, _ = call(*res)
	if took := time.Since(began); !pc.ShouldResume() || res.Start != 10 || took < 150*time.Millisecond || pc.ResumeDelay() != fn.PollInterval {
		t.Fatalf("idle call: continuation %+v residual %+v after %v, resume in %v", pc, res, took, pc.ResumeDelay())
	}

	// Bounded ranges (ReadBounded, or the primary of a runner split) stop
	// exactly at End, also when End is the start.
	got = nil
	for _, r := range []offsetrange.Restriction{{Start: 6, End: 9}, {Start: 10, End: 10}} {
		pc, res, _ := call(r)
		if pc.ShouldResume() || res != nil {
			t.Fatalf("bounded %+v: continuation %+v residual %+v", r, pc, res)
		}
	}
	if len(got) != 3 || got[0].Offset != 6 || got[2].Offset != 8 {
		t.Fatalf("bounded read got %+v", got)
	}
}

// TestReadFnSkipsDeletedOffsets: records deleted (by retention, here by
// DeleteRecords) before the reader got to them are skipped, counted, and
// claimed, so the restriction moves on instead of failing forever.
func TestReadFnSkipsDeletedOffsets(t *testing.T) {
	const topic = "posts"
	kafka := testenv.Kafka(t, 1, topic)
	all := produce(t, kafka.Addrs(), topic, []int32{0}, 10, time.Now().Add(-time.Hour))
	admin, err := sarama.NewClusterAdmin(kafka.Addrs(), kafkaconf.Consumer("kafkaio-test"))
	if err != nil {
		t.Fatal(err)
	}
	defer admin.Close()
	if err := admin.DeleteRecords(topic, map[int32]int64{0: 6}); err != nil {
		t.Fatal(err)
	}

	fn := &readFn{
		Brokers: kafka.Addrs(), ClientID: "kafkaio-test", MaxRecords: 100, MaxDuration: 10 * time.Second,
		PollWait: 50 * time.Millisecond, FetchBytes: DefaultFetchBytes, OutOfOrder: time.Second, FaultTimeout: time.Minute,
	}
	if err := fn.Setup(); err != nil {
		t.Fatal(err)
	}
	defer fn.Teardown()
	spec := partitionSpec{Topic: topic, Partition: 0, Start: 0, End: 10}
	rt, err := fn.CreateTracker(fn.CreateInitialRestriction(spec))
	if err != nil {
		t.Fatal(err)
	}
	we := fn.CreateWatermarkEstimator(initialWatermark)
	var got []int64
	pc, err := fn.ProcessElement(context.Background(), we, rt, spec, func(_ beam.EventTime, r Record) {
		got = append(got, r.Offset)
	})
	if err != nil {
		t.Fatal(err)
	}
	if pc.ShouldResume() || !rt.IsDone() {
		t.Fatalf("continuation %+v, tracker done %v", pc, rt.IsDone())
	}
	want := []int64{all[6].offset, all[7].offset, all[8].offset, all[9].offset}
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Fatalf("read offsets %v, want %v", got, want)
	}
}
