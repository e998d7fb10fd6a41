package ingest_test

import (
	"context"
	"net/http"
	"strconv"
	"testing"
	"time"

	"github.com/trendstream/trendstream/ingest"
	"github.com/trendstream/trendstream/ingest/frame"
	"github.com/trendstream/trendstream/ingest/internal/relaytest"
	"github.com/trendstream/trendstream/internal/testenv"
)

// TestHealthWhileStuck: the broker refuses every post (the topic's
// max.message.bytes is below any post) and the dead-letter write fails too
// (the dead-letter topic is that same topic), so the ingest can deliver
// nothing and must not move on: it ends a session on the first failure,
// reconnects and fails again, forever. /healthz used to stay 200 through
// this, because every reconnect and every re-read of the events before the
// stuck one counted as progress. Now it turns 503 within the health window,
// and nothing was skipped: the cursor stays before the first post.
func TestHealthWhileStuck(t *testing.T) {
	testenv.ForEachKafka(t, testHealthWhileStuck)
}

func testHealthWhileStuck(t *testing.T, kind testenv.KafkaKind) {
	frames := loadFrames(t)
	stream, err := relaytest.NewStream(frames)
	if err != nil {
		t.Fatal(err)
	}
	const head = 300
	firstPost := int64(0)
	for n := int64(1); n <= head && firstPost == 0; n++ {
		if ev, err := frame.Decode(stream.Frame(n), frame.Options{}); err == nil && len(ev.Posts) > 0 {
			firstPost = n
		}
	}
	relay := relaytest.NewServer(stream, head)
	// Each session is connected a while before the stuck event arrives,
	// as on a real relay, where it follows other events.
	relay.Interval = 400 * time.Millisecond
	defer relay.Close()
	topic := testenv.Topic(t, "posts")
	k := kind.New(t, 4, topic)
	setTopicConfig(t, k.Addrs(), topic, "max.message.bytes", "100")

	cfg := outageConfig(t, k.Addrs(), relay.WSURL(), topic)
	cfg.DeadLetterTopic = topic
	cfg.HealthWindow = 2 * time.Second
	cfg.MetricsAddr = "127.0.0.1:0"
	addrc := make(chan string, 1)
	cfg.OnListen = func(a string) { addrc <- a }
	reg := cfg.Registry
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	done := make(chan error, 1)
	go func() { done <- ingest.Run(ctx, cfg) }()
	addr := <-addrc
	health := func() int {
		resp, err := http.Get("http://" + addr + "/healthz")
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		return resp.StatusCode
	}

	waitFor(t, 30*time.Second, "three sessions ended on Kafka", func() bool {
		return metricValue(t, reg, "trendstream_ingest_reconnects_total", map[string]string{"reason": "sink"}) >= 3
	})
	// The window is 2 s; reconnects come every 0.1–1 s, each session
	// connected for 0.4 s or more: /healthz must say 503 all along, also
	// while a session is connected.
	time.Sleep(cfg.HealthWindow) // since the progress the first session made
	before := metricValue(t, reg, "trendstream_ingest_reconnects_total", nil)
	for end := time.Now().Add(5 * time.Second); time.Now().Before(end); time.Sleep(50 * time.Millisecond) {
		if c := health(); c != http.StatusServiceUnavailable {
			t.Fatalf("/healthz = %d again while still stuck (after %v reconnects)", c, metricValue(t, reg, "trendstream_ingest_reconnects_total", nil))
		}
	}
	if n := metricValue(t, reg, "trendstream_ingest_reconnects_total", nil) - before; n < 2 {
		t.Fatalf("only %v reconnects while /healthz was watched; the test did not see the loop", n)
	}
	if c := metricValue(t, reg, "trendstream_ingest_cursor", nil); c >= float64(stream.Seq(firstPost)) {
		t.Errorf("cursor %v passed the first post's event %d although nothing was delivered", c, stream.Seq(firstPost))
	}
	if n := metricValue(t, reg, "trendstream_ingest_dead_letters_total", nil); n != 0 {
		t.Errorf("dead_letters_total = %v although every dead-letter write fails", n)
	}
	cancel()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	t.Logf("reconnects %v, relay connections %d, first post at %s",
		metricValue(t, reg, "trendstream_ingest_reconnects_total", nil), relay.Conns(), strconv.FormatInt(firstPost, 10))
}
