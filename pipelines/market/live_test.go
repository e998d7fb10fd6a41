package market

import (
	"context"
	"fmt"
	"log/slog"
	"slices"
	"strings"
	"testing"
	"time"

	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/timestamppb"

	ingestmarket "github.com/trendstream/trendstream/ingest/market"
	"github.com/trendstream/trendstream/internal/core/marketcalc"
	"github.com/trendstream/trendstream/internal/readside/store"
	"github.com/trendstream/trendstream/internal/testenv"
	"github.com/trendstream/trendstream/internal/testenv/markettest"
	v1 "github.com/trendstream/trendstream/proto/trendstream/v1"
	"github.com/trendstream/trendstream/transforms/kafkaio"
)

// liveSpeed compresses the recorded trades onto the wall clock: a recorded
// minute per second. The live test's windows are the defaults' divided by
// it too (a window of 10 s every second).
const liveSpeed = 60

// TestStreamingLive runs the unbounded pipeline on Prism while trades are
// produced into a real Kafka broker in real time, through the ingest's
// Kafka sink: the recorded open of AIG and IBM at 60× (about 200 trades/s,
// 320/s at the open), each stamped with the wall clock, one trade that
// comes 6 s late (beyond the watermark, which trails the wall clock by
// -max-out-of-order plus up to -read-poll-interval; within
// -allowed-lateness) and
// one 30 s late (beyond both). Windows must reach PostgreSQL while the
// trades are still coming, a few seconds after they end, and in the end
// PostgreSQL and the results topic must hold exactly the reference's
// windows over all trades but the one too late.
func TestStreamingLive(t *testing.T) {
	in, out := testenv.Topic(t, "trendstream.market"), testenv.Topic(t, "trendstream.market.trends")
	k := testenv.RealKafka(t, 4, in, out)
	db := testenv.Postgres(t)
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	st, err := store.Open(ctx, db) // creates the read model's tables
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()

	o := DefaultOptions()
	o.Brokers = strings.Join(k.Addrs(), ",")
	o.Topic, o.ResultsTopic, o.DatabaseURL = in, out, db
	o.Start = kafkaio.Start{Kind: kafkaio.StartEarliest}
	o.MaxOutOfOrder = time.Second
	o.IdleWatermark = kafkaio.IdleWallClock
	o.AllowedLateness = 10 * time.Second
	o.Score.WindowSize /= liveSpeed
	o.Score.WindowPeriod /= liveSpeed
	p, err := Build(o)
	if err != nil {
		t.Fatal(err)
	}
	run := testenv.StartOnPrism(ctx, t, p)

	// The recorded trades, moved onto the wall clock from 3 s from now.
	orig := markettest.RecordedOpen(t, excerpt)
	t0 := orig[0].GetEventTime().AsTime().Truncate(time.Minute)
	base := time.Now().Add(3 * time.Second).Truncate(time.Second)
	evs := make([]*v1.MarketEvent, len(orig))
	for i, ev := range orig {
		q := proto.Clone(ev).(*v1.MarketEvent)
		q.EventTime = timestamppb.New(base.Add(ev.GetEventTime().AsTime().Sub(t0) / liveSpeed))
		evs[i] = q
	}
	arrived := markettest.WatchWindows(ctx, t, db)

	sink, err := ingestmarket.NewKafkaSink(ingestmarket.SinkConfig{Brokers: k.Addrs(), Topic: in, DeadLetterTopic: "-", Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		t.Fatal(err)
	}
	var late *v1.MarketEvent
	lateAt := len(evs) * 7 / 10
	for i, ev := range evs {
		at := ev.GetEventTime().AsTime()
		if d := time.Until(at); d > 0 {
			time.Sleep(d)
		}
		now := time.Now()
		ev.ObservedAt = timestamppb.New(now)
		if err := sink.Trade(ctx, ev); err != nil {
			t.Fatal(err)
		}
		if i == lateAt {
			late = proto.Clone(ev).(*v1.MarketEvent)
			late.EventTime = timestamppb.New(now.Add(-6 * time.Second))
			late.Sequence = 1 << 40
			late.Size = 500000 // big enough to change its windows' volume z-scores
			if err := sink.Trade(ctx, proto.Clone(late).(*v1.MarketEvent)); err != nil {
				t.Fatal(err)
			}
			// And one beyond the allowed lateness: it must change
			// nothing.
			tooLate := proto.Clone(late).(*v1.MarketEvent)
			tooLate.EventTime = timestamppb.New(now.Add(-30 * time.Second))
			tooLate.Sequence++
			if err := sink.Trade(ctx, tooLate); err != nil {
				t.Fatal(err)
			}
		}
	}
	if err := sink.Close(); err != nil {
		t.Fatal(err)
	}
	produced := time.Now()
	t.Logf("%d trades produced over %v (%.0f/s)", len(evs)+2, produced.Sub(base).Round(time.Millisecond), float64(len(evs)+2)/produced.Sub(base).Seconds())

	trades := make([]marketcalc.Trade, 0, len(evs)+1)
	for _, ev := range append(evs, late) {
		trades = append(trades, marketcalc.FromEvent(ev))
	}
	ref, err := marketcalc.Compute(o.Score, trades)
	if err != nil {
		t.Fatal(err)
	}
	ranked := 0
	for _, r := range ref {
		if len(r.Symbols) > 0 {
			ranked++
		}
	}
	if len(ref) < 40 || ranked < 5 {
		t.Fatalf("reference has %d windows, %d ranking a symbol: too few to compare meaningfully", len(ref), ranked)
	}

	// The last window closes a window size and the out-of-order bound
	// after the last trade; give the pipeline a minute more.
	deadline := time.Now().Add(o.Score.WindowSize + o.MaxOutOfOrder + time.Minute)
	for {
		d := markettest.ReadModelDiff(ctx, t, st, o.Score, ref, trades)
		if d == "" {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("PostgreSQL still differs from the reference a minute after the last window closed:\n%s", d)
		}
		time.Sleep(time.Second)
	}
	want := map[string]*v1.MarketWindowSnapshot{}
	for _, r := range ref {
		s := marketcalc.Snapshot(r)
		want[SnapshotKey(s)] = s
	}
	if d := diffSnapshots(resultSnapshots(t, k.Addrs(), out, true), want); d != "" {
		t.Errorf("results topic differs from the reference:\n%s", d)
	}

	// Windows arrived while the trades were still coming, soon after
	// they closed.
	var during []time.Duration
	for _, r := range ref {
		if at, ok := arrived.First(r.End); ok && at.Before(produced) {
			during = append(during, at.Sub(r.End))
		}
	}
	slices.Sort(during)
	if len(during) < len(ref)/2 {
		t.Fatalf("%d of %d windows reached PostgreSQL before the producer finished: want most while streaming", len(during), len(ref))
	}
	p50, worst := during[len(during)/2], during[len(during)-1]
	t.Logf("%d windows (%d ranking a symbol) equal the reference; %d arrived while producing; window end → PostgreSQL row: p50 %v, max %v",
		len(ref), ranked, len(during), p50.Round(time.Millisecond), worst.Round(time.Millisecond))
	if limit := o.MaxOutOfOrder + 5*time.Second; p50 > limit {
		t.Errorf("windows reached PostgreSQL %v after their end (median), want within %v", p50, limit)
	}

	// The late trade's first window was emitted before it came, and
	// corrected after.
	lateEnd := late.GetEventTime().AsTime().Truncate(o.Score.WindowPeriod).Add(o.Score.WindowPeriod)
	if n := emissions(t, k.Addrs(), out, lateEnd); n < 2 {
		t.Errorf("the window ending %v, which the late trade joined, was emitted %d times: want it corrected", lateEnd, n)
	}

	run.Stop(t)
}

// emissions counts the snapshots of the window ending at end on the
// results topic.
func emissions(t testing.TB, brokers []string, topic string, end time.Time) int {
	t.Helper()
	n := 0
	for _, r := range testenv.ReadTopic(t, brokers, topic) {
		if string(r.Key) == fmt.Sprint(end.UnixMilli()) {
			n++
		}
	}
	return n
}
