package store

import (
	"context"
	"errors"
	"fmt"
	"sort"
	"time"

	"github.com/jackc/pgx/v5"

	tsv1 "github.com/trendstream/trendstream/proto/trendstream/v1"
)

// MarketWrite is one market window as the market pipeline writes it: the
// ranking of unusual symbols (the MarketWindowSnapshot it also puts on the
// results topic) and the activity of every symbol that traded in the window,
// ranked or not.
type MarketWrite struct {
	Snapshot *tsv1.MarketWindowSnapshot
	// Activity holds every symbol that traded in the window. For a symbol
	// Snapshot ranks, Snapshot's entry is stored.
	Activity []*tsv1.SymbolActivity
	// Revision orders writes of one window: a lower revision than the
	// stored one is ignored, an equal or higher one replaces the window.
	Revision int64
}

// MarketActivity is one symbol in one market window, as the API serves it.
// Rank, Score and the z-scores are set only when the window ranked the
// symbol as unusual.
type MarketActivity struct {
	Symbol          string    `json:"symbol"`
	Start           time.Time `json:"window_start"`
	End             time.Time `json:"window_end"`
	Rank            *int32    `json:"rank,omitempty"`
	Score           *float64  `json:"score,omitempty"`
	Reason          string    `json:"reason,omitempty"`
	ZTrades         *float64  `json:"z_trades,omitempty"`
	ZVolume         *float64  `json:"z_volume,omitempty"`
	ZMove           *float64  `json:"z_move,omitempty"`
	Trades          int64     `json:"trades"`
	Volume          int64     `json:"volume"`
	Open            int64     `json:"open"`
	Close           int64     `json:"close"`
	High            int64     `json:"high"`
	Low             int64     `json:"low"`
	MoveBps         float64   `json:"move_bps"`
	BaselineWindows *int32    `json:"baseline_windows,omitempty"`
}

// MarketWindow is one market window with its ranked symbols, best first.
type MarketWindow struct {
	Start    time.Time        `json:"window_start"`
	End      time.Time        `json:"window_end"`
	Symbols  int32            `json:"symbols"`
	Revision int64            `json:"revision"`
	Ranked   []MarketActivity `json:"ranked"`
}

// WriteMarketWindows stores market windows in one transaction, idempotently:
// each window's row is upserted and its activity rows replaced, unless the
// stored revision is higher. Within one call the last write of a window wins.
func (s *Store) WriteMarketWindows(ctx context.Context, ws []MarketWrite) error {
	type key struct{ start, end int64 }
	idx := map[key]int{}
	var uniq []MarketWrite
	for _, w := range ws {
		if w.Snapshot == nil {
			continue
		}
		k := key{w.Snapshot.GetWindowStart().AsTime().UnixMicro(), w.Snapshot.GetWindowEnd().AsTime().UnixMicro()}
		if i, ok := idx[k]; ok {
			uniq[i] = w
			continue
		}
		idx[k] = len(uniq)
		uniq = append(uniq, w)
	}
	if len(uniq) == 0 {
		return nil
	}
	// One lock order for concurrent writers.
	sort.Slice(uniq, func(i, j int) bool {
		a, b := uniq[i].Snapshot, uniq[j].Snapshot
		if !a.GetWindowEnd().AsTime().Equal(b.GetWindowEnd().AsTime()) {
			return a.GetWindowEnd().AsTime().Before(b.GetWindowEnd().AsTime())
		}
		return a.GetWindowStart().AsTime().Before(b.GetWindowStart().AsTime())
	})
	tx, err := s.pool.Begin(ctx)
	if err != nil {
		return fmt.Errorf("store: write market windows: begin: %w", err)
	}
	defer tx.Rollback(ctx) //nolint:errcheck // a no-op after Commit
	batch := &pgx.Batch{}
	for _, w := range uniq {
		start, end := w.Snapshot.GetWindowStart().AsTime().UTC(), w.Snapshot.GetWindowEnd().AsTime().UTC()
		acts := activityOf(w)
		batch.Queue(`
WITH up AS (
  INSERT INTO market_windows (window_start, window_end, symbols, revision, written_at)
  VALUES ($1, $2, $3, $4, now())
  ON CONFLICT (window_start, window_end) DO UPDATE
     SET symbols = EXCLUDED.symbols, revision = EXCLUDED.revision, written_at = EXCLUDED.written_at
   WHERE market_windows.revision <= EXCLUDED.revision
  RETURNING 1)
DELETE FROM market_activity a USING up
 WHERE a.window_start = $1 AND a.window_end = $2`, start, end, int32(len(acts)), w.Revision)
		for _, a := range acts {
			batch.Queue(`
INSERT INTO market_activity (window_start, window_end, symbol, rank, score, reason, z_trades, z_volume, z_move,
                             trades, volume, open_price, close_price, high_price, low_price, move_bps, baseline_windows)
SELECT $1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17
 WHERE EXISTS (SELECT 1 FROM market_windows WHERE window_start = $1 AND window_end = $2 AND revision = $18)
ON CONFLICT DO NOTHING`,
				start, end, a.Symbol, a.Rank, a.Score, nullText(a.Reason), a.ZTrades, a.ZVolume, a.ZMove,
				a.Trades, a.Volume, a.Open, a.Close, a.High, a.Low, a.MoveBps, a.BaselineWindows, w.Revision)
		}
	}
	if err := tx.SendBatch(ctx, batch).Close(); err != nil {
		return fmt.Errorf("store: write market windows: %w", err)
	}
	if err := tx.Commit(ctx); err != nil {
		return fmt.Errorf("store: write market windows: commit: %w", err)
	}
	return nil
}

