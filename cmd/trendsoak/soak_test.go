package main

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/gorilla/websocket"

	"github.com/trendstream/trendstream/internal/testenv/flagtest"
	"github.com/trendstream/trendstream/internal/tools/livesoak"
)

func TestParse(t *testing.T) {
	flagtest.Parse(t, parse, []flagtest.Case[options]{
		{Name: "production defaults", WantOK: true, Check: func(t *testing.T, o options) {
			c := o.cfg
			if c.Mode != livesoak.ModeJetstream || c.Rate != 50 || c.Duration != 30*time.Minute || c.WindowSize != 10*time.Minute ||
				c.WindowPeriod != time.Minute || c.MaxOutOfOrder != 0 || c.MaxDelay != 0 || c.Authors != 500000 || !o.check {
				t.Errorf("%+v", c)
			}
		}},
		{Name: "flags, and the rest goes to the run", Args: []string{"-rate", "500", "-window-size", "60s", "-window-period", "5s", "-mode", "relay", "--", "-shards", "4"},
			WantOK: true, Check: func(t *testing.T, o options) {
				c := o.cfg
				if c.Rate != 500 || c.WindowSize != time.Minute || c.WindowPeriod != 5*time.Second || c.Mode != livesoak.ModeRelay ||
					strings.Join(c.ExtraArgs, " ") != "-shards 4" {
					t.Errorf("%+v", c)
				}
			}},
		{Name: "environment twins", Env: map[string]string{"TRENDSTREAM_RATE": "123", "TRENDSTREAM_MAX_OUT_OF_ORDER": "2s"}, Args: []string{"-rate", "7"},
			WantOK: true, Check: func(t *testing.T, o options) {
				if o.cfg.Rate != 7 || o.cfg.MaxOutOfOrder != 2*time.Second {
					t.Errorf("rate %v (command line wins), max-out-of-order %s (from env)", o.cfg.Rate, o.cfg.MaxOutOfOrder)
				}
			}},
		{Name: "bad mode", Args: []string{"-mode", "carrier-pigeon"}, WantCode: 2},
		{Name: "bad env", Env: map[string]string{"TRENDSTREAM_RATE": "fast"}, WantCode: 2},
		{Name: "help", Args: []string{"-h"}, WantCode: 0},
	})
}

func TestPaths(t *testing.T) {
	o := options{out: "/r/soak-500.md"}
	paths(&o)
	if o.js != "/r/soak-500.json" || o.childLog != "/r/soak-500.log" {
		t.Errorf("%+v", o)
	}
	o = options{}
	paths(&o)
	if !strings.HasSuffix(o.out, ".md") || !strings.HasSuffix(o.js, ".json") {
		t.Errorf("%+v", o)
	}
}

// lockedBuffer is a bytes.Buffer safe for the harness's concurrent logs.
type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

