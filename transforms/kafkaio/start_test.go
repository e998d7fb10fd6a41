package kafkaio

import (
	"context"
	"errors"
	"flag"
	"io"
	"maps"
	"math"
	"testing"
	"time"

	"github.com/IBM/sarama"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kfake"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/trendstream/trendstream/internal/platform/kafkaconf"
	"github.com/trendstream/trendstream/internal/platform/kafkaoffsets"
	"github.com/trendstream/trendstream/internal/testenv"
)

func TestParseStart(t *testing.T) {
	at := time.Date(2026, 11, 27, 12, 30, 0, 0, time.UTC)
	tests := []struct {
		in      string
		want    Start
		wantErr bool
	}{
		{in: "committed", want: Start{Kind: StartCommitted}},
		{in: "", want: Start{Kind: StartCommitted}},
		{in: "EARLIEST", want: Start{Kind: StartEarliest}},
		{in: " latest ", want: Start{Kind: StartLatest}},
		{in: "2026-11-27T12:30:00Z", want: StartAt(at)},
		{in: "2026-11-27T13:30:00+01:00", want: StartAt(at)},
		{in: "yesterday", wantErr: true},
		{in: "2026-11-27", wantErr: true},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			got, err := ParseStart(tt.in)
			if (err != nil) != tt.wantErr {
				t.Fatalf("ParseStart(%q) error = %v, want error %v", tt.in, err, tt.wantErr)
			}
			if err != nil {
				return
			}
			if got.Kind != tt.want.Kind || !got.Time.Equal(tt.want.Time) {
				t.Fatalf("ParseStart(%q) = %+v, want %+v", tt.in, got, tt.want)
			}
			// String must round-trip through ParseStart.
			again, err := ParseStart(got.String())
			if err != nil || again.Kind != got.Kind || !again.Time.Equal(got.Time) {
				t.Fatalf("round trip of %q via %q = %+v, %v", tt.in, got.String(), again, err)
			}
		})
	}
}

func TestStartIsFlagValue(t *testing.T) {
	fs := flag.NewFlagSet("x", flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	s := Start{Kind: StartCommitted}
	fs.Var(&s, "start", "where to start")
	if err := fs.Parse([]string{"-start", "2026-01-02T03:04:05Z"}); err != nil {
		t.Fatal(err)
	}
	if s.Kind != StartAtTime || s.Time.Unix() != time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC).Unix() {
		t.Fatalf("got %+v", s)
	}
	if err := fs.Parse([]string{"-start", "bogus"}); err == nil {
		t.Fatal("bogus start accepted")
	}
}

func TestStartOffset(t *testing.T) {
	// A partition whose retained log is [100, 200).
	base := partitionOffsets{Earliest: 100, Latest: 200, Committed: -1, AtTime: -1}
	with := func(f func(*partitionOffsets)) partitionOffsets { o := base; f(&o); return o }
	at := StartAt(time.Unix(1, 0))
	tests := []struct {
		name  string
		start Start
		o     partitionOffsets
		want  int64
	}{
		{"earliest", Start{Kind: StartEarliest}, base, 100},
		{"latest", Start{Kind: StartLatest}, base, 200},
		{"committed inside the log", Start{Kind: StartCommitted}, with(func(o *partitionOffsets) { o.Committed = 150 }), 150},
		{"committed at the end", Start{Kind: StartCommitted}, with(func(o *partitionOffsets) { o.Committed = 200 }), 200},
		{"nothing committed falls back to earliest", Start{Kind: StartCommitted}, base, 100},
		{"commit deleted by retention falls back to earliest", Start{Kind: StartCommitted}, with(func(o *partitionOffsets) { o.Committed = 50 }), 100},
		{"commit beyond the log (topic recreated) falls back to earliest", Start{Kind: StartCommitted}, with(func(o *partitionOffsets) { o.Committed = 500 }), 100},
		{"time inside the log", at, with(func(o *partitionOffsets) { o.AtTime = 120 }), 120},
		{"time after every record starts at the end", at, base, 200},
		{"time before retention clamps to earliest", at, with(func(o *partitionOffsets) { o.AtTime = 10 }), 100},
		{"empty partition", Start{Kind: StartEarliest}, partitionOffsets{Earliest: 0, Latest: 0, Committed: -1, AtTime: -1}, 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := startOffset(tt.start, tt.o); got != tt.want {
				t.Fatalf("startOffset(%v, %+v) = %d, want %d", tt.start, tt.o, got, tt.want)
			}
		})
	}
}

