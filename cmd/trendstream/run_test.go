package main

import (
	"bytes"
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/trendstream/trendstream/ingest"
	"github.com/trendstream/trendstream/ingest/source/file"
	"github.com/trendstream/trendstream/internal/platform/envflag"
	"github.com/trendstream/trendstream/internal/readside/store"
	"github.com/trendstream/trendstream/internal/services/pglocal"
	"github.com/trendstream/trendstream/internal/testenv"
	"github.com/trendstream/trendstream/internal/testenv/corpus"
)

func freePort(t *testing.T) int {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}

// writeRecording writes a Jetstream JSONL recording: real posts re-timed
// over 40 minutes, plus a hashtag burst by 20 authors at minute 30.
func writeRecording(t *testing.T, path string, t0 time.Time) {
	t.Helper()
	all, err := corpus.Posts()
	if err != nil {
		t.Fatal(err)
	}
	var b bytes.Buffer
	line := func(did, rkey, text string, langs, tags []string, at time.Time) {
		rec := map[string]any{"$type": "app.bsky.feed.post", "text": text, "langs": langs, "createdAt": at.Format(time.RFC3339Nano)}
		if len(tags) > 0 {
			rec["tags"] = tags
		}
		ev := map[string]any{
			"did": did, "time_us": at.UnixMicro(), "kind": "commit",
			"commit": map[string]any{"rev": "3l" + rkey, "operation": "create", "collection": "app.bsky.feed.post",
				"rkey": rkey, "record": rec, "cid": "bafyrei" + rkey},
		}
		j, err := json.Marshal(ev)
		if err != nil {
			t.Fatal(err)
		}
		b.Write(j)
		b.WriteByte('\n')
	}
	posts := corpus.Retime(all[:1200], t0, 0.5)
	for i, p := range posts {
		line(p.GetAuthorDid(), fmt.Sprintf("bg%05d", i), p.GetText(), p.GetLangs(), nil, p.GetObservedAt().AsTime())
	}
	for i := range 20 {
		at := t0.Add(30*time.Minute + time.Duration(i)*2*time.Second)
		line(fmt.Sprintf("did:plc:fan%02d", i), fmt.Sprintf("burst%02d", i), "#WorldCupFinal ⚽", []string{"en"}, []string{"WorldCupFinal"}, at)
	}
	// Jetstream lines are in time order.
	lines := strings.Split(strings.TrimSpace(b.String()), "\n")
	sortByTime(lines)
	if err := os.WriteFile(path, []byte(strings.Join(lines, "\n")+"\n"), 0o644); err != nil {
		t.Fatal(err)
	}
}

func sortByTime(lines []string) {
	ts := func(l string) int64 {
		var v struct {
			T int64 `json:"time_us"`
		}
		_ = json.Unmarshal([]byte(l), &v)
		return v.T
	}
	for i := 1; i < len(lines); i++ {
		for j := i; j > 0 && ts(lines[j]) < ts(lines[j-1]); j-- {
			lines[j], lines[j-1] = lines[j-1], lines[j]
		}
	}
}

