package portable

import (
	"context"
	"encoding/json"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/trendstream/trendstream/internal/core/watchlist"
	"github.com/trendstream/trendstream/internal/readside/store"
	"github.com/trendstream/trendstream/internal/testenv"
	"github.com/trendstream/trendstream/internal/testenv/replaytest"
	"github.com/trendstream/trendstream/internal/testenv/watchtest"
	wlpipe "github.com/trendstream/trendstream/pipelines/watchlist"
	tsv1 "github.com/trendstream/trendstream/proto/trendstream/v1"
)

// watchSpeed puts 40 recorded seconds of the watchlist scenario into a
// second of wall clock (100 minutes in 150 s); the job's windows and
// warm-up are the defaults' divided by it: windows of 15 s every 1.5 s, so
// that an alert a window size late fails watchBound.
const watchSpeed = 40

// watchBound is how soon after the end of the window that raised it an
// alert must be in PostgreSQL: two thirds of the job's window.
const watchBound = 10 * time.Second

// flinkWatchlist runs the watchlist pipeline's own command
// (pipelines/watchlist/cmd/watchlist) as an unbounded job on the Flink
// cluster while real posts with injected surges are produced in real time
// at watchSpeed; its entries come from a watchlist file, its webhook is a
// local receiver that fails each alert's first two requests. Every alert
// must reach PostgreSQL within watchBound of its window's end; in the end
// every entry's per-window status in PostgreSQL and every alert must equal
// the single-process reference (internal/core/watchlist.Compute) over the
// same re-stamped posts, and every alert reaches the alerts topic once and
// the webhook once. (That each surge alerts exactly once is the Prism
// tests' check, on the scenario's own time scale.)
func flinkWatchlist(t *testing.T, fc *flinkCluster, bins binaries, dir string) {
	const postsTopic, alertsTopic = "watch.posts", "watch.alerts"
	kc := testenv.RealKafka(t, 3, postsTopic, alertsTopic)
	db := testenv.Postgres(t)
	ctx, cancel := context.WithTimeout(context.Background(), 8*time.Minute)
	defer cancel()
	st, err := store.Open(ctx, db) // creates the read model's tables
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	rcv := watchtest.NewReceiver(2)
	hook := httptest.NewServer(rcv)
	defer hook.Close()

	entries := watchtest.Entries()
	file := filepath.Join(dir, "watchlist.json")
	b, err := json.Marshal(map[string][]watchlist.Entry{"entries": entries})
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(file, b, 0o644); err != nil {
		t.Fatal(err)
	}

	// The scenario re-stamped onto the wall clock. The first post is
	// written before the job starts, so that the pipeline's stream start
	// (the first record's time, where the warm-up counts from) is the
	// reference's; the rest follow from a few seconds after the job runs.
	orig, err := watchtest.Scenario(t0)
	if err != nil {
		t.Fatal(err)
	}
	posts := make([]*tsv1.Post, len(orig))
	restamp := func(i int, at time.Time) { posts[i] = replaytest.Restamp(orig[i], at) }
	restamp(0, time.Now())
	if err := replaytest.ProduceLive(ctx, kc.Addrs(), postsTopic, posts[:1], nil); err != nil {
		t.Fatal(err)
	}

	o := wlpipe.DefaultOptions()
	o.Entries = entries
	o.WindowSize /= watchSpeed
	o.WindowPeriod /= watchSpeed
	o.Score.WarmUp /= watchSpeed
	o.MaxOutOfOrder = time.Second
	jobID := fc.submitUnbounded(t, dir, bins, bins.watchlist, "trendstream-flink-watchlist",
		"-brokers="+strings.Join(kc.Addrs(), ","),
		"-posts-topic="+postsTopic,
		"-alerts-topic="+alertsTopic,
		"-database-url="+db,
		"-watchlist-file="+file,
		"-webhook-url="+hook.URL,
		"-webhook-backoff=10ms", "-webhook-max-backoff=50ms", "-webhook-attempts=4",
		"-start=earliest",
		"-group=trendstream-flink-watchlist",
		"-idle-watermark=wallclock",
		"-max-out-of-order="+o.MaxOutOfOrder.String(),
		"-window-size="+o.WindowSize.String(),
		"-window-period="+o.WindowPeriod.String(),
		"-score-warm-up="+o.Score.WarmUp.String(),
	)
	running := time.Now()
	waitReading(t, kc.Addrs(), "trendstream-flink-watchlist", postsTopic, 3, 2*time.Minute)
	t.Logf("the job's reader started %v after the job was RUNNING", time.Since(running).Round(time.Millisecond))

	base := time.Now().Add(3 * time.Second)
	for i := 1; i < len(orig); i++ {
		restamp(i, base.Add(orig[i].GetObservedAt().AsTime().Sub(orig[0].GetObservedAt().AsTime())/watchSpeed))
	}
	c := o.Reference()
	c.StreamStart = posts[0].GetObservedAt().AsTime()
	wantStatuses, wantAlerts, err := watchlist.Compute(c, entries, posts)
	if err != nil {
		t.Fatal(err)
	}
	if len(wantAlerts) < len(watchtest.Surges())-1 {
		t.Fatalf("the reference has %d alerts: too few to measure", len(wantAlerts))
	}
	if err := replaytest.ProduceLive(ctx, kc.Addrs(), postsTopic, posts[1:], nil); err != nil {
		t.Fatal(err)
	}
	produced := time.Now()
	t.Logf("%d posts produced over %v", len(posts), produced.Sub(base).Round(time.Millisecond))

	deadline := time.Now().Add(o.WindowSize + o.MaxOutOfOrder + time.Minute)
	until := base.Add(24 * time.Hour)
	for {
		ns, na := len(watchtest.StoredStatuses(t, st, entries, until)), len(watchtest.StoredAlerts(t, st))
		if ns >= len(wantStatuses) && na >= len(wantAlerts) {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("%d statuses and %d alerts stored, the reference has %d and %d; the job's tasks:\n%s", ns, na, len(wantStatuses), len(wantAlerts), fc.watermarks(jobID))
		}
		time.Sleep(time.Second)
	}
	watchtest.CheckStatuses(t, watchtest.StoredStatuses(t, st, entries, until), wantStatuses)
	watchtest.CheckAlerts(t, st, kc.Addrs(), alertsTopic, rcv, wantAlerts)
	if n := rcv.Failed(); n != 2*len(wantAlerts) {
		t.Errorf("receiver failed %d requests, want 2 per alert (%d)", n, 2*len(wantAlerts))
	}

	var delays []time.Duration
	for _, a := range watchtest.StoredAlerts(t, st) {
		d := a.CreatedAt.Sub(time.UnixMilli(a.WindowEnd))
		delays = append(delays, d)
		if d > watchBound {
			t.Errorf("alert %s stored %v after its window ended, want within %v", a.ID, d.Round(time.Millisecond), watchBound)
		}
	}
	t.Logf("watchlist live on Flink: %d statuses and %d alerts equal the reference; every alert on the topic and accepted by the webhook once; window end → alert in PostgreSQL %s (windows of %v)",
		len(wantStatuses), len(wantAlerts), summarize(delays), o.WindowSize)
}
