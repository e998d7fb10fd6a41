package chaos

import (
	"context"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgtype"

	"github.com/trendstream/trendstream/internal/readside/store"
)

// ReadModel is the final content of PostgreSQL's read model.
type ReadModel struct {
	Windows []store.Window
	// Duplicates lists rows that repeat what another row already says:
	// a second window of a ranking with the same end, or a second term at
	// the same rank of a window. The primary keys cannot express these.
	Duplicates []string
}

// readModel reads every window with its ranked terms.
func readModel(ctx context.Context, url string) (*ReadModel, error) {
	conn, err := pgx.Connect(ctx, url)
	if err != nil {
		return nil, fmt.Errorf("chaos: connect to the read model: %w", err)
	}
	defer conn.Close(ctx)
	ws, err := readWindows(ctx, conn)
	if err != nil {
		return nil, err
	}
	if err := readTerms(ctx, conn, ws); err != nil {
		return nil, err
	}
	rm := &ReadModel{}
	for _, w := range ws {
		rm.Windows = append(rm.Windows, *w)
	}
	if rm.Duplicates, err = duplicateRows(ctx, conn); err != nil {
		return nil, err
	}
	return rm, nil
}

func readWindows(ctx context.Context, conn *pgx.Conn) (map[WindowKey]*store.Window, error) {
	rows, err := conn.Query(ctx, `SELECT source, lang, window_start, window_end, posts FROM windows`)
	if err != nil {
		return nil, fmt.Errorf("chaos: read windows: %w", err)
	}
	defer rows.Close()
	out := map[WindowKey]*store.Window{}
	for rows.Next() {
		var w store.Window
		if err := rows.Scan(&w.Source, &w.Lang, &w.Start, &w.End, &w.Posts); err != nil {
			return nil, fmt.Errorf("chaos: read windows: %w", err)
		}
		w.Start, w.End = w.Start.UTC(), w.End.UTC()
		out[keyOf(w)] = &w
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("chaos: read windows: %w", err)
	}
	return out, nil
}

func readTerms(ctx context.Context, conn *pgx.Conn, ws map[WindowKey]*store.Window) error {
	rows, err := conn.Query(ctx, `
SELECT source, lang, window_start, window_end, rank, kind, term, count, unique_authors, baseline, score, first_seen
  FROM trending_terms ORDER BY source, lang, window_end, rank, kind, term`)
	if err != nil {
		return fmt.Errorf("chaos: read terms: %w", err)
	}
	defer rows.Close()
	for rows.Next() {
		var (
			k          WindowKey
			start, end time.Time
			t          store.Term
			first      pgtype.Timestamptz
		)
		if err := rows.Scan(&k.Source, &k.Lang, &start, &end, &t.Rank, &t.Kind, &t.Term, &t.Count, &t.UniqueAuthors,
			&t.Baseline, &t.Score, &first); err != nil {
			return fmt.Errorf("chaos: read terms: %w", err)
		}
		if first.Valid {
			ft := first.Time.UTC()
			t.FirstSeen = &ft
		}
		k.Start, k.End = start.UnixMicro(), end.UnixMicro()
		w := ws[k]
		if w == nil {
			return fmt.Errorf("chaos: term %q of window %s..%s has no window row", t.Term, start, end)
		}
		w.Terms = append(w.Terms, t)
	}
	if err := rows.Err(); err != nil {
		return fmt.Errorf("chaos: read terms: %w", err)
	}
	return nil
}

// duplicateRows finds rows that describe the same thing twice.
func duplicateRows(ctx context.Context, conn *pgx.Conn) ([]string, error) {
	var out []string
	queries := []struct{ what, sql string }{
		{"windows with the same ranking and end", `
SELECT source || '|' || lang || '|' || window_end::text, count(*) FROM windows
 GROUP BY source, lang, window_end HAVING count(*) > 1`},
		{"terms with the same window and rank", `
SELECT source || '|' || lang || '|' || window_end::text || '|rank ' || rank, count(*) FROM trending_terms
 GROUP BY source, lang, window_start, window_end, rank HAVING count(*) > 1`},
	}
	for _, q := range queries {
		rows, err := conn.Query(ctx, q.sql)
		if err != nil {
			return nil, fmt.Errorf("chaos: %s: %w", q.what, err)
		}
		for rows.Next() {
			var key string
			var n int64
			if err := rows.Scan(&key, &n); err != nil {
				rows.Close()
				return nil, fmt.Errorf("chaos: %s: %w", q.what, err)
			}
			// n rows where one belongs: n-1 duplicates.
			for range n - 1 {
				out = append(out, q.what+": "+key)
			}
		}
		rows.Close()
		if err := rows.Err(); err != nil {
			return nil, fmt.Errorf("chaos: %s: %w", q.what, err)
		}
	}
	return out, nil
}

// newestWindowEnd is the end of the newest overall window in the read
// model (zero when there is none), what the drain waits on.
func newestWindowEnd(ctx context.Context, url string) (time.Time, error) {
	conn, err := pgx.Connect(ctx, url)
	if err != nil {
		return time.Time{}, fmt.Errorf("chaos: connect to the read model: %w", err)
	}
	defer conn.Close(ctx)
	var end pgtype.Timestamptz
	if err := conn.QueryRow(ctx, `SELECT max(window_end) FROM windows WHERE lang = ''`).Scan(&end); err != nil {
		return time.Time{}, fmt.Errorf("chaos: newest window: %w", err)
	}
	if !end.Valid {
		return time.Time{}, nil
	}
	return end.Time.UTC(), nil
}
