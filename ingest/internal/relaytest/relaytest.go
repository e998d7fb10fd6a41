// Package relaytest serves real recorded firehose frames as an endless
// com.atproto.sync.subscribeRepos stream over a real websocket, for tests and
// benchmarks of the ingest: frame i of the stream is recorded frame
// i mod len with its seq rewritten to i+1, so positions are monotonic and a
// client can resume with ?cursor=N (exclusive, like the reference PDS).
package relaytest

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	comatproto "github.com/bluesky-social/indigo/api/atproto"
	"github.com/bluesky-social/indigo/events"
	"github.com/gorilla/websocket"
	cbg "github.com/whyrusleeping/cbor-gen"

	"github.com/trendstream/trendstream/ingest/replay"
)

// LoadFrames reads a frame recording.
func LoadFrames(path string) ([][]byte, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	r, err := replay.NewReader(f, 16<<20)
	if err != nil {
		return nil, err
	}
	defer r.Close()
	var out [][]byte
	for {
		b, err := r.Next()
		if err == io.EOF {
			return out, nil
		}
		if err != nil {
			return nil, err
		}
		out = append(out, bytes.Clone(b))
	}
}

// Reseq returns frame with its seq replaced (for #commit, #identity,
// #account and #sync frames; others are returned unchanged).
func Reseq(frame []byte, seq int64) ([]byte, error) {
	cr := cbg.NewCborReader(bytes.NewReader(frame))
	var h events.EventHeader
	if err := h.UnmarshalCBOR(cr); err != nil {
		return nil, err
	}
	var body interface {
		UnmarshalCBOR(io.Reader) error
		MarshalCBOR(io.Writer) error
	}
	var set func()
	switch h.MsgType {
	case "#commit":
		b := &comatproto.SyncSubscribeRepos_Commit{}
		body, set = b, func() { b.Seq = seq }
	case "#identity":
		b := &comatproto.SyncSubscribeRepos_Identity{}
		body, set = b, func() { b.Seq = seq }
	case "#account":
		b := &comatproto.SyncSubscribeRepos_Account{}
		body, set = b, func() { b.Seq = seq }
	case "#sync":
		b := &comatproto.SyncSubscribeRepos_Sync{}
		body, set = b, func() { b.Seq = seq }
	default:
		return frame, nil
	}
	if err := body.UnmarshalCBOR(cr); err != nil {
		return nil, err
	}
	set()
	var buf bytes.Buffer
	if err := h.MarshalCBOR(&buf); err != nil {
		return nil, err
	}
	if err := body.MarshalCBOR(&buf); err != nil {
		return nil, err
	}
	return buf.Bytes(), nil
}

// Base is added to stream positions to form seqs. Seqs at or above 2^32
// are encoded by DAG-CBOR as a fixed 8-byte integer, so a frame's seq can be
// patched in place instead of re-encoding the frame: the fake relay then
// costs the benchmark almost nothing.
const Base = int64(1) << 32

// Stream is an endless re-sequenced stream over a frame set: position n
// (1-based) is recorded frame (n-1) mod len with seq Base+n.
type Stream struct {
	base [][]byte
	off  []int // offset of the 8 seq bytes in each base frame, -1 if none
}

var seqKey = []byte{0x63, 's', 'e', 'q', 0x1b}

// NewStream wraps recorded frames. Frames are first re-encoded with a seq
// at or above Base, so the 8-byte form is guaranteed.
func NewStream(frames [][]byte) (*Stream, error) {
	s := &Stream{}
	for i, f := range frames {
		b, err := Reseq(f, Base)
		if err != nil {
			return nil, fmt.Errorf("relaytest: frame %d: %w", i, err)
		}
		off := bytes.Index(b, seqKey)
		if off >= 0 {
			off += len(seqKey)
		}
		s.base = append(s.base, b)
		s.off = append(s.off, off)
	}
	return s, nil
}

// Seq is the seq of stream position n.
func (s *Stream) Seq(n int64) int64 { return Base + n }

// Frame returns a fresh copy of the frame at position n (1-based).
func (s *Stream) Frame(n int64) []byte { return s.AppendFrame(nil, n) }

// AppendFrame appends the frame at position n to dst, so a server can
// reuse one buffer.
func (s *Stream) AppendFrame(dst []byte, n int64) []byte {
	i := (n - 1) % int64(len(s.base))
	start := len(dst)
	dst = append(dst, s.base[i]...)
	if o := s.off[i]; o >= 0 {
		binary.BigEndian.PutUint64(dst[start+o:start+o+8], uint64(Base+n))
	}
	return dst
}

// Len is the number of distinct recorded frames.
func (s *Stream) Len() int { return len(s.base) }

// Server is a fake relay.
type Server struct {
	*httptest.Server
	stream *Stream
	// Head is the highest seq the server will send (0: unlimited).
	// head is the last stream position served (0: unlimited).
	head atomic.Int64
	// Interval paces frames (0: as fast as the client reads).
	Interval time.Duration
	sent     atomic.Int64
	conns    atomic.Int64
	stop     chan struct{}
	once     sync.Once
}

