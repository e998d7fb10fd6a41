package frame_test

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"io"
	"os"
	"slices"
	"testing"

	"google.golang.org/protobuf/proto"

	"github.com/trendstream/trendstream/ingest/event"
	"github.com/trendstream/trendstream/ingest/frame"
	"github.com/trendstream/trendstream/ingest/jetstream"
	"github.com/trendstream/trendstream/ingest/replay"
	v1 "github.com/trendstream/trendstream/proto/trendstream/v1"
)

// realFrames returns the 150 recorded relay frames (copies).
func realFrames(t testing.TB) [][]byte {
	t.Helper()
	f, err := os.Open("testdata/frames.bin.zst")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	r, err := replay.NewReader(f, frame.DefaultMaxBytes)
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	if r.Format() != replay.Frames {
		t.Fatalf("format = %v, want frames", r.Format())
	}
	var out [][]byte
	for {
		b, err := r.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, bytes.Clone(b))
	}
	return out
}

// expectedJetstream is the production Jetstream output for the same events,
// read with plain maps so the check does not share code with the decoders.
type jsPost struct {
	DID, Rkey, Op, CID, Text, CreatedAt string
	Langs                               []string
	Line                                []byte
}

func expectedPosts(t *testing.T) []jsPost {
	t.Helper()
	f, err := os.Open("testdata/expected_v1.jsonl")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var out []jsPost
	sc := bufio.NewScanner(f)
	sc.Buffer(nil, 1<<20)
	for sc.Scan() {
		var e struct {
			DID    string `json:"did"`
			Commit *struct {
				Operation, Collection, Rkey, CID string
				Record                           map[string]any
			} `json:"commit"`
		}
		if err := json.Unmarshal(sc.Bytes(), &e); err != nil {
			t.Fatal(err)
		}
		if e.Commit == nil || e.Commit.Collection != "app.bsky.feed.post" {
			continue
		}
		p := jsPost{DID: e.DID, Rkey: e.Commit.Rkey, Op: e.Commit.Operation, CID: e.Commit.CID, Line: bytes.Clone(sc.Bytes())}
		if r := e.Commit.Record; r != nil {
			p.Text, _ = r["text"].(string)
			p.CreatedAt, _ = r["createdAt"].(string)
			if ls, ok := r["langs"].([]any); ok {
				for _, l := range ls {
					p.Langs = append(p.Langs, l.(string))
				}
			}
		}
		out = append(out, p)
	}
	return out
}

// TestOracleAgainstProductionJetstream: the real relay frames decode to
// exactly the post creates and deletes production Jetstream emitted for the
// same events.
func TestOracleAgainstProductionJetstream(t *testing.T) {
	frames := realFrames(t)
	if len(frames) != 150 {
		t.Fatalf("got %d frames, want 150", len(frames))
	}
	var got []*v1.Post
	kinds := map[event.Kind]int{}
	for i, b := range frames {
		ev, err := frame.Decode(b, frame.Options{})
		if err != nil {
			t.Fatalf("frame %d: %v", i, err)
		}
		kinds[ev.Kind]++
		for _, p := range ev.Problems {
			if p.Reason != event.ReasonClampedCreated {
				t.Errorf("frame %d (seq %d): unexpected problem %+v", i, ev.Cursor, p)
			}
		}
		got = append(got, ev.Posts...)
	}
	if kinds[event.KindCommit] != 148 || kinds[event.KindIdentity] != 1 || kinds[event.KindAccount] != 1 {
		t.Errorf("kinds = %v, want 148 commits, 1 identity, 1 account", kinds)
	}
	want := expectedPosts(t)
	if len(want) != 18 {
		t.Fatalf("expected file has %d post events, want 17 creates + 1 delete", len(want))
	}
	key := func(did, rkey string) string { return did + "/" + rkey }
	byKey := map[string]*v1.Post{}
	for _, p := range got {
		if byKey[key(p.AuthorDid, p.Rkey)] != nil {
			t.Errorf("duplicate post %s", p.Uri)
		}
		byKey[key(p.AuthorDid, p.Rkey)] = p
	}
	if len(got) != len(want) {
		t.Errorf("decoded %d post events, Jetstream emitted %d", len(got), len(want))
	}
	for _, w := range want {
		p := byKey[key(w.DID, w.Rkey)]
		if p == nil {
			t.Errorf("missing %s %s/%s", w.Op, w.DID, w.Rkey)
			continue
		}
		wantOp := map[string]v1.Operation{"create": v1.Operation_OPERATION_CREATE, "delete": v1.Operation_OPERATION_DELETE}[w.Op]
		if p.Operation != wantOp || p.Text != w.Text || p.CreatedAtRaw != w.CreatedAt || !slices.Equal(p.Langs, w.Langs) || p.Cid != w.CID {
			t.Errorf("%s/%s:\n got  op=%v cid=%q text=%q createdAt=%q langs=%q\n want op=%v cid=%q text=%q createdAt=%q langs=%q",
				w.DID, w.Rkey, p.Operation, p.Cid, p.Text, p.CreatedAtRaw, p.Langs, wantOp, w.CID, w.Text, w.CreatedAt, w.Langs)
		}
		if p.Uri != "at://"+w.DID+"/app.bsky.feed.post/"+w.Rkey {
			t.Errorf("uri = %q", p.Uri)
		}

		// The Jetstream decoder must build the same message from the JSON,
		// apart from the stream position and the clamping that depends on it.
		jev, err := jetstream.Decode(w.Line)
		if err != nil || len(jev.Posts) != 1 {
			t.Fatalf("jetstream.Decode(%s): %v, %d posts", w.Rkey, err, len(jev.Posts))
		}
		jp := proto.Clone(jev.Posts[0]).(*v1.Post)
		fp := proto.Clone(p).(*v1.Post)
		for _, x := range []*v1.Post{jp, fp} {
			x.Cursor, x.ObservedAt, x.CreatedAt = 0, nil, nil
		}
		if !proto.Equal(jp, fp) {
			t.Errorf("%s: firehose and jetstream decoders disagree:\n firehose  %v\n jetstream %v", w.Rkey, fp, jp)
		}
	}
}