func TestReadOptionsValidate(t *testing.T) {
	tests := []struct {
		name string
		opts []ReadOption
		ok   bool
	}{
		{"defaults", nil, true},
		{"committed without group", []ReadOption{ReadStart(Start{Kind: StartCommitted})}, false},
		{"committed with group", []ReadOption{ReadStart(Start{Kind: StartCommitted}), ReadGroup("g")}, true},
		{"time without time", []ReadOption{ReadStart(Start{Kind: StartAtTime})}, false},
		{"zero max records", []ReadOption{ReadMaxRecords(0)}, false},
		{"zero max duration", []ReadOption{ReadMaxDuration(0)}, false},
		{"negative out of order", []ReadOption{ReadOutOfOrder(-time.Second)}, false},
		{"zero fetch bytes", []ReadOption{ReadFetchBytes(0)}, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			o := defaultReadOptions()
			for _, opt := range tt.opts {
				opt(&o)
			}
			if err := o.validate(); (err == nil) != tt.ok {
				t.Fatalf("validate() = %v, want ok %v", err, tt.ok)
			}
		})
	}
}

// TestListPartitionsResolvesStart asks a broker (kfake and a real one) for
// the offsets each start position needs and checks the resolved ranges: the
// log start after records were deleted (as retention does), the high-water
// mark, a group's commits including one that points at deleted records,
// and ListOffsets by timestamp, before, inside and after the data.
func TestListPartitionsResolvesStart(t *testing.T) {
	testenv.ForEachKafka(t, func(t *testing.T, kind testenv.KafkaKind) {
		topic := testenv.Topic(t, "posts")
		kafka := kind.New(t, 2, topic)
		brokers := kafka.Addrs()
		base := time.Date(2025, 3, 1, 12, 0, 0, 0, time.UTC)
		// Partition p's record i has timestamp base + i s + p ms.
		produce(t, brokers, topic, []int32{0, 1}, 10, base)
		admin, err := sarama.NewClusterAdmin(brokers, kafkaconf.Consumer("kafkaio-test"))
		if err != nil {
			t.Fatal(err)
		}
		defer admin.Close()
		if err := admin.DeleteRecords(topic, map[int32]int64{0: 4}); err != nil {
			t.Fatalf("delete records: %v", err)
		}
		group := testenv.Topic(t, "group")
		commitBefore(t, brokers, group, topic, map[int32]int64{0: 2, 1: 6})

		const open = math.MaxInt64
		tests := []struct {
			name    string
			start   Start
			group   string
			bounded bool
			want    map[int32][2]int64 // partition: start, end
		}{
			{"earliest, bounded", Start{Kind: StartEarliest}, "", true, map[int32][2]int64{0: {4, 10}, 1: {0, 10}}},
			{"earliest, unbounded", Start{Kind: StartEarliest}, "", false, map[int32][2]int64{0: {4, open}, 1: {0, open}}},
			{"latest", Start{Kind: StartLatest}, "", true, map[int32][2]int64{0: {10, 10}, 1: {10, 10}}},
			{"committed, one commit deleted", Start{Kind: StartCommitted}, group, true, map[int32][2]int64{0: {4, 10}, 1: {6, 10}}},
			{"committed, no commits", Start{Kind: StartCommitted}, group + "-none", true, map[int32][2]int64{0: {4, 10}, 1: {0, 10}}},
			{"time inside", StartAt(base.Add(7 * time.Second)), "", true, map[int32][2]int64{0: {7, 10}, 1: {7, 10}}},
			{"time before the log", StartAt(base.Add(-time.Hour)), "", true, map[int32][2]int64{0: {4, 10}, 1: {0, 10}}},
			{"time after the log", StartAt(base.Add(time.Hour)), "", true, map[int32][2]int64{0: {10, 10}, 1: {10, 10}}},
		}
		for _, tt := range tests {
			t.Run(tt.name, func(t *testing.T) {
				fn := &listPartitionsFn{Brokers: brokers, Topic: topic, Group: tt.group, ClientID: "kafkaio-test", Start: tt.start, Bounded: tt.bounded}
				got := map[int32][2]int64{}
				err := fn.ProcessElement(context.Background(), nil, func(s partitionSpec) {
					if s.Topic != topic {
						t.Errorf("spec for topic %q", s.Topic)
					}
					got[s.Partition] = [2]int64{s.Start, s.End}
				})
				if err != nil {
					t.Fatal(err)
				}
				if !maps.Equal(got, tt.want) {
					t.Errorf("ranges = %v, want %v", got, tt.want)
				}
			})
		}
	})
}

