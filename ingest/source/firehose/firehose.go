// Package firehose is the source for com.atproto.sync.subscribeRepos: a
// relay's (or a PDS's) firehose of repository commits as CBOR frames.
package firehose

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"

	"github.com/gorilla/websocket"

	"github.com/trendstream/trendstream/ingest/frame"
	"github.com/trendstream/trendstream/ingest/source"
)

// DefaultRelay is Bluesky's relay.
const DefaultRelay = "wss://bsky.network"

// Source reads com.atproto.sync.subscribeRepos from a relay or PDS.
type Source struct {
	// Relay is the service base URL (wss://bsky.network); the XRPC path is
	// appended unless the URL already names it.
	Relay string
	source.WSOptions
}

// Key implements source.Source.
func (f *Source) Key() string { return "firehose:" + f.endpoint() }

func (f *Source) endpoint() string {
	u := strings.TrimRight(f.Relay, "/")
	if !strings.HasSuffix(u, "/xrpc/com.atproto.sync.subscribeRepos") {
		u += "/xrpc/com.atproto.sync.subscribeRepos"
	}
	return u
}

// Run implements source.Source. With hasFrom it asks the relay to replay from the
// cursor and drops anything at or before it, because relays differ on
// whether the cursor is inclusive.
func (f *Source) Run(ctx context.Context, from int64, hasFrom bool, emit source.Emit) error {
	f.Defaults()
	u := f.endpoint()
	if hasFrom {
		u += "?cursor=" + strconv.FormatInt(from, 10)
	}
	return source.RunWS(ctx, u, f.WSOptions, websocket.BinaryMessage, func(ctx context.Context, b []byte, bad error) error {
		if bad != nil {
			return emit(ctx, &source.Item{Err: bad})
		}
		ev, err := frame.Decode(b, frame.Options{MaxBytes: f.MaxFrame})
		var ef *frame.ErrorFrame
		if errors.As(err, &ef) {
			if ef.Name == "FutureCursor" {
				return fmt.Errorf("%w: %s", source.ErrFutureCursor, ef)
			}
			return &source.Disconnect{Reason: "error_frame", Err: ef}
		}
		if err != nil {
			return emit(ctx, &source.Item{Raw: b, Err: err})
		}
		if hasFrom && ev.Cursor > 0 && ev.Cursor <= from {
			return nil
		}
		return emit(ctx, &source.Item{Pos: ev.Cursor, Raw: b, Event: ev})
	})
}

// Kind implements source.Source.
func (f *Source) Kind() string { return "firehose" }

// Bounded implements source.Source: a firehose never ends.
func (f *Source) Bounded() bool { return false }

var _ source.Source = (*Source)(nil)
