package livesoak

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"math"
	"net"
	"net/http"
	"sort"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/gorilla/websocket"
)

// Mode is the protocol the Server speaks.
type Mode string

// The modes.
const (
	// ModeJetstream serves Jetstream v1 JSON at /subscribe: one
	// app.bsky.feed.post create per event, built from real post texts.
	ModeJetstream Mode = "jetstream"
	// ModeRelay serves com.atproto.sync.subscribeRepos at
	// /xrpc/com.atproto.sync.subscribeRepos: recorded relay frames in a
	// loop, re-sequenced and re-stamped (see Restamp).
	ModeRelay Mode = "relay"
)

// Paths the modes serve.
const (
	JetstreamPath = "/subscribe"
	RelayPath     = "/xrpc/com.atproto.sync.subscribeRepos"
)

// ServerOptions configure a Server.
type ServerOptions struct {
	Mode Mode
	// Rate is posts per second (in relay mode frames are paced so that
	// the posts among them arrive at this rate on average).
	Rate float64
	// Duration and Posts bound the stream (0: unbounded); the connections
	// stay open after the end, idle unless Heartbeat is set.
	Duration time.Duration
	Posts    int64
	// Heartbeat, in Jetstream mode, keeps the stream going after its bound
	// with one identity event (no post) per Heartbeat, stamped now: the
	// firehose never goes quiet, and an ingest that hears nothing cannot
	// tell a quiet source from a stalled one, so its source watermark, and
	// with it the pipeline's last windows, would wait for the next event.
	Heartbeat time.Duration
	// Retain is how much of the stream is kept for clients that resume
	// with a cursor (default 2 minutes), RetainBytes the most memory it
	// may take (default 256 MiB; relay frames are ~5 KB each).
	Retain      time.Duration
	RetainBytes int64
	// Authors is the size of the author pool (see Authors); 0 keeps the
	// texts' real authors (Jetstream) or the recorded repos (relay).
	Authors int
	Seed    uint64
	// Texts are the posts' contents in Jetstream mode (nil: CorpusTexts).
	Texts []Text
	// Frames are the recorded frames of relay mode.
	Frames [][]byte
	// Addr is the listen address (default 127.0.0.1:0).
	Addr string
	// Logger (default slog.Default()).
	Logger *slog.Logger
}

// ServerStats describe what a Server has sent.
type ServerStats struct {
	Mode Mode `json:"mode"`
	// Rate is the posts/s asked for, EventRate the events/s paced.
	Rate      float64 `json:"rate"`
	EventRate float64 `json:"event_rate"`
	// Started is when the first event was generated (zero: not yet).
	Started time.Time `json:"started"`
	// Last is when the newest event was generated.
	Last   time.Time `json:"last"`
	Events int64     `json:"events"`
	Posts  int64     `json:"posts"`
	// Conns counts websocket connections accepted, Resumes those that
	// asked for a cursor, ResumesTooOld those whose cursor had already
	// left the replay buffer (they start at its oldest event).
	Conns         int64 `json:"connections"`
	Resumes       int64 `json:"resumes"`
	ResumesTooOld int64 `json:"resumes_too_old"`
	// Skipped counts events a slow connection never got because they left
	// the replay buffer before it read them.
	Skipped int64 `json:"skipped_slow"`
	// Reanchors counts the times the producer fell more than a second
	// behind its schedule (a stalled process) and moved it.
	Reanchors int64 `json:"pacer_reanchors"`
	// GenErrors counts events that could not be generated.
	GenErrors int64 `json:"generate_errors"`
}

// AchievedRate is posts per second between the first and the newest event.
func (s ServerStats) AchievedRate() float64 {
	d := s.Last.Sub(s.Started).Seconds()
	if d <= 0 || s.Posts < 2 {
		return 0
	}
	return float64(s.Posts-1) / d
}

// Server is a local Jetstream-like or relay-like websocket server. Its
// producer starts with the first connection (or Start), so a stream begins
// when its consumer is ready.
type Server struct {
	o         ServerOptions
	gen       func(n int64, at time.Time) (int64, []byte, int, error)
	eventRate float64
	ln        net.Listener
	hs        *http.Server
	ring      *ring
	log       *slog.Logger

	startOnce sync.Once
	started   chan struct{}
	stop      chan struct{}
	stopOnce  sync.Once
	produced  chan struct{}
	// producedOnce closes produced: at the stream's end, which heartbeats
	// may follow.
	producedOnce sync.Once
	connMu       sync.Mutex
	conns        map[*websocket.Conn]*atomic.Int64 // each connection's next event

	mu    sync.Mutex
	stats ServerStats
	// atomics updated by connections
	nConns, nResumes, nTooOld, nSkipped atomic.Int64
}

