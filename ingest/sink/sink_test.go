package sink_test

import (
	"context"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/trendstream/trendstream/ingest/cursor"
	"github.com/trendstream/trendstream/ingest/sink"
	"github.com/trendstream/trendstream/internal/testenv"
	v1 "github.com/trendstream/trendstream/proto/trendstream/v1"
)

// TestKafkaSlowBroker: with every produce request delayed, Send blocks at
// the in-flight bound instead of queueing, and every message is still
// acknowledged exactly once.
func TestKafkaSlowBroker(t *testing.T) {
	k := testenv.Kafka(t, 2, "posts")
	kc := k.Kfake()
	kc.ControlKey(int16(kmsg.Produce), func(kmsg.Request) (kmsg.Response, error, bool) {
		kc.KeepControl()
		kc.SleepControl(func() { time.Sleep(30 * time.Millisecond) })
		return nil, nil, false
	})
	const bound, total = 8, 200
	var mu sync.Mutex
	acked := map[cursor.Token]int{}
	var inflight, maxIn atomic.Int64
	s, err := sink.NewKafka(sink.KafkaOptions{
		Brokers: k.Addrs(), ClientID: "sink-test", MaxInFlight: bound,
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
	start := time.Now()
	for i := range total {
		p := &v1.Post{Uri: "at://did:plc:x/app.bsky.feed.post/" + string(rune('a'+i%26)), AuthorDid: "did:plc:x"}
		if err := s.Send(context.Background(), &sink.Message{Topic: "posts", Key: p.AuthorDid, Post: p, Time: time.Now(), Token: cursor.Token(i)}); err != nil {
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
	t.Logf("%d messages in %v through a broker delaying each produce by 30ms (max in flight %d)", total, elapsed, maxIn.Load())
}
