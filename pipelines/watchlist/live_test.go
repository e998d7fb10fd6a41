package watchlist

import (
	"context"
	"net/http/httptest"
	"slices"
	"testing"
	"time"

	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/timestamppb"

	"github.com/trendstream/trendstream/internal/core/watchlist"
	"github.com/trendstream/trendstream/internal/readside/store"
	"github.com/trendstream/trendstream/internal/testenv"
	"github.com/trendstream/trendstream/internal/testenv/replaytest"
	"github.com/trendstream/trendstream/internal/testenv/watchtest"
	tsv1 "github.com/trendstream/trendstream/proto/trendstream/v1"
	"github.com/trendstream/trendstream/transforms/kafkaio"
)

// liveSpeed compresses the scenario onto the wall clock: a minute per
// second. The live test's windows and warm-up are the defaults' divided by
// it too (a window of 10 s every second), so the surges alert as in the
// replay.
const liveSpeed = 60

// TestAlertsLive runs the unbounded pipeline on Prism while the scenario
// (real posts with the injected surges, 100 minutes at 60×) is produced in
// real time, each post when the wall clock reaches its restamped event
// time. Every alert must reach PostgreSQL within half a window size of the
// end of the window that raised it, and in the end the statuses and alerts
// (PostgreSQL, topic, webhook) must equal the reference's. With Beam's
// sliding windows in front of the scorer, alerts came a window size late.
func TestAlertsLive(t *testing.T) {
	if testing.Short() {
		t.Skip("runs for about two minutes of wall clock")
	}
	kc := testenv.Kafka(t, 3, postsTopic, alertsTopic)
	db := testenv.Postgres(t)
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	st, err := store.Open(ctx, db) // creates the read model's tables
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	rcv := watchtest.NewReceiver(0)
	hook := httptest.NewServer(rcv)
	defer hook.Close()

	// The scenario, moved onto the wall clock from 3 s from now.
	orig, err := watchtest.Scenario(t0)
	if err != nil {
		t.Fatal(err)
	}
	base := time.Now().Add(3 * time.Second).Truncate(time.Second)
	posts := make([]*tsv1.Post, len(orig))
	for i, p := range orig {
		q := proto.Clone(p).(*tsv1.Post)
		q.ObservedAt = timestamppb.New(base.Add(p.GetObservedAt().AsTime().Sub(t0) / liveSpeed))
		posts[i] = q
	}

	o := testOptions(kc.Addrs(), db, hook.URL)
	o.Bounded = false
	o.Start = kafkaio.Start{Kind: kafkaio.StartEarliest}
	o.MaxOutOfOrder = time.Second
	o.IdleWatermark = kafkaio.IdleWallClock
	o.WindowSize /= liveSpeed
	o.WindowPeriod /= liveSpeed
	o.Score.WarmUp /= liveSpeed
	o.StreamStart = base // the topic is still empty: Build cannot ask Kafka
	wantStatuses, wantAlerts, err := watchlist.Compute(o.Reference(), o.Entries, posts)
	if err != nil {
		t.Fatal(err)
	}
	if len(wantAlerts) < len(watchtest.Surges())-1 {
		t.Fatalf("the reference has %d alerts: too few to measure", len(wantAlerts))
	}

	p, err := Build(o)
	if err != nil {
		t.Fatal(err)
	}
	run := testenv.StartOnPrism(ctx, t, p)

	if err := replaytest.ProduceLive(ctx, kc.Addrs(), postsTopic, posts, nil); err != nil {
		t.Fatal(err)
	}
	produced := time.Now()
	t.Logf("%d posts produced over %v", len(posts), produced.Sub(base).Round(time.Millisecond))

	// The last window closes a window size and the out-of-order bound
	// after the last post; give the pipeline half a minute more.
	deadline := time.Now().Add(o.WindowSize + o.MaxOutOfOrder + 30*time.Second)
	until := base.Add(24 * time.Hour)
	for {
		ns, na := len(watchtest.StoredStatuses(t, st, o.Entries, until)), len(watchtest.StoredAlerts(t, st))
		if ns >= len(wantStatuses) && na >= len(wantAlerts) {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("%d statuses and %d alerts stored, the reference has %d and %d", ns, na, len(wantStatuses), len(wantAlerts))
		}
		select {
		case err := <-run.Done():
			t.Fatalf("pipeline ended on its own while unbounded: %v", err)
		case <-time.After(time.Second):
		}
	}
	watchtest.CheckStatuses(t, watchtest.StoredStatuses(t, st, o.Entries, until), wantStatuses)
	watchtest.CheckAlerts(t, st, kc.Addrs(), alertsTopic, rcv, wantAlerts)

	// Each alert was stored soon after its window ended: the watermark
	// trails the wall clock by the out-of-order bound and a poll, and the
	// scorer releases a window as soon as the watermark passes its end.
	var delays []time.Duration
	for _, a := range watchtest.StoredAlerts(t, st) {
		d := a.CreatedAt.Sub(time.UnixMilli(a.WindowEnd))
		delays = append(delays, d)
		t.Logf("alert %s: stored %v after its window ended", a.ID, d.Round(time.Millisecond))
		if limit := o.WindowSize / 2; d > limit {
			t.Errorf("alert %s stored %v after its window ended, want within %v (half a window)", a.ID, d.Round(time.Millisecond), limit)
		}
	}
	slices.Sort(delays)
	if len(delays) > 0 {
		t.Logf("%d statuses and %d alerts equal the reference; window end → alert in PostgreSQL: median %v, max %v",
			len(wantStatuses), len(wantAlerts), delays[len(delays)/2].Round(time.Millisecond), delays[len(delays)-1].Round(time.Millisecond))
	}

	run.Stop(t)
}