// NewServer listens and serves; call Close to stop.
func NewServer(o ServerOptions) (*Server, error) {
	if o.Rate <= 0 || math.IsInf(o.Rate, 0) || math.IsNaN(o.Rate) {
		return nil, fmt.Errorf("livesoak: rate must be positive, got %v", o.Rate)
	}
	if o.Retain <= 0 {
		o.Retain = 2 * time.Minute
	}
	if o.RetainBytes <= 0 {
		o.RetainBytes = 256 << 20
	}
	if o.Addr == "" {
		o.Addr = "127.0.0.1:0"
	}
	if o.Logger == nil {
		o.Logger = slog.Default()
	}
	s := &Server{o: o, log: o.Logger, started: make(chan struct{}), stop: make(chan struct{}),
		produced: make(chan struct{}), conns: map[*websocket.Conn]*atomic.Int64{}}
	switch o.Mode {
	case ModeJetstream, "":
		s.o.Mode = ModeJetstream
		texts := o.Texts
		if texts == nil {
			var err error
			if texts, err = CorpusTexts(); err != nil {
				return nil, err
			}
		}
		if len(texts) == 0 {
			return nil, errors.New("livesoak: no texts to send")
		}
		g := newJetstreamGen(texts, o.Seed, o.Authors)
		s.gen, s.eventRate = g.event, o.Rate
	case ModeRelay:
		g, err := newRelayGen(o.Frames, o.Seed, o.Authors)
		if err != nil {
			return nil, err
		}
		s.gen, s.eventRate = g.event, o.Rate/g.postsPerEvent()
	default:
		return nil, fmt.Errorf("livesoak: unknown mode %q (want jetstream or relay)", o.Mode)
	}
	s.ring = newRing(max(int(math.Ceil(s.eventRate*o.Retain.Seconds())), 1024), o.RetainBytes)
	s.stats.Mode, s.stats.Rate, s.stats.EventRate = s.o.Mode, o.Rate, s.eventRate
	ln, err := net.Listen("tcp", o.Addr)
	if err != nil {
		return nil, fmt.Errorf("livesoak: listen: %w", err)
	}
	s.ln = ln
	mux := http.NewServeMux()
	switch s.o.Mode {
	case ModeJetstream:
		mux.HandleFunc("GET "+JetstreamPath, s.serveJetstream)
	case ModeRelay:
		mux.HandleFunc("GET "+RelayPath, s.serveRelay)
	}
	s.hs = &http.Server{Handler: mux, ReadHeaderTimeout: 10 * time.Second}
	go func() { _ = s.hs.Serve(ln) }()
	return s, nil
}

// URL is the endpoint to give the ingest: ws://HOST:PORT/subscribe for
// `-jetstream-url`, or the relay base ws://HOST:PORT for `-relay`.
func (s *Server) URL() string {
	base := "ws://" + s.ln.Addr().String()
	if s.o.Mode == ModeJetstream {
		return base + JetstreamPath
	}
	return base
}

// Start starts the producer if no connection has yet.
func (s *Server) Start() {
	s.startOnce.Do(func() {
		close(s.started)
		go s.produce()
	})
}

// Started is closed once the producer runs.
func (s *Server) Started() <-chan struct{} { return s.started }

// Done is closed when the producer has reached its Duration or Posts bound,
// or the server was closed.
func (s *Server) Done() <-chan struct{} { return s.produced }

// Stats returns a copy of the counters.
func (s *Server) Stats() ServerStats {
	s.mu.Lock()
	st := s.stats
	s.mu.Unlock()
	st.Conns, st.Resumes, st.ResumesTooOld, st.Skipped = s.nConns.Load(), s.nResumes.Load(), s.nTooOld.Load(), s.nSkipped.Load()
	return st
}

// Close stops the producer and every connection.
func (s *Server) Close() error {
	s.stopOnce.Do(func() { close(s.stop) })
	err := s.hs.Close()
	s.connMu.Lock()
	for c := range s.conns {
		_ = c.Close()
	}
	s.connMu.Unlock()
	s.ring.close()
	return err
}

