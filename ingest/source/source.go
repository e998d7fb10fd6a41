// Package source defines what the ingest reads from: a resumable stream of
// decoded events, handed to a callback that may block. Blocking the callback
// blocks the read loop: that is how a slow sink slows the socket instead of
// filling memory.
//
// Every source can start from a position (firehose seq, Jetstream time_us,
// record index in a file), so the runner resumes after a crash or an outage
// from its committed cursor.
//
// Each source is a package of its own below this one, as indigo keeps its
// event schedulers (events/schedulers/{sequential,parallel}): firehose,
// jetstream, file (recordings) and rawtopic (reprocessing the raw-frame
// topic). The command builds one and passes it to ingest.Run;
// docs/extending.md walks through adding another. What the websocket
// sources share (RunWS, WSOptions) lives here.
package source

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/trendstream/trendstream/ingest/event"
)

// Item is one frame or line read from a source.
type Item struct {
	// Pos is the position to resume after this item; 0 when it has none
	// (an #info message).
	Pos int64
	// Raw is the frame as received (firehose and frame recordings only). It
	// is only valid during the callback.
	Raw []byte
	// Event is the decoded event, nil when Err is set.
	Event *event.Event
	// Err is a per-item defect (malformed or oversized input). The stream
	// goes on; the runner counts and logs it.
	Err error
	// Received is when the event was first received, if the source knows
	// better than the clock: a reprocessed frame carries its original
	// receive time, so an event without a usable relay time gets the
	// same stand-in time as the first time round. Zero means now.
	Received time.Time
}

// Rewinding is a source that resumes before its cursor: after a restart
// from position p it sends again what lies in (p-Rewind(), p]. The ingest's
// dedupe (ingest/dedupe.go) looks back that far for posts already written.
type Rewinding interface {
	Rewind() int64
}

// Emit receives items. Returning an error stops the source, which returns
// that error.
type Emit func(ctx context.Context, it *Item) error

// Source is a resumable stream of events.
type Source interface {
	// Key names the stream for cursor storage (kind and URL or path).
	Key() string
	// Kind names the kind of source (firehose, jetstream, file, rawtopic):
	// the writer of the source-watermark markers.
	Kind() string
	// Bounded says the input ends: Run returns nil once everything in it
	// was emitted. The ingest then writes a final watermark marker, and
	// `trendstream run` windows it as a bounded job.
	Bounded() bool
	// Run streams from position from (all of the stream, or the live tip
	// for network sources, when hasFrom is false) until ctx is done, the
	// input ends (nil error; only a Bounded source's input ends) or the
	// connection fails.
	Run(ctx context.Context, from int64, hasFrom bool, emit Emit) error
}

// ErrFutureCursor is returned when the server says the cursor is ahead of
// its stream, which happens when the relay reset its sequence or the
// cursor belongs to another server. Resuming from it would wait forever.
var ErrFutureCursor = errors.New("cursor is in the future for this server")

// Disconnect is a connection failure with a reason label for metrics.
type Disconnect struct {
	// Reason is a fixed label: stall, close_<code>, dial, read, error_frame.
	Reason string
	// Code is the websocket close code (0 if none).
	Code int
	Err  error
}

func (d *Disconnect) Error() string { return fmt.Sprintf("%s: %v", d.Reason, d.Err) }
func (d *Disconnect) Unwrap() error { return d.Err }
