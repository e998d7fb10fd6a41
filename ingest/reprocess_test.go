package ingest_test

import (
	"context"
	"slices"
	"strconv"
	"testing"
	"time"

	"github.com/IBM/sarama"
	comatproto "github.com/bluesky-social/indigo/api/atproto"
	"github.com/prometheus/client_golang/prometheus"
	"google.golang.org/protobuf/proto"

	"github.com/trendstream/trendstream/ingest"
	"github.com/trendstream/trendstream/ingest/frame"
	"github.com/trendstream/trendstream/ingest/internal/relaytest"
	"github.com/trendstream/trendstream/ingest/source/file"
	"github.com/trendstream/trendstream/ingest/source/rawtopic"
	"github.com/trendstream/trendstream/internal/platform/kafkaconf"
	"github.com/trendstream/trendstream/internal/testenv"
	v1 "github.com/trendstream/trendstream/proto/trendstream/v1"
)

// TestReprocessRawTopic is event sourcing's replay: the raw #commit frames
// an ingest stored (-raw-topic), read back by the rawtopic source, give
// exactly the posts the ingest wrote — same keys, record times and bytes.
// The raw topic is left as a crashed ingest can leave it: the last 40
// frames twice (a session re-sends what it had not committed), and one
// frame stored only behind later ones (its batch failed for good, sarama
// went on, the next session re-sent it); that frame's posts must come out
// too. One frame's own time is absurd, so its posts were stamped with the
// time the ingest received it, and reprocessing must stamp them the same.
// A second reprocessing resumes after its cursor and writes nothing.
func TestReprocessRawTopic(t *testing.T) {
	testenv.ForEachKafka(t, testReprocessRawTopic)
}

