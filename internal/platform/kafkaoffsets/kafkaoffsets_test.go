package kafkaoffsets_test

import (
	"context"
	"errors"
	"fmt"
	"maps"
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

func TestMain(m *testing.M) { testenv.Main(m) }

var base = time.Date(2025, 3, 1, 12, 0, 0, 0, time.UTC)

// newClient connects like trendstream's readers do; topics are never
// auto-created, so an unknown topic stays unknown on the real broker too.
func newClient(t *testing.T, brokers []string) sarama.Client {
	t.Helper()
	cfg := kafkaconf.Consumer("kafkaoffsets-test")
	cfg.Metadata.AllowAutoTopicCreation = false
	c, err := sarama.NewClient(brokers, cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = c.Close() })
	return c
}

// produce writes n records to each partition; record i of partition p has
// timestamp base + i s + p ms.
func produce(t *testing.T, brokers []string, topic string, parts []int32, n int) {
	t.Helper()
	cfg := kafkaconf.Producer("kafkaoffsets-test")
	cfg.Producer.Partitioner = sarama.NewManualPartitioner
	prod, err := sarama.NewSyncProducer(brokers, cfg)
	if err != nil {
		t.Fatal(err)
	}
	defer prod.Close()
	var msgs []*sarama.ProducerMessage
	for _, p := range parts {
		for i := range n {
			msgs = append(msgs, &sarama.ProducerMessage{
				Topic: topic, Partition: p, Value: sarama.StringEncoder(fmt.Sprint(i)),
				Timestamp: base.Add(time.Duration(i)*time.Second + time.Duration(p)*time.Millisecond),
			})
		}
	}
	if err := prod.SendMessages(msgs); err != nil {
		t.Fatal(err)
	}
}

// TestListOffsets asks a broker (kfake and a real one) for the earliest,
// end and at-time offsets of a topic whose partition 0 lost its first
// records (DeleteRecords, as retention does), and of an empty topic.
func TestListOffsets(t *testing.T) {
	testenv.ForEachKafka(t, func(t *testing.T, kind testenv.KafkaKind) {
		topic, empty := testenv.Topic(t, "posts"), testenv.Topic(t, "empty")
		k := kind.New(t, 2, topic, empty)
		produce(t, k.Addrs(), topic, []int32{0, 1}, 10)
		admin, err := sarama.NewClusterAdmin(k.Addrs(), kafkaconf.Consumer("kafkaoffsets-test"))
		if err != nil {
			t.Fatal(err)
		}
		defer admin.Close()
		if err := admin.DeleteRecords(topic, map[int32]int64{0: 4}); err != nil {
			t.Fatal(err)
		}
		client := newClient(t, k.Addrs())
		ctx := context.Background()
		tests := []struct {
			name  string
			topic string
			get   func(ctx context.Context, c sarama.Client, topic string) (map[int32]int64, error)
			want  map[int32]int64
		}{
			{"end", topic, kafkaoffsets.End, map[int32]int64{0: 10, 1: 10}},
			{"earliest after deleted records", topic, kafkaoffsets.Earliest, map[int32]int64{0: 4, 1: 0}},
			{"at a time inside the log", topic, atTime(base.Add(7 * time.Second)), map[int32]int64{0: 7, 1: 7}},
			{"at a time between two records", topic, atTime(base.Add(6500 * time.Millisecond)), map[int32]int64{0: 7, 1: 7}},
			{"at a time before the log", topic, atTime(base.Add(-time.Hour)), map[int32]int64{0: 4, 1: 0}},
			{"at a time after the log", topic, atTime(base.Add(time.Hour)), map[int32]int64{0: -1, 1: -1}},
			{"end of an empty topic", empty, kafkaoffsets.End, map[int32]int64{0: 0, 1: 0}},
			{"earliest of an empty topic", empty, kafkaoffsets.Earliest, map[int32]int64{0: 0, 1: 0}},
			{"at a time in an empty topic", empty, atTime(base), map[int32]int64{0: -1, 1: -1}},
		}
		for _, tt := range tests {
			t.Run(tt.name, func(t *testing.T) {
				got, err := tt.get(ctx, client, tt.topic)
				if err != nil {
					t.Fatal(err)
				}
				if !maps.Equal(got, tt.want) {
					t.Errorf("got %v, want %v", got, tt.want)
				}
			})
		}
	})
}

func atTime(at time.Time) func(context.Context, sarama.Client, string) (map[int32]int64, error) {
	return func(ctx context.Context, c sarama.Client, topic string) (map[int32]int64, error) {
		return kafkaoffsets.AtTime(ctx, c, topic, at)
	}
}

