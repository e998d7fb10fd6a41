// Package testenv starts the real services tests need: an in-process
// Kafka-protocol cluster and a throwaway PostgreSQL server.
//
// Nothing here is mocked. A missing service is a test failure with a message
// naming what to install, never a skip, so CI cannot go green by accident.
//
// Packages that use Postgres must route their TestMain through Main, which
// stops the shared server after the tests:
//
//	func TestMain(m *testing.M) { testenv.Main(m) }
package testenv

import (
	"context"
	"fmt"
	"os"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/trendstream/trendstream/internal/services/kafkalocal"
	"github.com/trendstream/trendstream/internal/services/pglocal"
)

// Kafka starts an in-process single-broker Kafka-protocol cluster on a free
// loopback port, creating topics with the given partition count. It is closed
// when the test ends.
func Kafka(t testing.TB, partitions int32, topics ...string) *kafkalocal.Cluster {
	t.Helper()
	opts := []kafkalocal.Option{}
	if len(topics) > 0 {
		opts = append(opts, kafkalocal.Topics(partitions, topics...))
	}
	c, err := kafkalocal.Start(opts...)
	if err != nil {
		t.Fatalf("testenv: start Kafka-protocol cluster: %v", err)
	}
	t.Cleanup(c.Close)
	return c
}

var (
	pgMu      sync.Mutex
	pgCluster *pglocal.Cluster
	pgErr     error
	inMain    atomic.Bool
	dbSeq     atomic.Int64
)

// Main runs the package's tests and then stops the shared PostgreSQL server
// and real Kafka broker if they were started. Use it as the body of TestMain.
func Main(m *testing.M) {
	inMain.Store(true)
	code := m.Run()
	StopRealKafka()
	pgMu.Lock()
	if pgCluster != nil {
		if err := pgCluster.Stop(); err != nil {
			fmt.Fprintln(os.Stderr, err)
		}
		_ = os.RemoveAll(pgCluster.Dir)
	}
	pgMu.Unlock()
	os.Exit(code)
}

// Postgres returns the URL of a fresh, empty database. With DATABASE_URL set
// the database is created on that server; otherwise a private server is
// started once per test binary from the installed PostgreSQL binaries
// (initdb + pg_ctl in a temporary directory, as user postgres when running as
// root). The database is dropped when the test ends.
func Postgres(t testing.TB) string {
	t.Helper()
	admin := os.Getenv("DATABASE_URL")
	if admin == "" {
		if !inMain.Load() {
			t.Fatal("testenv: Postgres needs the package's TestMain to call testenv.Main(m)")
		}
		c, err := sharedCluster()
		if err != nil {
			t.Fatalf("testenv: PostgreSQL is required for this test and could not be started: %v", err)
		}
		admin = c.URL("postgres")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	conn, err := pgx.Connect(ctx, admin)
	if err != nil {
		t.Fatalf("testenv: connect to PostgreSQL at %s: %v", redact(admin), err)
	}
	defer conn.Close(ctx)
	name := fmt.Sprintf("t_%d_%d", os.Getpid(), dbSeq.Add(1))
	if _, err := conn.Exec(ctx, "CREATE DATABASE "+name); err != nil {
		t.Fatalf("testenv: create database: %v", err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		c, err := pgx.Connect(ctx, admin)
		if err != nil {
			t.Logf("testenv: drop database %s: %v", name, err)
			return
		}
		defer c.Close(ctx)
		if _, err := c.Exec(ctx, "DROP DATABASE IF EXISTS "+name+" WITH (FORCE)"); err != nil {
			t.Logf("testenv: drop database %s: %v", name, err)
		}
	})
	return withDatabase(admin, name)
}

func sharedCluster() (*pglocal.Cluster, error) {
	pgMu.Lock()
	defer pgMu.Unlock()
	if pgCluster != nil || pgErr != nil {
		return pgCluster, pgErr
	}
	// Under /tmp (mode 1777) so the postgres user can reach it when we are root.
	dir, err := os.MkdirTemp("", "trendstream-pg-")
	if err != nil {
		pgErr = err
		return nil, err
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	pgCluster, pgErr = pglocal.Start(ctx, pglocal.Options{Dir: dir})
	return pgCluster, pgErr
}

// withDatabase swaps the database name in a postgres:// URL.
func withDatabase(url, db string) string {
	cfg, err := pgx.ParseConfig(url)
	if err != nil {
		return url
	}
	q := ""
	if i := strings.IndexByte(url, '?'); i >= 0 {
		q = url[i:]
	}
	auth := cfg.User
	if cfg.Password != "" {
		auth += ":" + cfg.Password
	}
	return fmt.Sprintf("postgres://%s@%s:%d/%s%s", auth, cfg.Host, cfg.Port, db, q)
}

func redact(url string) string {
	cfg, err := pgx.ParseConfig(url)
	if err != nil {
		return "<unparsable DATABASE_URL>"
	}
	return fmt.Sprintf("%s@%s:%d/%s", cfg.User, cfg.Host, cfg.Port, cfg.Database)
}

// Rows runs each query on the database at url and returns every row's
// values, the queries' rows in order: what a test compares the read model
// by. A failing query fails the test.
func Rows(t testing.TB, url string, queries ...string) [][]any {
	t.Helper()
	ctx := context.Background()
	conn, err := pgx.Connect(ctx, url)
	if err != nil {
		t.Fatalf("testenv: connect to %s: %v", redact(url), err)
	}
	defer conn.Close(ctx)
	var out [][]any
	for _, q := range queries {
		rows, err := conn.Query(ctx, q)
		if err != nil {
			t.Fatalf("testenv: %s: %v", q, err)
		}
		for rows.Next() {
			vals, err := rows.Values()
			if err != nil {
				rows.Close()
				t.Fatalf("testenv: %s: %v", q, err)
			}
			out = append(out, vals)
		}
		rows.Close()
		if err := rows.Err(); err != nil {
			t.Fatalf("testenv: %s: %v", q, err)
		}
	}
	return out
}
