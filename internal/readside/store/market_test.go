package store_test

import (
	"context"
	"testing"
	"time"

	"google.golang.org/protobuf/types/known/timestamppb"

	"github.com/trendstream/trendstream/internal/readside/store"
	tsv1 "github.com/trendstream/trendstream/proto/trendstream/v1"
)

func marketWrite(end time.Time, rev int64, ranked []string, traded ...string) store.MarketWrite {
	snap := &tsv1.MarketWindowSnapshot{WindowStart: timestamppb.New(end.Add(-10 * time.Minute)), WindowEnd: timestamppb.New(end)}
	for i, s := range ranked {
		snap.Symbols = append(snap.Symbols, &tsv1.SymbolActivity{Symbol: s, Score: float64(50 - i), Reason: "trades",
			ZTrades: float64(50 - i), Trades: int64(100 * (i + 1)), Volume: 1000, Open: 100_0000, Close: 101_0000,
			High: 102_0000, Low: 99_0000, MoveBps: 100, BaselineWindows: 30})
	}
	w := store.MarketWrite{Snapshot: snap, Revision: rev}
	for _, s := range traded {
		w.Activity = append(w.Activity, &tsv1.SymbolActivity{Symbol: s, Trades: 7, Volume: 700, Open: 50_0000, Close: 50_0000, High: 50_0000, Low: 50_0000})
	}
	return w
}

// TestMarketWindows checks the market read model: rankings by time, a
// symbol's history with and without rank, idempotent rewrites, and that a
// lower revision never overwrites a higher one.
func TestMarketWindows(t *testing.T) {
	ctx := context.Background()
	s := open(t)
	t0 := time.Date(2013, 10, 7, 13, 40, 0, 0, time.UTC)
	writes := []store.MarketWrite{
		marketWrite(t0, 0, nil, "AIG", "IBM"),
		marketWrite(t0.Add(time.Minute), 0, []string{"AIG"}, "AIG", "IBM"),
		marketWrite(t0.Add(2*time.Minute), 0, []string{"IBM", "AIG"}, "AIG", "IBM", "SPY"),
	}
	for range 2 { // the second write is a retry and must change nothing
		if err := s.WriteMarketWindows(ctx, writes); err != nil {
			t.Fatal(err)
		}
	}
	var windows, rows int
	if err := s.Pool().QueryRow(ctx, `SELECT (SELECT count(*) FROM market_windows), (SELECT count(*) FROM market_activity)`).Scan(&windows, &rows); err != nil {
		t.Fatal(err)
	}
	if windows != 3 || rows != 7 {
		t.Fatalf("%d windows, %d activity rows after a retried write, want 3 and 7", windows, rows)
	}

	tests := []struct {
		at      time.Time
		wantEnd time.Time
		ranked  []string
	}{
		{time.Time{}, t0.Add(2 * time.Minute), []string{"IBM", "AIG"}},
		{t0.Add(90 * time.Second), t0.Add(time.Minute), []string{"AIG"}},
		{t0, t0, nil},
	}
	for _, tc := range tests {
		w, err := s.MarketRanking(ctx, tc.at)
		if err != nil || w == nil {
			t.Fatalf("ranking at %v: %v, %v", tc.at, w, err)
		}
		var got []string
		for i, a := range w.Ranked {
			got = append(got, a.Symbol)
			if a.Rank == nil || int(*a.Rank) != i+1 || a.Score == nil {
				t.Errorf("ranking at %v: entry %d has rank %v score %v", tc.at, i, a.Rank, a.Score)
			}
		}
		if !w.End.Equal(tc.wantEnd) || len(got) != len(tc.ranked) || (len(got) > 0 && got[0] != tc.ranked[0]) {
			t.Errorf("ranking at %v: window ending %v ranks %q, want %v and %q", tc.at, w.End, got, tc.wantEnd, tc.ranked)
		}
	}
	if w, err := s.MarketRanking(ctx, t0.Add(-time.Hour)); err != nil || w != nil {
		t.Errorf("ranking before any window: %+v, %v; want nil", w, err)
	}

	h, err := s.SymbolHistory(ctx, "AIG", time.Time{}, time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	if len(h) != 3 || h[0].Rank != nil || h[0].Trades != 7 || h[1].Rank == nil || *h[1].Rank != 1 || *h[2].Rank != 2 || h[2].Trades != 200 {
		t.Fatalf("AIG history: %+v", h)
	}
	if h, err := s.SymbolHistory(ctx, "SPY", t0.Add(time.Minute), time.Hour); err != nil || len(h) != 0 {
		t.Errorf("SPY before it traded: %+v, %v", h, err)
	}

	// A lower revision is ignored; a higher one replaces the whole window.
	if err := s.WriteMarketWindows(ctx, []store.MarketWrite{marketWrite(t0.Add(2*time.Minute), 2, []string{"SPY"}, "SPY")}); err != nil {
		t.Fatal(err)
	}
	if err := s.WriteMarketWindows(ctx, []store.MarketWrite{marketWrite(t0.Add(2*time.Minute), 1, []string{"AIG"}, "AIG", "IBM")}); err != nil {
		t.Fatal(err)
	}
	w, err := s.MarketRanking(ctx, time.Time{})
	if err != nil {
		t.Fatal(err)
	}
	if w.Revision != 2 || w.Symbols != 1 || len(w.Ranked) != 1 || w.Ranked[0].Symbol != "SPY" {
		t.Errorf("after revisions 2 then 1: %+v", w)
	}
}
