package livesoak

import (
	"context"
	"encoding/json"
	"net/url"
	"strconv"
	"testing"
	"time"

	"github.com/gorilla/websocket"

	"github.com/trendstream/trendstream/ingest/frame"
	"github.com/trendstream/trendstream/ingest/jetstream"
)

func dial(t *testing.T, u string) *websocket.Conn {
	t.Helper()
	c, _, err := websocket.DefaultDialer.Dial(u, nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

// TestServerJetstream connects like the ingest, reads a second of posts at
// 200/s and checks their pacing and stamps, then resumes from a cursor.
func TestServerJetstream(t *testing.T) {
	texts, err := CorpusTexts()
	if err != nil {
		t.Fatal(err)
	}
	srv, err := NewServer(ServerOptions{Mode: ModeJetstream, Rate: 200, Authors: 1000, Texts: texts[:300]})
	if err != nil {
		t.Fatal(err)
	}
	defer srv.Close()
	c := dial(t, srv.URL()+"?wantedCollections="+url.QueryEscape(PostCollection))
	var times []time.Time
	var last int64
	for len(times) < 200 {
		_ = c.SetReadDeadline(time.Now().Add(5 * time.Second))
		mt, b, err := c.ReadMessage()
		if err != nil {
			t.Fatal(err)
		}
		recv := time.Now()
		if mt != websocket.TextMessage {
			t.Fatalf("message type %d", mt)
		}
		ev, err := jetstream.Decode(b)
		if err != nil || len(ev.Posts) != 1 {
			t.Fatalf("decode: %v %s", err, b)
		}
		if ev.Cursor <= last {
			t.Fatalf("time_us %d after %d: not increasing", ev.Cursor, last)
		}
		last = ev.Cursor
		// Stamped with the current time: at most a little before arrival.
		if lag := recv.Sub(ev.Time); lag < 0 || lag > time.Second {
			t.Fatalf("event stamped %s, received %s", ev.Time, recv)
		}
		times = append(times, ev.Time)
	}
	// Paced, never faster than asked (Pacer's tests cover the evenness;
	// here a loaded machine may only make it slower).
	if span := times[len(times)-1].Sub(times[0]); span < 990*time.Millisecond || span > 10*time.Second {
		t.Errorf("200 events at 200/s spanned %s", span)
	}

	// Resume: a cursor 100 events back replays from there, inclusive.
	resume := times[100].UnixMicro()
	c2 := dial(t, srv.URL()+"?cursor="+strconv.FormatInt(resume, 10))
	_ = c2.SetReadDeadline(time.Now().Add(5 * time.Second))
	_, b, err := c2.ReadMessage()
	if err != nil {
		t.Fatal(err)
	}
	ev, err := jetstream.Decode(b)
	if err != nil || ev.Cursor != resume {
		t.Fatalf("resumed at %d (%v), want %d", ev.Cursor, err, resume)
	}
	// A filter without posts gets nothing.
	c3 := dial(t, srv.URL()+"?wantedCollections=app.bsky.feed.like")
	_ = c3.SetReadDeadline(time.Now().Add(300 * time.Millisecond))
	if _, _, err := c3.ReadMessage(); err == nil {
		t.Error("a like-only subscriber got a post")
	}
	st := srv.Stats()
	if st.Conns != 3 || st.Resumes != 1 || st.Posts < 200 || st.Events != st.Posts {
		t.Errorf("stats %+v", st)
	}
}

// TestServerRelayBounded serves recorded frames, re-sequenced, bounded by
// a post count, and resumes with an exclusive seq cursor.
func TestServerRelayBounded(t *testing.T) {
	frames := loadTestFrames(t)
	srv, err := NewServer(ServerOptions{Mode: ModeRelay, Rate: 100, Posts: 30, Frames: frames})
	if err != nil {
		t.Fatal(err)
	}
	defer srv.Close()
	if srv.URL()[:5] != "ws://" {
		t.Fatal(srv.URL())
	}
	c := dial(t, srv.URL()+RelayPath)
	posts := 0
	var seq int64
	for posts < 30 {
		_ = c.SetReadDeadline(time.Now().Add(10 * time.Second))
		mt, b, err := c.ReadMessage()
		if err != nil {
			t.Fatalf("after %d posts: %v", posts, err)
		}
		if mt != websocket.BinaryMessage {
			t.Fatalf("message type %d", mt)
		}
		ev, err := frame.Decode(b, frame.Options{})
		if err != nil {
			continue
		}
		if ev.Cursor != seq+1 {
			t.Fatalf("seq %d after %d", ev.Cursor, seq)
		}
		seq = ev.Cursor
		posts += PostCreates(b)
	}
	select {
	case <-srv.Done():
	case <-time.After(5 * time.Second):
		t.Fatal("producer did not stop at the post bound")
	}
	if st := srv.Stats(); st.Posts != 30 {
		t.Errorf("posts %d, want 30", st.Posts)
	}
	if !srv.WaitDrained(5 * time.Second) {
		t.Error("the connection that read every post is not drained")
	}
	c2 := dial(t, srv.URL()+RelayPath+"?cursor=5")
	_ = c2.SetReadDeadline(time.Now().Add(5 * time.Second))
	_, b, err := c2.ReadMessage()
	if err != nil {
		t.Fatal(err)
	}
	if ev, err := frame.Decode(b, frame.Options{}); err == nil && ev.Cursor != 6 {
		t.Errorf("resume after seq 5 started at %d", ev.Cursor)
	}
}

func TestServerWaitStarted(t *testing.T) {
	srv, err := NewServer(ServerOptions{Rate: 10, Texts: []Text{{Text: "hello"}}})
	if err != nil {
		t.Fatal(err)
	}
	defer srv.Close()
	if err := srv.WaitStarted(context.Background(), 50*time.Millisecond); err == nil {
		t.Fatal("started without a client")
	}
	dial(t, srv.URL())
	if err := srv.WaitStarted(context.Background(), 5*time.Second); err != nil {
		t.Fatal(err)
	}
	if _, err := NewServer(ServerOptions{Rate: 0}); err == nil {
		t.Error("rate 0 accepted")
	}
	if _, err := NewServer(ServerOptions{Rate: 1, Mode: "smoke"}); err == nil {
		t.Error("unknown mode accepted")
	}
}

func TestRing(t *testing.T) {
	r := newRing(4, 0)
	for k := int64(1); k <= 6; k++ {
		r.append(entry{key: k * 10})
	}
	// Retained: events 2..5 (keys 30..60).
	tests := []struct {
		name       string
		i          int64
		wantKey    int64
		wantOldest int64
		wantWait   bool
	}{
		{"gone", 0, 0, 2, false},
		{"oldest", 2, 30, 2, false},
		{"newest", 5, 60, 2, false},
		{"future", 6, 0, 2, true},
	}
	for _, tt := range tests {
		e, oldest, wake := r.get(tt.i)
		if (e == nil && tt.wantKey != 0) || (e != nil && e.key != tt.wantKey) || oldest != tt.wantOldest || (wake != nil) != tt.wantWait {
			t.Errorf("%s: get(%d) = %v, %d, %v", tt.name, tt.i, e, oldest, wake)
		}
	}
	searches := []struct {
		name   string
		ok     func(int64) bool
		want   int64
		tooOld bool
	}{
		{"inclusive in the buffer", func(k int64) bool { return k >= 40 }, 3, false},
		{"exclusive", func(k int64) bool { return k > 40 }, 4, false},
		{"older than the buffer", func(k int64) bool { return k >= 5 }, 2, true},
		{"newer than everything", func(k int64) bool { return k > 99 }, 6, false},
	}
	for _, s := range searches {
		if got, old := r.search(s.ok); got != s.want || old != s.tooOld {
			t.Errorf("%s: search = %d, %v; want %d, %v", s.name, got, old, s.want, s.tooOld)
		}
	}
	r.close()
	if _, _, wake := r.get(6); wake != nil {
		t.Error("closed ring still waits")
	}
}

func TestRingBytes(t *testing.T) {
	tests := []struct {
		name       string
		size       int
		maxBytes   int64
		appends    []int // event sizes
		wantOldest int64
	}{
		{"count bound", 3, 0, []int{10, 10, 10, 10, 10}, 2},
		{"byte bound", 10, 25, []int{10, 10, 10, 10, 10}, 3},
		{"the newest stays even when too big", 10, 5, []int{10, 10, 100}, 2},
		{"both", 3, 1000, []int{500, 500, 500, 1, 1}, 2},
	}
	for _, tt := range tests {
		r := newRing(tt.size, tt.maxBytes)
		for i, n := range tt.appends {
			r.append(entry{key: int64(i), data: make([]byte, n)})
		}
		_, oldest, _ := r.get(0)
		var sum int64
		for i := oldest; i < r.n; i++ {
			e, _, _ := r.get(i)
			sum += int64(len(e.data))
		}
		if oldest != tt.wantOldest || sum != r.bytes {
			t.Errorf("%s: oldest %d (want %d), bytes %d (counted %d)", tt.name, oldest, tt.wantOldest, r.bytes, sum)
		}
	}
}

func TestWantsPosts(t *testing.T) {
	tests := []struct {
		wanted []string
		want   bool
	}{
		{nil, true},
		{[]string{PostCollection}, true},
		{[]string{"app.bsky.feed.like", PostCollection}, true},
		{[]string{"app.bsky.feed.*"}, true},
		{[]string{"app.bsky.*"}, true},
		{[]string{"app.bsky.feed.like"}, false},
		{[]string{"app.bsky.graph.*"}, false},
	}
	for _, tt := range tests {
		if got := wantsPosts(tt.wanted); got != tt.want {
			t.Errorf("wantsPosts(%v) = %v", tt.wanted, got)
		}
	}
}

// TestServerHeartbeat: after its posts the stream goes on with identity
// events stamped now, as the firehose never goes quiet.
func TestServerHeartbeat(t *testing.T) {
	s, err := NewServer(ServerOptions{Rate: 200, Posts: 5, Heartbeat: 50 * time.Millisecond, Seed: 1})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	c := dial(t, s.URL()) // before the stream starts: a client without a cursor gets the live tip
	s.Start()
	posts, beats := 0, 0
	var last int64
	deadline := time.Now().Add(10 * time.Second)
	for beats < 3 {
		if time.Now().After(deadline) {
			t.Fatalf("%d posts, %d heartbeats after 10s", posts, beats)
		}
		_ = c.SetReadDeadline(deadline)
		_, b, err := c.ReadMessage()
		if err != nil {
			t.Fatal(err)
		}
		var ev jsEvent
		if err := json.Unmarshal(b, &ev); err != nil {
			t.Fatal(err)
		}
		if ev.TimeUS <= last {
			t.Fatalf("time_us %d after %d: a cursor must increase", ev.TimeUS, last)
		}
		last = ev.TimeUS
		switch ev.Kind {
		case "commit":
			posts++
		case "identity":
			beats++
			if d := time.Since(time.UnixMicro(ev.TimeUS)); d > 5*time.Second {
				t.Fatalf("heartbeat stamped %v ago, want now", d)
			}
		}
	}
	if posts != 5 {
		t.Fatalf("%d posts before the heartbeats, want 5", posts)
	}
}
