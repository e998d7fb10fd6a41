package market

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/timestamppb"

	ingestmarket "github.com/trendstream/trendstream/ingest/market"
	"github.com/trendstream/trendstream/ingest/market/lean"
	"github.com/trendstream/trendstream/internal/beamrun"
	"github.com/trendstream/trendstream/internal/marketcalc"
	"github.com/trendstream/trendstream/internal/store"
	"github.com/trendstream/trendstream/internal/testenv"
	v1 "github.com/trendstream/trendstream/proto/trendstream/v1"
	"github.com/trendstream/trendstream/transforms/kafkaio"
)

// liveSpeed compresses the recorded trades onto the wall clock: a recorded
// minute per second. The live test's windows are the defaults' divided by
// it too (a window of 10 s every second).
const liveSpeed = 60

// collect is a market.Handler that keeps the trades.
type collect struct{ evs []*v1.MarketEvent }

func (c *collect) Trade(_ context.Context, ev *v1.MarketEvent) error {
	c.evs = append(c.evs, ev)
	return nil
}

func (c *collect) Bad(_ context.Context, b ingestmarket.BadInput) error {
	return fmt.Errorf("bad input in the recorded day: %v", b.Err)
}

// recordedOpen returns the recorded AIG and IBM trades from 09:20 to 10:00
// ET on 2013-10-07, in event-time order: the thin pre-market and the
// regular session's open, 8,000 trades.
func recordedOpen(t testing.TB) []*v1.MarketEvent {
	t.Helper()
	src, err := lean.New(lean.Config{Path: excerpt, Symbols: []string{"AIG", "IBM"}})
	if err != nil {
		t.Fatal(err)
	}
	var c collect
	if err := src.Run(context.Background(), &c); err != nil {
		t.Fatal(err)
	}
	from, to := time.Date(2013, 10, 7, 13, 20, 0, 0, time.UTC), time.Date(2013, 10, 7, 14, 0, 0, 0, time.UTC)
	var out []*v1.MarketEvent
	for _, ev := range c.evs {
		if at := ev.GetEventTime().AsTime(); !at.Before(from) && at.Before(to) {
			out = append(out, ev)
		}
	}
	if len(out) < 5000 {
		t.Fatalf("%d recorded trades between %v and %v, want the open's thousands", len(out), from, to)
	}
	return out
}

