package kafkasink_test

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kfake"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/trendstream/trendstream/ingest/cursor"
	"github.com/trendstream/trendstream/ingest/sink"
	"github.com/trendstream/trendstream/ingest/sink/kafkasink"
	"github.com/trendstream/trendstream/internal/testenv"
	v1 "github.com/trendstream/trendstream/proto/trendstream/v1"
)

// TestCloseWaitsForRetries closes the sink while its messages are being
// retried (the partition's leader is "moving" for the first produce
// requests, as right after a topic's creation on the real broker, where CI
// saw it): Close must wait for them, deliver each once and report no
// error. sarama fails a message still retrying when the producer shuts
// down (ErrShuttingDown), which made a clean stop report a delivery error.
func TestCloseWaitsForRetries(t *testing.T) {
	topic := testenv.Topic(t, "posts")
	k := testenv.FakeKafka(t, 1, topic)
	h := k.Kfake().Fault(kfake.Fault{Keys: []kmsg.Key{kmsg.Produce}, Topic: topic, Err: kerr.NotLeaderForPartition, Count: 3})
	defer h.Remove()
	acked := make(chan cursor.Token, 10)
	s, err := kafkasink.NewProducer(kafkasink.ProducerOptions{Brokers: k.Addrs(), ClientID: "close-test", Ack: func(tok cursor.Token) { acked <- tok }})
	if err != nil {
		t.Fatal(err)
	}
	const n = 5
	for i := range n {
		did := fmt.Sprintf("did:plc:a%d", i)
		p := &v1.Post{Uri: "at://" + did + "/app.bsky.feed.post/x", AuthorDid: did, Text: "hello"}
		if err := s.Send(context.Background(), &sink.Message{Topic: topic, Key: did, Post: p, Time: time.Now(), Pos: int64(i), Token: cursor.Token(i)}); err != nil {
			t.Fatal(err)
		}
	}
	if err := s.Close(); err != nil {
		t.Fatalf("Close while messages were retrying: %v", err)
	}
	close(acked)
	seen := map[cursor.Token]int{}
	for tok := range acked {
		seen[tok]++
	}
	for i := range n {
		if seen[cursor.Token(i)] != 1 {
			t.Errorf("message %d acknowledged %d times, want once", i, seen[cursor.Token(i)])
		}
	}
	if hits := h.Hits(); hits == 0 {
		t.Error("the fault answered no produce request: the test proves nothing")
	}
	if got := len(testenv.ReadTopic(t, k.Addrs(), topic)); got != n {
		t.Errorf("the topic holds %d records, want %d", got, n)
	}
}
