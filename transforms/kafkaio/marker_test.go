package kafkaio

import (
	"context"
	"errors"
	"math"
	"strings"
	"testing"
	"time"

	"github.com/IBM/sarama"
	"github.com/apache/beam/sdks/v2/go/pkg/beam"
	"github.com/apache/beam/sdks/v2/go/pkg/beam/core/sdf"
	"github.com/apache/beam/sdks/v2/go/pkg/beam/io/rtrackers/offsetrange"

	"github.com/trendstream/trendstream/internal/core/watermark"
	"github.com/trendstream/trendstream/internal/platform/kafkaconf"
	"github.com/trendstream/trendstream/internal/testenv"
)

// sendAll writes msgs to partition 0 of topic in order.
func sendAll(t *testing.T, brokers []string, msgs []*sarama.ProducerMessage) {
	t.Helper()
	cfg := kafkaconf.Producer("kafkaio-test")
	cfg.Producer.Partitioner = sarama.NewManualPartitioner
	prod, err := sarama.NewSyncProducer(brokers, cfg)
	if err != nil {
		t.Fatal(err)
	}
	defer prod.Close()
	for _, m := range msgs {
		if _, _, err := prod.SendMessage(m); err != nil {
			t.Fatal(err)
		}
	}
}

func post(topic, v string, ts time.Time) *sarama.ProducerMessage {
	return &sarama.ProducerMessage{Topic: topic, Value: sarama.StringEncoder(v), Timestamp: ts}
}

func marker(topic string, ts time.Time) *sarama.ProducerMessage {
	return &sarama.ProducerMessage{Topic: topic, Timestamp: ts,
		Headers: []sarama.RecordHeader{{Key: []byte(watermark.Header), Value: []byte("test")}}}
}

// TestReadFnFollowsSourceWatermark: markers are not emitted, advance the
// watermark as far as they say (minus the out-of-order bound), and only
// once every record before them was handed on; under IdleSourceWatermark a
// caught-up partition does not run ahead to the wall clock, under
// IdleWallClock it does.
func TestReadFnFollowsSourceWatermark(t *testing.T) {
	testenv.ForEachKafka(t, func(t *testing.T, kind testenv.KafkaKind) {
		const topic = "posts"
		kafka := kind.New(t, 1, topic)
		base := time.Now().Add(-time.Hour).Truncate(time.Millisecond)
		sendAll(t, kafka.Addrs(), []*sarama.ProducerMessage{
			post(topic, "a", base), post(topic, "b", base.Add(time.Second)),
			marker(topic, base.Add(10*time.Second)),
			post(topic, "c", base.Add(2*time.Second)),
			marker(topic, base.Add(20*time.Second)),
		})
		for _, tt := range []struct {
			policy IdlePolicy
			// after the first call (cut after 2 records) and when caught up
			wantCut, wantEnd func() time.Time
		}{
			{IdleSourceWatermark,
				func() time.Time { return base },
				func() time.Time { return base.Add(20*time.Second - time.Second) }},
			{IdleWallClock,
				func() time.Time { return base },
				func() time.Time { return time.Now().Add(-time.Second) }},
		} {
			t.Run(tt.policy.String(), func(t *testing.T) {
				fn := &readFn{
					Brokers: kafka.Addrs(), ClientID: "kafkaio-test", MaxRecords: 2, MaxDuration: 10 * time.Second,
					PollWait: 50 * time.Millisecond, FetchBytes: DefaultFetchBytes, OutOfOrder: time.Second,
					Idle: tt.policy, FaultTimeout: time.Minute,
				}
				if err := fn.Setup(); err != nil {
					t.Fatal(err)
				}
				defer fn.Teardown()
				spec := partitionSpec{Topic: topic, Start: 0, End: math.MaxInt64}
				we := fn.CreateWatermarkEstimator(initialWatermark)
				var got []string
				emit := func(_ beam.EventTime, r Record) {
					we.ObserveTimestamp(r.Timestamp)
					got = append(got, string(r.Value))
				}
				rest := fn.CreateInitialRestriction(spec)
				for call := 1; call <= 3; call++ {
					rt, err := fn.CreateTracker(rest)
					if err != nil {
						t.Fatal(err)
					}
					if _, err := fn.ProcessElement(context.Background(), we, rt, spec, emit); err != nil {
						t.Fatal(err)
					}
					_, residual, err := rt.TrySplit(0)
					if err != nil {
						t.Fatal(err)
					}
					rest = residual.(offsetrange.Restriction)
					if call == 1 {
						// The marker at offset 2 is past the cut: "c", older
						// than it, comes with the next call and must be on time.
						if w := we.CurrentWatermark(); !w.Equal(tt.wantCut()) {
							t.Fatalf("watermark after the cut = %v, want %v", w, tt.wantCut())
						}
					}
				}
				if strings.Join(got, ",") != "a,b,c" {
					t.Fatalf("emitted %v, want a,b,c (markers are not records)", got)
				}
				if rest.Start != 5 {
					t.Fatalf("restriction start %d, want 5: markers are claimed", rest.Start)
				}
				if w, want := we.CurrentWatermark(), tt.wantEnd(); w.Sub(want).Abs() > 2*time.Second {
					t.Fatalf("caught-up watermark = %v, want %v", w, want)
				}
			})
		}
	})
}