// TestUnknownTopicFailsAtOnce: a topic the cluster does not know is fatal
// (a misspelt topic), not a transient error retried for the whole budget.
func TestUnknownTopicFailsAtOnce(t *testing.T) {
	testenv.ForEachKafka(t, func(t *testing.T, kind testenv.KafkaKind) {
		k := kind.New(t, 1)
		client := newClient(t, k.Addrs())
		began := time.Now()
		_, err := kafkaoffsets.End(context.Background(), client, testenv.Topic(t, "missing"))
		if !errors.Is(err, sarama.ErrUnknownTopicOrPartition) || errors.Is(err, kafkaoffsets.ErrRetriesExhausted) {
			t.Fatalf("End of a missing topic: %v; want UNKNOWN_TOPIC_OR_PARTITION, not retried", err)
		}
		if d := time.Since(began); d > kafkaoffsets.Budget/3 {
			t.Errorf("End of a missing topic took %v to fail", d)
		}
	})
}

// TestCommitted commits with Commit and reads back with Committed on kfake
// and a real broker, cross-checking with sarama's admin API: partitions
// without a commit and unknown groups are absent (an explicit -1 or
// GROUP_ID_NOT_FOUND from the coordinator), never errors.
func TestCommitted(t *testing.T) {
	testenv.ForEachKafka(t, func(t *testing.T, kind testenv.KafkaKind) {
		topic := testenv.Topic(t, "posts")
		k := kind.New(t, 2, topic)
		produce(t, k.Addrs(), topic, []int32{0, 1}, 10)
		client := newClient(t, k.Addrs())
		ctx := context.Background()
		tests := []struct {
			name    string
			commits []map[int32]int64 // in order
			want    map[int32]int64
		}{
			{"both partitions", []map[int32]int64{{0: 3, 1: 8}}, map[int32]int64{0: 3, 1: 8}},
			{"one partition: the other has none", []map[int32]int64{{1: 5}}, map[int32]int64{1: 5}},
			{"a later commit wins", []map[int32]int64{{0: 3, 1: 8}, {0: 6}}, map[int32]int64{0: 6, 1: 8}},
			{"commit at the end", []map[int32]int64{{0: 10, 1: 10}}, map[int32]int64{0: 10, 1: 10}},
			{"group never committed", nil, map[int32]int64{}},
		}
		for _, tt := range tests {
			t.Run(tt.name, func(t *testing.T) {
				group := testenv.Topic(t, "group")
				for _, c := range tt.commits {
					if err := kafkaoffsets.Commit(ctx, client, group, topic, c); err != nil {
						t.Fatal(err)
					}
				}
				got, err := kafkaoffsets.Committed(ctx, client, group, topic, []int32{0, 1})
				if err != nil {
					t.Fatal(err)
				}
				if !maps.Equal(got, tt.want) {
					t.Errorf("Committed = %v, want %v", got, tt.want)
				}
				if len(tt.commits) > 0 {
					if viaAdmin := committedWithAdmin(t, k.Addrs(), group, topic); !maps.Equal(viaAdmin, tt.want) {
						t.Errorf("sarama's admin API sees %v, want %v", viaAdmin, tt.want)
					}
				}
			})
		}
	})
}

func committedWithAdmin(t *testing.T, brokers []string, group, topic string) map[int32]int64 {
	t.Helper()
	admin, err := sarama.NewClusterAdmin(brokers, kafkaconf.Consumer("kafkaoffsets-test"))
	if err != nil {
		t.Fatal(err)
	}
	defer admin.Close()
	resp, err := admin.ListConsumerGroupOffsets(group, map[string][]int32{topic: {0, 1}})
	if err != nil {
		t.Fatal(err)
	}
	out := map[int32]int64{}
	for _, p := range []int32{0, 1} {
		if b := resp.GetBlock(topic, p); b != nil && b.Offset >= 0 {
			out[p] = b.Offset
		}
	}
	return out
}

