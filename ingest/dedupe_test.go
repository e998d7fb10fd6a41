package ingest_test

import (
	"context"
	"os"
	"path/filepath"
	"strconv"
	"syscall"
	"testing"
	"time"

	"github.com/IBM/sarama"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/trendstream/trendstream/ingest"
	"github.com/trendstream/trendstream/ingest/frame"
	"github.com/trendstream/trendstream/ingest/internal/relaytest"
	"github.com/trendstream/trendstream/ingest/source/file"
	"github.com/trendstream/trendstream/internal/testenv"
	v1 "github.com/trendstream/trendstream/proto/trendstream/v1"
)

// TestNoDoubleAfterRestart replays the real recording twice into one
// topic (kfake and a real broker); the second run starts from an old
// cursor (0), so it reads every event the first run delivered again, as
// an ingest does after a crash lost its last cursor saves. Posts already in
// the topic are not written again — but only those: when the first run
// left a gap (here: 20 frames it could not read), the gap's posts are
// written although later posts of the same partitions are there, and a
// different source (another recording with the same frames) is never
// compared with.
func TestNoDoubleAfterRestart(t *testing.T) {
	testenv.ForEachKafka(t, testNoDoubleAfterRestart)
}

func testNoDoubleAfterRestart(t *testing.T, kind testenv.KafkaKind) {
	frames := loadFrames(t)
	want := expectedFromFrames(t, frames)
	posOf := map[string]int64{} // post id -> record number
	inGap := 0
	for i, f := range frames {
		ev, err := frame.Decode(f, frame.Options{})
		if err != nil {
			continue
		}
		for _, p := range ev.Posts {
			posOf[postID(p)] = int64(i + 1)
			if i >= 40 && i < 60 {
				inGap++
			}
		}
	}
	if inGap == 0 {
		t.Fatal("no post in frames 40..59: pick another gap")
	}
	gapped := append([][]byte{}, frames...)
	for i := 40; i < 60; i++ {
		gapped[i] = []byte("\xff\x00 not a frame")
	}
	tests := []struct {
		name        string
		first       [][]byte
		otherSource bool
		copies      int // of every post, after both runs
		skipped     int
	}{
		{name: "restart from an old cursor", first: frames, copies: 1, skipped: len(want)},
		{name: "the first run left a gap", first: gapped, copies: 1, skipped: len(want) - inGap},
		{name: "another source with the same frames", first: frames, otherSource: true, copies: 2, skipped: 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			topic := testenv.Topic(t, "posts")
			k := kind.New(t, 4, topic)
			dir := t.TempDir()
			path := filepath.Join(dir, "rec.bin")
			run := func(recs [][]byte, path, cursor string) *prometheus.Registry {
				t.Helper()
				writeRecordingAt(t, path, recs)
				reg := prometheus.NewRegistry()
				ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
				defer cancel()
				err := ingest.Run(ctx, ingest.Config{
					Source: &file.Source{Path: path}, Brokers: k.Addrs(), Topic: topic, CursorTopic: testenv.Topic(t, "cursors"),
					Cursor: cursor, Registry: reg, Logger: testLogger(t),
				})
				if err != nil || ctx.Err() != nil {
					t.Fatalf("Run: %v (%v)", err, ctx.Err())
				}
				return reg
			}
			run(tt.first, path, "live")
			second := path
			if tt.otherSource {
				second = filepath.Join(dir, "other.bin")
			}
			reg := run(frames, second, "0")

			recs := readTopic(t, k.Addrs(), topic)
			n := map[string]int{}
			for i, p := range decodePosts(t, recs) {
				id := postID(p)
				n[id]++
				src, pos := recordHeaders(recs[i])
				if pos != strconv.FormatInt(posOf[id], 10) || (src != "file:"+path && src != "file:"+second) {
					t.Errorf("post %s has headers source %q, pos %q; want file:<path> and %d", id, src, pos, posOf[id])
				}
			}
			for id := range want {
				if n[id] != tt.copies {
					t.Errorf("post %s is in the topic %d times, want %d", id, n[id], tt.copies)
				}
			}
			if len(n) != len(want) {
				t.Errorf("%d distinct posts in the topic, want %d", len(n), len(want))
			}
			if s := metricValue(t, reg, "trendstream_ingest_duplicates_skipped_total", nil); s != float64(tt.skipped) {
				t.Errorf("duplicates_skipped_total = %v, want %d", s, tt.skipped)
			}
		})
	}
}

