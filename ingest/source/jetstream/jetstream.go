// Package jetstream is the source for Bluesky's Jetstream: the firehose as
// JSON over a websocket, filtered to posts.
package jetstream

import (
	"context"
	"fmt"
	"net/url"
	"strconv"
	"time"

	"github.com/gorilla/websocket"

	"github.com/trendstream/trendstream/ingest/event"
	jsdecode "github.com/trendstream/trendstream/ingest/jetstream"
	"github.com/trendstream/trendstream/ingest/source"
)

// DefaultURL is one of Bluesky's public Jetstream instances.
const DefaultURL = "wss://jetstream2.us-east.bsky.network/subscribe"

// Source reads Jetstream v1 JSON events, posts only.
type Source struct {
	// URL is the subscribe endpoint, e.g.
	// wss://jetstream2.us-east.bsky.network/subscribe.
	URL string
	source.WSOptions
}

// Key implements source.Source.
func (j *Source) Key() string { return "jetstream:" + j.URL }

// Rewind is subtracted from a Jetstream resume cursor. Jetstream
// emits events slightly out of time_us order, so an event older than the
// committed one may still have been unacknowledged; its README recommends
// rewinding a few seconds for gapless playback.
const Rewind = 3 * time.Second

// Run implements source.Source. Jetstream cursors are time_us and inclusive; with
// the rewind, events of the last seconds before the cursor arrive again.
func (j *Source) Run(ctx context.Context, from int64, hasFrom bool, emit source.Emit) error {
	j.Defaults()
	pu, err := url.Parse(j.URL)
	if err != nil {
		return fmt.Errorf("jetstream url: %w", err)
	}
	q := pu.Query()
	q.Set("wantedCollections", event.PostCollection)
	if hasFrom {
		q.Set("cursor", strconv.FormatInt(max(from-Rewind.Microseconds(), 0), 10))
	}
	pu.RawQuery = q.Encode()
	return source.RunWS(ctx, pu.String(), j.WSOptions, websocket.TextMessage, func(ctx context.Context, b []byte, bad error) error {
		if bad != nil {
			return emit(ctx, &source.Item{Err: bad})
		}
		ev, err := jsdecode.Decode(b)
		if err != nil {
			return emit(ctx, &source.Item{Raw: b, Err: err})
		}
		return emit(ctx, &source.Item{Pos: ev.Cursor, Event: ev})
	})
}

// Rewind implements source.Rewinding: Rewind in time_us.
func (j *Source) Rewind() int64 { return Rewind.Microseconds() }

// Kind implements source.Source.
func (j *Source) Kind() string { return "jetstream" }

// Bounded implements source.Source: Jetstream never ends.
func (j *Source) Bounded() bool { return false }

var (
	_ source.Source    = (*Source)(nil)
	_ source.Rewinding = (*Source)(nil)
)