// TestStreamingLive runs the unbounded pipeline on Prism while trades are
// produced into a real Kafka broker in real time, through the ingest's
// Kafka sink: the recorded open of AIG and IBM at 60× (about 200 trades/s,
// 320/s at the open), each stamped with the wall clock, one trade that
// comes 3 s late (beyond -max-out-of-order, within -allowed-lateness) and
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
	pr, err := beamrun.StartPrism(ctx, 0)
	if err != nil {
		t.Fatal(err)
	}
	runCtx, stop := context.WithCancel(ctx)
	defer stop()
	runDone := make(chan error, 1)
	go func() { runDone <- pr.Run(runCtx, p) }()

	// The recorded trades, moved onto the wall clock from 3 s from now.
	orig := recordedOpen(t)
	t0 := orig[0].GetEventTime().AsTime().Truncate(time.Minute)
	base := time.Now().Add(3 * time.Second).Truncate(time.Second)
	evs := make([]*v1.MarketEvent, len(orig))
	for i, ev := range orig {
		q := proto.Clone(ev).(*v1.MarketEvent)
		q.EventTime = timestamppb.New(base.Add(ev.GetEventTime().AsTime().Sub(t0) / liveSpeed))
		evs[i] = q
	}
	arrived := watchWindows(ctx, t, db)

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
			late.EventTime = timestamppb.New(now.Add(-3 * time.Second))
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
		d := readModelDiff(ctx, t, st, o.Score, ref, trades)
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
		if at, ok := arrived.first(r.End); ok && at.Before(produced) {
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

	stop()
	select {
	case err := <-runDone:
		if err != nil && !errors.Is(err, context.Canceled) {
			t.Fatalf("pipeline did not stop cleanly: %v", err)
		}
	case <-time.After(45 * time.Second):
		t.Fatal("pipeline did not stop within 45 s of cancellation")
	}
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

// arrivals records when each market window first appeared in PostgreSQL.
type arrivals struct {
	mu   sync.Mutex
	seen map[time.Time]time.Time
}

func (a *arrivals) first(end time.Time) (time.Time, bool) {
	a.mu.Lock()
	defer a.mu.Unlock()
	at, ok := a.seen[end.UTC()]
	return at, ok
}

// watchWindows polls the read model every 100 ms until ctx ends.
func watchWindows(ctx context.Context, t *testing.T, db string) *arrivals {
	t.Helper()
	st, err := store.Open(ctx, db)
	if err != nil {
		t.Fatal(err)
	}
	a := &arrivals{seen: map[time.Time]time.Time{}}
	done := make(chan struct{})
	t.Cleanup(func() { <-done })
	go func() {
		defer close(done)
		defer st.Close()
		for ctx.Err() == nil {
			rows, err := st.Pool().Query(ctx, `SELECT window_end FROM market_windows`)
			if err == nil {
				now := time.Now()
				for rows.Next() {
					var end time.Time
					if rows.Scan(&end) == nil {
						a.mu.Lock()
						if _, ok := a.seen[end.UTC()]; !ok {
							a.seen[end.UTC()] = now
						}
						a.mu.Unlock()
					}
				}
				rows.Close()
			}
			select {
			case <-ctx.Done():
			case <-time.After(100 * time.Millisecond):
			}
		}
	}()
	return a
}

// readModelDiff describes how the read model differs from the reference's
// rankings and the trades' activity per symbol and window ("" if not at
// all).
func readModelDiff(ctx context.Context, t testing.TB, st *store.Store, p marketcalc.Params, ref []marketcalc.Ranking, trades []marketcalc.Trade) string {
	t.Helper()
	var windows int
	if err := st.Pool().QueryRow(ctx, `SELECT count(*) FROM market_windows`).Scan(&windows); err != nil {
		t.Fatal(err)
	}
	if windows != len(ref) {
		return fmt.Sprintf("read model has %d market windows, reference %d", windows, len(ref))
	}
	for _, r := range ref {
		w, err := st.MarketRanking(ctx, r.End)
		if err != nil {
			t.Fatal(err)
		}
		if w == nil || !w.End.Equal(r.End) || !w.Start.Equal(r.Start) {
			return fmt.Sprintf("window ending %v: got %+v", r.End, w)
		}
		ok := len(w.Ranked) == len(r.Symbols)
		for i := 0; ok && i < len(r.Symbols); i++ {
			g, s := w.Ranked[i], r.Symbols[i]
			ok = g.Symbol == s.Symbol && *g.Score == s.Score && g.Reason == s.Reason && g.Trades == s.Stats.Trades &&
				g.Volume == s.Stats.Volume && g.Open == s.Stats.Open && g.Close == s.Stats.Close && int(*g.BaselineWindows) == s.Baseline
		}
		if !ok {
			return fmt.Sprintf("window ending %v ranks %+v, reference %+v", r.End, w.Ranked, r.Symbols)
		}
	}
	want := windowStats(p, trades)
	rows, err := st.Pool().Query(ctx, `SELECT symbol, window_end, trades, volume, open_price, close_price, high_price, low_price FROM market_activity`)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	got := 0
	for rows.Next() {
		var sym string
		var end time.Time
		var s marketcalc.Stats
		if err := rows.Scan(&sym, &end, &s.Trades, &s.Volume, &s.Open, &s.Close, &s.High, &s.Low); err != nil {
			t.Fatal(err)
		}
		got++
		w := want[sym+"@"+end.UTC().Format(time.RFC3339)]
		if s.Trades != w.Trades || s.Volume != w.Volume || s.Open != w.Open || s.Close != w.Close || s.High != w.High || s.Low != w.Low {
			return fmt.Sprintf("%s window ending %v: stored %+v, trades give %+v", sym, end, s, w)
		}
	}
	if got != len(want) {
		return fmt.Sprintf("%d activity rows, the trades give %d", got, len(want))
	}
	return ""
}
