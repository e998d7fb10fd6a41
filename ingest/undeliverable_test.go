package ingest_test

import (
	"bytes"
	"context"
	"encoding/binary"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/IBM/sarama"
	comatproto "github.com/bluesky-social/indigo/api/atproto"
	"github.com/bluesky-social/indigo/events"
	"github.com/prometheus/client_golang/prometheus"
	cbg "github.com/whyrusleeping/cbor-gen"
	"google.golang.org/protobuf/proto"

	"github.com/trendstream/trendstream/ingest"
	"github.com/trendstream/trendstream/ingest/cursor"
	"github.com/trendstream/trendstream/ingest/event"
	"github.com/trendstream/trendstream/ingest/frame"
	"github.com/trendstream/trendstream/ingest/internal/relaytest"
	"github.com/trendstream/trendstream/ingest/jetstream"
	"github.com/trendstream/trendstream/ingest/sink/kafkasink"
	"github.com/trendstream/trendstream/ingest/source/file"
	"github.com/trendstream/trendstream/internal/platform/kafkaconf"
	"github.com/trendstream/trendstream/internal/testenv"
	v1 "github.com/trendstream/trendstream/proto/trendstream/v1"
)

const jetstreamCorpus = "frame/testdata/expected_v1.jsonl"

// TestUndeliverableEventDoesNotStopTheIngest: each case puts one event
// into a real recording that the ingest used to be unable to deliver: the
// produce failed, the session ended, the event was read again after the
// reconnect and failed again, for good. Now the ingest repairs what it
// can (an event time before 1970), rejects what is malformed at decode
// (a Jetstream DID that is not UTF-8), and puts what still cannot be
// delivered (a raw frame over the producer's limit, a post the broker
// refuses) into the dead-letter topic, with the reason, the source, the
// position and the topic it was meant for. Either way every other post
// arrives, the recording is read to its end and the cursor passes the bad
// event.
func TestUndeliverableEventDoesNotStopTheIngest(t *testing.T) {
	testenv.ForEachKafka(t, testUndeliverable)
}

// undeliverableCase builds a recording with one bad event in it.
type undeliverableCase struct {
	name string
	// build returns the recording's lines or frames, the posts expected in
	// the posts topic, the bad event's position (record number) and, for
	// posts, the id of the bad post; jsonl says which format.
	build func(t *testing.T) (recs [][]byte, jsonl bool, want map[string]*v1.Post, badPos int64, badPost string)
	raw   bool // set -raw-topic
	// topicLimit, if set, is the posts topic's max.message.bytes.
	topicLimit int
	// dead is the expected dead letter (reason, value kind, topic role);
	// "" expects none.
	deadReason, deadValue, deadTopic string
	// check looks at the delivered posts and the metrics.
	check func(t *testing.T, got []*v1.Post, reg *prometheus.Registry, began time.Time)
}

