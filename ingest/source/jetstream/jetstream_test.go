package jetstream_test

import (
	"bytes"
	"context"
	"errors"
	"net/http"
	"os"
	"testing"
	"time"

	"github.com/gorilla/websocket"

	"github.com/trendstream/trendstream/ingest/internal/relaytest"
	"github.com/trendstream/trendstream/ingest/source"
	"github.com/trendstream/trendstream/ingest/source/jetstream"
)

// TestJetstreamSource streams the production Jetstream recording over a
// websocket and checks the query (posts only, cursor rewound 3 s) and the
// decoded posts.
func TestJetstreamSource(t *testing.T) {
	lines, err := readLines("../../frame/testdata/expected_v1.jsonl")
	if err != nil {
		t.Fatal(err)
	}
	url := relaytest.Scripted(t, func(c *websocket.Conn, r *http.Request) {
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
	j := &jetstream.Source{URL: url + "/subscribe"}
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