// NewServer starts a fake relay over stream serving positions up to head
// (0 = forever).
func NewServer(stream *Stream, head int64) *Server {
	s := &Server{stream: stream, stop: make(chan struct{})}
	s.head.Store(head)
	s.Server = httptest.NewServer(http.HandlerFunc(s.serve))
	return s
}

// WSURL is the relay base URL to give the ingest.
func (s *Server) WSURL() string { return "ws" + s.URL[len("http"):] }

// Sent returns the number of frames written to clients so far.
func (s *Server) Sent() int64 { return s.sent.Load() }

// Conns returns the number of connections accepted so far.
func (s *Server) Conns() int64 { return s.conns.Load() }

// SetHead changes the last seq served.
func (s *Server) SetHead(h int64) { s.head.Store(h) }

// Close stops serving and closes connections.
func (s *Server) Close() {
	s.once.Do(func() { close(s.stop) })
	s.Server.CloseClientConnections()
	s.Server.Close()
}

var upgrader = websocket.Upgrader{ReadBufferSize: 1024, WriteBufferSize: 64 << 10}

func (s *Server) serve(w http.ResponseWriter, r *http.Request) {
	if r.URL.Path != "/xrpc/com.atproto.sync.subscribeRepos" {
		http.NotFound(w, r)
		return
	}
	next := int64(1)
	if c := r.URL.Query().Get("cursor"); c != "" {
		v, err := strconv.ParseInt(c, 10, 64)
		if err != nil {
			http.Error(w, "bad cursor", http.StatusBadRequest)
			return
		}
		// Exclusive, like the reference PDS.
		next = max(v-Base+1, 1)
	}
	conn, err := upgrader.Upgrade(w, r, nil)
	if err != nil {
		return
	}
	defer conn.Close()
	s.conns.Add(1)
	if h := s.head.Load(); h > 0 && next > h+1 {
		// Like a relay asked for a seq it never issued.
		_ = conn.WriteMessage(websocket.BinaryMessage, errorFrame("FutureCursor", "Cursor in the future."))
		_ = conn.WriteControl(websocket.CloseMessage, websocket.FormatCloseMessage(websocket.ClosePolicyViolation, "FutureCursor"), time.Now().Add(time.Second))
		return
	}
	// Read (and so answer pings) until the client goes away.
	gone := make(chan struct{})
	go func() {
		defer close(gone)
		for {
			if _, _, err := conn.NextReader(); err != nil {
				return
			}
		}
	}()
	var buf []byte
	var tick <-chan time.Time
	if s.Interval > 0 {
		t := time.NewTicker(s.Interval)
		defer t.Stop()
		tick = t.C
	}
	for {
		if h := s.head.Load(); h > 0 && next > h {
			select {
			case <-gone:
				return
			case <-s.stop:
				return
			case <-time.After(10 * time.Millisecond):
				continue
			}
		}
		if tick != nil {
			select {
			case <-tick:
			case <-gone:
				return
			case <-s.stop:
				return
			}
		}
		buf = s.stream.AppendFrame(buf[:0], next)
		if err := conn.WriteMessage(websocket.BinaryMessage, buf); err != nil {
			return
		}
		s.sent.Add(1)
		next++
	}
}

func errorFrame(name, msg string) []byte {
	var b bytes.Buffer
	h := events.EventHeader{Op: events.EvtKindErrorFrame}
	_ = h.MarshalCBOR(&b)
	ef := events.ErrorFrame{Error: name, Message: msg}
	_ = ef.MarshalCBOR(&b)
	return b.Bytes()
}

// Script is what a Scripted server does on each websocket connection.
type Script func(c *websocket.Conn, r *http.Request)

// Scripted starts a websocket server that runs s on every connection and
// returns its ws:// URL; the test's cleanup stops it. Source tests use it
// to play a relay that misbehaves in one particular way.
func Scripted(t testing.TB, s Script) string {
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

// EditCommit returns a #commit frame re-encoded after edit changed its
// body (its time, say); a frame of another type is an error.
func EditCommit(frame []byte, edit func(*comatproto.SyncSubscribeRepos_Commit)) ([]byte, error) {
	cr := cbg.NewCborReader(bytes.NewReader(frame))
	var h events.EventHeader
	if err := h.UnmarshalCBOR(cr); err != nil {
		return nil, err
	}
	if h.MsgType != "#commit" {
		return nil, fmt.Errorf("relaytest: a %s frame, not #commit", h.MsgType)
	}
	var c comatproto.SyncSubscribeRepos_Commit
	if err := c.UnmarshalCBOR(cr); err != nil {
		return nil, err
	}
	edit(&c)
	var buf bytes.Buffer
	if err := h.MarshalCBOR(&buf); err != nil {
		return nil, err
	}
	if err := c.MarshalCBOR(&buf); err != nil {
		return nil, err
	}
	return buf.Bytes(), nil
}
