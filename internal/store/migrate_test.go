package store

import (
	"context"
	"io/fs"
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
	sub, _ := fs.Sub(migrationFiles, "migrations")
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
