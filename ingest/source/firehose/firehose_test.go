package firehose_test

import (
	"bytes"
	"context"
	"errors"
	"io"
	"net/http"
	"testing"
	"time"

	comatproto "github.com/bluesky-social/indigo/api/atproto"
	"github.com/bluesky-social/indigo/events"
	"github.com/gorilla/websocket"

	"github.com/trendstream/trendstream/ingest/frame"
	"github.com/trendstream/trendstream/ingest/internal/relaytest"
	"github.com/trendstream/trendstream/ingest/source"
	"github.com/trendstream/trendstream/ingest/source/firehose"
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

func collect(ctx context.Context, f *firehose.Source, from int64, has bool) ([]*source.Item, error) {
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
		script relaytest.Script
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
			f := &firehose.Source{Relay: relaytest.Scripted(t, tt.script), WSOptions: source.WSOptions{StallTimeout: 300 * time.Millisecond, MaxFrame: 4096}}
			items, err := collect(ctx, f, tt.from, tt.has)
			tt.check(t, items, err)
		})
	}
}
