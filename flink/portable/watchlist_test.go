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
)

// flinkWatchlist runs the watchlist pipeline's own command
// (pipelines/watchlist/cmd/watchlist) on the Flink cluster over a bounded
// replay of real posts with injected surges, its entries from a watchlist
// file, its webhook a local receiver that fails each alert's first two
// requests. Every entry's per-window status in PostgreSQL and every alert
// must equal the single-process reference (internal/core/watchlist.Compute),
// each surge alerts exactly once and nothing else does, and every alert
// reaches the alerts topic once and the webhook once.
func flinkWatchlist(t *testing.T, fc *flinkCluster, bins binaries, dir string) {
	const postsTopic, alertsTopic = "watch.posts", "watch.alerts"
	kc := testenv.RealKafka(t, 3, postsTopic, alertsTopic)
	db := testenv.Postgres(t)
	posts, err := watchtest.Scenario(t0)
	if err != nil {
		t.Fatal(err)
	}
	replaytest.MustProduce(t, kc.Addrs(), postsTopic, posts)
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
	args := append(fc.submitArgs(bins, bins.watchlist, "trendstream-flink-watchlist"),
		"-brokers="+strings.Join(kc.Addrs(), ","),
		"-posts-topic="+postsTopic,
		"-alerts-topic="+alertsTopic,
		"-database-url="+db,
		"-watchlist-file="+file,
		"-webhook-url="+hook.URL,
		"-webhook-backoff=10ms", "-webhook-max-backoff=50ms", "-webhook-attempts=4",
		"-start=earliest",
		"-bounded",
	)
	ctx, cancel := context.WithTimeout(context.Background(), 6*time.Minute)
	defer cancel()
	took := runToEnd(t, "submitter-watchlist", dir, bins.watchlist, 6*time.Minute, args...)
	t.Logf("the watchlist replay ran on Flink in %v", took)

	// The reference, configured as the command is by its defaults and the
	// flags above; the stream starts at t0, where the pipeline finds it.
	o := wlpipe.DefaultOptions()
	o.Entries = entries
	c := o.Reference()
	c.StreamStart = t0
	wantStatuses, wantAlerts, err := watchlist.Compute(c, entries, posts)
	if err != nil {
		t.Fatal(err)
	}
	watchtest.CheckSurgeAlerts(t, t0, o.WindowPeriod, wantAlerts)
	st, err := store.Open(ctx, db)
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	watchtest.CheckStatuses(t, watchtest.StoredStatuses(t, st, entries, t0.Add(24*time.Hour)), wantStatuses)
	watchtest.CheckAlerts(t, st, kc.Addrs(), alertsTopic, rcv, wantAlerts)
	if n := rcv.Failed(); n != 2*len(wantAlerts) {
		t.Errorf("receiver failed %d requests, want 2 per alert (%d)", n, 2*len(wantAlerts))
	}
	t.Logf("watchlist on Flink: %d statuses and %d alerts equal the reference; every alert on the topic and accepted by the webhook once", len(wantStatuses), len(wantAlerts))
}