// TestRunReplaysRecording drives `trendstream run`'s code path end to end on
// a recorded file: embedded Kafka, a private PostgreSQL started from the
// installed binaries, the ingest, the pipeline on Prism and the API. The
// planted burst must show up in PostgreSQL, in `trendstream top` and in the
// API, and the command must stop cleanly.
func TestRunReplaysRecording(t *testing.T) {
	if os.Getenv("DATABASE_URL") != "" {
		t.Setenv("DATABASE_URL", "") // this test covers the private-PostgreSQL path
	}
	dir, err := os.MkdirTemp("", "trendstream-run-") // under /tmp: the postgres user must reach it
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	// MkdirTemp makes it 0700; the PostgreSQL server user must traverse it.
	if err := os.Chmod(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	rec := filepath.Join(dir, "recording.jsonl")
	t0 := time.Date(2026, 5, 1, 18, 0, 0, 0, time.UTC)
	writeRecording(t, rec, t0)

	pgPort, apiPort := freePort(t), freePort(t)
	args := []string{
		"-source", "file:" + rec, "-data-dir", filepath.Join(dir, "data"),
		"-kafka-port", fmt.Sprint(freePort(t)), "-pg-port", fmt.Sprint(pgPort),
		"-addr", fmt.Sprintf("127.0.0.1:%d", apiPort), "-metrics-addr", "", "-progress", "1s",
		"-window-size", "5m", "-window-period", "1m",
		"-score-warm-up", "10m", "-score-min-authors", "5", "-score-noise-floor", "3",
	}
	fs := flag.NewFlagSet("run", flag.ContinueOnError)
	runFn := setupRun(fs)
	if err := envflag.Parse(fs, EnvPrefix, args); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- runFn(ctx) }()
	stopped := false
	t.Cleanup(func() {
		if !stopped {
			cancel()
			<-done
		}
	})

	// The API answers once the recording has been processed.
	api := fmt.Sprintf("http://127.0.0.1:%d", apiPort)
	deadline := time.Now().Add(4 * time.Minute)
	found := false
	for !found && time.Now().Before(deadline) {
		select {
		case err := <-done:
			stopped = true
			t.Fatalf("run exited early: %v", err)
		case <-time.After(time.Second):
		}
		resp, err := http.Get(api + "/api/windows?lang=*&limit=500")
		if err != nil {
			continue
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != 200 {
			continue
		}
		found = strings.Contains(string(body), "2026-05-01T18:44:00Z")
	}
	if !found {
		t.Fatal("the recording's last windows never reached the API")
	}

	// PostgreSQL: the burst is ranked first in the window it starts in. The
	// private server takes only its password (in the data directory).
	dbURL, err := pglocal.ConnURL(filepath.Join(dir, "data", "postgres"), pgPort, "trendstream")
	if err != nil {
		t.Fatal(err)
	}
	st, err := store.Open(context.Background(), dbURL)
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	// The sink writes each window with its terms in one transaction, but
	// windows of different bundles commit in any order: the last window
	// being listed does not mean the burst's window is in yet (CI saw it
	// one second later). So wait for the burst's first ranked point.
	want := t0.Add(31 * time.Minute)
	var first *store.Point
	for {
		hist, err := st.TermHistory(context.Background(), "worldcupfinal", store.HistoryFilter{Windows: 50})
		if err != nil {
			t.Fatal(err)
		}
		first = firstRanked(hist)
		if first != nil && first.End.Equal(want) || time.Now().After(deadline) {
			break
		}
		time.Sleep(200 * time.Millisecond)
	}
	if first == nil || first.Rank != 1 || !first.End.Equal(want) || first.UniqueAuthors != 20 {
		t.Fatalf("burst history in PostgreSQL: first ranked point %+v, want rank 1 with 20 authors in the window ending 18:31", first)
	}

	// The API's term history agrees.
	resp, err := http.Get(api + "/api/terms/worldcupfinal/history")
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 200 || !strings.Contains(string(body), `"rank":1`) {
		t.Errorf("API history: %d %s", resp.StatusCode, body)
	}

	// trendstream top, against the same database, sees the current ranking.
	out := captureStdout(t, func() {
		if code := run([]string{"top", "-database-url", dbURL, "-json", "-lang", "*"}, io.Discard, io.Discard); code != 0 {
			t.Errorf("top exited %d", code)
		}
	})
	if !strings.Contains(out, "window_end") {
		t.Errorf("top -json printed no ranking:\n%s", out)
	}

	cancel()
	select {
	case err := <-done:
		stopped = true
		if err != nil {
			t.Fatalf("run did not stop cleanly: %v", err)
		}
	case <-time.After(time.Minute):
		t.Fatal("run did not stop within a minute of cancellation")
	}
}

// firstRanked returns the earliest point of hist at which the term was
// ranked, or nil.
func firstRanked(hist []store.Point) *store.Point {
	var first *store.Point
	for i := range hist {
		if hist[i].Rank > 0 && (first == nil || hist[i].End.Before(first.End)) {
			first = &hist[i]
		}
	}
	return first
}

// TestPostsProduced replays a recording through the ingest and reads its
// post counter, as the progress line does: every post of the recording,
// once. The progress line used to sum the posts topic's offsets, which
// also count the ingest's watermark markers.
func TestPostsProduced(t *testing.T) {
	dir := t.TempDir()
	rec := filepath.Join(dir, "recording.jsonl")
	writeRecording(t, rec, time.Date(2026, 5, 1, 18, 0, 0, 0, time.UTC))
	const topic = "progress.posts"
	k := testenv.FakeKafka(t, 2, topic)
	reg := ingest.NewRegistry()
	if got := postsProduced(reg); got != 0 {
		t.Fatalf("before the ingest: %d posts, want 0", got)
	}
	err := ingest.Run(context.Background(), ingest.Config{
		Source: &file.Source{Path: rec}, Brokers: k.Addrs(), Topic: topic, Registry: reg,
		Logger: slog.New(slog.DiscardHandler),
	})
	if err != nil {
		t.Fatal(err)
	}
	const want = 1220 // writeRecording's background posts and burst
	if got := postsProduced(reg); got != want {
		t.Errorf("postsProduced = %d, want %d", got, want)
	}
	if records := len(testenv.ReadTopic(t, k.Addrs(), topic)); records <= want {
		t.Errorf("the topic holds %d records for %d posts: expected watermark markers beside them", records, want)
	}
}
