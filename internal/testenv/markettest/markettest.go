// Package markettest holds what the market pipeline's tests on Prism
// (pipelines/market) and on Flink (flink/portable) share: the recorded
// market open, the read model's expected contents and a watcher of window
// arrivals. It is test support: production code does not import it.
package markettest

import (
	"context"
	"fmt"
	"sync"
	"testing"
	"time"

	ingestmarket "github.com/trendstream/trendstream/ingest/market"
	"github.com/trendstream/trendstream/ingest/market/lean"
	"github.com/trendstream/trendstream/internal/core/marketcalc"
	"github.com/trendstream/trendstream/internal/readside/store"
	v1 "github.com/trendstream/trendstream/proto/trendstream/v1"
)

// collect is a market.Handler that keeps the trades.
type collect struct{ evs []*v1.MarketEvent }

func (c *collect) Trade(_ context.Context, ev *v1.MarketEvent) error {
	c.evs = append(c.evs, ev)
	return nil
}

func (c *collect) Bad(_ context.Context, b ingestmarket.BadInput) error {
	return fmt.Errorf("bad input in the recorded day: %v", b.Err)
}

// RecordedOpen returns the recorded AIG and IBM trades from 09:20 to 10:00
// ET on 2013-10-07, in event-time order: the thin pre-market and the
// regular session's open, 8,000 trades.
func RecordedOpen(t testing.TB, dir string) []*v1.MarketEvent {
	t.Helper()
	src, err := lean.New(lean.Config{Path: dir, Symbols: []string{"AIG", "IBM"}})
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

// Arrivals records when each market window first appeared in PostgreSQL.
type Arrivals struct {
	mu   sync.Mutex
	seen map[time.Time]time.Time
	// polled is when the last complete poll began: a row committed
	// before it is in seen.
	polled time.Time
}

func (a *Arrivals) First(end time.Time) (time.Time, bool) {
	a.mu.Lock()
	defer a.mu.Unlock()
	at, ok := a.seen[end.UTC()]
	return at, ok
}

// Sync waits until a poll that began after the call has completed, so
// that every row the caller has seen in the read model is in First: a
// check that ends the moment the read model is complete would otherwise
// find its last window missing, committed after the watcher's last poll
// (CI stop 28: "window ending 22:37:48 never reached PostgreSQL" right
// after the read model equalled the reference).
func (a *Arrivals) Sync(ctx context.Context) error {
	since := time.Now()
	for {
		a.mu.Lock()
		done := a.polled.After(since)
		a.mu.Unlock()
		if done {
			return nil
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("the read model's watcher did not poll again: %w", ctx.Err())
		case <-time.After(20 * time.Millisecond):
		}
	}
}

// WatchWindows polls the read model every 100 ms until ctx ends.
func WatchWindows(ctx context.Context, t testing.TB, db string) *Arrivals {
	t.Helper()
	st, err := store.Open(ctx, db)
	if err != nil {
		t.Fatal(err)
	}
	a := &Arrivals{seen: map[time.Time]time.Time{}}
	done := make(chan struct{})
	t.Cleanup(func() { <-done })
	go func() {
		defer close(done)
		defer st.Close()
		for ctx.Err() == nil {
			began := time.Now()
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
				if rows.Err() == nil {
					a.mu.Lock()
					a.polled = began
					a.mu.Unlock()
				}
			}
			select {
			case <-ctx.Done():
			case <-time.After(100 * time.Millisecond):
			}
		}
	}()
	return a
}

// ReadModelDiff describes how the read model differs from the reference's
// rankings and the trades' activity per symbol and window ("" if not at
// all).
func ReadModelDiff(ctx context.Context, t testing.TB, st *store.Store, p marketcalc.Params, ref []marketcalc.Ranking, trades []marketcalc.Trade) string {
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
	want := WindowStats(p, trades)
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

// WindowStats is what the read model should hold per (symbol, window end):
// every window a symbol traded in, from the trades directly.
func WindowStats(p marketcalc.Params, trades []marketcalc.Trade) map[string]marketcalc.Stats {
	n := int64(p.WindowSize / p.WindowPeriod)
	out := map[string]marketcalc.Stats{}
	for _, tr := range trades {
		if tr.Suspicious && !p.KeepSuspicious {
			continue
		}
		b := marketcalc.Bucket(p, tr.Time)
		for w := b - n + 1; w <= b; w++ {
			end := time.Unix(0, w*int64(p.WindowPeriod)).Add(p.WindowSize).UTC()
			k := tr.Symbol + "@" + end.Format(time.RFC3339)
			st := out[k]
			st.Add(tr)
			out[k] = st
		}
	}
	return out
}