func recordHeaders(m *sarama.ConsumerMessage) (src, pos string) {
	h := headerMap(m)
	return h[ingest.HeaderSource], h[ingest.HeaderPos]
}

func writeRecordingAt(t testing.TB, path string, recs [][]byte) {
	t.Helper()
	if err := os.WriteFile(path, encodeRecording(recs, false), 0o644); err != nil {
		t.Fatal(err)
	}
}

// TestNoDoubleAfterCrash runs the ingest as a process of its own against a
// fake relay streaming 3000 real frames, and SIGKILLs it twice: the first
// one mid-stream; the second after it restarted from cursor 0 (an old
// cursor: everything the first one delivered is read again) and got
// further; the third resumes from the cursor the second persisted. Every
// post of the stream is in the topic exactly once: by (uri, cid, seq), and
// each (uri, cid) as often as the stream carries it (the stream repeats
// the recording with new seqs).
func TestNoDoubleAfterCrash(t *testing.T) {
	testenv.ForEachKafka(t, testNoDoubleAfterCrash)
}

func testNoDoubleAfterCrash(t *testing.T, kind testenv.KafkaKind) {
	stream, err := relaytest.NewStream(loadFrames(t))
	if err != nil {
		t.Fatal(err)
	}
	const head = 3000
	type uriCID struct{ uri, cid string }
	want := map[string]bool{}
	wantN := map[uriCID]int{}
	for n := int64(1); n <= head; n++ {
		ev, err := frame.Decode(stream.Frame(n), frame.Options{})
		if err != nil {
			continue
		}
		for _, p := range ev.Posts {
			want[postID(p)] = true
			wantN[uriCID{p.Uri, p.Cid}]++
		}
	}
	relay := relaytest.NewServer(stream, head)
	relay.Interval = time.Millisecond
	defer relay.Close()
	topic, cursorTopic := testenv.Topic(t, "posts"), testenv.Topic(t, "cursors")
	k := kind.New(t, 4, topic)
	env := []string{"CHILD_TOPIC=" + topic, "CHILD_CURSOR_TOPIC=" + cursorTopic}

	var got []*v1.Post
	distinct := func() int {
		got = decodePosts(t, readTopic(t, k.Addrs(), topic))
		ids := map[string]bool{}
		for _, p := range got {
			ids[postID(p)] = true
		}
		return len(ids)
	}
	waitPosts := func(what string, n int) {
		t.Helper()
		deadline := time.Now().Add(2 * time.Minute)
		for distinct() < n {
			if time.Now().After(deadline) {
				t.Fatalf("timed out waiting for %s (%d distinct posts)", what, distinct())
			}
			time.Sleep(200 * time.Millisecond)
		}
	}
	kill := func(c *child) {
		t.Helper()
		if err := c.cmd.Process.Signal(syscall.SIGKILL); err != nil {
			t.Fatal(err)
		}
		_ = c.wait()
	}

	// A fresh deployment: no stored cursor (the fake relay then starts at
	// its first frame; the cursor topic is created by this first load).
	c1 := startChild(t, relay.WSURL(), k.Addrs(), "", "ingest-1.log", env...)
	waitPosts("the first ingest's posts", 100)
	kill(c1)
	first := distinct()
	c2 := startChild(t, relay.WSURL(), k.Addrs(), "0", "ingest-2.log", env...)
	waitPosts("the second ingest to get past the first", first+100)
	kill(c2)
	c3 := startChild(t, relay.WSURL(), k.Addrs(), "", "ingest-3.log", env...)
	waitPosts("every post of the stream", len(want))
	if err := c3.cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	if err := c3.wait(); err != nil {
		t.Errorf("the third ingest exited with %v after SIGTERM", err)
	}

	distinct()
	n := map[string]int{}
	gotN := map[uriCID]int{}
	for _, p := range got {
		n[postID(p)]++
		gotN[uriCID{p.Uri, p.Cid}]++
	}
	dups := 0
	for id, c := range n {
		if !want[id] {
			t.Errorf("post %s is not in the stream", id)
		}
		dups += c - 1
	}
	for k, c := range wantN {
		if gotN[k] != c {
			t.Errorf("(uri %s, cid %s) is in the topic %d times, the stream has it %d times", k.uri, k.cid, gotN[k], c)
		}
	}
	t.Logf("%d posts in the stream, %d records in the topic, %d duplicates; the first ingest wrote %d", len(want), len(got), dups, first)
	if dups > 0 {
		t.Errorf("%d posts written twice", dups)
	}
}
