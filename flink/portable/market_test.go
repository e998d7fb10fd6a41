package portable

import (
	"context"
	"fmt"
	"log/slog"
	"strconv"
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
	"github.com/trendstream/trendstream/pipelines/market"
	v1 "github.com/trendstream/trendstream/proto/trendstream/v1"
)

// marketSpeed puts 20 recorded seconds of trades into a second of wall
// clock (the recorded open: about 66 trades/s for 111 s); the job's
// windows are the defaults' divided by it too: 30 s every 3 s, so that
// liveBound (15 s) is half a window and a window that came a window size
// late would fail.
const marketSpeed = 20

// flinkMarket runs the streaming market pipeline's own command
// (pipelines/market/cmd/market) as an unbounded job on the Flink cluster
// while the recorded open of AIG and IBM is produced into Kafka in real
// time at marketSpeed, through the ingest's Kafka sink. Every window that
// ends after the job's first row, and liveBound or more before the trades
// stop, must reach PostgreSQL within liveBound of its end; in the end the
// read model must equal internal/core/marketcalc's reference.
//
// Before internal/core/windowclock's live rules, no window reached
// PostgreSQL until the trades stopped: the symbol scorer's release timer
// was moved on by every bucket that reached it before the watermark that
// passed its period, so it never fired while buckets kept coming, and its
// hold kept the stage's output watermark at the stream's start
// (2026-12-02); with the timer left where it was but one window released
// per firing, every window came about a window size late (2026-12-03).
func flinkMarket(t *testing.T, fc *flinkCluster, bins binaries, dir string) {
	const in, out = "market.trades", "market.trends"
	kc := testenv.RealKafka(t, 4, in, out)
	db := testenv.Postgres(t)
	ctx, cancel := context.WithTimeout(context.Background(), 8*time.Minute)
	defer cancel()
	st, err := store.Open(ctx, db) // creates the read model's tables
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()

	o := market.DefaultOptions()
	o.MaxOutOfOrder = time.Second
	o.Score.WindowSize /= marketSpeed
	o.Score.WindowPeriod /= marketSpeed
	args := []string{
		"-brokers=" + strings.Join(kc.Addrs(), ","),
		"-market-topic=" + in,
		"-market-trends-topic=" + out,
		"-database-url=" + db,
		"-start=earliest",
		"-group=trendstream-flink-market",
		"-idle-watermark=wallclock",
		"-max-out-of-order=" + o.MaxOutOfOrder.String(),
		"-allowed-lateness=10s",
		"-window-size=" + o.Score.WindowSize.String(),
		"-window-period=" + o.Score.WindowPeriod.String(),
		"-baseline-windows=" + strconv.Itoa(o.Score.BaselineWindows),
	}
	jobID := fc.submitUnbounded(t, dir, bins, bins.market, "trendstream-flink-market", args...)
	running := time.Now()
	waitReading(t, kc.Addrs(), "trendstream-flink-market", in, 4, 2*time.Minute)
	t.Logf("the job's reader started %v after the job was RUNNING", time.Since(running).Round(time.Millisecond))

	// The recorded trades, moved onto the wall clock from 3 s from now.
	orig := markettest.RecordedOpen(t, "../../ingest/market/lean/testdata")
	t0 := orig[0].GetEventTime().AsTime().Truncate(time.Minute)
	base := time.Now().Add(3 * time.Second).Truncate(time.Second)
	trades := make([]marketcalc.Trade, len(orig))
	arrived := markettest.WatchWindows(ctx, t, db)
	sink, err := ingestmarket.NewKafkaSink(ingestmarket.SinkConfig{Brokers: kc.Addrs(), Topic: in, DeadLetterTopic: "-", Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		t.Fatal(err)
	}
	var midway string // the job's watermarks halfway through the stream
	for i, ev := range orig {
		if i == len(orig)/2 {
			midway = fc.watermarks(jobID)
		}
		q := proto.Clone(ev).(*v1.MarketEvent)
		q.EventTime = timestamppb.New(base.Add(ev.GetEventTime().AsTime().Sub(t0) / marketSpeed))
		if d := time.Until(q.GetEventTime().AsTime()); d > 0 {
			time.Sleep(d)
		}
		q.ObservedAt = timestamppb.New(time.Now())
		if err := sink.Trade(ctx, q); err != nil {
			t.Fatal(err)
		}
		trades[i] = marketcalc.FromEvent(q)
	}
	if err := sink.Close(); err != nil {
		t.Fatal(err)
	}
	produced := time.Now()
	t.Logf("%d trades produced over %v (%.0f/s)", len(trades), produced.Sub(base).Round(time.Millisecond), float64(len(trades))/produced.Sub(base).Seconds())

	ref, err := marketcalc.Compute(o.Score, trades)
	if err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(o.Score.WindowSize + o.MaxOutOfOrder + 2*time.Minute)
	for {
		d := markettest.ReadModelDiff(ctx, t, st, o.Score, ref, trades)
		if d == "" {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("PostgreSQL still differs from the reference 2 minutes after the last window closed:\n%s\nthe job's tasks:\n%s", d, fc.watermarks(jobID))
		}
		time.Sleep(time.Second)
	}
	// The rows just compared are in the watcher's record too.
	if err := arrived.Sync(ctx); err != nil {
		t.Fatal(err)
	}

	// Freshness: every window due while the trades came (it ends after
	// the first row, as in the trending live test, and liveBound before
	// the trades stopped) must have come within liveBound.
	firstRow := produced
	for _, r := range ref {
		if at, ok := arrived.First(r.End); ok && at.Before(firstRow) {
			firstRow = at
		}
	}
	var delays, startup []time.Duration
	var late []string
	for _, r := range ref {
		at, ok := arrived.First(r.End)
		switch {
		case !ok:
			t.Errorf("window ending %s never reached PostgreSQL", r.End.Format(time.TimeOnly))
		case !r.End.After(firstRow):
			startup = append(startup, at.Sub(r.End))
		case r.End.Add(liveBound).After(produced):
		default:
			delays = append(delays, at.Sub(r.End))
			if at.Sub(r.End) > liveBound {
				late = append(late, fmt.Sprintf("%s +%v", r.End.Format(time.TimeOnly), at.Sub(r.End).Round(time.Millisecond)))
			}
		}
	}
	t.Logf("market on Flink: %d windows equal the reference; window end → PostgreSQL row for the %d windows due while trades came: %s; %d start-up windows: %s; the job's tasks halfway through the stream:\n%s",
		len(ref), len(delays), summarize(delays), len(startup), summarize(startup), midway)
	if len(delays) < liveWindows {
		t.Errorf("only %d windows were due while the trades came; the check needs %d", len(delays), liveWindows)
	}
	if len(late) > 0 {
		t.Errorf("%d of %d windows reached PostgreSQL later than %v after their end: %s", len(late), len(delays), liveBound, strings.Join(late, ", "))
	}
}