func testUndeliverable(t *testing.T, kind testenv.KafkaKind) {
	cases := []undeliverableCase{
		{
			name: "commit time before 1970",
			build: func(t *testing.T) ([][]byte, bool, map[string]*v1.Post, int64, string) {
				frames := loadFrames(t)
				i, ev := firstCommit(t, frames, true)
				frames[i] = editCommit(t, frames[i], func(c *comatproto.SyncSubscribeRepos_Commit) { c.Time = "1969-07-20T20:17:40Z" })
				want := expectedFromFrames(t, frames)
				// The bad event's posts arrive with the receive time.
				return frames, false, want, int64(i + 1), postID(ev.Posts[0])
			},
			raw: true,
			check: func(t *testing.T, got []*v1.Post, reg *prometheus.Registry, began time.Time) {
				if n := metricValue(t, reg, "trendstream_ingest_problems_total", map[string]string{"reason": event.ReasonBadTime}); n != 1 {
					t.Errorf("problems_total{bad_event_time} = %v, want 1", n)
				}
			},
		},
		{
			name: "raw frame just under the frame limit, over the producer's",
			build: func(t *testing.T) ([][]byte, bool, map[string]*v1.Post, int64, string) {
				frames := loadFrames(t)
				want := expectedFromFrames(t, frames)
				i, _ := firstCommit(t, frames, false)
				big := padCommit(t, frames[i], frame.DefaultMaxBytes-4)
				if _, err := frame.Decode(big, frame.Options{}); err != nil {
					t.Fatalf("the padded commit does not decode: %v", err)
				}
				// Inserted after the commit it was made from.
				recs := append(append(append([][]byte{}, frames[:i+1]...), big), frames[i+1:]...)
				return recs, false, want, int64(i + 2), ""
			},
			raw:        true,
			deadReason: "too_large", deadValue: "raw", deadTopic: "raw",
		},
		{
			name: "jetstream DID not UTF-8",
			build: func(t *testing.T) ([][]byte, bool, map[string]*v1.Post, int64, string) {
				lines := loadLines(t)
				i := firstPostLine(t, lines)
				lines[i] = bytes.Replace(lines[i], []byte(`"did":"did:plc:`), []byte("\"did\":\"did:plc:\xff"), 1)
				return lines, true, expectedFromLines(t, lines), int64(i + 1), ""
			},
			check: func(t *testing.T, got []*v1.Post, reg *prometheus.Registry, _ time.Time) {
				for _, p := range got {
					if strings.ContainsRune(p.AuthorDid, utf8.RuneError) {
						t.Errorf("post %s by a mangled DID was delivered", p.Uri)
					}
				}
				if n := metricValue(t, reg, "trendstream_ingest_malformed_frames_total", map[string]string{"reason": "malformed"}); n != 1 {
					t.Errorf("malformed_frames_total = %v, want 1", n)
				}
			},
		},
		{
			name: "post the broker refuses",
			build: func(t *testing.T) ([][]byte, bool, map[string]*v1.Post, int64, string) {
				lines := loadLines(t)
				i := firstPostLine(t, lines) + 40
				for !isPostCreate(lines[i]) {
					i++
				}
				want := expectedFromLines(t, lines)
				// A copy of a real post with 64 KiB of text: over the
				// topic's 32 KiB, under the producer's 4 MiB.
				rng := rand.New(rand.NewPCG(7, 8))
				text := make([]byte, 64<<10)
				for j := range text {
					text[j] = byte('a' + rng.IntN(26))
				}
				big := bytes.Replace(lines[i], []byte(`"rkey":"`), []byte(`"rkey":"big`), 1)
				big = bytes.Replace(big, []byte(`"text":"`), append([]byte(`"text":"`), text...), 1)
				ev, err := jetstream.Decode(big)
				if err != nil || len(ev.Posts) != 1 {
					t.Fatalf("the big post line does not decode: %v", err)
				}
				recs := append(append(append([][]byte{}, lines[:i+1]...), big), lines[i+1:]...)
				return recs, true, want, int64(i + 2), postID(ev.Posts[0])
			},
			topicLimit: 32 << 10,
			deadReason: "too_large", deadValue: "post", deadTopic: "posts",
		},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			recs, jsonl, want, badPos, badPost := tc.build(t)
			path := writeRecording(t, recs, jsonl)
			topic, rawTopic, dlTopic := testenv.Topic(t, "posts"), testenv.Topic(t, "raw"), testenv.Topic(t, "deadletter")
			k := kind.New(t, 4, topic, rawTopic, dlTopic)
			if tc.topicLimit > 0 {
				setTopicConfig(t, k.Addrs(), topic, "max.message.bytes", strconv.Itoa(tc.topicLimit))
			}
			reg := prometheus.NewRegistry()
			cfg := ingest.Config{
				Source: &file.Source{Path: path}, Brokers: k.Addrs(), Topic: topic, CursorTopic: testenv.Topic(t, "cursors"),
				DeadLetterTopic: dlTopic, BackoffMin: 50 * time.Millisecond, BackoffMax: 200 * time.Millisecond,
				Registry: reg, Logger: testLogger(t),
			}
			if tc.raw {
				cfg.RawTopic = rawTopic
			}
			began := time.Now().Truncate(time.Millisecond)
			ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
			defer cancel()
			if err := ingest.Run(ctx, cfg); err != nil {
				t.Fatal(err)
			}
			if ctx.Err() != nil {
				t.Fatalf("the ingest did not get past the bad event in 60 s (reconnects %v)", metricValue(t, reg, "trendstream_ingest_reconnects_total", nil))
			}
			src := cfg.Source
			pos, ok, err := cursor.NewKafkaStore(k.Addrs(), cfg.CursorTopic, src.Key()).Load(ctx)
			if err != nil || !ok || pos != int64(len(recs)) {
				t.Errorf("stored cursor = %d,%v,%v; want the last record, %d", pos, ok, err, len(recs))
			}

			got := decodePosts(t, readTopic(t, k.Addrs(), topic))
			seen := map[string]bool{}
			for _, p := range got {
				id := postID(p)
				seen[id] = true
				w := want[id]
				switch {
				case id == badPost && tc.deadReason == "":
					// Repaired: delivered with the receive time.
					if p.ObservedAt.AsTime().Before(began) {
						t.Errorf("post %s of the bad event has observed_at %v, want the receive time (≥ %v)", id, p.ObservedAt.AsTime(), began)
					}
				case id == badPost:
					t.Errorf("the post that went to the dead-letter topic is in the posts topic too")
				case w == nil || !proto.Equal(w, p):
					t.Errorf("unexpected or altered post %s", id)
				}
			}
			for id := range want {
				if !seen[id] {
					t.Errorf("post %s missing", id)
				}
			}
			if tc.raw {
				if n, w := len(readTopic(t, k.Addrs(), rawTopic)), countCommits(t, recs); n != w-boolInt(tc.deadTopic == "raw") {
					t.Errorf("raw topic has %d frames, want %d", n, w-boolInt(tc.deadTopic == "raw"))
				}
			}
			dead := readRecords(t, k.Addrs(), dlTopic)
			if n := metricValue(t, reg, "trendstream_ingest_dead_letters_total", nil); n != float64(len(dead)) {
				t.Errorf("dead_letters_total = %v, the topic has %d", n, len(dead))
			}
			if tc.deadReason == "" {
				if len(dead) != 0 {
					t.Errorf("%d dead letters, want none: %s", len(dead), headerMap(dead[0]))
				}
			} else {
				wantTopic := map[string]string{"raw": rawTopic, "posts": topic}[tc.deadTopic]
				checkDeadLetter(t, dead, recs[badPos-1], tc, badPos, src.Key(), wantTopic)
			}
			if tc.check != nil {
				tc.check(t, got, reg, began)
			}
			t.Logf("%d posts, %d dead letters, %v reconnects", len(got), len(dead), metricValue(t, reg, "trendstream_ingest_reconnects_total", nil))
		})
	}
}