// TestDerivedFields checks the fields computed from facets and embeds on
// the real frames: every hashtag and link domain the record carries.
func TestDerivedFields(t *testing.T) {
	var creates, withLang, withEmbed int
	for _, b := range realFrames(t) {
		ev, err := frame.Decode(b, frame.Options{})
		if err != nil {
			t.Fatal(err)
		}
		for _, p := range ev.Posts {
			if p.Operation != v1.Operation_OPERATION_CREATE {
				if p.Text != "" || p.Cid != "" || p.CreatedAt != nil {
					t.Errorf("delete carries content: %v", p)
				}
				continue
			}
			creates++
			if len(p.Langs) > 0 {
				withLang++
			}
			if p.EmbedKind != v1.EmbedKind_EMBED_KIND_UNSPECIFIED {
				withEmbed++
			}
			if p.ObservedAt.AsTime() != ev.Time || p.Cursor != ev.Cursor || p.Source != v1.Source_SOURCE_BLUESKY {
				t.Errorf("%s: observed_at/cursor/source not from the frame", p.Uri)
			}
			ca := p.CreatedAt.AsTime()
			if ca.After(ev.Time) || ca.Before(ev.Time.Add(-event.MaxClockSkew)) {
				t.Errorf("%s: created_at %v not clamped around %v", p.Uri, ca, ev.Time)
			}
		}
	}
	if creates != 17 || withLang == 0 || withEmbed == 0 {
		t.Errorf("creates=%d withLang=%d withEmbed=%d", creates, withLang, withEmbed)
	}
}

func TestDecodeBadInput(t *testing.T) {
	frames := realFrames(t)
	var commit []byte
	for _, b := range frames {
		if ev, _ := frame.Decode(b, frame.Options{}); ev != nil && len(ev.Posts) > 0 {
			commit = b
			break
		}
	}
	tests := []struct {
		name string
		in   []byte
		opt  frame.Options
		want error
	}{
		{"empty", nil, frame.Options{}, frame.ErrMalformed},
		{"garbage", []byte("not cbor at all"), frame.Options{}, frame.ErrMalformed},
		{"truncated commit", commit[:len(commit)/2], frame.Options{}, frame.ErrMalformed},
		{"oversized", commit, frame.Options{MaxBytes: len(commit) - 1}, frame.ErrOversized},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := frame.Decode(tt.in, tt.opt)
			if !errors.Is(err, tt.want) {
				t.Fatalf("err = %v, want %v", err, tt.want)
			}
		})
	}
}

// FuzzDecodeFrame feeds mutated real frames to the decoder: it must never
// panic, and what it returns must be internally consistent.
func FuzzDecodeFrame(f *testing.F) {
	for _, b := range realFrames(f) {
		f.Add(b)
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		ev, err := frame.Decode(b, frame.Options{})
		if err != nil {
			if ev != nil {
				t.Fatal("event returned with error")
			}
			return
		}
		for _, p := range ev.Posts {
			if p.AuthorDid != ev.Repo || p.Cursor != ev.Cursor {
				t.Fatalf("post %v does not belong to event %d", p.Uri, ev.Cursor)
			}
			if _, err := proto.Marshal(p); err != nil {
				t.Fatalf("post does not marshal (invalid UTF-8 left in?): %v", err)
			}
		}
	})
}
