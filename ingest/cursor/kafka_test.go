package cursor_test

import (
	"context"
	"errors"
	"os"
	"testing"
	"time"

	"github.com/IBM/sarama"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kfake"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/trendstream/trendstream/ingest/cursor"
	"github.com/trendstream/trendstream/internal/platform/kafkaconf"
	"github.com/trendstream/trendstream/internal/platform/kafkaoffsets"
	"github.com/trendstream/trendstream/internal/testenv"
)

func TestMain(m *testing.M) { os.Exit(testenv.RunWithRealKafka(m.Run)) }

// TestKafkaStore keeps cursors in a compacted topic it creates itself, on
// kfake and on a real broker: the newest position per key wins, keys are
// independent, a tombstone clears, and a new store (a restarted ingest)
// reads what the old one saved.
func TestKafkaStore(t *testing.T) {
	testenv.ForEachKafka(t, func(t *testing.T, kind testenv.KafkaKind) {
		k := kind.New(t, 1)
		topic := testenv.Topic(t, "cursors")
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		defer cancel()

		a := cursor.NewKafkaStore(k.Addrs(), topic, "firehose:wss://relay-a")
		defer a.Close()
		if pos, ok, err := a.Load(ctx); err != nil || ok {
			t.Fatalf("fresh store: Load = %d,%v,%v; want nothing stored", pos, ok, err)
		}
		assertCompacted(t, k.Addrs(), topic)
		b := cursor.NewKafkaStore(k.Addrs(), topic, "jetstream:wss://jet-b")
		defer b.Close()
		for _, p := range []int64{10, 250, 31527015322} {
			if err := a.Save(ctx, p); err != nil {
				t.Fatal(err)
			}
		}
		if err := b.Save(ctx, 7); err != nil {
			t.Fatal(err)
		}
		// A new store for the same key reads the newest position.
		a2 := cursor.NewKafkaStore(k.Addrs(), topic, a.Key())
		defer a2.Close()
		if pos, ok, err := a2.Load(ctx); err != nil || !ok || pos != 31527015322 {
			t.Fatalf("Load = %d,%v,%v; want 31527015322", pos, ok, err)
		}
		if pos, ok, err := b.Load(ctx); err != nil || !ok || pos != 7 {
			t.Fatalf("other key: Load = %d,%v,%v; want 7", pos, ok, err)
		}
		if err := a.Clear(ctx); err != nil {
			t.Fatal(err)
		}
		if pos, ok, err := a2.Load(ctx); err != nil || ok {
			t.Fatalf("after Clear: Load = %d,%v,%v; want nothing stored", pos, ok, err)
		}
		if pos, ok, err := b.Load(ctx); err != nil || !ok || pos != 7 {
			t.Fatalf("Clear touched another key: Load = %d,%v,%v; want 7", pos, ok, err)
		}
	})
}

// TestKafkaStoreOutage: with Kafka down, Save fails within its retry budget
// instead of hanging, and once Kafka is back (same address, its data kept)
// the same store saves again and the last position saved before the outage
// was not lost.
func TestKafkaStoreOutage(t *testing.T) {
	testenv.ForEachKafka(t, func(t *testing.T, kind testenv.KafkaKind) {
		k := kind.New(t, 1)
		topic := testenv.Topic(t, "cursors")
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
		defer cancel()
		s := cursor.NewKafkaStore(k.Addrs(), topic, "firehose:wss://relay")
		defer s.Close()
		if _, _, err := s.Load(ctx); err != nil {
			t.Fatal(err)
		}
		if err := s.Save(ctx, 100); err != nil {
			t.Fatal(err)
		}

		k.Stop()
		t0 := time.Now()
		if err := s.Save(ctx, 200); err == nil {
			t.Fatal("Save succeeded with Kafka down")
		} else {
			t.Logf("Save with Kafka down failed after %v: %v", time.Since(t0).Round(time.Millisecond), err)
		}
		if d := time.Since(t0); d > 30*time.Second {
			t.Errorf("Save took %v to fail with Kafka down", d)
		}
		k.Start()

		if pos, ok, err := cursor.NewKafkaStore(k.Addrs(), topic, s.Key()).Load(ctx); err != nil || !ok || pos != 100 {
			t.Fatalf("after the outage: Load = %d,%v,%v; want 100 (saved before it)", pos, ok, err)
		}
		// The store drops its failed producer and saves on a new one.
		var err error
		for range 20 {
			if err = s.Save(ctx, 300); err == nil {
				break
			}
			time.Sleep(500 * time.Millisecond)
		}
		if err != nil {
			t.Fatalf("Save after Kafka came back: %v", err)
		}
		if pos, ok, err := s.Load(ctx); err != nil || !ok || pos != 300 {
			t.Fatalf("Load = %d,%v,%v; want 300", pos, ok, err)
		}
	})
}

