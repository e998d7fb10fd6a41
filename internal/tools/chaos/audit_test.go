package chaos

import (
	"context"
	"testing"
	"time"

	"github.com/trendstream/trendstream/ingest/frame"
	"github.com/trendstream/trendstream/ingest/jetstream"
	"github.com/trendstream/trendstream/internal/tools/livesoak"
)

// TestDecodeAgreesWithTheIngest: the audit must name a post exactly as the
// ingest does, or every post would look lost.
func TestDecodeAgreesWithTheIngest(t *testing.T) {
	at := time.Date(2026, 3, 1, 12, 0, 0, 123456000, time.UTC)
	post, err := livesoak.JetstreamPost(livesoak.Text{Text: "hello #world", Langs: []string{"en"}, Tags: []string{"world"}}, "did:plc:abc", at, 7)
	if err != nil {
		t.Fatal(err)
	}
	frames, err := livesoak.LoadFrames("../../../ingest/frame/testdata/frames.bin.zst")
	if err != nil {
		t.Fatal(err)
	}
	var relayPost []byte
	for i, f := range frames {
		if livesoak.PostCreates(f) > 0 {
			if relayPost, err = livesoak.Restamp(f, livesoak.Stamp{Seq: int64(i + 1), Time: at}); err != nil {
				t.Fatal(err)
			}
			break
		}
	}
	if relayPost == nil {
		t.Fatal("the recording holds no post")
	}
	tests := []struct {
		name   string
		msg    []byte
		decode func([]byte) (int64, []SentPost, error)
		ingest func([]byte) (int64, []PostID, error)
	}{
		{"jetstream", post, decodeJetstream, func(b []byte) (int64, []PostID, error) {
			ev, err := jetstream.Decode(b)
			if err != nil {
				return 0, nil, err
			}
			var ids []PostID
			for _, p := range ev.Posts {
				ids = append(ids, PostID{p.GetUri(), p.GetCid()})
			}
			return ev.Cursor, ids, nil
		}},
		{"relay", relayPost, decodeRelay, func(b []byte) (int64, []PostID, error) {
			ev, err := frame.Decode(b, frame.Options{})
			if err != nil {
				return 0, nil, err
			}
			var ids []PostID
			for _, p := range ev.Posts {
				ids = append(ids, PostID{p.GetUri(), p.GetCid()})
			}
			return ev.Cursor, ids, nil
		}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			key, posts, err := tc.decode(tc.msg)
			if err != nil {
				t.Fatal(err)
			}
			wantKey, want, err := tc.ingest(tc.msg)
			if err != nil {
				t.Fatal(err)
			}
			if key != wantKey {
				t.Errorf("cursor %d, the ingest's %d", key, wantKey)
			}
			if len(posts) == 0 || len(posts) != len(want) {
				t.Fatalf("%d posts, the ingest decodes %d", len(posts), len(want))
			}
			for i, p := range posts {
				if p.PostID != want[i] {
					t.Errorf("post %d: %+v, the ingest's %+v", i, p.PostID, want[i])
				}
				if p.CID == "" || p.Time.IsZero() {
					t.Errorf("post %d: incomplete %+v", i, p)
				}
			}
		})
	}
}

func TestDecodeJetstreamSkipsOtherEvents(t *testing.T) {
	tests := []struct {
		name string
		msg  string
		key  int64
	}{
		{"identity", `{"did":"did:plc:a","time_us":5,"kind":"identity"}`, 5},
		{"like", `{"did":"did:plc:a","time_us":6,"kind":"commit","commit":{"operation":"create","collection":"app.bsky.feed.like","rkey":"x","cid":"c"}}`, 6},
		{"delete", `{"did":"did:plc:a","time_us":7,"kind":"commit","commit":{"operation":"delete","collection":"app.bsky.feed.post","rkey":"x"}}`, 7},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			key, posts, err := decodeJetstream([]byte(tc.msg))
			if err != nil {
				t.Fatal(err)
			}
			if key != tc.key || len(posts) != 0 {
				t.Fatalf("key %d, %d posts; want key %d, no post", key, len(posts), tc.key)
			}
		})
	}
	if _, _, err := decodeJetstream([]byte(`{"did":"x"}`)); err == nil {
		t.Error("an event without time_us was accepted")
	}
}

// TestAuditorReadsTheWholeStream: connected after the stream began, the
// audit still takes every event from the first.
func TestAuditorReadsTheWholeStream(t *testing.T) {
	srv, err := livesoak.NewServer(livesoak.ServerOptions{Rate: 400, Posts: 120, Authors: 50, Seed: 3, Logger: discard()})
	if err != nil {
		t.Fatal(err)
	}
	defer srv.Close()
	srv.Start()
	<-srv.Done()
	a := StartAuditor(context.Background(), livesoak.ModeJetstream, srv.URL(), discard())
	defer a.Stop()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := a.WaitEvents(ctx, srv.Stats().Events); err != nil {
		t.Fatal(err)
	}
	posts := a.Posts()
	if len(posts) != 120 {
		t.Fatalf("%d posts, want 120", len(posts))
	}
	for i := 1; i < len(posts); i++ {
		if posts[i].Time.Before(posts[i-1].Time) {
			t.Fatal("posts not in time order")
		}
	}
	if a.LastKey() != posts[len(posts)-1].Time.UnixMicro() {
		t.Errorf("last key %d, newest post at %d", a.LastKey(), posts[len(posts)-1].Time.UnixMicro())
	}
}
