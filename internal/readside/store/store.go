// Package store is trendstream's PostgreSQL read model: the ranked trends
// the pipeline emits, kept per (source, language, sliding window) for the
// CLI, the HTTP API and ad-hoc psql queries.
//
// The schema lives in embedded SQL migrations that Open applies with tern
// under a PostgreSQL advisory lock, so several processes may start against
// the same database at once.
package store

import (
	"context"
	"embed"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5/pgtype"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/jackc/tern/v2/migrate"

	tsv1 "github.com/trendstream/trendstream/proto/trendstream/v1"
)

//go:embed migrations/*.sql
var migrationFiles embed.FS

// VersionTable is the table in which tern records the applied migration.
const VersionTable = "public.trendstream_schema_version"

// Store is a connection pool to a migrated read-model database. It is safe
// for concurrent use.
type Store struct {
	pool *pgxpool.Pool
}

// Open connects to databaseURL (a postgres:// URL or key=value DSN) and
// brings the schema up to date before returning.
func Open(ctx context.Context, databaseURL string) (*Store, error) {
	pool, err := pgxpool.New(ctx, databaseURL)
	if err != nil {
		return nil, fmt.Errorf("store: connect: %w", err)
	}
	if err := Migrate(ctx, pool); err != nil {
		pool.Close()
		return nil, err
	}
	return &Store{pool: pool}, nil
}

// Close releases all connections.
func (s *Store) Close() { s.pool.Close() }

// Pool exposes the connection pool, for callers that run their own SQL
// against the read model's tables and views.
func (s *Store) Pool() *pgxpool.Pool { return s.pool }

// Ping checks that the database answers.
func (s *Store) Ping(ctx context.Context) error {
	if err := s.pool.Ping(ctx); err != nil {
		return fmt.Errorf("store: ping: %w", err)
	}
	return nil
}

// Migrate applies the embedded migrations that the database lacks. tern
// holds a session advisory lock while it works, so concurrent callers wait
// for each other and the loser finds nothing left to do.
func Migrate(ctx context.Context, pool *pgxpool.Pool) error {
	conn, err := pool.Acquire(ctx)
	if err != nil {
		return fmt.Errorf("store: migrate: acquire connection: %w", err)
	}
	defer conn.Release()
	m, err := migrate.NewMigrator(ctx, conn.Conn(), VersionTable)
	if err != nil {
		return fmt.Errorf("store: migrate: %w", err)
	}
	sub, err := migrationsFS()
	if err != nil {
		return fmt.Errorf("store: migrate: %w", err)
	}
	if err := m.LoadMigrations(sub); err != nil {
		return fmt.Errorf("store: migrate: load: %w", err)
	}
	if err := m.Migrate(ctx); err != nil {
		return fmt.Errorf("store: migrate: %w", err)
	}
	return nil
}

// SchemaVersion is the number of migrations the embedded schema has.
func SchemaVersion() (int32, error) {
	sub, err := migrationsFS()
	if err != nil {
		return 0, err
	}
	names, err := migrate.FindMigrations(sub)
	return int32(len(names)), err
}

