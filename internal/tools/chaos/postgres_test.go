package chaos

import (
	"context"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
)

// TestPostgresURLSurvivesRestart: the private server takes only its
// password, so URL must carry it, and it must stay valid after the fault
// that stops and starts the server.
func TestPostgresURLSurvivesRestart(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	dir, err := os.MkdirTemp("", "chaos-pg-")
	if err != nil {
		t.Fatal(err)
	}
	defer os.RemoveAll(dir)
	if err := os.Chmod(dir, 0o755); err != nil { // the server user must traverse it
		t.Fatal(err)
	}
	p, err := startPostgres(ctx, filepath.Join(dir, "pg"))
	if err != nil {
		t.Fatal(err)
	}
	defer p.Stop()
	if err := p.Stop(); err != nil {
		t.Fatal(err)
	}
	if err := p.Start(ctx); err != nil {
		t.Fatal(err)
	}
	conn, err := pgx.Connect(ctx, p.URL())
	if err != nil {
		t.Fatalf("connect after a restart: %v", err)
	}
	defer conn.Close(ctx)
	if err := conn.Ping(ctx); err != nil {
		t.Fatal(err)
	}
}
