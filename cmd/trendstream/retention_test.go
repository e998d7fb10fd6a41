package main

import (
	"context"
	"testing"
	"time"

	"google.golang.org/protobuf/types/known/timestamppb"

	"github.com/trendstream/trendstream/internal/readside/store"
	"github.com/trendstream/trendstream/internal/testenv"
	tsv1 "github.com/trendstream/trendstream/proto/trendstream/v1"
)

func TestMain(m *testing.M) { testenv.Main(m) }

// TestPruneLoopKeepsReplayedRecording: `run -source file:` of a recording
// older than -retention used to lose all its results at the first prune,
// because retention counted from the wall clock. It counts from the newest
// window now, so only windows older than that minus the retention go.
func TestPruneLoopKeepsReplayedRecording(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	st, err := store.Open(ctx, testenv.Postgres(t))
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	// The recording of TestRunReplaysRecording: months before the wall clock.
	newest := time.Date(2026, 5, 1, 18, 44, 0, 0, time.UTC)
	var snaps []*tsv1.WindowSnapshot
	for _, end := range []time.Time{newest, newest.Add(-time.Hour), newest.Add(-3 * time.Hour)} {
		snaps = append(snaps, &tsv1.WindowSnapshot{
			Source: tsv1.Source_SOURCE_BLUESKY, WindowStart: timestamppb.New(end.Add(-5 * time.Minute)),
			WindowEnd: timestamppb.New(end), Posts: 10, EmittedAt: timestamppb.New(time.Now()),
			Terms: []*tsv1.TrendingTerm{{Term: "worldcupfinal", Kind: tsv1.TermKind_TERM_KIND_HASHTAG, Lang: "en", Rank: 1, Count: 20}},
		})
	}
	if err := st.WriteSnapshots(ctx, snaps); err != nil {
		t.Fatal(err)
	}
	loopCtx, stop := context.WithCancel(ctx)
	done := make(chan struct{})
	go func() { defer close(done); pruneLoop(loopCtx, st, 2*time.Hour) }()
	defer func() { stop(); <-done }()

	// The window 3 h before the newest is beyond the retention either way:
	// once it is gone, the first prune has run.
	ends := func() map[time.Time]bool {
		ws, err := st.Windows(ctx, store.WindowFilter{AllLangs: true, Limit: 10})
		if err != nil {
			t.Fatal(err)
		}
		m := map[time.Time]bool{}
		for _, w := range ws {
			m[w.End] = true
		}
		return m
	}
	for ends()[newest.Add(-3*time.Hour)] {
		select {
		case <-ctx.Done():
			t.Fatal("the prune loop never pruned the window 3 h before the newest")
		case <-time.After(20 * time.Millisecond):
		}
	}
	if got := ends(); !got[newest] || !got[newest.Add(-time.Hour)] || len(got) != 2 {
		t.Errorf("after pruning with 2h retention, windows left: %v; want the newest and the one an hour before it", got)
	}
}
