package ingest_test

import (
	"bytes"
	"context"
	"encoding/binary"
	"io"
	"log/slog"
	"net/http"
	"os"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/IBM/sarama"
	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"
	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/proto"

	"github.com/trendstream/trendstream/ingest"
	"github.com/trendstream/trendstream/ingest/cursor"
	"github.com/trendstream/trendstream/ingest/event"
	"github.com/trendstream/trendstream/ingest/frame"
	"github.com/trendstream/trendstream/ingest/internal/relaytest"
	"github.com/trendstream/trendstream/ingest/sink/stdoutsink"
	"github.com/trendstream/trendstream/ingest/source/file"
	"github.com/trendstream/trendstream/ingest/source/firehose"
	"github.com/trendstream/trendstream/internal/core/watermark"
	"github.com/trendstream/trendstream/internal/platform/kafkaconf"
	"github.com/trendstream/trendstream/internal/testenv"
	v1 "github.com/trendstream/trendstream/proto/trendstream/v1"
)

const corpus = "frame/testdata/frames.bin.zst"

func testLogger(t testing.TB) *slog.Logger {
	return slog.New(slog.NewTextHandler(testWriter{t}, &slog.HandlerOptions{Level: slog.LevelInfo}))
}

type testWriter struct{ t testing.TB }

func (w testWriter) Write(b []byte) (int, error) {
	w.t.Log(strings.TrimRight(string(b), "\n"))
	return len(b), nil
}

// readTopic returns every data record currently in topic: watermark
// markers are skipped, as every consumer of the posts topic must.
func readTopic(t testing.TB, brokers []string, topic string) []*sarama.ConsumerMessage {
	t.Helper()
	var out []*sarama.ConsumerMessage
	for _, m := range readRecords(t, brokers, topic) {
		if !isMarker(m) {
			out = append(out, m)
		}
	}
	return out
}

func isMarker(m *sarama.ConsumerMessage) bool {
	keys := make([]string, 0, len(m.Headers))
	for _, h := range m.Headers {
		keys = append(keys, string(h.Key))
	}
	return watermark.IsMarker(keys...)
}

// readRecords returns every record currently in topic, markers included,
// in partition and offset order.
func readRecords(t testing.TB, brokers []string, topic string) []*sarama.ConsumerMessage {
	t.Helper()
	return testenv.ReadTopic(t, brokers, topic)
}

func decodePosts(t testing.TB, msgs []*sarama.ConsumerMessage) []*v1.Post {
	t.Helper()
	var out []*v1.Post
	for _, m := range msgs {
		var p v1.Post
		if err := proto.Unmarshal(m.Value, &p); err != nil {
			t.Fatalf("offset %d: %v", m.Offset, err)
		}
		if string(m.Key) != p.AuthorDid {
			t.Errorf("key %q != author %q", m.Key, p.AuthorDid)
		}
		if !m.Timestamp.Equal(p.ObservedAt.AsTime().Truncate(time.Millisecond)) {
			t.Errorf("%s: record timestamp %v != observed_at %v", p.Uri, m.Timestamp, p.ObservedAt.AsTime())
		}
		out = append(out, &p)
	}
	return out
}

func metricValue(t testing.TB, reg *prometheus.Registry, name string, labels map[string]string) float64 {
	t.Helper()
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	var sum float64
	for _, mf := range mfs {
		if mf.GetName() != name {
			continue
		}
	next:
		for _, m := range mf.GetMetric() {
			for _, lp := range m.GetLabel() {
				if v, ok := labels[lp.GetName()]; ok && v != lp.GetValue() {
					continue next
				}
			}
			sum += value(m)
		}
	}
	return sum
}

func value(m *dto.Metric) float64 {
	switch {
	case m.Counter != nil:
		return m.Counter.GetValue()
	case m.Gauge != nil:
		return m.Gauge.GetValue()
	}
	return 0
}

// expectedFromFrames decodes frames directly: the reference for what the
// ingest must have produced.
func expectedFromFrames(t testing.TB, frames [][]byte) map[string]*v1.Post {
	t.Helper()
	want := map[string]*v1.Post{}
	for _, b := range frames {
		ev, err := frame.Decode(b, frame.Options{})
		if err != nil {
			continue
		}
		for _, p := range ev.Posts {
			want[postID(p)] = p
		}
	}
	return want
}