// TestCommittedOffsetsAfterRestart resolves a committed start right after
// the broker restarted, when a real coordinator is reloading its offsets
// partition, and (kfake) while the coordinator answers
// COORDINATOR_LOAD_IN_PROGRESS once: the group's commits must be found, not
// read as "nothing committed", which would silently restart the group from
// the earliest offsets.
func TestCommittedOffsetsAfterRestart(t *testing.T) {
	testenv.ForEachKafka(t, func(t *testing.T, kind testenv.KafkaKind) {
		topic, group := testenv.Topic(t, "posts"), testenv.Topic(t, "group")
		kafka := kind.New(t, 2, topic)
		brokers := kafka.Addrs()
		produce(t, brokers, topic, []int32{0, 1}, 10, time.Date(2025, 3, 1, 12, 0, 0, 0, time.UTC))
		commitBefore(t, brokers, group, topic, map[int32]int64{0: 3, 1: 8})
		kafka.Stop()
		kafka.Start()
		if f, ok := kafka.(*testenv.FakeKafkaCluster); ok {
			injected := false
			kc := f.Kfake()
			kc.ControlKey(int16(kmsg.OffsetFetch), func(req kmsg.Request) (kmsg.Response, error, bool) {
				injected = true
				resp := req.ResponseKind().(*kmsg.OffsetFetchResponse)
				resp.Version = req.GetVersion()
				if resp.Version >= 8 {
					g := kmsg.NewOffsetFetchResponseGroup()
					g.Group, g.ErrorCode = group, kerr.CoordinatorLoadInProgress.Code
					resp.Groups = append(resp.Groups, g)
				} else {
					resp.ErrorCode = kerr.CoordinatorLoadInProgress.Code
				}
				return resp, nil, true
			})
			defer func() {
				if !injected {
					t.Error("no OffsetFetch request reached the broker")
				}
			}()
		}
		fn := &listPartitionsFn{Brokers: brokers, Topic: topic, Group: group, ClientID: "kafkaio-test", Start: Start{Kind: StartCommitted}, Bounded: true}
		got := map[int32][2]int64{}
		if err := fn.ProcessElement(context.Background(), nil, func(s partitionSpec) { got[s.Partition] = [2]int64{s.Start, s.End} }); err != nil {
			t.Fatal(err)
		}
		if want := map[int32][2]int64{0: {3, 10}, 1: {8, 10}}; !maps.Equal(got, want) {
			t.Errorf("ranges after the restart = %v, want %v (the group's commits)", got, want)
		}
	})
}

