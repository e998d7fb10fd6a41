package source_test

import (
	"bytes"
	"context"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"strings"
	"testing"
	"time"

	comatproto "github.com/bluesky-social/indigo/api/atproto"
	"github.com/bluesky-social/indigo/events"
	"github.com/gorilla/websocket"

	"github.com/trendstream/trendstream/ingest/frame"
	"github.com/trendstream/trendstream/ingest/source"
)

// frameOf encodes a firehose frame: header then body.
func frameOf(t *testing.T, op int64, typ string, body interface{ MarshalCBOR(io.Writer) error }) []byte {
	t.Helper()
	var b bytes.Buffer
	h := events.EventHeader{Op: op, MsgType: typ}
	if err := h.MarshalCBOR(&b); err != nil {
		t.Fatal(err)
	}
	if err := body.MarshalCBOR(&b); err != nil {
		t.Fatal(err)
	}
	return b.Bytes()
}

func identity(t *testing.T, seq int64) []byte {
	return frameOf(t, events.EvtKindMessage, "#identity", &comatproto.SyncSubscribeRepos_Identity{Did: "did:plc:test", Seq: seq, Time: "2026-07-04T14:38:06.928Z"})
}

// script is what the fake server does on each connection.
type script func(c *websocket.Conn, r *http.Request)

func server(t *testing.T, s script) string {
	t.Helper()
	up := websocket.Upgrader{}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		c, err := up.Upgrade(w, r, nil)
		if err != nil {
			return
		}
		defer c.Close()
		s(c, r)
	}))
	t.Cleanup(srv.Close)
	return "ws" + strings.TrimPrefix(srv.URL, "http")
}

func collect(ctx context.Context, f *source.Firehose, from int64, has bool) ([]*source.Item, error) {
	var items []*source.Item
	err := f.Run(ctx, from, has, func(_ context.Context, it *source.Item) error {
		items = append(items, it)
		return nil
	})
	return items, err
}

