package livesoak

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"testing"
	"time"

	"google.golang.org/protobuf/types/known/timestamppb"

	"github.com/trendstream/trendstream/internal/readside/api"
	"github.com/trendstream/trendstream/internal/readside/store"
	"github.com/trendstream/trendstream/internal/testenv"
	tsv1 "github.com/trendstream/trendstream/proto/trendstream/v1"
)

func TestMain(m *testing.M) { testenv.Main(m) }

// TestRecorder runs the recorder against a real read model and API
// server: rankings written to PostgreSQL and published to the stream are
// observed with their emitted_at, first poll and push; a rewritten pane is
// counted; samples read this process and the ingest's metrics.
func TestRecorder(t *testing.T) {
	ctx := context.Background()
	url := testenv.Postgres(t)
	st, err := store.Open(ctx, url)
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	srv := api.New(st, api.Options{})
	hs := httptest.NewServer(srv.Handler())
	defer hs.Close()
	metrics := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		fmt.Fprintln(w, `trendstream_ingest_posts_total{operation="create"} 42`)
	}))
	defer metrics.Close()

	rec := StartRecorder(ctx, RecorderOptions{
		DatabaseURL: url, APIURL: hs.URL, MetricsURL: metrics.URL, PID: os.Getpid(),
		PollEvery: 100 * time.Millisecond, SampleEvery: 100 * time.Millisecond,
		Sent: func() int64 { return 7 },
	})
	stopped := false
	defer func() {
		if !stopped {
			rec.Stop()
		}
	}()
	waitFor := func(what string, cond func() bool) {
		t.Helper()
		for deadline := time.Now().Add(10 * time.Second); !cond(); time.Sleep(20 * time.Millisecond) {
			if time.Now().After(deadline) {
				t.Fatalf("timed out waiting for %s", what)
			}
		}
	}
	waitFor("the SSE subscription", func() bool {
		rec.mu.Lock()
		defer rec.mu.Unlock()
		return rec.obs.SSEConnects > 0
	})

	end := time.Now().Truncate(time.Second)
	snap := func(lang string, emitted time.Time) *tsv1.WindowSnapshot {
		return &tsv1.WindowSnapshot{Source: tsv1.Source_SOURCE_BLUESKY, Lang: lang, Posts: 50,
			WindowStart: timestamppb.New(end.Add(-time.Minute)), WindowEnd: timestamppb.New(end), EmittedAt: timestamppb.New(emitted)}
	}
	emitted := end.Add(1500 * time.Millisecond)
	snaps := []*tsv1.WindowSnapshot{snap("", emitted), snap("en", emitted)}
	if err := st.WriteSnapshots(ctx, snaps); err != nil {
		t.Fatal(err)
	}
	for _, s := range snaps {
		srv.Publish(s)
	}
	overall := winKey{"bluesky", "", end.Add(-time.Minute).UnixMicro(), end.UnixMicro()}
	waitFor("the window in PostgreSQL and on the stream", func() bool {
		rec.mu.Lock()
		defer rec.mu.Unlock()
		w := rec.windows[overall]
		return w != nil && !w.SeenAt.IsZero() && !w.SSEAt.IsZero()
	})
	// A re-fired pane of the same window, emitted later.
	if err := st.WriteSnapshots(ctx, []*tsv1.WindowSnapshot{snap("", emitted.Add(time.Second))}); err != nil {
		t.Fatal(err)
	}
	waitFor("the rewrite", func() bool {
		rec.mu.Lock()
		defer rec.mu.Unlock()
		return rec.windows[overall].Rewrites == 1
	})
	rec.SampleNow(ctx)
	obs := rec.Stop()
	stopped = true

	if len(obs.Windows) != 2 {
		t.Fatalf("windows %+v", obs.Windows)
	}
	w := obs.Windows[0]
	if w.Lang != "" || w.Posts != 50 || !w.EmittedAt.Equal(emitted) || !w.LastEmittedAt.Equal(emitted.Add(time.Second)) ||
		w.SSEPushes != 1 || w.SeenAt.Before(end) || w.SSEAt.Before(end) {
		t.Errorf("overall window %+v", w)
	}
	if obs.Windows[1].Lang != "en" || obs.Windows[1].SSEAt.IsZero() {
		t.Errorf("en window %+v", obs.Windows[1])
	}
	if obs.PollOK == 0 || obs.PollErrors != 0 || obs.SSEEvents != 2 || obs.SSEBadEvents != 0 {
		t.Errorf("recorder counters %+v", obs)
	}
	last := obs.Samples[len(obs.Samples)-1]
	if !last.Run.OK || last.Run.RSS <= 0 || !last.Self.OK || last.Sent != 7 || last.Ingested != 42 || !last.NewestEnd.Equal(end) || !last.NewestSSEEnd.Equal(end) {
		t.Errorf("last sample %+v", last)
	}
}