// assertCompacted checks the store created its topic with one partition and
// cleanup.policy=compact: only the newest cursor per key must survive.
func assertCompacted(t *testing.T, brokers []string, topic string) {
	t.Helper()
	admin, err := sarama.NewClusterAdmin(brokers, kafkaconf.Consumer("cursor-test"))
	if err != nil {
		t.Fatal(err)
	}
	defer admin.Close()
	meta, err := admin.DescribeTopics([]string{topic})
	if err != nil || len(meta) != 1 || meta[0].Err != sarama.ErrNoError {
		t.Fatalf("describe %s: %v %+v", topic, err, meta)
	}
	if n := len(meta[0].Partitions); n != 1 {
		t.Errorf("cursor topic has %d partitions, want 1", n)
	}
	res, err := admin.DescribeConfigs([]*sarama.ConfigResource{{Type: sarama.TopicResource, Name: topic}}, sarama.DescribeConfigsOptions{})
	if err != nil || len(res) != 1 {
		t.Fatalf("describe configs of %s: %v", topic, err)
	}
	for _, e := range res[0].Configs {
		if e.Name == "cleanup.policy" && e.Value != "compact" {
			t.Errorf("cursor topic cleanup.policy = %q, want compact", e.Value)
		}
	}
}

// TestKafkaStoreLoadUnderBrokerErrors: Load reads the cursor topic's offsets
// under kafkaoffsets' error policy (kfake injects the errors). A leader
// election that ends is retried and the stored position found; one that
// does not fails the Load, which the ingest retries, instead of reading as
// "nothing stored", which would resume at the live tip and skip the outage.
func TestKafkaStoreLoadUnderBrokerErrors(t *testing.T) {
	tests := []struct {
		name    string
		count   int // requests answered with LEADER_NOT_AVAILABLE; -1: all
		wantErr bool
	}{
		{name: "leader election, 3 requests", count: 3},
		{name: "leader election that does not end", count: -1, wantErr: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			k := testenv.FakeKafka(t, 1)
			topic := testenv.Topic(t, "cursors")
			ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
			defer cancel()
			s := cursor.NewKafkaStore(k.Addrs(), topic, "firehose:wss://relay")
			defer s.Close()
			if _, _, err := s.Load(ctx); err != nil { // creates the topic
				t.Fatal(err)
			}
			if err := s.Save(ctx, 42); err != nil {
				t.Fatal(err)
			}
			h := k.Kfake().Fault(kfake.Fault{Keys: []kmsg.Key{kmsg.ListOffsets}, Topic: topic, Err: kerr.LeaderNotAvailable, Count: tt.count})
			defer h.Remove()
			lctx, lcancel := context.WithTimeout(ctx, 3*time.Second)
			defer lcancel()
			pos, ok, err := cursor.NewKafkaStore(k.Addrs(), topic, s.Key()).Load(lctx)
			t.Logf("the fault answered %d requests; Load = %d, %v, %v", h.Hits(), pos, ok, err)
			if tt.wantErr {
				if !errors.Is(err, sarama.ErrLeaderNotAvailable) || !errors.Is(err, kafkaoffsets.ErrRetriesExhausted) {
					t.Fatalf("Load = %d, %v, %v; want LEADER_NOT_AVAILABLE after exhausted retries", pos, ok, err)
				}
				return
			}
			if err != nil || !ok || pos != 42 {
				t.Fatalf("Load = %d, %v, %v; want 42", pos, ok, err)
			}
			if h.Hits() != tt.count {
				t.Errorf("the fault answered %d requests, want %d", h.Hits(), tt.count)
			}
		})
	}
}