// TestReadFnTopicRecreated: a topic deleted and created again under the
// same name must not freeze the pipeline's windows forever: the reader
// retries, counts and logs while it might heal, then fails visibly.
func TestReadFnTopicRecreated(t *testing.T) {
	testenv.ForEachKafka(t, func(t *testing.T, kind testenv.KafkaKind) {
		topic := testenv.Topic(t, "recreated")
		kafka := kind.New(t, 1, topic)
		base := time.Now().Add(-time.Hour)
		sendAll(t, kafka.Addrs(), []*sarama.ProducerMessage{post(topic, "a", base), post(topic, "b", base), post(topic, "c", base)})

		client, err := sarama.NewClient(kafka.Addrs(), clientConfig("kafkaio-test"))
		if err != nil {
			t.Fatal(err)
		}
		defer client.Close()
		id, err := topicID(client, topic)
		if err != nil || id == "" {
			t.Fatalf("topic id of %s: %q, %v", topic, id, err)
		}

		const timeout = 1500 * time.Millisecond
		fn := &readFn{
			Brokers: kafka.Addrs(), ClientID: "kafkaio-test", MaxRecords: 100, MaxDuration: 10 * time.Second,
			PollWait: 50 * time.Millisecond, FetchBytes: DefaultFetchBytes, OutOfOrder: time.Second,
			Idle: IdleSourceWatermark, FaultTimeout: timeout,
		}
		if err := fn.Setup(); err != nil {
			t.Fatal(err)
		}
		defer fn.Teardown()
		spec := partitionSpec{Topic: topic, TopicID: id, Start: 0, End: math.MaxInt64}
		we := fn.CreateWatermarkEstimator(initialWatermark)
		run := func(start int64) (sdf.ProcessContinuation, error) {
			rt, err := fn.CreateTracker(offsetrange.Restriction{Start: start, End: math.MaxInt64})
			if err != nil {
				t.Fatal(err)
			}
			return fn.ProcessElement(context.Background(), we, rt, spec, func(beam.EventTime, Record) {})
		}
		if _, err := run(0); err != nil {
			t.Fatal(err)
		}

		admin, err := sarama.NewClusterAdmin(kafka.Addrs(), kafkaconf.Consumer("kafkaio-test"))
		if err != nil {
			t.Fatal(err)
		}
		defer admin.Close()
		if err := admin.DeleteTopic(topic); err != nil {
			t.Fatal(err)
		}
		deadline := time.Now().Add(30 * time.Second)
		for {
			err := admin.CreateTopic(topic, &sarama.TopicDetail{NumPartitions: 1, ReplicationFactor: 1}, false)
			if err == nil {
				break
			}
			if time.Now().After(deadline) || !errors.Is(err, sarama.ErrTopicAlreadyExists) {
				t.Fatalf("re-create %s: %v", topic, err)
			}
			time.Sleep(200 * time.Millisecond) // deletion is asynchronous
		}
		sendAll(t, kafka.Addrs(), []*sarama.ProducerMessage{post(topic, "new", time.Now())})

		began := time.Now()
		for {
			pc, err := run(3)
			if err != nil {
				if !errors.Is(err, errTopicGone) {
					t.Fatalf("failed with %v, want a topic-gone error", err)
				}
				if took := time.Since(began); took < timeout {
					t.Fatalf("failed after %v, before the fault timeout %v", took, timeout)
				}
				t.Logf("failed as it should: %v", err)
				return
			}
			if !pc.ShouldResume() {
				t.Fatal("reader stopped instead of failing")
			}
			if time.Since(began) > timeout+20*time.Second {
				t.Fatal("reader never failed: the windows would be frozen forever")
			}
			time.Sleep(pc.ResumeDelay())
		}
	})
}
