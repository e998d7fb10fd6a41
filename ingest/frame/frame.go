// Package frame decodes raw com.atproto.sync.subscribeRepos websocket frames
// (a DAG-CBOR header {op, t} followed by a DAG-CBOR body) into events.
//
// It is pure: bytes in, event out, no network and no clock. The live firehose
// source, the recorded-file replay, the oracle test and the fuzz test all go
// through Decode, so what is tested is what runs.
//
// Commits are decoded on the fast path measured in INGEST-PERF.md: the CAR
// slice is scanned once and only the blocks whose CIDs the post ops name are
// kept, without building the MST. Each kept block is checked against its CID
// hash, so a record cannot be swapped under a valid op. Signatures are not
// verified.
package frame

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"strings"
	"time"
	"unicode/utf8"

	comatproto "github.com/bluesky-social/indigo/api/atproto"
	bsky "github.com/bluesky-social/indigo/api/bsky"
	"github.com/bluesky-social/indigo/events"
	"github.com/ipfs/go-cid"
	cbg "github.com/whyrusleeping/cbor-gen"

	"github.com/trendstream/trendstream/ingest/event"
)

// DefaultMaxBytes is the largest frame Decode accepts by default. Relays cap
// commit CAR slices at 2 MB; anything much larger is not a valid frame.
const DefaultMaxBytes = 4 << 20

// Errors Decode wraps, so callers can label what went wrong.
var (
	// ErrOversized marks a frame longer than the configured limit.
	ErrOversized = errors.New("frame too large")
	// ErrMalformed marks a frame whose header or body is not valid CBOR of
	// the declared type.
	ErrMalformed = errors.New("malformed frame")
)

// ErrorFrame is an error the server sent instead of an event (op = -1),
// such as FutureCursor or ConsumerTooSlow. It is returned as an error
// because the server closes the stream after it.
type ErrorFrame struct {
	Name    string
	Message string
}

func (e *ErrorFrame) Error() string {
	if e.Message == "" {
		return "firehose error frame: " + e.Name
	}
	return "firehose error frame: " + e.Name + ": " + e.Message
}

// Options tune Decode.
type Options struct {
	// MaxBytes rejects larger frames (0 means DefaultMaxBytes).
	MaxBytes int
}

// Decode decodes one frame. A non-nil error means the frame as a whole is
// unusable (malformed, oversized, or an *ErrorFrame); defects inside a
// usable event, such as one undecodable record, are reported in
// Event.Problems instead so the rest of the commit still counts.
func Decode(b []byte, opt Options) (ev *event.Event, err error) {
	max := opt.MaxBytes
	if max <= 0 {
		max = DefaultMaxBytes
	}
	if len(b) > max {
		return nil, fmt.Errorf("%w: %d bytes > %d", ErrOversized, len(b), max)
	}
	// cbor-gen decoders are generated code fed with untrusted bytes; a panic
	// in one must cost a frame, not the process.
	defer func() {
		if r := recover(); r != nil {
			ev, err = nil, fmt.Errorf("%w: decoder panic: %v", ErrMalformed, r)
		}
	}()
	r := bytes.NewReader(b)
	cr := cbg.NewCborReader(r)
	var h events.EventHeader
	if err := h.UnmarshalCBOR(cr); err != nil {
		return nil, fmt.Errorf("%w: header: %v", ErrMalformed, err)
	}
	switch h.Op {
	case events.EvtKindErrorFrame:
		var ef events.ErrorFrame
		if err := ef.UnmarshalCBOR(cr); err != nil {
			return nil, fmt.Errorf("%w: error frame body: %v", ErrMalformed, err)
		}
		return nil, &ErrorFrame{Name: ef.Error, Message: ef.Message}
	case events.EvtKindMessage:
	default:
		return nil, fmt.Errorf("%w: unknown header op %d", ErrMalformed, h.Op)
	}
	switch h.MsgType {
	case "#commit":
		var c comatproto.SyncSubscribeRepos_Commit
		if err := c.UnmarshalCBOR(cr); err != nil {
			return nil, fmt.Errorf("%w: #commit body: %v", ErrMalformed, err)
		}
		return decodeCommit(&c)
	case "#sync":
		var s comatproto.SyncSubscribeRepos_Sync
		if err := s.UnmarshalCBOR(cr); err != nil {
			return nil, fmt.Errorf("%w: #sync body: %v", ErrMalformed, err)
		}
		return simple(event.KindSync, s.Seq, s.Did, s.Time), nil
	case "#identity":
		var s comatproto.SyncSubscribeRepos_Identity
		if err := s.UnmarshalCBOR(cr); err != nil {
			return nil, fmt.Errorf("%w: #identity body: %v", ErrMalformed, err)
		}
		return simple(event.KindIdentity, s.Seq, s.Did, s.Time), nil
	case "#account":
		var s comatproto.SyncSubscribeRepos_Account
		if err := s.UnmarshalCBOR(cr); err != nil {
			return nil, fmt.Errorf("%w: #account body: %v", ErrMalformed, err)
		}
		return simple(event.KindAccount, s.Seq, s.Did, s.Time), nil
	case "#info":
		var s comatproto.SyncSubscribeRepos_Info
		if err := s.UnmarshalCBOR(cr); err != nil {
			return nil, fmt.Errorf("%w: #info body: %v", ErrMalformed, err)
		}
		inf := &event.Info{Name: s.Name}
		if s.Message != nil {
			inf.Message = *s.Message
		}
		return &event.Event{Kind: event.KindInfo, Info: inf}, nil
	default:
		// Newer protocol versions add message types; a consumer must skip
		// what it does not know rather than fail.
		return &event.Event{Kind: event.KindUnknown, Problems: []event.Problem{{Reason: "unknown_type", Detail: fmt.Sprintf("message type %q", trunc(h.MsgType))}}}, nil
	}
}