func testReprocessRawTopic(t *testing.T, kind testenv.KafkaKind) {
	posts, raw, again := testenv.Topic(t, "posts"), testenv.Topic(t, "raw"), testenv.Topic(t, "posts-again")
	k := kind.New(t, 4, posts, raw, again)
	frames := framesWithFutureFrame(t)
	late := heldBack(t, frames)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()

	first := ingest.Config{
		Source: &file.Source{Path: writeRecording(t, slices.Delete(slices.Clone(frames), late, late+1), false)}, Brokers: k.Addrs(), Topic: posts, RawTopic: raw,
		CursorTopic: testenv.Topic(t, "cursors"), Registry: prometheus.NewRegistry(), Logger: testLogger(t),
	}
	if err := ingest.Run(ctx, first); err != nil {
		t.Fatal(err)
	}
	stored := readTopic(t, k.Addrs(), raw)
	ev, err := frame.Decode(frames[late], frame.Options{})
	if err != nil {
		t.Fatal(err)
	}
	resent := []*sarama.ProducerMessage{{Topic: raw, Key: sarama.StringEncoder(strconv.FormatInt(ev.Cursor, 10)), Value: sarama.ByteEncoder(frames[late]), Timestamp: ev.Time}}
	for _, m := range stored[len(stored)-40:] {
		pm := &sarama.ProducerMessage{Topic: m.Topic, Key: sarama.ByteEncoder(m.Key), Value: sarama.ByteEncoder(m.Value), Timestamp: m.Timestamp}
		for _, h := range m.Headers {
			pm.Headers = append(pm.Headers, *h)
		}
		resent = append(resent, pm)
	}
	produce(t, k.Addrs(), resent)

	re := ingest.Config{
		Source: &rawtopic.Source{Brokers: k.Addrs(), Topic: raw}, Brokers: k.Addrs(), Topic: again,
		CursorTopic: testenv.Topic(t, "cursors"), Registry: prometheus.NewRegistry(), Logger: testLogger(t),
	}
	if err := ingest.Run(ctx, re); err != nil {
		t.Fatal(err)
	}
	want, got := readTopic(t, k.Addrs(), posts), readTopic(t, k.Addrs(), again)
	wantPosts, gotPosts := decodePosts(t, want), decodePosts(t, got)
	byID := map[string]int{}
	for i, p := range wantPosts {
		byID[postID(p)] = i
	}
	lateIDs := map[string]*v1.Post{}
	for _, p := range ev.Posts {
		lateIDs[postID(p)] = p
	}
	if len(wantPosts) != 19-len(lateIDs) || len(lateIDs) == 0 { // the recording's 18, and the one in the future frame
		t.Fatalf("the ingest wrote %d posts, want %d; the held-back frame has %d", len(wantPosts), 19-len(lateIDs), len(lateIDs))
	}
	if len(gotPosts) != 19 {
		t.Errorf("reprocessing wrote %d posts, want 19", len(gotPosts))
	}
	future := false
	for j, p := range gotPosts {
		id := postID(p)
		if lp, ok := lateIDs[id]; ok {
			if !proto.Equal(lp, p) {
				t.Errorf("post %s of the frame stored late differs:\n decoded     %v\n reprocessed %v", id, lp, p)
			}
			delete(lateIDs, id)
			continue
		}
		i, ok := byID[id]
		if !ok {
			t.Errorf("reprocessing wrote %s, which the ingest did not, or wrote it twice", id)
			continue
		}
		delete(byID, id)
		w, g := want[i], got[j]
		if !proto.Equal(wantPosts[i], p) || string(w.Key) != string(g.Key) || !w.Timestamp.Equal(g.Timestamp) {
			t.Errorf("post %s differs:\n ingest      %v (key %s, time %v)\n reprocessed %v (key %s, time %v)",
				id, wantPosts[i], w.Key, w.Timestamp, p, g.Key, g.Timestamp)
		}
		if p.Cursor == futureSeq {
			future = true
		}
	}
	if len(byID)+len(lateIDs) > 0 {
		t.Errorf("reprocessing lost %d posts and %d of the frame stored late", len(byID), len(lateIDs))
	}
	if !future {
		t.Error("the post of the frame with an absurd time was not reprocessed")
	}

	re.Registry = prometheus.NewRegistry()
	if err := ingest.Run(ctx, re); err != nil {
		t.Fatal(err)
	}
	if n := len(readTopic(t, k.Addrs(), again)); n != len(got) {
		t.Errorf("a second reprocessing left %d posts, want still %d: it did not resume after its cursor", n, len(got))
	}
}

// futureSeq is the seq of the frame framesWithFutureFrame adds.
const futureSeq = 31527015322 + 1000

// framesWithFutureFrame is the real recording plus a copy of its first
// post's commit, re-sequenced after the rest and dated in the year 2100.
func framesWithFutureFrame(t *testing.T) [][]byte {
	t.Helper()
	frames, err := relaytest.LoadFrames(corpus)
	if err != nil {
		t.Fatal(err)
	}
	future, err := relaytest.EditCommit(frames[withPost(t, frames, 0)], func(c *comatproto.SyncSubscribeRepos_Commit) {
		c.Seq, c.Time = futureSeq, "2100-01-01T00:00:00Z"
	})
	if err != nil {
		t.Fatal(err)
	}
	return append(frames, future)
}

// heldBack picks the frame to store late: one with a post, halfway.
func heldBack(t *testing.T, frames [][]byte) int {
	return withPost(t, frames, len(frames)/2)
}

// withPost is the index of the first frame at or after i with a post.
func withPost(t *testing.T, frames [][]byte, i int) int {
	t.Helper()
	for ; i < len(frames); i++ {
		if ev, err := frame.Decode(frames[i], frame.Options{}); err == nil && len(ev.Posts) > 0 {
			return i
		}
	}
	t.Fatal("no frame with a post")
	return -1
}

// produce writes msgs as the ingest's producer would have.
func produce(t *testing.T, brokers []string, msgs []*sarama.ProducerMessage) {
	t.Helper()
	p, err := sarama.NewSyncProducer(brokers, kafkaconf.Producer("test-resend"))
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	if err := p.SendMessages(msgs); err != nil {
		t.Fatal(err)
	}
}
