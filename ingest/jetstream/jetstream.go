// Package jetstream decodes Jetstream v1 JSON events (the /subscribe wire
// format) into the same events the firehose decoder produces, so a Jetstream
// source yields byte-identical Post messages apart from the cursor.
//
// It is pure: one JSON object in, one event out.
package jetstream

import (
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"
	"unicode/utf8"

	bsky "github.com/bluesky-social/indigo/api/bsky"

	"github.com/trendstream/trendstream/ingest/event"
)

// ErrMalformed marks input that is not a Jetstream event.
var ErrMalformed = errors.New("malformed jetstream event")

type wire struct {
	DID    string `json:"did"`
	TimeUS int64  `json:"time_us"`
	Kind   string `json:"kind"`
	Commit *struct {
		Rev        string          `json:"rev"`
		Operation  string          `json:"operation"`
		Collection string          `json:"collection"`
		Rkey       string          `json:"rkey"`
		Record     json.RawMessage `json:"record"`
		CID        string          `json:"cid"`
	} `json:"commit"`
}

// Decode decodes one Jetstream event. The event's Cursor and Time come from
// time_us, which Jetstream uses as its cursor.
func Decode(b []byte) (*event.Event, error) {
	var w wire
	if err := json.Unmarshal(b, &w); err != nil {
		return nil, fmt.Errorf("%w: %v", ErrMalformed, err)
	}
	if w.DID == "" || w.TimeUS <= 0 {
		return nil, fmt.Errorf("%w: missing did or time_us", ErrMalformed)
	}
	if !ident(w.DID) {
		return nil, fmt.Errorf("%w: time_us %d: did %q is not valid UTF-8", ErrMalformed, w.TimeUS, w.DID)
	}
	ev := &event.Event{Cursor: w.TimeUS, Repo: w.DID, Time: time.UnixMicro(w.TimeUS).UTC()}
	switch w.Kind {
	case "identity":
		ev.Kind = event.KindIdentity
		return ev, nil
	case "account":
		ev.Kind = event.KindAccount
		return ev, nil
	case "commit":
		ev.Kind = event.KindCommit
	default:
		ev.Kind = event.KindUnknown
		ev.Problems = append(ev.Problems, event.Problem{Reason: "unknown_type", Detail: fmt.Sprintf("jetstream kind %q", w.Kind)})
		return ev, nil
	}
	c := w.Commit
	if c == nil || c.Collection == "" || c.Rkey == "" {
		return nil, fmt.Errorf("%w: commit without collection/rkey", ErrMalformed)
	}
	if !ident(c.Collection) || !ident(c.Rkey) {
		return nil, fmt.Errorf("%w: time_us %d: collection %q or rkey %q is not valid UTF-8", ErrMalformed, w.TimeUS, c.Collection, c.Rkey)
	}
	ev.Ops = []event.Op{{Action: c.Operation, Collection: c.Collection}}
	if c.Collection != event.PostCollection {
		return ev, nil
	}
	m := event.Meta{DID: w.DID, Rkey: c.Rkey, CID: c.CID, ObservedAt: ev.Time, Cursor: w.TimeUS}
	switch c.Operation {
	case "delete":
		ev.Posts = append(ev.Posts, event.Delete(m))
	case "create":
		var fp bsky.FeedPost
		if err := json.Unmarshal(c.Record, &fp); err != nil {
			ev.Problems = append(ev.Problems, event.Problem{Reason: event.ReasonBadRecord, Detail: fmt.Sprintf("time_us %d: record %s/%s: %v", w.TimeUS, w.DID, c.Rkey, err)})
			return ev, nil
		}
		p, probs := event.FromFeedPost(m, &fp)
		ev.Posts = append(ev.Posts, p)
		ev.Problems = append(ev.Problems, probs...)
	}
	return ev, nil
}

// ident reports whether an identifier (DID, collection, record key: all
// ASCII by the atproto specs) came through intact. encoding/json does not
// reject invalid UTF-8 in a string, it replaces it with U+FFFD, so a
// mangled DID would otherwise be delivered as the name of an author who
// does not exist (the firehose decoder rejects the same input, see
// frame.decodeCommit). A U+FFFD is never part of a valid identifier.
func ident(s string) bool {
	return utf8.ValidString(s) && !strings.ContainsRune(s, utf8.RuneError)
}