// TestCommittedStartUnderCoordinatorErrors resolves a committed start
// through the pipeline's real start path (listPartitionsFn) while kfake
// answers transient errors: a few are retried and every partition starts at
// the group's commit; a coordinator that stays unable to answer fails the
// start loudly, with no partition emitted, so nothing can restart from the
// earliest offsets.
func TestCommittedStartUnderCoordinatorErrors(t *testing.T) {
	commits := map[int32][2]int64{0: {3, 10}, 1: {8, 10}}
	tests := []struct {
		name    string
		key     kmsg.Key
		fault   kfake.Fault // Keys, Group and Topic are filled in
		want    map[int32][2]int64
		wantErr error // instead of want
	}{
		{name: "coordinator loading, 4 times", key: kmsg.OffsetFetch,
			fault: kfake.Fault{Err: kerr.CoordinatorLoadInProgress, Count: 4}, want: commits},
		{name: "coordinator moved, 4 times", key: kmsg.OffsetFetch,
			fault: kfake.Fault{Err: kerr.NotCoordinator, Count: 4}, want: commits},
		{name: "leader moved while listing offsets, 3 times", key: kmsg.ListOffsets,
			fault: kfake.Fault{Err: kerr.NotLeaderForPartition, Partitions: []int32{0}, Count: 3}, want: commits},
		{name: "coordinator loading persists", key: kmsg.OffsetFetch,
			fault: kfake.Fault{Err: kerr.CoordinatorLoadInProgress, Count: -1}, wantErr: sarama.ErrOffsetsLoadInProgress},
		{name: "coordinator moved persists", key: kmsg.OffsetFetch,
			fault: kfake.Fault{Err: kerr.NotCoordinator, Count: -1}, wantErr: sarama.ErrNotCoordinatorForConsumer},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			topic, group := testenv.Topic(t, "posts"), testenv.Topic(t, "group")
			kafka := testenv.FakeKafka(t, 2, topic)
			brokers := kafka.Addrs()
			produce(t, brokers, topic, []int32{0, 1}, 10, time.Date(2025, 3, 1, 12, 0, 0, 0, time.UTC))
			commitBefore(t, brokers, group, topic, map[int32]int64{0: 3, 1: 8})
			f := tt.fault
			f.Keys = []kmsg.Key{tt.key}
			if tt.key == kmsg.ListOffsets {
				f.Topic = topic
			} else {
				f.Group = group
			}
			h := kafka.Kfake().Fault(f)
			defer h.Remove()

			// A persisting error ends with ctx, before kafkaoffsets.Budget.
			ctx, cancel := context.WithTimeout(context.Background(), 3*time.Second)
			defer cancel()
			fn := &listPartitionsFn{Brokers: brokers, Topic: topic, Group: group, ClientID: "kafkaio-test", Start: Start{Kind: StartCommitted}, Bounded: true}
			got := map[int32][2]int64{}
			err := fn.ProcessElement(ctx, nil, func(s partitionSpec) { got[s.Partition] = [2]int64{s.Start, s.End} })
			t.Logf("the fault answered %d requests; err: %v", h.Hits(), err)
			if tt.wantErr != nil {
				if !errors.Is(err, tt.wantErr) || !errors.Is(err, kafkaoffsets.ErrRetriesExhausted) {
					t.Fatalf("start error %v, want %v after exhausted retries", err, tt.wantErr)
				}
				if len(got) > 0 {
					t.Errorf("a failed start emitted partitions %v", got)
				}
				if h.Hits() < 3 {
					t.Errorf("the fault answered %d requests: the error was not retried", h.Hits())
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if !maps.Equal(got, tt.want) {
				t.Errorf("ranges = %v, want %v (the group's commits)", got, tt.want)
			}
			if n := tt.fault.Count; h.Hits() != n {
				t.Errorf("the fault answered %d requests, want %d", h.Hits(), n)
			}
		})
	}
}
