package chaos

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"sort"
	"strconv"
	"sync"
	"time"

	"github.com/gorilla/websocket"

	"github.com/trendstream/trendstream/ingest/frame"
	"github.com/trendstream/trendstream/internal/tools/livesoak"
	tsv1 "github.com/trendstream/trendstream/proto/trendstream/v1"
)

// PostID identifies a post version: what the checks look up in Kafka.
type PostID struct {
	URI string `json:"uri"`
	CID string `json:"cid"`
}

// SentPost is a post the source wrote.
type SentPost struct {
	PostID
	// Time is the event time the source stamped (Jetstream time_us, the
	// relay's frame time).
	Time time.Time `json:"time"`
}

// Auditor is a second, fault-free client of the source: it connects
// straight to the server (not through the Proxy) from the first event and
// records every post the source wrote, decoded independently of the
// ingest's Jetstream reader, so a post the ingest never saw is still
// counted as written.
type Auditor struct {
	mode livesoak.Mode
	url  string
	log  *slog.Logger

	mu      sync.Mutex
	posts   map[PostID]SentPost
	events  int64
	lastKey int64 // time_us or seq of the newest event taken
	errs    int64
	cancel  context.CancelFunc
	done    chan struct{}
}

// StartAuditor connects to the source's URL (Server.URL) and reads until
// Stop.
func StartAuditor(ctx context.Context, mode livesoak.Mode, url string, log *slog.Logger) *Auditor {
	ctx, cancel := context.WithCancel(ctx)
	a := &Auditor{mode: mode, url: url, log: log, posts: map[PostID]SentPost{}, cancel: cancel, done: make(chan struct{}), lastKey: -1}
	go a.loop(ctx)
	return a
}

// loop reads, reconnecting from the last event taken should the connection
// fail (it should not: it is local and no fault touches it).
func (a *Auditor) loop(ctx context.Context) {
	defer close(a.done)
	for ctx.Err() == nil {
		err := a.session(ctx)
		if ctx.Err() != nil {
			return
		}
		a.mu.Lock()
		a.errs++
		a.mu.Unlock()
		a.log.Warn("chaos auditor: connection to the source ended; resuming", "err", err)
		select {
		case <-ctx.Done():
		case <-time.After(200 * time.Millisecond):
		}
	}
}

func (a *Auditor) session(ctx context.Context) error {
	a.mu.Lock()
	cursor := max(a.lastKey, 0)
	a.mu.Unlock()
	u := a.url
	if a.mode == livesoak.ModeRelay {
		u += livesoak.RelayPath
	}
	// Jetstream's cursor is inclusive (the event is taken again and
	// skipped by key), the relay's exclusive; 0 is the stream's start.
	u += "?cursor=" + strconv.FormatInt(cursor, 10)
	conn, _, err := websocket.DefaultDialer.DialContext(ctx, u, nil)
	if err != nil {
		return fmt.Errorf("chaos auditor: dial %s: %w", u, err)
	}
	stop := context.AfterFunc(ctx, func() { _ = conn.Close() })
	defer stop()
	defer conn.Close()
	for {
		_, msg, err := conn.ReadMessage()
		if err != nil {
			return err
		}
		if err := a.take(msg); err != nil {
			return err
		}
	}
}

// take decodes one event and records its posts.
func (a *Auditor) take(msg []byte) error {
	var (
		key   int64
		posts []SentPost
		err   error
	)
	switch a.mode {
	case livesoak.ModeRelay:
		key, posts, err = decodeRelay(msg)
	default:
		key, posts, err = decodeJetstream(msg)
	}
	if err != nil {
		return err
	}
	a.mu.Lock()
	defer a.mu.Unlock()
	switch {
	case key == 0:
		// An event without a position (#info): counted, not a cursor.
	case key <= a.lastKey:
		return nil // the inclusive resume's repeat
	default:
		a.lastKey = key
	}
	a.events++
	for _, p := range posts {
		a.posts[p.PostID] = p
	}
	return nil
}

// jsEvent is what the audit reads of a Jetstream v1 event.
type jsEvent struct {
	DID    string `json:"did"`
	TimeUS int64  `json:"time_us"`
	Kind   string `json:"kind"`
	Commit struct {
		Operation  string `json:"operation"`
		Collection string `json:"collection"`
		Rkey       string `json:"rkey"`
		CID        string `json:"cid"`
	} `json:"commit"`
}

func decodeJetstream(msg []byte) (int64, []SentPost, error) {
	var ev jsEvent
	if err := json.Unmarshal(msg, &ev); err != nil {
		return 0, nil, fmt.Errorf("chaos auditor: jetstream event: %w", err)
	}
	if ev.TimeUS <= 0 {
		return 0, nil, errors.New("chaos auditor: jetstream event without time_us")
	}
	c := ev.Commit
	if ev.Kind != "commit" || c.Operation != "create" || c.Collection != livesoak.PostCollection {
		return ev.TimeUS, nil, nil
	}
	p := SentPost{PostID: PostID{URI: "at://" + ev.DID + "/" + c.Collection + "/" + c.Rkey, CID: c.CID}, Time: time.UnixMicro(ev.TimeUS)}
	return ev.TimeUS, []SentPost{p}, nil
}

func decodeRelay(msg []byte) (int64, []SentPost, error) {
	ev, err := frame.Decode(msg, frame.Options{})
	if err != nil {
		return 0, nil, fmt.Errorf("chaos auditor: relay frame: %w", err)
	}
	var out []SentPost
	for _, p := range ev.Posts {
		if p.GetOperation() != tsv1.Operation_OPERATION_CREATE {
			continue
		}
		out = append(out, SentPost{PostID: PostID{URI: p.GetUri(), CID: p.GetCid()}, Time: p.GetObservedAt().AsTime()})
	}
	return ev.Cursor, out, nil
}

// Events is how many events have been taken.
func (a *Auditor) Events() int64 {
	a.mu.Lock()
	defer a.mu.Unlock()
	return a.events
}

// Reconnects is how many times the audit connection had to be resumed.
func (a *Auditor) Reconnects() int64 {
	a.mu.Lock()
	defer a.mu.Unlock()
	return a.errs
}

// LastKey is the cursor of the newest event taken (time_us or seq).
func (a *Auditor) LastKey() int64 {
	a.mu.Lock()
	defer a.mu.Unlock()
	return a.lastKey
}

// WaitEvents waits until n events have been taken.
func (a *Auditor) WaitEvents(ctx context.Context, n int64) error {
	for a.Events() < n {
		select {
		case <-ctx.Done():
			return fmt.Errorf("chaos auditor: %d of %d events read: %w", a.Events(), n, ctx.Err())
		case <-time.After(50 * time.Millisecond):
		}
	}
	return nil
}

// Posts returns the posts taken, in time order.
func (a *Auditor) Posts() []SentPost {
	a.mu.Lock()
	out := make([]SentPost, 0, len(a.posts))
	for _, p := range a.posts {
		out = append(out, p)
	}
	a.mu.Unlock()
	sort.Slice(out, func(i, j int) bool {
		if !out[i].Time.Equal(out[j].Time) {
			return out[i].Time.Before(out[j].Time)
		}
		return out[i].URI < out[j].URI
	})
	return out
}

// Stop ends the audit.
func (a *Auditor) Stop() {
	a.cancel()
	<-a.done
}
