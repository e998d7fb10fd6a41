package store

import (
	"context"
	"strings"
	"testing"

	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/jackc/tern/v2/migrate"

	"github.com/trendstream/trendstream/internal/testenv"
)

// TestUpgradeFromVersion1 checks that a database holding data under the
// first schema keeps answering "current" queries after the upgrade, i.e.
// that 002 backfills the rankings table.
func TestUpgradeFromVersion1(t *testing.T) {
	ctx := context.Background()
	pool, err := pgxpool.New(ctx, testenv.Postgres(t))
	if err != nil {
		t.Fatal(err)
	}
	defer pool.Close()
	conn, err := pool.Acquire(ctx)
	if err != nil {
		t.Fatal(err)
	}
	m, err := migrate.NewMigrator(ctx, conn.Conn(), VersionTable)
	if err != nil {
		t.Fatal(err)
	}
	sub, _ := migrationsFS()
	if err := m.LoadMigrations(sub); err != nil {
		t.Fatal(err)
	}
	if err := m.MigrateTo(ctx, 1); err != nil {
		t.Fatal(err)
	}
	conn.Release()
	if _, err := pool.Exec(ctx, `INSERT INTO windows VALUES
		('bluesky', 'en', '2026-11-27 11:50Z', '2026-11-27 12:00Z', 10, NULL),
		('bluesky', 'en', '2026-11-27 11:51Z', '2026-11-27 12:01Z', 11, NULL),
		('bluesky', '',   '2026-11-27 11:50Z', '2026-11-27 12:00Z', 12, NULL)`); err != nil {
		t.Fatal(err)
	}
	if err := Migrate(ctx, pool); err != nil {
		t.Fatal(err)
	}
	s := &Store{pool: pool}
	ws, err := s.Windows(ctx, WindowFilter{AllLangs: true, Current: true})
	if err != nil {
		t.Fatal(err)
	}
	if len(ws) != 2 || ws[0].Lang != "" || ws[0].Posts != 12 || ws[1].Lang != "en" || ws[1].Posts != 11 {
		t.Errorf("current windows after upgrade: %+v", ws)
	}
	// And back down: the old view answers the same.
	conn, err = pool.Acquire(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Release()
	m, _ = migrate.NewMigrator(ctx, conn.Conn(), VersionTable)
	if err := m.LoadMigrations(sub); err != nil {
		t.Fatal(err)
	}
	if err := m.MigrateTo(ctx, 1); err != nil {
		t.Fatalf("down to version 1: %v", err)
	}
	var n int
	if err := conn.QueryRow(ctx, "SELECT count(*) FROM current_windows").Scan(&n); err != nil || n != 2 {
		t.Errorf("current_windows after downgrade: %d rows, %v", n, err)
	}
}

// TestUpgradeToTermLang: schema 3 adds the term's language to the key of
// trending_terms. Language rankings get it back-filled from their own
// language, the overall ranking gets ” (unknown), and going back down
// keeps the best-ranked entry of each (kind, term).
func TestUpgradeToTermLang(t *testing.T) {
	ctx := context.Background()
	pool, err := pgxpool.New(ctx, testenv.Postgres(t))
	if err != nil {
		t.Fatal(err)
	}
	defer pool.Close()
	migrateTo := func(v int32) {
		t.Helper()
		conn, err := pool.Acquire(ctx)
		if err != nil {
			t.Fatal(err)
		}
		defer conn.Release()
		m, err := migrate.NewMigrator(ctx, conn.Conn(), VersionTable)
		if err != nil {
			t.Fatal(err)
		}
		sub, _ := migrationsFS()
		if err := m.LoadMigrations(sub); err != nil {
			t.Fatal(err)
		}
		if err := m.MigrateTo(ctx, v); err != nil {
			t.Fatalf("migrate to %d: %v", v, err)
		}
	}
	terms := func() string {
		t.Helper()
		rows, err := pool.Query(ctx, `SELECT format('%s/%s/%s', lang, term, rank) || coalesce('/' || (to_jsonb(t)->>'term_lang'), '')
		                                FROM trending_terms t ORDER BY lang, rank`)
		if err != nil {
			t.Fatal(err)
		}
		var out []string
		for rows.Next() {
			var s string
			if err := rows.Scan(&s); err != nil {
				t.Fatal(err)
			}
			out = append(out, s)
		}
		return strings.Join(out, " ")
	}
	migrateTo(2)
	if _, err := pool.Exec(ctx, `
INSERT INTO rankings VALUES ('bluesky', ''), ('bluesky', 'en');
INSERT INTO windows VALUES ('bluesky', '', '2026-11-27 11:50Z', '2026-11-27 12:00Z', 10, NULL),
                           ('bluesky', 'en', '2026-11-27 11:50Z', '2026-11-27 12:00Z', 5, NULL);
INSERT INTO trending_terms (source, lang, window_start, window_end, kind, term, rank, count, unique_authors, baseline, score)
VALUES ('bluesky', '', '2026-11-27 11:50Z', '2026-11-27 12:00Z', 'word', 'gift', 1, 9, 9, 1, 5),
       ('bluesky', 'en', '2026-11-27 11:50Z', '2026-11-27 12:00Z', 'word', 'gift', 1, 4, 4, 1, 3)`); err != nil {
		t.Fatal(err)
	}
	migrateTo(3)
	if got, want := terms(), "/gift/1/ en/gift/1/en"; got != want {
		t.Errorf("after the upgrade: %q, want %q", got, want)
	}
	// The same word in a second language now fits beside the first.
	if _, err := pool.Exec(ctx, `
INSERT INTO trending_terms (source, lang, window_start, window_end, kind, term, rank, count, unique_authors, baseline, score, term_lang)
VALUES ('bluesky', '', '2026-11-27 11:50Z', '2026-11-27 12:00Z', 'word', 'gift', 2, 8, 8, 1, 4, 'de')`); err != nil {
		t.Fatalf("second language of the same term: %v", err)
	}
	migrateTo(2)
	if got, want := terms(), "/gift/1 en/gift/1"; got != want {
		t.Errorf("after the downgrade: %q, want %q", got, want)
	}
	var n int
	if err := pool.QueryRow(ctx, "SELECT count(*) FROM current_trends").Scan(&n); err != nil || n != 2 {
		t.Errorf("current_trends after the downgrade: %d rows, %v", n, err)
	}
}
