package sink_test

import (
	"context"
	"fmt"
	"math/rand/v2"
	"os"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/IBM/sarama"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/trendstream/trendstream/ingest/cursor"
	"github.com/trendstream/trendstream/ingest/sink"
	"github.com/trendstream/trendstream/internal/kafkaconf"
	"github.com/trendstream/trendstream/internal/testenv"
	v1 "github.com/trendstream/trendstream/proto/trendstream/v1"
)

func TestMain(m *testing.M) { os.Exit(testenv.RunWithRealKafka(m.Run)) }

// TestKafkaSlowBroker: with a slow broker, Send blocks at the in-flight
// bound instead of queueing, and every message is still acknowledged exactly
// once. kfake delays each produce request by 30 ms. The real broker is made
// slow for this test's client by a produce quota, which is how a real broker
// slows a client down: it answers with a throttle time the client must wait
// out before its next request.
func TestKafkaSlowBroker(t *testing.T) {
	testenv.ForEachKafka(t, func(t *testing.T, kind testenv.KafkaKind) {
		topic := testenv.Topic(t, "posts")
		k := kind.New(t, 2, topic)
		// A client id of its own, so the quota slows this test only.
		cfg := kafkaconf.Producer(fmt.Sprintf("sink-test-%d", time.Now().UnixNano()))
		textSize := 0
		var throttled func() int64
		switch k := k.(type) {
		case *testenv.FakeKafkaCluster:
			kc := k.Kfake()
			kc.ControlKey(int16(kmsg.Produce), func(kmsg.Request) (kmsg.Response, error, bool) {
				kc.KeepControl()
				kc.SleepControl(func() { time.Sleep(30 * time.Millisecond) })
				return nil, nil, false
			})
		case *testenv.RealKafkaBroker:
			// Kafka averages the byte rate over at least 10 s, so the run must
			// write more than 10 s of quota to be throttled at all: 200 posts
			// of 1 KB of incompressible text (about 220 KB) against 18 KB/s
			// leaves about 2 s of throttling at the end.
			textSize = 1 << 10
			ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
			defer cancel()
			if err := k.Broker().SetProducerQuota(ctx, cfg.ClientID, 18<<10); err != nil {
				t.Fatal(err)
			}
			// sarama keeps the throttle times it was told per broker; read
			// them while the producer is open (Close unregisters them).
			throttled = func() int64 {
				var longest int64
				cfg.MetricRegistry.Each(func(name string, m any) {
					if h, ok := m.(interface{ Max() int64 }); ok && strings.HasPrefix(name, "throttle-time-in-ms") {
						longest = max(longest, h.Max())
					}
				})
				return longest
			}
		}
		slowBroker(t, k.Addrs(), topic, cfg, textSize, throttled)
	})
}

// slowBroker sends 200 posts through a sink bounded to 8 in flight. If
// throttled is set it is called before the sink closes and must report a
// throttle.
func slowBroker(t *testing.T, brokers []string, topic string, cfg *sarama.Config, textSize int, throttled func() int64) {
	const bound, total = 8, 200
	var mu sync.Mutex
	acked := map[cursor.Token]int{}
	var inflight, maxIn atomic.Int64
	s, err := sink.NewKafka(sink.KafkaOptions{
		Brokers: brokers, ClientID: cfg.ClientID, MaxInFlight: bound, Config: cfg,
		Ack: func(tok cursor.Token) {
			mu.Lock()
			acked[tok]++
			mu.Unlock()
			inflight.Add(-1)
		},
	})
	if err != nil {
		t.Fatal(err)
	}
	rng := rand.New(rand.NewPCG(1, 2))
	text := make([]byte, textSize)
	start := time.Now()
	for i := range total {
		for j := range text {
			text[j] = byte('a' + rng.IntN(26))
		}
		p := &v1.Post{Uri: "at://did:plc:x/app.bsky.feed.post/" + string(rune('a'+i%26)), AuthorDid: "did:plc:x", Text: string(text)}
		if err := s.Send(context.Background(), &sink.Message{Topic: topic, Key: p.AuthorDid, Post: p, Time: time.Now(), Token: cursor.Token(i)}); err != nil {
			t.Fatal(err)
		}
		n := inflight.Add(1)
		if n > maxIn.Load() {
			maxIn.Store(n)
		}
		if got := s.InFlight(); got > bound {
			t.Fatalf("sink holds %d messages, bound %d", got, bound)
		}
	}
	if throttled != nil {
		if ms := throttled(); ms == 0 {
			t.Error("the broker never throttled the producer: the quota did not make it slow")
		} else {
			t.Logf("the broker throttled the producer for up to %d ms at a time", ms)
		}
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	elapsed := time.Since(start)
	for i := range total {
		if acked[cursor.Token(i)] != 1 {
			t.Fatalf("message %d acked %d times", i, acked[cursor.Token(i)])
		}
	}
	// With at most 8 in flight and each request delayed, the sender must
	// have waited: 200 messages cannot all have been queued at once.
	if elapsed < 5*30*time.Millisecond {
		t.Errorf("200 messages through a slow broker with bound 8 took only %v: Send did not block", elapsed)
	}
	t.Logf("%d messages in %v through a slowed broker (max in flight %d)", total, elapsed, maxIn.Load())
}