func checkDeadLetter(t *testing.T, dead []*sarama.ConsumerMessage, rec []byte, tc undeliverableCase, pos int64, source, topic string) {
	t.Helper()
	if len(dead) != 1 {
		t.Fatalf("%d dead letters, want 1", len(dead))
	}
	d := dead[0]
	h := headerMap(d)
	for k, v := range map[string]string{
		kafkasink.HeaderReason: tc.deadReason, kafkasink.HeaderValue: tc.deadValue, kafkasink.HeaderSource: source,
		kafkasink.HeaderCursor: strconv.FormatInt(pos, 10), kafkasink.HeaderTopic: topic,
	} {
		if h[k] != v {
			t.Errorf("dead letter header %s = %q, want %q", k, h[k], v)
		}
	}
	if h[kafkasink.HeaderError] == "" {
		t.Errorf("dead letter without an error header: %v", h)
	}
	switch tc.deadValue {
	case "raw":
		if h[kafkasink.HeaderTruncated] != strconv.Itoa(len(rec)) || !bytes.Equal(d.Value, rec[:kafkasink.DeadLetterMaxValue]) {
			t.Errorf("dead letter value: %d bytes, truncated header %q; want the frame's first %d bytes and its length %d",
				len(d.Value), h[kafkasink.HeaderTruncated], kafkasink.DeadLetterMaxValue, len(rec))
		}
	case "post":
		var p v1.Post
		ev, err := jetstream.Decode(rec)
		if err != nil {
			t.Fatal(err)
		}
		if err := proto.Unmarshal(d.Value, &p); err != nil || !proto.Equal(&p, ev.Posts[0]) {
			t.Errorf("dead letter value is not the refused post (%v)", err)
		}
	}
}

func headerMap(m *sarama.ConsumerMessage) map[string]string {
	h := map[string]string{}
	for _, r := range m.Headers {
		h[string(r.Key)] = string(r.Value)
	}
	return h
}

func boolInt(b bool) int {
	if b {
		return 1
	}
	return 0
}

func loadFrames(t testing.TB) [][]byte {
	t.Helper()
	frames, err := relaytest.LoadFrames(corpus)
	if err != nil {
		t.Fatal(err)
	}
	return frames
}

func loadLines(t testing.TB) [][]byte {
	t.Helper()
	b, err := os.ReadFile(jetstreamCorpus)
	if err != nil {
		t.Fatal(err)
	}
	return bytes.Split(bytes.TrimSpace(b), []byte("\n"))
}

func isPostCreate(line []byte) bool {
	return bytes.Contains(line, []byte(`"operation":"create","collection":"app.bsky.feed.post"`))
}

func firstPostLine(t testing.TB, lines [][]byte) int {
	t.Helper()
	for i, l := range lines {
		if isPostCreate(l) {
			return i
		}
	}
	t.Fatal("no post in the Jetstream recording")
	return 0
}