// WriteSnapshots stores snapshots in one transaction. For each (source,
// lang, window) it upserts the window row and replaces that window's ranked
// terms, so a re-fired or retried pane neither duplicates a row nor leaves a
// term behind that the newer pane no longer ranks. A snapshot with a lower
// revision than the stored one, or the same revision and an older
// emitted_at, is ignored: corrections and retries may arrive out of order.
// Within one call the last snapshot of a window wins.
func (s *Store) WriteSnapshots(ctx context.Context, snaps []*tsv1.WindowSnapshot) error {
	if len(snaps) == 0 {
		return nil
	}
	ws := dedupWindows(snaps)

	var (
		wSource, wLang = make([]string, len(ws)), make([]string, len(ws))
		wStart, wEnd   = make([]time.Time, len(ws)), make([]time.Time, len(ws))
		wPosts         = make([]int64, len(ws))
		wEmitted       = make([]pgtype.Timestamptz, len(ws))
		wRevision      = make([]int64, len(ws))
	)
	for i, w := range ws {
		wSource[i], wLang[i], wStart[i], wEnd[i], wPosts[i] = w.Source, w.Lang, w.Start, w.End, w.Posts
		wRevision[i] = w.Revision
		if w.EmittedAt != nil {
			wEmitted[i] = pgtype.Timestamptz{Time: *w.EmittedAt, Valid: true}
		}
	}

	tx, err := s.pool.Begin(ctx)
	if err != nil {
		return fmt.Errorf("store: write snapshots: begin: %w", err)
	}
	defer tx.Rollback(ctx) //nolint:errcheck // a no-op after Commit

	// Register new rankings; current_windows starts from this table.
	if _, err := tx.Exec(ctx, `
INSERT INTO rankings (source, lang)
SELECT DISTINCT * FROM unnest($1::text[], $2::text[]) ORDER BY 1, 2
ON CONFLICT DO NOTHING`, wSource, wLang); err != nil {
		return fmt.Errorf("store: write snapshots: register rankings: %w", err)
	}
	rows, err := tx.Query(ctx, `
INSERT INTO windows (source, lang, window_start, window_end, posts, emitted_at, revision)
SELECT * FROM unnest($1::text[], $2::text[], $3::timestamptz[], $4::timestamptz[], $5::int8[], $6::timestamptz[], $7::int8[])
ON CONFLICT (source, lang, window_start, window_end) DO UPDATE
   SET posts = EXCLUDED.posts, emitted_at = EXCLUDED.emitted_at, revision = EXCLUDED.revision
 WHERE windows.revision < EXCLUDED.revision
    OR (windows.revision = EXCLUDED.revision
        AND (windows.emitted_at IS NULL OR EXCLUDED.emitted_at IS NULL OR windows.emitted_at <= EXCLUDED.emitted_at))
RETURNING source, lang, window_start, window_end`,
		wSource, wLang, wStart, wEnd, wPosts, wEmitted, wRevision)
	if err != nil {
		return fmt.Errorf("store: write snapshots: upsert windows: %w", err)
	}
	written := map[windowKey]bool{}
	for rows.Next() {
		var k windowKey
		var start, end time.Time
		if err := rows.Scan(&k.source, &k.lang, &start, &end); err != nil {
			rows.Close()
			return fmt.Errorf("store: write snapshots: %w", err)
		}
		k.start, k.end = start.UnixMicro(), end.UnixMicro()
		written[k] = true
	}
	if err := rows.Err(); err != nil {
		return fmt.Errorf("store: write snapshots: upsert windows: %w", err)
	}
	if len(written) == 0 {
		return tx.Commit(ctx)
	}

	var (
		kSource, kLang []string
		kStart, kEnd   []time.Time
		tSource, tLang []string
		tStart, tEnd   []time.Time
		tKind, tTerm   []string
		tTermLang      []string
		tRank          []int32
		tCount, tUniq  []int64
		tBase, tScore  []float64
		tFirst         []pgtype.Timestamptz
	)
	for _, w := range ws {
		if !written[keyOf(w)] {
			continue
		}
		kSource, kLang, kStart, kEnd = append(kSource, w.Source), append(kLang, w.Lang), append(kStart, w.Start), append(kEnd, w.End)
		for _, t := range w.Terms {
			tSource, tLang, tStart, tEnd = append(tSource, w.Source), append(tLang, w.Lang), append(tStart, w.Start), append(tEnd, w.End)
			tKind, tTerm, tRank = append(tKind, t.Kind), append(tTerm, t.Term), append(tRank, t.Rank)
			tTermLang = append(tTermLang, t.TermLang)
			tCount, tUniq = append(tCount, t.Count), append(tUniq, t.UniqueAuthors)
			tBase, tScore = append(tBase, t.Baseline), append(tScore, t.Score)
			var fs pgtype.Timestamptz
			if t.FirstSeen != nil {
				fs = pgtype.Timestamptz{Time: *t.FirstSeen, Valid: true}
			}
			tFirst = append(tFirst, fs)
		}
	}
	if _, err := tx.Exec(ctx, `
DELETE FROM trending_terms t
 USING unnest($1::text[], $2::text[], $3::timestamptz[], $4::timestamptz[]) AS k(source, lang, window_start, window_end)
 WHERE t.source = k.source AND t.lang = k.lang AND t.window_start = k.window_start AND t.window_end = k.window_end`,
		kSource, kLang, kStart, kEnd); err != nil {
		return fmt.Errorf("store: write snapshots: delete old terms: %w", err)
	}
	if len(tTerm) > 0 {
		if _, err := tx.Exec(ctx, `
INSERT INTO trending_terms (source, lang, window_start, window_end, kind, term, rank, count, unique_authors, baseline, score, first_seen, term_lang)
SELECT * FROM unnest($1::text[], $2::text[], $3::timestamptz[], $4::timestamptz[], $5::text[], $6::text[],
                     $7::int4[], $8::int8[], $9::int8[], $10::float8[], $11::float8[], $12::timestamptz[], $13::text[])`,
			tSource, tLang, tStart, tEnd, tKind, tTerm, tRank, tCount, tUniq, tBase, tScore, tFirst, tTermLang); err != nil {
			return fmt.Errorf("store: write snapshots: insert terms: %w", err)
		}
	}
	if err := writeTopics(ctx, tx, snaps, written); err != nil {
		return err
	}
	if err := tx.Commit(ctx); err != nil {
		return fmt.Errorf("store: write snapshots: commit: %w", err)
	}
	return nil
}