func simple(k event.Kind, seq int64, did, ts string) *event.Event {
	ev := &event.Event{Kind: k, Cursor: seq, Repo: did}
	ev.Time, ev.Problems = eventTime(ts, seq)
	return ev
}

// eventTime parses the relay time. A frame with an unparsable time keeps the
// zero time and a problem; the runner substitutes its receive time.
func eventTime(ts string, seq int64) (time.Time, []event.Problem) {
	t, err := event.ParseTime(ts)
	if err != nil {
		return time.Time{}, []event.Problem{{Reason: event.ReasonBadTime, Detail: fmt.Sprintf("seq %d: time %q: %v", seq, trunc(ts), err)}}
	}
	return t, nil
}

func decodeCommit(c *comatproto.SyncSubscribeRepos_Commit) (*event.Event, error) {
	// A DID is ASCII; one that is not even UTF-8 cannot name an author, and
	// proto.Marshal would refuse every post of the commit (found by
	// FuzzDecodeFrame; testdata/fuzz). The commit is malformed as a whole.
	if !utf8.ValidString(c.Repo) {
		return nil, fmt.Errorf("frame: seq %d: repo DID %q is not valid UTF-8", c.Seq, trunc(c.Repo))
	}
	ev := &event.Event{Kind: event.KindCommit, Cursor: c.Seq, Repo: c.Repo}
	ev.Time, ev.Problems = eventTime(c.Time, c.Seq)
	if c.TooBig {
		ev.Problems = append(ev.Problems, event.Problem{Reason: event.ReasonTooBig, Detail: fmt.Sprintf("seq %d: tooBig commit, records not included", c.Seq)})
	}
	type want struct {
		rkey string
		cid  cid.Cid
	}
	var wants []want
	ev.Ops = make([]event.Op, 0, len(c.Ops))
	for _, op := range c.Ops {
		if op == nil {
			continue
		}
		coll, rkey, ok := splitPath(op.Path)
		if !ok {
			ev.Problems = append(ev.Problems, event.Problem{Reason: event.ReasonBadPath, Detail: fmt.Sprintf("seq %d: op path %q", c.Seq, trunc(op.Path))})
			continue
		}
		ev.Ops = append(ev.Ops, event.Op{Action: op.Action, Collection: coll})
		if coll != event.PostCollection {
			continue
		}
		switch op.Action {
		case "create":
			if op.Cid == nil {
				ev.Problems = append(ev.Problems, event.Problem{Reason: event.ReasonMissingRecord, Detail: fmt.Sprintf("seq %d: create %s without cid", c.Seq, trunc(op.Path))})
				continue
			}
			wants = append(wants, want{rkey, cid.Cid(*op.Cid)})
		case "delete":
			wants = append(wants, want{rkey: rkey})
		}
	}
	if len(wants) == 0 {
		return ev, nil
	}
	obs := ev.Time
	if obs.IsZero() {
		obs = time.Unix(0, 0).UTC()
	}
	var blocks map[string][]byte
	for _, w := range wants {
		if w.cid.Defined() {
			blocks = map[string][]byte{}
			break
		}
	}
	if blocks != nil {
		for _, w := range wants {
			if w.cid.Defined() {
				blocks[w.cid.KeyString()] = nil
			}
		}
		if err := scanCAR(c.Blocks, blocks); err != nil {
			ev.Problems = append(ev.Problems, event.Problem{Reason: event.ReasonBadRecord, Detail: fmt.Sprintf("seq %d: CAR: %v", c.Seq, err)})
		}
	}
	for _, w := range wants {
		m := event.Meta{DID: c.Repo, Rkey: w.rkey, ObservedAt: obs, Cursor: c.Seq}
		if !w.cid.Defined() {
			ev.Posts = append(ev.Posts, event.Delete(m))
			continue
		}
		m.CID = w.cid.String()
		raw := blocks[w.cid.KeyString()]
		if raw == nil {
			ev.Problems = append(ev.Problems, event.Problem{Reason: event.ReasonMissingRecord, Detail: fmt.Sprintf("seq %d: record %s/%s (%s) not in CAR", c.Seq, c.Repo, w.rkey, m.CID)})
			continue
		}
		var fp bsky.FeedPost
		if err := fp.UnmarshalCBOR(bytes.NewReader(raw)); err != nil {
			ev.Problems = append(ev.Problems, event.Problem{Reason: event.ReasonBadRecord, Detail: fmt.Sprintf("seq %d: record %s/%s: %v", c.Seq, c.Repo, w.rkey, err)})
			continue
		}
		p, probs := event.FromFeedPost(m, &fp)
		ev.Posts = append(ev.Posts, p)
		ev.Problems = append(ev.Problems, probs...)
	}
	return ev, nil
}