func expectedFromLines(t testing.TB, lines [][]byte) map[string]*v1.Post {
	t.Helper()
	want := map[string]*v1.Post{}
	for _, l := range lines {
		ev, err := jetstream.Decode(l)
		if err != nil {
			continue
		}
		for _, p := range ev.Posts {
			want[postID(p)] = p
		}
	}
	return want
}

// firstCommit returns the first commit with (or without) posts.
func firstCommit(t testing.TB, frames [][]byte, withPosts bool) (int, *event.Event) {
	t.Helper()
	for i, f := range frames {
		ev, err := frame.Decode(f, frame.Options{})
		if err == nil && ev.Kind == event.KindCommit && (len(ev.Posts) > 0) == withPosts {
			return i, ev
		}
	}
	t.Fatal("no such commit in the recording")
	return 0, nil
}

func countCommits(t testing.TB, frames [][]byte) int {
	n := 0
	for _, f := range frames {
		if ev, err := frame.Decode(f, frame.Options{}); err == nil && ev.Kind == event.KindCommit {
			n++
		}
	}
	return n
}

// editCommit re-encodes a #commit frame after edit.
func editCommit(t testing.TB, f []byte, edit func(*comatproto.SyncSubscribeRepos_Commit)) []byte {
	t.Helper()
	cr := cbg.NewCborReader(bytes.NewReader(f))
	var h events.EventHeader
	var c comatproto.SyncSubscribeRepos_Commit
	if err := h.UnmarshalCBOR(cr); err != nil {
		t.Fatal(err)
	}
	if err := c.UnmarshalCBOR(cr); err != nil {
		t.Fatal(err)
	}
	edit(&c)
	var buf bytes.Buffer
	if err := h.MarshalCBOR(&buf); err != nil {
		t.Fatal(err)
	}
	if err := c.MarshalCBOR(&buf); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

// padCommit grows a commit without post ops to exactly size bytes: 8000
// more like ops with long record keys (cbor-gen caps a commit at 8192 ops
// and a string at 8192 bytes) and zeros appended to its CAR slice (capped
// at 2 MiB), which is not read when no post op names a block in it.
func padCommit(t testing.TB, f []byte, size int) []byte {
	t.Helper()
	rkey := strings.Repeat("k", 230)
	pad := 0
	for range 4 {
		b := editCommit(t, f, func(c *comatproto.SyncSubscribeRepos_Commit) {
			for range 8000 {
				c.Ops = append(c.Ops, &comatproto.SyncSubscribeRepos_RepoOp{Action: "create", Path: "app.bsky.feed.like/" + rkey})
			}
			c.Blocks = append(c.Blocks, make([]byte, pad)...)
		})
		if len(b) == size {
			return b
		}
		pad += size - len(b)
	}
	t.Fatalf("cannot pad the commit to %d bytes", size)
	return nil
}

// writeRecording writes JSON lines or [u32 LE length][frame] records.
func writeRecording(t testing.TB, recs [][]byte, jsonl bool) string {
	t.Helper()
	name := "rec.bin"
	if jsonl {
		name = "rec.jsonl"
	}
	path := filepath.Join(t.TempDir(), name)
	if err := os.WriteFile(path, encodeRecording(recs, jsonl), 0o644); err != nil {
		t.Fatal(err)
	}
	return path
}

func encodeRecording(recs [][]byte, jsonl bool) []byte {
	var buf bytes.Buffer
	for _, r := range recs {
		if jsonl {
			buf.Write(r)
			buf.WriteByte('\n')
			continue
		}
		var l [4]byte
		binary.LittleEndian.PutUint32(l[:], uint32(len(r)))
		buf.Write(l[:])
		buf.Write(r)
	}
	return buf.Bytes()
}

// setTopicConfig changes one topic config (incrementally, so the others
// stay).
func setTopicConfig(t testing.TB, brokers []string, topic, key, value string) {
	t.Helper()
	adm, err := sarama.NewClusterAdmin(brokers, kafkaconf.Consumer("test-admin"))
	if err != nil {
		t.Fatal(err)
	}
	defer adm.Close()
	err = adm.IncrementalAlterConfig(sarama.TopicResource, topic, map[string]sarama.IncrementalAlterConfigsEntry{
		key: {Operation: sarama.IncrementalAlterConfigsOperationSet, Value: &value},
	}, false)
	if err != nil {
		t.Fatalf("set %s=%s on %s: %v", key, value, topic, err)
	}
}