type windowKey struct {
	source, lang string
	start, end   int64 // unix µs, PostgreSQL's precision
}

func keyOf(w Window) windowKey {
	return windowKey{w.Source, w.Lang, w.Start.UnixMicro(), w.End.UnixMicro()}
}

// dedupWindows converts snaps, keeping the last snapshot of each window (a
// statement may touch a row only once) in a stable key order, so that
// concurrent writers lock window rows in the same order and cannot deadlock.
func dedupWindows(snaps []*tsv1.WindowSnapshot) []Window {
	idx := map[windowKey]int{}
	var ws []Window
	for _, s := range snaps {
		if s == nil {
			continue
		}
		w := FromSnapshot(s)
		k := keyOf(w)
		if i, ok := idx[k]; ok {
			ws[i] = w
			continue
		}
		idx[k] = len(ws)
		ws = append(ws, w)
	}
	sortWindows(ws)
	return ws
}

// Prune deletes every window that ended before olderThan, with its terms,
// and the tombstones of deletes before it (WriteDeletes), and returns how
// many windows it removed.
func (s *Store) Prune(ctx context.Context, olderThan time.Time) (int64, error) {
	tag, err := s.pool.Exec(ctx, `DELETE FROM windows WHERE window_end < $1`, olderThan)
	if err != nil {
		return 0, fmt.Errorf("store: prune: %w", err)
	}
	if _, err := s.pool.Exec(ctx, `DELETE FROM deleted_posts WHERE deleted_at < $1`, olderThan); err != nil {
		return 0, fmt.Errorf("store: prune tombstones: %w", err)
	}
	return tag.RowsAffected(), nil
}

// DefaultRetention is how long before its source's newest window a window
// is kept (serve and run -retention).
const DefaultRetention = 24 * time.Hour

// PruneRetention deletes, for each source, the windows that ended more than
// retention before that source's newest window, and returns how many it
// removed.
//
// Retention is measured in event time, not from the wall clock: a replay of
// a recording from last month keeps its results, while a live pipeline,
// whose newest window ends about now, loses the same windows a wall-clock
// cut-off would take. The reference is capped at the current time, so one
// window stamped in the future (a skewed clock upstream) cannot wipe out
// the real ones. Each source has its own reference, so a replayed source
// and a live one in the same database do not prune each other.
func (s *Store) PruneRetention(ctx context.Context, retention time.Duration) (int64, error) {
	if retention <= 0 {
		return 0, fmt.Errorf("store: prune: retention must be positive, got %v", retention)
	}
	// The newest window of each ranking is one index probe
	// (windows_ranking_end_idx); the delete then uses windows_end_idx.
	tag, err := s.pool.Exec(ctx, `
WITH newest AS (
  SELECT r.source, least(max(w.window_end), now()) AS window_end
    FROM rankings r
   CROSS JOIN LATERAL (
          SELECT window_end FROM windows w
           WHERE w.source = r.source AND w.lang = r.lang
           ORDER BY w.window_end DESC, w.window_start DESC
           LIMIT 1) w
   GROUP BY r.source)
DELETE FROM windows w
 USING newest n
 WHERE w.source = n.source
   AND w.window_end < n.window_end - $1::int8 * interval '1 microsecond'`, retention.Microseconds())
	if err != nil {
		return 0, fmt.Errorf("store: prune: %w", err)
	}
	// Tombstones go by the same rule: by then no window that could hold
	// their post takes an example any more (008_deleted_posts). A source
	// with no window left keeps its tombstones until it has one.
	if _, err := s.pool.Exec(ctx, `
WITH newest AS (
  SELECT source, least(max(window_end), now()) AS window_end FROM windows GROUP BY source)
DELETE FROM deleted_posts d
 USING newest n
 WHERE d.source = n.source
   AND d.deleted_at < n.window_end - $1::int8 * interval '1 microsecond'`, retention.Microseconds()); err != nil {
		return 0, fmt.Errorf("store: prune tombstones: %w", err)
	}
	return tag.RowsAffected(), nil
}