// activityOf is w's rows: the snapshot's ranked symbols with their rank
// (the ranking's values win), then the other symbols of w.Activity.
func activityOf(w MarketWrite) []MarketActivity {
	ranked := map[string]int{}
	for i, a := range w.Snapshot.GetSymbols() {
		ranked[a.GetSymbol()] = i
	}
	seen := map[string]bool{}
	var out []MarketActivity
	add := func(a *tsv1.SymbolActivity) {
		if a.GetSymbol() == "" || seen[a.GetSymbol()] {
			return
		}
		seen[a.GetSymbol()] = true
		m := MarketActivity{
			Symbol: a.GetSymbol(), Trades: a.GetTrades(), Volume: a.GetVolume(),
			Open: a.GetOpen(), Close: a.GetClose(), High: a.GetHigh(), Low: a.GetLow(), MoveBps: a.GetMoveBps(),
		}
		if i, ok := ranked[a.GetSymbol()]; ok {
			r := w.Snapshot.GetSymbols()[i]
			rank, score, zt, zv, zm, base := int32(i+1), r.GetScore(), r.GetZTrades(), r.GetZVolume(), r.GetZMove(), r.GetBaselineWindows()
			m.Rank, m.Score, m.ZTrades, m.ZVolume, m.ZMove, m.BaselineWindows = &rank, &score, &zt, &zv, &zm, &base
			m.Reason = r.GetReason()
		}
		out = append(out, m)
	}
	for _, a := range w.Snapshot.GetSymbols() {
		add(a)
	}
	for _, a := range w.Activity {
		add(a)
	}
	return out
}

func nullText(s string) *string {
	if s == "" {
		return nil
	}
	return &s
}

const marketColumns = `symbol, window_start, window_end, rank, score, coalesce(reason, ''), z_trades, z_volume, z_move,
       trades, volume, open_price, close_price, high_price, low_price, move_bps, baseline_windows`

func scanActivity(rows pgx.Rows) (MarketActivity, error) {
	var a MarketActivity
	err := rows.Scan(&a.Symbol, &a.Start, &a.End, &a.Rank, &a.Score, &a.Reason, &a.ZTrades, &a.ZVolume, &a.ZMove,
		&a.Trades, &a.Volume, &a.Open, &a.Close, &a.High, &a.Low, &a.MoveBps, &a.BaselineWindows)
	a.Start, a.End = a.Start.UTC(), a.End.UTC()
	return a, err
}

// MarketRanking returns the newest market window ending at or before at
// (any window when at is zero) with its ranked symbols, or nil when there
// is none.
func (s *Store) MarketRanking(ctx context.Context, at time.Time) (*MarketWindow, error) {
	var w MarketWindow
	err := s.pool.QueryRow(ctx, `
SELECT window_start, window_end, symbols, revision FROM market_windows
 WHERE window_end <= $1
 ORDER BY window_end DESC, window_start DESC LIMIT 1`, upper(at)).Scan(&w.Start, &w.End, &w.Symbols, &w.Revision)
	if errors.Is(err, pgx.ErrNoRows) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("store: market ranking: %w", err)
	}
	w.Start, w.End = w.Start.UTC(), w.End.UTC()
	rows, err := s.pool.Query(ctx, `SELECT `+marketColumns+` FROM market_activity
 WHERE window_start = $1 AND window_end = $2 AND rank IS NOT NULL ORDER BY rank`, w.Start, w.End)
	if err != nil {
		return nil, fmt.Errorf("store: market ranking: %w", err)
	}
	defer rows.Close()
	w.Ranked = []MarketActivity{}
	for rows.Next() {
		a, err := scanActivity(rows)
		if err != nil {
			return nil, fmt.Errorf("store: market ranking: %w", err)
		}
		w.Ranked = append(w.Ranked, a)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("store: market ranking: %w", err)
	}
	return &w, nil
}

// SymbolHistory returns symbol's activity in the windows ending within
// [until - span, until] (until zero: up to its newest window), oldest
// first: every window it traded in, with rank and score where it ranked.
func (s *Store) SymbolHistory(ctx context.Context, symbol string, until time.Time, span time.Duration) ([]MarketActivity, error) {
	if until.IsZero() {
		var newest *time.Time
		if err := s.pool.QueryRow(ctx, `SELECT max(window_end) FROM market_activity WHERE symbol = $1`, symbol).Scan(&newest); err != nil {
			return nil, fmt.Errorf("store: symbol history: %w", err)
		}
		if newest == nil {
			return nil, nil
		}
		until = *newest
	}
	rows, err := s.pool.Query(ctx, `SELECT `+marketColumns+` FROM market_activity
 WHERE symbol = $1 AND window_end <= $2 AND window_end >= $3
 ORDER BY window_end, window_start`, symbol, until, until.Add(-span))
	if err != nil {
		return nil, fmt.Errorf("store: symbol history: %w", err)
	}
	defer rows.Close()
	var out []MarketActivity
	for rows.Next() {
		a, err := scanActivity(rows)
		if err != nil {
			return nil, fmt.Errorf("store: symbol history: %w", err)
		}
		out = append(out, a)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("store: symbol history: %w", err)
	}
	return out, nil
}