func TestFirehoseFailures(t *testing.T) {
	info := "cursor too old"
	tests := []struct {
		name   string
		script script
		from   int64
		has    bool
		check  func(t *testing.T, items []*source.Item, err error)
	}{
		{
			name:   "stalled socket trips the watchdog",
			script: func(c *websocket.Conn, r *http.Request) { time.Sleep(3 * time.Second) },
			check: func(t *testing.T, _ []*source.Item, err error) {
				var d *source.Disconnect
				if !errors.As(err, &d) || d.Reason != "stall" {
					t.Fatalf("err = %v, want a stall disconnect", err)
				}
			},
		},
		{
			name: "FutureCursor error frame",
			script: func(c *websocket.Conn, r *http.Request) {
				_ = c.WriteMessage(websocket.BinaryMessage, frameOf(t, events.EvtKindErrorFrame, "", &events.ErrorFrame{Error: "FutureCursor", Message: "Cursor in the future."}))
			},
			from: 99, has: true,
			check: func(t *testing.T, _ []*source.Item, err error) {
				if !errors.Is(err, source.ErrFutureCursor) {
					t.Fatalf("err = %v, want ErrFutureCursor", err)
				}
			},
		},
		{
			name: "close code is reported",
			script: func(c *websocket.Conn, r *http.Request) {
				_ = c.WriteMessage(websocket.BinaryMessage, identity(t, 1))
				_ = c.WriteControl(websocket.CloseMessage, websocket.FormatCloseMessage(websocket.CloseTryAgainLater, "overloaded"), time.Now().Add(time.Second))
				time.Sleep(200 * time.Millisecond)
			},
			check: func(t *testing.T, items []*source.Item, err error) {
				var d *source.Disconnect
				if !errors.As(err, &d) || d.Code != websocket.CloseTryAgainLater || d.Reason != "close_1013" {
					t.Fatalf("err = %v, want close 1013", err)
				}
				if len(items) != 1 || items[0].Pos != 1 {
					t.Fatalf("items before close = %d", len(items))
				}
			},
		},
		{
			name: "OutdatedCursor info, oversized and garbage frames do not stop the stream; replayed seqs are dropped",
			script: func(c *websocket.Conn, r *http.Request) {
				if r.URL.Query().Get("cursor") != "5" {
					t.Errorf("cursor query = %q, want 5", r.URL.RawQuery)
				}
				_ = c.WriteMessage(websocket.BinaryMessage, frameOf(t, events.EvtKindMessage, "#info", &comatproto.SyncSubscribeRepos_Info{Name: "OutdatedCursor", Message: &info}))
				_ = c.WriteMessage(websocket.BinaryMessage, identity(t, 5)) // at the cursor: dropped
				_ = c.WriteMessage(websocket.BinaryMessage, bytes.Repeat([]byte{0xa2}, 5000))
				_ = c.WriteMessage(websocket.BinaryMessage, []byte("garbage"))
				_ = c.WriteMessage(websocket.TextMessage, []byte(`{"json":"on a binary stream"}`))
				_ = c.WriteMessage(websocket.BinaryMessage, identity(t, 6))
				_ = c.WriteMessage(websocket.CloseMessage, websocket.FormatCloseMessage(websocket.CloseNormalClosure, ""))
				time.Sleep(100 * time.Millisecond)
			},
			from: 5, has: true,
			check: func(t *testing.T, items []*source.Item, err error) {
				if len(items) != 5 {
					t.Fatalf("got %d items, want info, oversized, garbage, wrong type, seq 6", len(items))
				}
				if ev := items[0].Event; ev == nil || ev.Info == nil || ev.Info.Name != "OutdatedCursor" || ev.Info.Message != info {
					t.Errorf("item 0 = %+v, want the OutdatedCursor info", items[0])
				}
				if !errors.Is(items[1].Err, frame.ErrOversized) || !errors.Is(items[2].Err, frame.ErrMalformed) || !errors.Is(items[3].Err, source.ErrWrongMessageType) {
					t.Errorf("bad items: %v / %v / %v", items[1].Err, items[2].Err, items[3].Err)
				}
				if items[4].Pos != 6 || items[4].Event == nil {
					t.Errorf("last item = %+v, want seq 6", items[4])
				}
				var d *source.Disconnect
				if !errors.As(err, &d) || d.Code != websocket.CloseNormalClosure {
					t.Errorf("err = %v, want normal close", err)
				}
			},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			defer cancel()
			f := &source.Firehose{Relay: server(t, tt.script), WSOptions: source.WSOptions{StallTimeout: 300 * time.Millisecond, MaxFrame: 4096}}
			items, err := collect(ctx, f, tt.from, tt.has)
			tt.check(t, items, err)
		})
	}
}

// TestJetstreamSource streams the production Jetstream recording over a
// websocket and checks the query (posts only, cursor rewound 3 s) and the
// decoded posts.
func TestJetstreamSource(t *testing.T) {
	lines, err := readLines("../frame/testdata/expected_v1.jsonl")
	if err != nil {
		t.Fatal(err)
	}
	url := server(t, func(c *websocket.Conn, r *http.Request) {
		q := r.URL.Query()
		if q.Get("wantedCollections") != "app.bsky.feed.post" || q.Get("cursor") != "1783175885085434" {
			t.Errorf("query = %q", r.URL.RawQuery)
		}
		for _, l := range lines {
			_ = c.WriteMessage(websocket.TextMessage, l)
		}
		_ = c.WriteMessage(websocket.CloseMessage, websocket.FormatCloseMessage(websocket.CloseGoingAway, "bye"))
		time.Sleep(100 * time.Millisecond)
	})
	j := &source.Jetstream{URL: url + "/subscribe"}
	var posts, items int
	err = j.Run(context.Background(), 1783175888085434, true, func(_ context.Context, it *source.Item) error {
		if it.Err != nil {
			t.Errorf("item error: %v", it.Err)
			return nil
		}
		items++
		posts += len(it.Event.Posts)
		if it.Pos != it.Event.Cursor {
			t.Errorf("pos %d != time_us %d", it.Pos, it.Event.Cursor)
		}
		return nil
	})
	var d *source.Disconnect
	if !errors.As(err, &d) || d.Code != websocket.CloseGoingAway {
		t.Errorf("err = %v, want going-away close", err)
	}
	if items != len(lines) || posts != 18 {
		t.Errorf("items %d (want %d), posts %d (want 18)", items, len(lines), posts)
	}
}

func readLines(path string) ([][]byte, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	return bytes.Split(bytes.TrimSpace(b), []byte("\n")), nil
}