func (s *Server) produce() {
	defer s.markProduced()
	p := Pacer{Start: time.Now(), Rate: s.eventRate, MaxBehind: time.Second}
	timer := time.NewTimer(time.Hour)
	defer timer.Stop()
	var lastUS int64
	var first time.Time
	var posts int64
	for n := int64(0); ; n++ {
		if s.o.Posts > 0 && posts >= s.o.Posts {
			s.heartbeats(n, lastUS)
			return
		}
		wait, re := p.Step(n, time.Now())
		if re {
			s.mu.Lock()
			s.stats.Reanchors++
			s.mu.Unlock()
		}
		if wait > 0 {
			timer.Reset(wait)
			select {
			case <-timer.C:
			case <-s.stop:
				return
			}
		} else {
			select {
			case <-s.stop:
				return
			default:
			}
		}
		at := time.Now()
		if first.IsZero() {
			first = at
		}
		if s.o.Duration > 0 && at.Sub(first) >= s.o.Duration {
			s.heartbeats(n, lastUS)
			return
		}
		// time_us is a cursor: strictly increasing.
		if us := at.UnixMicro(); us <= lastUS {
			at = time.UnixMicro(lastUS + 1)
		}
		lastUS = at.UnixMicro()
		key, data, np, err := s.gen(n, at)
		if err != nil {
			s.mu.Lock()
			s.stats.GenErrors++
			s.mu.Unlock()
			s.log.Warn("livesoak: generate event", "n", n, "err", err)
			continue
		}
		s.ring.append(entry{key: key, data: data})
		posts += int64(np)
		s.mu.Lock()
		if s.stats.Started.IsZero() {
			s.stats.Started = at
		}
		s.stats.Last = at
		s.stats.Events++
		s.stats.Posts += int64(np)
		s.mu.Unlock()
	}
}

// markProduced closes Done once.
func (s *Server) markProduced() { s.producedOnce.Do(func() { close(s.produced) }) }

// heartbeats sends an identity event every Heartbeat until the server
// stops, once the stream's posts have ended (Done is closed first).
func (s *Server) heartbeats(n, lastUS int64) {
	if s.o.Heartbeat <= 0 || s.o.Mode != ModeJetstream {
		return
	}
	s.markProduced()
	t := time.NewTicker(s.o.Heartbeat)
	defer t.Stop()
	for ; ; n++ {
		select {
		case <-s.stop:
			return
		case <-t.C:
		}
		us := max(time.Now().UnixMicro(), lastUS+1)
		lastUS = us
		b, err := json.Marshal(jsEvent{DID: "did:plc:livesoakheartbeat", TimeUS: us, Kind: "identity"})
		if err != nil {
			s.log.Warn("livesoak: heartbeat", "err", err)
			continue
		}
		s.ring.append(entry{key: us, data: b})
		s.mu.Lock()
		s.stats.Last = time.UnixMicro(us)
		s.stats.Events++
		s.mu.Unlock()
	}
}

// wantsPosts reports whether a Jetstream wantedCollections filter lets
// posts through (no filter does; "app.bsky.feed.*" style prefixes too).
func wantsPosts(wanted []string) bool {
	if len(wanted) == 0 {
		return true
	}
	for _, w := range wanted {
		if w == PostCollection || (strings.HasSuffix(w, ".*") && strings.HasPrefix(PostCollection, strings.TrimSuffix(w, "*"))) {
			return true
		}
	}
	return false
}

var upgrader = websocket.Upgrader{ReadBufferSize: 4 << 10, WriteBufferSize: 64 << 10}

// serveJetstream: cursor is a time_us, inclusive, as Jetstream's.
func (s *Server) serveJetstream(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	from, ok, err := parseCursor(q.Get("cursor"))
	if err != nil {
		http.Error(w, "bad cursor", http.StatusBadRequest)
		return
	}
	s.serveWS(w, r, websocket.TextMessage, wantsPosts(q["wantedCollections"]), ok, func(key int64) bool { return key >= from })
}

// serveRelay: cursor is a seq, exclusive, like the reference PDS's.
func (s *Server) serveRelay(w http.ResponseWriter, r *http.Request) {
	from, ok, err := parseCursor(r.URL.Query().Get("cursor"))
	if err != nil {
		http.Error(w, "bad cursor", http.StatusBadRequest)
		return
	}
	s.serveWS(w, r, websocket.BinaryMessage, true, ok, func(key int64) bool { return key > from })
}

func parseCursor(c string) (int64, bool, error) {
	if c == "" {
		return 0, false, nil
	}
	v, err := strconv.ParseInt(c, 10, 64)
	return v, err == nil, err
}

// serveWS streams the ring to one client from the first event whose key
// satisfies resume (with a cursor) or from the next event (without).
func (s *Server) serveWS(w http.ResponseWriter, r *http.Request, msgType int, send, hasCursor bool, resume func(int64) bool) {
	// The live tip is taken before the handshake completes, so a client
	// whose dial has returned gets every event produced after it, even one
	// from a Start that races with this handler (a client that dialled
	// before Start once missed the first post: TestServerHeartbeat in CI).
	pos := s.ring.next()
	conn, err := upgrader.Upgrade(w, r, nil)
	if err != nil {
		return
	}
	progress := new(atomic.Int64)
	s.connMu.Lock()
	s.conns[conn] = progress
	s.connMu.Unlock()
	defer func() {
		s.connMu.Lock()
		delete(s.conns, conn)
		s.connMu.Unlock()
		_ = conn.Close()
	}()
	s.nConns.Add(1)
	s.Start()
	if hasCursor {
		s.nResumes.Add(1)
		var tooOld bool
		pos, tooOld = s.ring.search(resume)
		if tooOld {
			s.nTooOld.Add(1)
		}
	}
	progress.Store(pos)
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
	if !send {
		progress.Store(math.MaxInt64) // nothing to drain
		select {
		case <-gone:
		case <-s.stop:
		}
		return
	}
	for {
		e, oldest, wake := s.ring.get(pos)
		switch {
		case e != nil:
			_ = conn.SetWriteDeadline(time.Now().Add(10 * time.Second))
			if err := conn.WriteMessage(msgType, e.data); err != nil {
				return
			}
			pos++
			progress.Store(pos)
		case oldest > pos:
			s.nSkipped.Add(oldest - pos)
			pos = oldest
			progress.Store(pos)
		default:
			if wake == nil {
				return // closed
			}
			select {
			case <-wake:
			case <-gone:
				return
			case <-s.stop:
				return
			}
		}
	}
}