// TestLiveSoak runs the whole `trendstream run` path live, as a child
// process, against the local Jetstream-like server: 50 posts/s of real
// texts stamped with the current time, sliding windows of 60 s every 5 s,
// for 2m45s of stream. Every window of the overall ranking after the first
// must be written to PostgreSQL within period + 5 s of its end
// (emitted_at - window_end), none may be skipped, each must be pushed on
// the SSE stream, and the SIGINT stop must be clean (status 0, no ERROR
// line after it began).
//
// The pipeline runs with its defaults: the watermark trails the newest post
// by -max-out-of-order (5 s), which with a 5 s period leaves a few seconds
// for the whole path from Kafka to PostgreSQL.
func TestLiveSoak(t *testing.T) {
	const period = 5 * time.Second
	bound := period + 5*time.Second
	dir := t.TempDir()
	out := filepath.Join(dir, "soak.md")
	args := []string{
		"-rate", "50", "-duration", "2m45s",
		"-window-size", "60s", "-window-period", period.String(),
		"-out", out, "-start-timeout", "2m", "-stop-timeout", "60s",
	}
	var stdout, stderr lockedBuffer
	rep, code := soak(context.Background(), args, &stdout, &stderr)
	t.Logf("trendsoak %s\n%s", strings.Join(args, " "), stdout.String())
	if rep == nil {
		t.Fatalf("no report (exit %d):\n%s", code, stderr.String())
	}
	if md, err := os.ReadFile(out); err == nil {
		t.Logf("report:\n%s", md)
	}
	if (code == 0) != (len(rep.Violations) == 0) {
		t.Errorf("exit %d with violations %q", code, rep.Violations)
	}

	// The stream ran at the asked rate.
	if r := rep.Stream.AchievedRate(); r < 45 || r > 55 {
		t.Errorf("stream rate %.1f posts/s, want about 50", r)
	}
	if rep.FirstEnd.IsZero() {
		t.Fatalf("no window of the overall ranking reached PostgreSQL; run log %s", rep.Child.LogPath)
	}
	if rep.Due < 20 {
		t.Errorf("only %d windows after the first were due: the run is too short to judge", rep.Due)
	}

	// Every window after the first, within period + 5 s; none skipped.
	present := map[time.Time]livesoak.WindowObs{}
	for _, w := range rep.Overall {
		if !w.SeenAt.IsZero() {
			present[w.End] = w
		}
	}
	var late, missing, noSSE []string
	for end := rep.FirstEnd.Add(period); !end.Add(bound).After(rep.Info.StopAt); end = end.Add(period) {
		w, ok := present[end]
		switch {
		case !ok:
			missing = append(missing, end.Format("15:04:05"))
			continue
		case w.EmittedAt.Sub(w.End) > bound:
			late = append(late, end.Format("15:04:05")+" +"+w.EmittedAt.Sub(w.End).Round(100*time.Millisecond).String())
		}
		if w.SSEAt.IsZero() && !w.EmittedAt.Add(livesoak.SSEGrace).After(rep.Info.StopAt) {
			noSSE = append(noSSE, end.Format("15:04:05"))
		}
	}
	if len(late) > 0 {
		t.Errorf("%d windows written later than %s after their end (emitted_at - window_end): %s", len(late), bound, strings.Join(late, ", "))
	}
	if len(missing) > 0 {
		t.Errorf("%d windows skipped or not written by the stop: %s", len(missing), strings.Join(missing, ", "))
	}
	if len(noSSE) > 0 {
		t.Errorf("%d windows never pushed on /api/stream: %s", len(noSSE), strings.Join(noSSE, ", "))
	}

	// A clean stop.
	c := rep.Child
	if c.Killed || c.ExitedEarly || c.ExitCode != 0 || c.Signal != "" {
		t.Errorf("stop: %+v", c)
	}
	if c.ErrorsAfter > 0 {
		t.Errorf("%d ERROR lines after the stop began:\n%s", c.ErrorsAfter, strings.Join(c.ErrorLinesAfter, "\n"))
	}
}

// TestServeOnly runs the server alone, as for a hand-run `trendstream
// run`, and reads its stream.
func TestServeOnly(t *testing.T) {
	var stdout, stderr lockedBuffer
	done := make(chan int, 1)
	go func() {
		_, code := soak(context.Background(), []string{"-serve-only", "-rate", "100", "-duration", "1s", "-posts", "50"}, &stdout, &stderr)
		done <- code
	}()
	var url string
	for deadline := time.Now().Add(10 * time.Second); url == "" && time.Now().Before(deadline); time.Sleep(10 * time.Millisecond) {
		if _, rest, ok := strings.Cut(stdout.String(), "serving jetstream at "); ok {
			url, _, _ = strings.Cut(rest, " ")
		}
	}
	if !strings.HasPrefix(url, "ws://127.0.0.1:") || !strings.HasSuffix(url, "/subscribe") {
		t.Fatalf("no URL announced: %q %s", stdout.String(), stderr.String())
	}
	c, _, err := websocket.DefaultDialer.Dial(url, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	for i := range 50 {
		_ = c.SetReadDeadline(time.Now().Add(5 * time.Second))
		if _, _, err := c.ReadMessage(); err != nil {
			t.Fatalf("message %d: %v", i, err)
		}
	}
	select {
	case code := <-done:
		if code != 0 || !strings.Contains(stdout.String(), "sent 50 events, 50 posts") {
			t.Errorf("exit %d:\n%s%s", code, stdout.String(), stderr.String())
		}
	case <-time.After(10 * time.Second):
		t.Fatal("-serve-only did not end after its post bound")
	}
}