// splitPath splits "collection/rkey"; both parts must be non-empty, and
// valid UTF-8 (record keys and NSIDs are ASCII).
func splitPath(p string) (coll, rkey string, ok bool) {
	if !utf8.ValidString(p) {
		return "", "", false
	}
	i := strings.IndexByte(p, '/')
	if i <= 0 || i == len(p)-1 || strings.IndexByte(p[i+1:], '/') >= 0 {
		return "", "", false
	}
	return p[:i], p[i+1:], true
}

// scanCAR walks a CAR v1 byte slice and fills in the wanted blocks (keyed by
// CID.KeyString) whose content hashes to their CID. Blocks not wanted are
// skipped without hashing.
func scanCAR(car []byte, wanted map[string][]byte) error {
	hlen, n := binary.Uvarint(car)
	if n <= 0 || hlen > uint64(len(car)-n) {
		return errors.New("bad header length")
	}
	rest := car[n+int(hlen):]
	left := len(wanted)
	for len(rest) > 0 && left > 0 {
		l, n := binary.Uvarint(rest)
		if n <= 0 || l > uint64(len(rest)-n) || l == 0 {
			return errors.New("bad section length")
		}
		sec := rest[n : n+int(l)]
		rest = rest[n+int(l):]
		cn, c, err := cid.CidFromBytes(sec)
		if err != nil {
			return fmt.Errorf("section CID: %w", err)
		}
		k := c.KeyString()
		if v, ok := wanted[k]; !ok || v != nil {
			continue
		}
		data := sec[cn:]
		chk, err := c.Prefix().Sum(data)
		if err != nil || !chk.Equals(c) {
			return fmt.Errorf("block %s does not match its CID", c)
		}
		wanted[k] = data
		left--
	}
	return nil
}

func trunc(s string) string {
	if len(s) > 80 {
		return s[:80] + "…"
	}
	return s
}