// TestErrorPolicy injects broker errors with kfake's faults (a real broker
// cannot be made to answer them on demand) and checks each side of the
// policy: transient errors are retried, with the right answer in the end;
// a transient error that persists fails loudly once ctx ends (never "nothing
// committed"); a fatal error is returned after one attempt.
func TestErrorPolicy(t *testing.T) {
	const persist = -1
	type op int
	const (
		committed op = iota
		commit
		end
	)
	tests := []struct {
		name      string
		op        op
		fault     kfake.Fault // Keys and Group/Topic are filled in
		key       kmsg.Key
		wantErr   error // nil: success with the committed/end offsets
		exhausted bool  // the error must say the retries ran out
		wantHits  int   // requests the fault answered; 0 means at least 3
	}{
		{name: "offset fetch: coordinator loading, 3 times", op: committed, key: kmsg.OffsetFetch,
			fault: kfake.Fault{Err: kerr.CoordinatorLoadInProgress, Count: 3}, wantHits: 3},
		{name: "offset fetch: coordinator moved, 3 times", op: committed, key: kmsg.OffsetFetch,
			fault: kfake.Fault{Err: kerr.NotCoordinator, Count: 3}, wantHits: 3},
		{name: "offset fetch: coordinator not available, 2 times", op: committed, key: kmsg.OffsetFetch,
			fault: kfake.Fault{Err: kerr.CoordinatorNotAvailable, Count: 2}, wantHits: 2},
		{name: "offset fetch: one partition's commit unstable, 2 times", op: committed, key: kmsg.OffsetFetch,
			fault: kfake.Fault{Err: kerr.UnstableOffsetCommit, Partitions: []int32{1}, Count: 2}, wantHits: 2},
		{name: "offset fetch: coordinator loading persists", op: committed, key: kmsg.OffsetFetch,
			fault: kfake.Fault{Err: kerr.CoordinatorLoadInProgress, Count: persist}, wantErr: sarama.ErrOffsetsLoadInProgress, exhausted: true},
		{name: "offset fetch: not authorized is fatal", op: committed, key: kmsg.OffsetFetch,
			fault: kfake.Fault{Err: kerr.GroupAuthorizationFailed, Count: persist}, wantErr: sarama.ErrGroupAuthorizationFailed, wantHits: 1},
		{name: "commit: coordinator loading, 3 times", op: commit, key: kmsg.OffsetCommit,
			fault: kfake.Fault{Err: kerr.CoordinatorLoadInProgress, Count: 3}, wantHits: 3},
		{name: "commit: coordinator moved persists", op: commit, key: kmsg.OffsetCommit,
			fault: kfake.Fault{Err: kerr.NotCoordinator, Count: persist}, wantErr: sarama.ErrNotCoordinatorForConsumer, exhausted: true},
		{name: "list offsets: leader moved on one partition, 3 times", op: end, key: kmsg.ListOffsets,
			fault: kfake.Fault{Err: kerr.NotLeaderForPartition, Partitions: []int32{1}, Count: 3}, wantHits: 3},
		{name: "list offsets: offset not available, 2 times", op: end, key: kmsg.ListOffsets,
			fault: kfake.Fault{Err: kerr.OffsetNotAvailable, Partitions: []int32{0}, Count: 2}, wantHits: 2},
		{name: "list offsets: leader not available persists", op: end, key: kmsg.ListOffsets,
			fault: kfake.Fault{Err: kerr.LeaderNotAvailable, Partitions: []int32{0}, Count: persist}, wantErr: sarama.ErrLeaderNotAvailable, exhausted: true},
		{name: "list offsets: not authorized is fatal", op: end, key: kmsg.ListOffsets,
			fault: kfake.Fault{Err: kerr.TopicAuthorizationFailed, Count: persist}, wantErr: sarama.ErrTopicAuthorizationFailed, wantHits: 1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			topic, group := testenv.Topic(t, "posts"), testenv.Topic(t, "group")
			k := testenv.FakeKafka(t, 2, topic)
			produce(t, k.Addrs(), topic, []int32{0, 1}, 10)
			client := newClient(t, k.Addrs())
			commits := map[int32]int64{0: 3, 1: 8}
			if tt.op != commit {
				if err := kafkaoffsets.Commit(context.Background(), client, group, topic, commits); err != nil {
					t.Fatal(err)
				}
			}
			f := tt.fault
			f.Keys = []kmsg.Key{tt.key}
			if tt.key == kmsg.ListOffsets {
				f.Topic = topic
			} else {
				f.Group = group
			}
			h := k.Kfake().Fault(f)
			defer h.Remove()

			// Persisting errors end with ctx, well before the policy's own budget.
			ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
			defer cancel()
			var got, want map[int32]int64
			var err error
			switch tt.op {
			case committed:
				got, err = kafkaoffsets.Committed(ctx, client, group, topic, []int32{0, 1})
				want = commits
			case commit:
				if err = kafkaoffsets.Commit(ctx, client, group, topic, commits); err == nil {
					h.Remove()
					got, err = kafkaoffsets.Committed(context.Background(), client, group, topic, []int32{0, 1})
				}
				want = commits
			case end:
				got, err = kafkaoffsets.End(ctx, client, topic)
				want = map[int32]int64{0: 10, 1: 10}
			}
			t.Logf("fault answered %d requests; err: %v", h.Hits(), err)
			if tt.wantErr == nil {
				if err != nil {
					t.Fatal(err)
				}
				if !maps.Equal(got, want) {
					t.Errorf("got %v, want %v", got, want)
				}
			} else {
				if !errors.Is(err, tt.wantErr) {
					t.Fatalf("error %v, want %v", err, tt.wantErr)
				}
				if errors.Is(err, kafkaoffsets.ErrRetriesExhausted) != tt.exhausted {
					t.Errorf("error %v: wraps ErrRetriesExhausted = %v, want %v", err, !tt.exhausted, tt.exhausted)
				}
				if got != nil {
					t.Errorf("an error came with offsets %v", got)
				}
			}
			switch hits := h.Hits(); {
			case tt.wantHits > 0 && hits != tt.wantHits:
				t.Errorf("the fault answered %d requests, want %d", hits, tt.wantHits)
			case tt.wantHits == 0 && hits < 3:
				t.Errorf("the fault answered %d requests: a persisting transient error was not retried", hits)
			}
		})
	}
}