// entry is one generated event: its resume key (time_us or seq) and bytes.
type entry struct {
	key  int64
	data []byte
}

// ring keeps the newest events for resuming clients and wakes readers
// waiting for the next one. It holds at most len(buf) events and about
// maxBytes of them.
type ring struct {
	mu       sync.Mutex
	buf      []entry
	n        int64 // events appended; event i lives in buf[i%len]
	start    int64 // oldest retained event
	bytes    int64 // size of the retained events
	maxBytes int64
	wake     chan struct{}
	closed   bool
}

func newRing(size int, maxBytes int64) *ring {
	return &ring{buf: make([]entry, size), maxBytes: maxBytes, wake: make(chan struct{})}
}

func (r *ring) append(e entry) {
	r.mu.Lock()
	if r.closed {
		// The server closed while the producer was generating this one:
		// its wake channel is closed already, and nobody reads on.
		r.mu.Unlock()
		return
	}
	size := int64(len(r.buf))
	if r.n-r.start == size { // full: the slot of the oldest is reused
		r.bytes -= int64(len(r.buf[r.start%size].data))
		r.start++
	}
	r.buf[r.n%size] = e
	r.n++
	r.bytes += int64(len(e.data))
	for r.maxBytes > 0 && r.bytes > r.maxBytes && r.start < r.n-1 {
		old := &r.buf[r.start%size]
		r.bytes -= int64(len(old.data))
		*old = entry{}
		r.start++
	}
	close(r.wake)
	r.wake = make(chan struct{})
	r.mu.Unlock()
}

func (r *ring) close() {
	r.mu.Lock()
	if !r.closed {
		r.closed = true
		close(r.wake)
	}
	r.mu.Unlock()
}

// next is the index of the next event to be appended.
func (r *ring) next() int64 {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.n
}

// get returns event i if it is retained; otherwise oldest (> i when i has
// left the buffer) or, for a future i, a channel closed at the next append
// (nil once the ring is closed).
func (r *ring) get(i int64) (e *entry, oldest int64, wake <-chan struct{}) {
	r.mu.Lock()
	defer r.mu.Unlock()
	oldest = r.start
	if i < oldest {
		return nil, oldest, nil
	}
	if i < r.n {
		c := r.buf[i%int64(len(r.buf))]
		return &c, oldest, nil
	}
	if r.closed {
		return nil, oldest, nil
	}
	return nil, oldest, r.wake
}

// search returns the first retained index whose key satisfies ok (keys
// increase), or the next index if none does; tooOld reports that even the
// oldest retained key satisfies ok, i.e. the cursor may have left the
// buffer (an empty buffer is not too old).
func (r *ring) search(ok func(int64) bool) (i int64, tooOld bool) {
	r.mu.Lock()
	defer r.mu.Unlock()
	k := sort.Search(int(r.n-r.start), func(j int) bool {
		return ok(r.buf[(r.start+int64(j))%int64(len(r.buf))].key)
	})
	return r.start + int64(k), k == 0 && r.n > r.start && r.start > 0
}

// WaitDrained waits until every open connection has been sent every
// event generated so far, or timeout; it reports whether they were.
func (s *Server) WaitDrained(timeout time.Duration) bool {
	deadline := time.Now().Add(timeout)
	for {
		n := s.ring.next()
		drained := true
		s.connMu.Lock()
		for _, p := range s.conns {
			if p.Load() < n {
				drained = false
			}
		}
		s.connMu.Unlock()
		if drained {
			return true
		}
		if time.Now().After(deadline) {
			return false
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// WaitStarted waits for the producer to start, ctx to end, or timeout.
func (s *Server) WaitStarted(ctx context.Context, timeout time.Duration) error {
	t := time.NewTimer(timeout)
	defer t.Stop()
	select {
	case <-s.started:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
		return fmt.Errorf("livesoak: no client connected within %s", timeout)
	}
}
