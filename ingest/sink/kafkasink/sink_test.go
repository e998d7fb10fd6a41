package kafkasink_test

import (
	"bytes"
	"context"
	"fmt"
	"math/rand/v2"
	"os"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/IBM/sarama"
	"github.com/twmb/franz-go/pkg/kmsg"
	"google.golang.org/protobuf/proto"

	"github.com/trendstream/trendstream/ingest/cursor"
	"github.com/trendstream/trendstream/ingest/sink"
	"github.com/trendstream/trendstream/ingest/sink/kafkasink"
	"github.com/trendstream/trendstream/internal/platform/kafkaconf"
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
	s, err := kafkasink.NewProducer(kafkasink.ProducerOptions{
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

// TestDeadLetter: a message that cannot be delivered at all — a Post that
// proto.Marshal refuses, a record over the producer's limit — used to fail
// Send or the sink, which ended the ingest's session and brought the same
// event back after every reconnect. It now goes to the dead-letter topic
// (created by the sink if missing, as a real broker does not create
// topics on its own) with headers saying why, and its token is
// acknowledged, so the cursor moves on; the messages around it are
// delivered. A record time before 1970, which sarama cannot encode (the
// whole produce request failed), is clamped. Without a dead-letter topic
// the old behaviour stays: the sink fails.
func TestDeadLetter(t *testing.T) {
	testenv.ForEachKafka(t, func(t *testing.T, kind testenv.KafkaKind) {
		topic := testenv.Topic(t, "posts")
		k := kind.New(t, 2, topic)
		good := func(i int) *sink.Message {
			did := fmt.Sprintf("did:plc:good%d", i)
			p := &v1.Post{Uri: "at://" + did + "/app.bsky.feed.post/x", AuthorDid: did, Text: "fine"}
			return &sink.Message{Topic: topic, Key: p.AuthorDid, Post: p, Time: time.Now(), Pos: int64(i)}
		}
		badUTF8 := &v1.Post{Uri: "at://did:plc:bad/app.bsky.feed.post/x", AuthorDid: "did:plc:bad\xff", Text: "bad \xc3 text", Langs: []string{"en", "d\xffe"}}
		tests := []struct {
			name       string
			bad        *sink.Message
			noDL       bool
			wantReason string // "" : delivered, not dead-lettered
			wantValue  string
			check      func(t *testing.T, d *sarama.ConsumerMessage)
		}{
			{
				name:       "post that does not marshal",
				bad:        &sink.Message{Topic: topic, Key: "did:plc:bad", Post: badUTF8, Time: time.Now(), Pos: 42},
				wantReason: "marshal", wantValue: "post-utf8-replaced",
				check: func(t *testing.T, d *sarama.ConsumerMessage) {
					var p v1.Post
					if err := proto.Unmarshal(d.Value, &p); err != nil {
						t.Fatal(err)
					}
					if p.AuthorDid != "did:plc:bad\uFFFD" || p.Text != "bad \uFFFD text" || p.Langs[1] != "d\uFFFDe" || p.Uri != badUTF8.Uri {
						t.Errorf("dead letter holds %v, want the post with its invalid UTF-8 replaced", &p)
					}
				},
			},
			{
				name:       "record over the producer's limit",
				bad:        &sink.Message{Topic: topic, Key: "123", Raw: bytes.Repeat([]byte{7}, 4<<20), Time: time.Now(), Pos: 42},
				wantReason: "too_large", wantValue: "raw",
				check: func(t *testing.T, d *sarama.ConsumerMessage) {
					if len(d.Value) != kafkasink.DeadLetterMaxValue || headers(d)[kafkasink.HeaderTruncated] != strconv.Itoa(4<<20) {
						t.Errorf("dead letter value of %d bytes, truncated header %q; want the first %d bytes and the length %d",
							len(d.Value), headers(d)[kafkasink.HeaderTruncated], kafkasink.DeadLetterMaxValue, 4<<20)
					}
				},
			},
			{
				name: "record time before 1970 is clamped",
				bad:  &sink.Message{Topic: topic, Key: "did:plc:old", Post: &v1.Post{Uri: "at://did:plc:old/app.bsky.feed.post/x", AuthorDid: "did:plc:old"}, Time: time.Date(1969, 7, 20, 20, 17, 40, 0, time.UTC), Pos: 42},
			},
			{
				name: "no dead-letter topic: the sink fails as before",
				bad:  &sink.Message{Topic: topic, Key: "did:plc:bad", Post: badUTF8, Time: time.Now(), Pos: 42},
				noDL: true,
			},
		}
		for i, tt := range tests {
			t.Run(tt.name, func(t *testing.T) {
				dlTopic := testenv.Topic(t, "deadletter")
				if rk, ok := k.(*testenv.RealKafkaBroker); ok {
					t.Cleanup(func() {
						ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
						defer cancel()
						_ = rk.Broker().DeleteTopics(ctx, dlTopic)
					})
				}
				var mu sync.Mutex
				acked := map[cursor.Token]int{}
				var dead []string
				o := kafkasink.ProducerOptions{
					Brokers: k.Addrs(), ClientID: "sink-test",
					Ack: func(tok cursor.Token) { mu.Lock(); acked[tok]++; mu.Unlock() },
					Hooks: sink.Hooks{DeadLettered: func(m *sink.Message, reason string, _ error) {
						mu.Lock()
						dead = append(dead, reason)
						mu.Unlock()
					}},
				}
				if !tt.noDL {
					o.DeadLetter = kafkasink.DeadLetterOptions{Topic: dlTopic, Source: "test:source"}
				}
				s, err := kafkasink.NewProducer(o)
				if err != nil {
					t.Fatal(err)
				}
				msgs := []*sink.Message{good(10 * i), tt.bad, good(10*i + 1)}
				for j, m := range msgs {
					m.Token = cursor.Token(j)
					err := s.Send(context.Background(), m)
					if tt.noDL && j == 1 {
						if err == nil {
							t.Fatal("Send of an undeliverable message without a dead-letter topic succeeded")
						}
						select {
						case <-s.Failed():
						default:
							t.Fatal("the sink did not fail")
						}
						_ = s.Close()
						return
					}
					if err != nil {
						t.Fatalf("Send %d: %v", j, err)
					}
				}
				if err := s.Close(); err != nil {
					t.Fatalf("Close: %v", err)
				}
				for j := range msgs {
					if acked[cursor.Token(j)] != 1 {
						t.Errorf("message %d acknowledged %d times, want once", j, acked[cursor.Token(j)])
					}
				}
				want := map[string]bool{msgs[0].Key: true, msgs[2].Key: true}
				if tt.wantReason == "" {
					want[tt.bad.Key] = true
				}
				for _, m := range testenv.ReadTopic(t, k.Addrs(), topic) {
					if !want[string(m.Key)] {
						continue
					}
					delete(want, string(m.Key))
					if string(m.Key) == tt.bad.Key && !m.Timestamp.Equal(time.Unix(0, 0)) {
						t.Errorf("record time %v, want it clamped to 1970-01-01", m.Timestamp)
					}
				}
				if len(want) > 0 {
					t.Errorf("not in the topic: %v", want)
				}
				if tt.wantReason == "" {
					if len(dead) != 0 {
						t.Errorf("dead-lettered (%v), want delivered", dead)
					}
					return
				}
				dl := testenv.ReadTopic(t, k.Addrs(), dlTopic)
				if len(dl) != 1 || len(dead) != 1 || dead[0] != tt.wantReason {
					t.Fatalf("%d dead letters in the topic, hook saw %v; want one, %s", len(dl), dead, tt.wantReason)
				}
				h := headers(dl[0])
				for k, v := range map[string]string{
					kafkasink.HeaderReason: tt.wantReason, kafkasink.HeaderValue: tt.wantValue, kafkasink.HeaderSource: "test:source",
					kafkasink.HeaderCursor: "42", kafkasink.HeaderTopic: topic,
				} {
					if h[k] != v {
						t.Errorf("header %s = %q, want %q", k, h[k], v)
					}
				}
				if string(dl[0].Key) != tt.bad.Key {
					t.Errorf("dead letter key %q, want %q", dl[0].Key, tt.bad.Key)
				}
				tt.check(t, dl[0])
			})
		}
	})
}

func headers(m *sarama.ConsumerMessage) map[string]string {
	h := map[string]string{}
	for _, r := range m.Headers {
		h[string(r.Key)] = string(r.Value)
	}
	return h
}

// TestKafkaByteBound: with posts of 256 KiB, the message bound (10000)
// alone would let hundreds of megabytes pile up behind a slow broker. The
// byte bound holds the record bytes in flight at 1 MiB: Send blocks
// before passing it, the bound is reached (so the test is not passed by a
// broker faster than the sender), and a single message larger than the
// bound still goes, alone, instead of waiting forever. kfake delays every
// produce request by 30 ms; the real broker is simply slower than a
// sender that never waits.
func TestKafkaByteBound(t *testing.T) {
	testenv.ForEachKafka(t, func(t *testing.T, kind testenv.KafkaKind) {
		topic := testenv.Topic(t, "posts")
		k := kind.New(t, 2, topic)
		if kc, ok := k.(*testenv.FakeKafkaCluster); ok {
			kc.Kfake().ControlKey(int16(kmsg.Produce), func(kmsg.Request) (kmsg.Response, error, bool) {
				kc.Kfake().KeepControl()
				kc.Kfake().SleepControl(func() { time.Sleep(30 * time.Millisecond) })
				return nil, nil, false
			})
		}
		const bound, total, textSize = 1 << 20, 40, 256 << 10
		var mu sync.Mutex
		acked := map[cursor.Token]int{}
		var maxBytes, overBound atomic.Int64
		var maxMsgs atomic.Int64
		s, err := kafkasink.NewProducer(kafkasink.ProducerOptions{
			Brokers: k.Addrs(), ClientID: "sink-byte-bound", MaxInFlightBytes: bound,
			Ack: func(tok cursor.Token) { mu.Lock(); acked[tok]++; mu.Unlock() },
			Hooks: sink.Hooks{InFlight: func(n int, b int64) {
				if b > bound && n > 1 {
					overBound.Store(b)
				}
				if b > maxBytes.Load() && n > 1 {
					maxBytes.Store(b)
				}
				maxMsgs.Store(max(maxMsgs.Load(), int64(n)))
			}},
		})
		if err != nil {
			t.Fatal(err)
		}
		rng := rand.New(rand.NewPCG(3, 4))
		post := func(i, size int) *sink.Message {
			text := make([]byte, size)
			for j := range text {
				text[j] = byte('a' + rng.IntN(26))
			}
			did := fmt.Sprintf("did:plc:big%d", i)
			p := &v1.Post{Uri: "at://" + did + "/app.bsky.feed.post/x", AuthorDid: did, Text: string(text)}
			return &sink.Message{Topic: topic, Key: did, Post: p, Time: time.Now(), Token: cursor.Token(i)}
		}
		ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
		defer cancel()
		for i := range total {
			if err := s.Send(ctx, post(i, textSize)); err != nil {
				t.Fatalf("Send %d: %v", i, err)
			}
			if b := s.InFlightBytes(); b > bound {
				t.Fatalf("%d bytes in flight after Send %d, bound %d", b, i, bound)
			}
		}
		// Larger than the bound on its own (under the producer's 4 MiB).
		for i := total; i < total+2; i++ {
			if err := s.Send(ctx, post(i, 2<<20)); err != nil {
				t.Fatalf("Send of a message larger than the byte bound: %v", err)
			}
		}
		if err := s.Send(ctx, post(total+2, textSize)); err != nil {
			t.Fatal(err)
		}
		if err := s.Close(); err != nil {
			t.Fatal(err)
		}
		for i := range total + 3 {
			if acked[cursor.Token(i)] != 1 {
				t.Errorf("message %d acknowledged %d times, want once", i, acked[cursor.Token(i)])
			}
		}
		if b := overBound.Load(); b != 0 {
			t.Errorf("%d bytes in flight in several messages, bound %d", b, bound)
		}
		// Four 256 KiB records do not fit in 1 MiB, three do.
		if b := maxBytes.Load(); b < bound-(textSize+1024) {
			t.Errorf("at most %d bytes were in flight: the byte bound (%d) was never reached, so the test proves nothing", b, bound)
		}
		t.Logf("max %d bytes in %d messages in flight (bound %d bytes)", maxBytes.Load(), maxMsgs.Load(), bound)
	})
}