func postID(p *v1.Post) string { return p.Uri + "@" + strconv.FormatInt(p.Cursor, 10) }

// TestReplayFileToKafka replays the real recording into Kafka (kfake and a
// real broker): every post and delete arrives keyed by DID with the event
// time as timestamp, raw commit frames are stored by seq, and a second run
// resumes after the persisted cursor instead of producing duplicates.
func TestReplayFileToKafka(t *testing.T) {
	testenv.ForEachKafka(t, testReplayFileToKafka)
}

func testReplayFileToKafka(t *testing.T, kind testenv.KafkaKind) {
	topic, rawTopic, cursorTopic := testenv.Topic(t, "posts"), testenv.Topic(t, "raw"), testenv.Topic(t, "cursors")
	k := kind.New(t, 4, topic, rawTopic)
	frames, err := relaytest.LoadFrames(corpus)
	if err != nil {
		t.Fatal(err)
	}
	want := expectedFromFrames(t, frames)
	reg := prometheus.NewRegistry()
	cfg := ingest.Config{
		Source: &file.Source{Path: corpus}, Brokers: k.Addrs(), Topic: topic, RawTopic: rawTopic, CursorTopic: cursorTopic,
		Registry: reg, Logger: testLogger(t),
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	if err := ingest.Run(ctx, cfg); err != nil {
		t.Fatal(err)
	}
	got := decodePosts(t, readTopic(t, k.Addrs(), topic))
	if len(got) != len(want) || len(want) != 18 {
		t.Fatalf("got %d posts, want %d (=18)", len(got), len(want))
	}
	for _, p := range got {
		if w := want[postID(p)]; w == nil || !proto.Equal(w, p) {
			t.Errorf("post %s differs from the decoded frame:\n got  %v\n want %v", p.Uri, p, w)
		}
	}
	raw := readTopic(t, k.Addrs(), rawTopic)
	if len(raw) != 148 {
		t.Errorf("raw topic has %d frames, want the 148 commits", len(raw))
	}
	for _, m := range raw {
		seq, _ := strconv.ParseInt(string(m.Key), 10, 64)
		i := seq - 31527015322
		if i < 0 || i >= int64(len(frames)) || !bytes.Equal(m.Value, frames[i]) {
			t.Errorf("raw record key %s does not hold the frame with that seq", m.Key)
		}
	}
	if c := metricValue(t, reg, "trendstream_ingest_posts_total", map[string]string{"operation": "create"}); c != 17 {
		t.Errorf("posts_total{create} = %v, want 17", c)
	}
	if c := metricValue(t, reg, "trendstream_ingest_events_total", map[string]string{"kind": "commit"}); c != 148 {
		t.Errorf("events_total{commit} = %v, want 148", c)
	}
	src := cfg.Source
	pos, ok, err := cursor.NewKafkaStore(k.Addrs(), cursorTopic, src.Key()).Load(ctx)
	if err != nil || !ok || pos != 150 {
		t.Fatalf("stored cursor = %d,%v,%v; want record 150", pos, ok, err)
	}

	// Restart: resumes after record 150, so nothing is produced again.
	cfg.Registry = prometheus.NewRegistry()
	if err := ingest.Run(ctx, cfg); err != nil {
		t.Fatal(err)
	}
	if n := len(readTopic(t, k.Addrs(), topic)); n != 18 {
		t.Errorf("after restart the topic has %d posts, want still 18", n)
	}
}

// TestBadInputNeverStopsTheStream mixes real frames with garbage, an
// oversized frame, an unknown message type and a truncated record: the bad
// ones are counted, the good ones all come through.
func TestBadInputNeverStopsTheStream(t *testing.T) {
	frames, err := relaytest.LoadFrames(corpus)
	if err != nil {
		t.Fatal(err)
	}
	var rec bytes.Buffer
	put := func(b []byte) {
		var l [4]byte
		binary.LittleEndian.PutUint32(l[:], uint32(len(b)))
		rec.Write(l[:])
		rec.Write(b)
	}
	unknown := []byte{0xa2, 0x62, 'o', 'p', 0x01, 0x61, 't', 0x64, '#', 'n', 'e', 'w', 0xa0} // {op:1,t:"#new"} {}
	for i, f := range frames {
		switch i % 10 {
		case 3:
			put([]byte("\xff\x00garbage, not CBOR"))
		case 5:
			put(f[:len(f)/3]) // truncated
		case 7:
			put(unknown)
		}
		put(f)
	}
	put(bytes.Repeat([]byte{0xa2}, 300<<10)) // oversized for the limit below
	path := filepath.Join(t.TempDir(), "mixed.bin")
	if err := os.WriteFile(path, rec.Bytes(), 0o644); err != nil {
		t.Fatal(err)
	}
	var out bytes.Buffer
	reg := prometheus.NewRegistry()
	err = ingest.Run(context.Background(), ingest.Config{
		Source: &file.Source{Path: path, MaxFrame: 256 << 10}, Sink: stdoutsink.New(&out),
		Registry: reg, Logger: slog.New(slog.NewTextHandler(&bytes.Buffer{}, nil)),
	})
	if err != nil {
		t.Fatal(err)
	}
	want := expectedFromFrames(t, frames)
	lines := strings.Split(strings.TrimSpace(out.String()), "\n")
	if len(lines) != len(want) {
		t.Fatalf("%d posts on stdout, want %d", len(lines), len(want))
	}
	for _, l := range lines {
		var p v1.Post
		if err := protojson.Unmarshal([]byte(l), &p); err != nil {
			t.Fatalf("stdout line is not a protojson Post: %v\n%s", err, l)
		}
		if w := want[postID(&p)]; w == nil || !proto.Equal(w, &p) {
			t.Errorf("stdout post %s differs from the decoded frame", p.Uri)
		}
	}
	for _, c := range []struct {
		metric, label, value string
		want                 float64
	}{
		{"trendstream_ingest_malformed_frames_total", "reason", "malformed", 30},
		{"trendstream_ingest_malformed_frames_total", "reason", "oversized", 1},
		{"trendstream_ingest_events_total", "kind", "unknown", 15},
		{"trendstream_ingest_events_total", "kind", "commit", 148},
	} {
		if got := metricValue(t, reg, c.metric, map[string]string{c.label: c.value}); got != c.want {
			t.Errorf("%s{%s=%q} = %v, want %v", c.metric, c.label, c.value, got, c.want)
		}
	}
}

// TestKafkaOutage: Kafka (kfake, and a real broker stopped with SIGTERM)
// goes away for a few seconds while the ingest streams from a (fake) relay
// over a websocket, then comes back on the same port with its data. The
// ingest stays up, stops reading the socket while Kafka is gone, keeps its
// in-flight bound and its heap bounded, and afterwards every post of the
// stream is in Kafka.
func TestKafkaOutage(t *testing.T) {
	testenv.ForEachKafka(t, testKafkaOutage)
}

func testKafkaOutage(t *testing.T, kind testenv.KafkaKind) {
	frames, err := relaytest.LoadFrames(corpus)
	if err != nil {
		t.Fatal(err)
	}
	const head = 4500
	stream, err := relaytest.NewStream(frames)
	if err != nil {
		t.Fatal(err)
	}
	all := make([][]byte, 0, head)
	for n := int64(1); n <= head; n++ {
		all = append(all, stream.Frame(n))
	}
	want := expectedFromFrames(t, all)
	relay := relaytest.NewServer(stream, head)
	relay.Interval = time.Millisecond
	defer relay.Close()

	topic, rawTopic := testenv.Topic(t, "posts"), testenv.Topic(t, "raw")
	k := kind.New(t, 4, topic, rawTopic)
	cfg := outageConfig(t, k.Addrs(), relay.WSURL(), topic)
	cfg.RawTopic = rawTopic
	const maxInFlight = 300
	cfg.MaxInFlight = maxInFlight
	reg := cfg.Registry
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	done := make(chan error, 1)
	go func() { done <- ingest.Run(ctx, cfg) }()

	// Sample the in-flight gauge and the heap throughout.
	var mu sync.Mutex
	var maxIn float64
	var maxHeap uint64
	sampleDone := make(chan struct{})
	go func() {
		defer close(sampleDone)
		for ctx.Err() == nil {
			v := metricValue(t, reg, "trendstream_ingest_in_flight_messages", nil)
			var ms runtime.MemStats
			runtime.ReadMemStats(&ms)
			mu.Lock()
			maxIn, maxHeap = max(maxIn, v), max(maxHeap, ms.HeapAlloc)
			mu.Unlock()
			time.Sleep(20 * time.Millisecond)
		}
	}()

	waitFor(t, 30*time.Second, "first posts acknowledged", func() bool {
		return metricValue(t, reg, "trendstream_ingest_messages_acked_total", map[string]string{"topic": topic}) > 20
	})
	k.Stop()
	t.Log("Kafka down")
	// The first failed delivery ends the session and closes the socket.
	waitFor(t, 20*time.Second, "the session to end after Kafka went away", func() bool {
		return metricValue(t, reg, "trendstream_ingest_connected", nil) == 0
	})
	time.Sleep(200 * time.Millisecond) // frames already in flight on the wire
	sentA := relay.Sent()
	time.Sleep(3 * time.Second)
	sentB := relay.Sent()
	select {
	case err := <-done:
		t.Fatalf("Run returned during the outage: %v", err)
	default:
	}
	k.Start()
	t.Log("Kafka back")
	if sentB-sentA > 0 {
		t.Errorf("the relay sent %d frames while Kafka was down: the ingest kept reading instead of applying backpressure", sentB-sentA)
	}
	waitFor(t, 90*time.Second, "cursor reaches the relay head", func() bool {
		return metricValue(t, reg, "trendstream_ingest_cursor", nil) >= float64(stream.Seq(head))
	})
	cancel()
	if err := <-done; err != nil {
		t.Fatalf("Run: %v", err)
	}
	<-sampleDone

	got := decodePosts(t, readTopic(t, k.Addrs(), topic))
	seen := map[string]bool{}
	dups := 0
	for _, p := range got {
		id := postID(p)
		if seen[id] {
			dups++
		}
		seen[id] = true
		if w := want[id]; w == nil || !proto.Equal(w, p) {
			t.Errorf("unexpected or altered post %s", id)
		}
	}
	missing := 0
	for id := range want {
		if !seen[id] {
			missing++
		}
	}
	reconnects := metricValue(t, reg, "trendstream_ingest_reconnects_total", nil)
	t.Logf("posts: want %d, got %d (%d duplicates, at-least-once); reconnects %v; max in flight %v; max heap %d MiB; relay connections %d",
		len(want), len(got), dups, reconnects, maxIn, maxHeap>>20, relay.Conns())
	if missing > 0 {
		t.Fatalf("%d posts lost across the outage", missing)
	}
	if reconnects < 1 || metricValue(t, reg, "trendstream_ingest_produce_errors_total", nil) < 1 {
		t.Errorf("the outage was not noticed (reconnects %v)", reconnects)
	}
	if maxIn > maxInFlight {
		t.Errorf("in-flight reached %v, bound is %d", maxIn, maxInFlight)
	}
	if maxHeap > 512<<20 {
		t.Errorf("heap reached %d MiB", maxHeap>>20)
	}
}

// outageConfig is an ingest from relay into topic with short producer
// retries and reconnect backoffs, so an outage is noticed and recovered
// from within seconds.
func outageConfig(t *testing.T, brokers []string, relay, topic string) ingest.Config {
	return ingest.Config{
		Source: &firehose.Source{Relay: relay}, Brokers: brokers, Topic: topic, CursorTopic: testenv.Topic(t, "cursors"),
		BackoffMin: 100 * time.Millisecond, BackoffMax: time.Second,
		CursorInterval: 200 * time.Millisecond, Registry: prometheus.NewRegistry(), Logger: testLogger(t),
		ProducerConfig: func() *sarama.Config {
			c := kafkaconf.Producer("trendstream-ingest-test")
			c.Producer.Retry.Max = 3
			c.Producer.Retry.Backoff = 100 * time.Millisecond
			c.Metadata.Retry.Max = 1
			c.Metadata.Retry.Backoff = 100 * time.Millisecond
			c.Net.DialTimeout = time.Second
			return c
		},
	}
}

// TestKafkaRestartNothingLostOrDoubled stops Kafka (kfake, and a real
// broker shut down by SIGTERM) in the middle of a live ingest, at a moment
// when everything sent so far is acknowledged, while the relay connection
// stays open; the relay then sends more, and Kafka comes back seconds later
// on the same address with its data. Nothing may be lost and, because no
// delivery was in doubt when the broker went away, nothing doubled: every
// post is in the topic exactly once by (uri, cid, seq), each (uri, cid) as
// often as the stream carries it (the stream repeats the recording), and
// every raw frame exactly once by seq.
func TestKafkaRestartNothingLostOrDoubled(t *testing.T) {
	testenv.ForEachKafka(t, testKafkaRestartNothingLostOrDoubled)
}

func testKafkaRestartNothingLostOrDoubled(t *testing.T, kind testenv.KafkaKind) {
	frames, err := relaytest.LoadFrames(corpus)
	if err != nil {
		t.Fatal(err)
	}
	stream, err := relaytest.NewStream(frames)
	if err != nil {
		t.Fatal(err)
	}
	// Four passes over the recording: before the outage, then during and
	// after it.
	const before, head = 600, 1200
	relay := relaytest.NewServer(stream, before)
	relay.Interval = time.Millisecond
	defer relay.Close()

	topic, rawTopic := testenv.Topic(t, "posts"), testenv.Topic(t, "raw")
	k := kind.New(t, 4, topic, rawTopic)
	cfg := outageConfig(t, k.Addrs(), relay.WSURL(), topic)
	cfg.RawTopic = rawTopic
	reg := cfg.Registry
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	done := make(chan error, 1)
	go func() { done <- ingest.Run(ctx, cfg) }()
	cursorAt := func(n int64) func() bool {
		return func() bool { return metricValue(t, reg, "trendstream_ingest_cursor", nil) >= float64(stream.Seq(n)) }
	}

	// The committed cursor at the relay's head: every event up to it is
	// acknowledged and nothing is in flight.
	waitFor(t, 60*time.Second, "cursor at the first head", cursorAt(before))
	k.Stop()
	t.Log("Kafka down")
	relay.SetHead(head)
	waitFor(t, 30*time.Second, "the session to end after Kafka went away", func() bool {
		return metricValue(t, reg, "trendstream_ingest_produce_errors_total", nil) > 0 &&
			metricValue(t, reg, "trendstream_ingest_connected", nil) == 0
	})
	time.Sleep(time.Second) // a reconnect attempt or two against the dead broker
	select {
	case err := <-done:
		t.Fatalf("Run returned during the outage: %v", err)
	default:
	}
	k.Start()
	t.Log("Kafka back")
	waitFor(t, 90*time.Second, "cursor at the relay head after the restart", cursorAt(head))
	cancel()
	if err := <-done; err != nil {
		t.Fatalf("Run: %v", err)
	}

	type uriCID struct{ uri, cid string }
	wantN := map[uriCID]int{}
	wantPost := map[string]*v1.Post{}
	wantRaw := map[string][]byte{}
	for n := int64(1); n <= head; n++ {
		f := stream.Frame(n)
		ev, err := frame.Decode(f, frame.Options{})
		if err != nil {
			continue
		}
		if ev.Kind == event.KindCommit {
			wantRaw[strconv.FormatInt(stream.Seq(n), 10)] = f
		}
		for _, p := range ev.Posts {
			wantN[uriCID{p.Uri, p.Cid}]++
			wantPost[postID(p)] = p
		}
	}
	got := decodePosts(t, readTopic(t, k.Addrs(), topic))
	gotN := map[uriCID]int{}
	seen := map[string]int{}
	for _, p := range got {
		gotN[uriCID{p.Uri, p.Cid}]++
		id := postID(p)
		seen[id]++
		if w := wantPost[id]; w == nil || !proto.Equal(w, p) {
			t.Errorf("unexpected or altered post %s", id)
		}
	}
	for id := range wantPost {
		if seen[id] != 1 {
			t.Errorf("post %s is in the topic %d times, want once", id, seen[id])
		}
	}
	for k, n := range wantN {
		if gotN[k] != n {
			t.Errorf("(uri %s, cid %s) is in the topic %d times, the stream has it %d times", k.uri, k.cid, gotN[k], n)
		}
	}
	raw := readTopic(t, k.Addrs(), rawTopic)
	rawSeen := map[string]int{}
	for _, m := range raw {
		rawSeen[string(m.Key)]++
		if w, ok := wantRaw[string(m.Key)]; !ok || !bytes.Equal(w, m.Value) {
			t.Errorf("raw record key %s does not hold the frame with that seq", m.Key)
		}
	}
	for seq := range wantRaw {
		if rawSeen[seq] != 1 {
			t.Errorf("raw frame seq %s is in the topic %d times, want once", seq, rawSeen[seq])
		}
	}
	t.Logf("posts: %d distinct (uri, cid), %d in the topic; raw frames: %d; reconnects %v; relay connections %d",
		len(wantN), len(got), len(raw), metricValue(t, reg, "trendstream_ingest_reconnects_total", nil), relay.Conns())
	if len(got) != len(wantPost) || len(raw) != len(wantRaw) {
		t.Fatalf("topic has %d posts and %d raw frames, want %d and %d", len(got), len(raw), len(wantPost), len(wantRaw))
	}
}

func waitFor(t testing.TB, d time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(d)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %s waiting for: %s", d, what)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// TestFutureCursorAndHealth: started with a cursor the relay never issued,
// the ingest gets FutureCursor, restarts from the live tip and delivers;
// /healthz turns 200 once it is connected and producing, and /metrics
// serves the ingest series.
func TestFutureCursorAndHealth(t *testing.T) {
	testenv.ForEachKafka(t, testFutureCursorAndHealth)
}

func testFutureCursorAndHealth(t *testing.T, kind testenv.KafkaKind) {
	frames, err := relaytest.LoadFrames(corpus)
	if err != nil {
		t.Fatal(err)
	}
	stream, err := relaytest.NewStream(frames)
	if err != nil {
		t.Fatal(err)
	}
	relay := relaytest.NewServer(stream, 300)
	defer relay.Close()
	topic := testenv.Topic(t, "posts")
	k := kind.New(t, 4, topic)
	reg := prometheus.NewRegistry()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	addrc := make(chan string, 1)
	done := make(chan error, 1)
	go func() {
		done <- ingest.Run(ctx, ingest.Config{
			Source: &firehose.Source{Relay: relay.WSURL()}, Brokers: k.Addrs(), Topic: topic, CursorTopic: testenv.Topic(t, "cursors"),
			Cursor:     strconv.FormatInt(stream.Seq(1_000_000), 10),
			BackoffMin: 50 * time.Millisecond, MetricsAddr: "127.0.0.1:0", OnListen: func(a string) { addrc <- a },
			Registry: reg, Logger: testLogger(t),
		})
	}()
	addr := <-addrc
	waitFor(t, 30*time.Second, "a FutureCursor reconnect", func() bool {
		return metricValue(t, reg, "trendstream_ingest_reconnects_total", map[string]string{"reason": "future_cursor"}) == 1
	})
	waitFor(t, 30*time.Second, "cursor at the relay head after FutureCursor", func() bool {
		c := metricValue(t, reg, "trendstream_ingest_cursor", nil)
		return c >= float64(stream.Seq(300)) && c < float64(stream.Seq(1_000_000))
	})
	if n := metricValue(t, reg, "trendstream_ingest_posts_total", nil); n < 30 {
		t.Errorf("only %v posts produced from the 300 frames after restarting live", n)
	}
	get := func(path string) (int, string) {
		resp, err := http.Get("http://" + addr + path)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(b)
	}
	if code, body := get("/healthz"); code != http.StatusOK {
		t.Errorf("/healthz = %d %q while connected and producing", code, body)
	}
	if code, body := get("/metrics"); code != http.StatusOK || !strings.Contains(body, "trendstream_ingest_posts_total") || !strings.Contains(body, "trendstream_ingest_lag_seconds") {
		t.Errorf("/metrics = %d, missing ingest series", code)
	}
	relay.Close() // source gone: no longer healthy
	waitFor(t, 10*time.Second, "/healthz turning 503 without a source", func() bool {
		code, _ := get("/healthz")
		return code == http.StatusServiceUnavailable
	})
	cancel()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
}
