package main

import (
	"bytes"
	"context"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"go.yaml.in/yaml/v3"

	"github.com/trendstream/trendstream/internal/core/watchlist"
	"github.com/trendstream/trendstream/internal/readside/store"
	"github.com/trendstream/trendstream/internal/testenv"
	"github.com/trendstream/trendstream/internal/testenv/replaytest"
	"github.com/trendstream/trendstream/internal/testenv/watchtest"
)

func TestWatchlistFlags(t *testing.T) {
	for _, tc := range []struct {
		args     []string
		wantCode int
		wantErr  string
	}{
		{[]string{"watchlist", "-h"}, 0, "[$TRENDSTREAM_WEBHOOK_URL]"},
		{[]string{"watchlist", "-h"}, 0, "(default trendstream.watchlist.alerts)\n    \t[$TRENDSTREAM_ALERTS_TOPIC]"},
		{[]string{"watchlist", "-watchlist-file", "/nonexistent.yaml"}, 1, "/nonexistent.yaml"},
		{[]string{"watchlist", "-alerts-topic", "x"}, 1, "no entries to watch"},
	} {
		var errb bytes.Buffer
		if code := run(tc.args, io.Discard, &errb); code != tc.wantCode || !strings.Contains(errb.String(), tc.wantErr) {
			t.Errorf("%q: exit %d, want %d with %q; stderr:\n%s", tc.args, code, tc.wantCode, tc.wantErr, errb.String())
		}
	}
}

// TestWatchlistCommand runs `trendstream watchlist` as a user would, with
// the settings from the environment twins and the entries from a YAML
// file, over real posts with injected surges: the entries are stored and
// every surge alerts exactly once.
func TestWatchlistCommand(t *testing.T) {
	kc := testenv.Kafka(t, 2, "trendstream.posts", "trendstream.watchlist.alerts")
	db := testenv.Postgres(t)
	t0 := time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)
	posts, err := watchtest.Scenario(t0)
	if err != nil {
		t.Fatal(err)
	}
	replaytest.MustProduce(t, kc.Addrs(), "trendstream.posts", posts)
	b, err := yaml.Marshal(watchlist.File{Entries: watchtest.Entries()})
	if err != nil {
		t.Fatal(err)
	}
	file := filepath.Join(t.TempDir(), "watch.yaml")
	if err := os.WriteFile(file, b, 0o600); err != nil {
		t.Fatal(err)
	}
	t.Setenv("TRENDSTREAM_BROKERS", strings.Join(kc.Addrs(), ","))
	t.Setenv("TRENDSTREAM_DATABASE_URL", db)
	t.Setenv("TRENDSTREAM_WATCHLIST_FILE", file)
	var errb bytes.Buffer
	if code := run([]string{"watchlist", "-bounded"}, io.Discard, &errb); code != 0 {
		t.Fatalf("exit %d; stderr:\n%s", code, errb.String())
	}
	st, err := store.Open(context.Background(), db)
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	es, err := st.WatchEntries(context.Background())
	if err != nil || len(es) != len(watchtest.Entries()) {
		t.Fatalf("%d entries stored (%v), want %d", len(es), err, len(watchtest.Entries()))
	}
	recs, err := st.Alerts(context.Background(), store.AlertFilter{Limit: 100})
	if err != nil {
		t.Fatal(err)
	}
	var alerts []watchlist.Alert
	for _, r := range recs {
		alerts = append(alerts, r.Alert)
		if r.PublishedAt == nil {
			t.Errorf("alert %s not published", r.ID)
		}
	}
	watchtest.CheckSurgeAlerts(t, t0, time.Minute, alerts)
}
