package pglocal

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
)

// tempDir is a cluster directory under /tmp, which the postgres user can
// traverse when the tests run as root.
func tempDir(t *testing.T) string {
	t.Helper()
	dir, err := os.MkdirTemp("", "pglocal-test-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	// MkdirTemp makes it 0700; the server user must traverse it.
	if err := os.Chmod(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	return filepath.Join(dir, "pg")
}

func start(t *testing.T, ctx context.Context, dir string) *Cluster {
	t.Helper()
	c, err := Start(ctx, Options{Dir: dir})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = c.Stop() })
	return c
}

// connectErr tries one connection and returns why it failed, or nil.
func connectErr(ctx context.Context, url string) error {
	conn, err := pgx.Connect(ctx, url)
	if err != nil {
		return err
	}
	defer conn.Close(ctx)
	return conn.Ping(ctx)
}

// authFailed reports whether err is PostgreSQL refusing the credentials.
func authFailed(err error) bool {
	var pe *pgconn.PgError
	return errors.As(err, &pe) && pe.Code == "28P01"
}

// checkLocked asserts what a local user who is not the owner could try:
// log in without the password or with a wrong one, over TCP or the socket.
func checkLocked(t *testing.T, ctx context.Context, c *Cluster) {
	t.Helper()
	if err := connectErr(ctx, c.URL("postgres")); err != nil {
		t.Fatalf("the owner's URL does not connect: %v", err)
	}
	for name, url := range map[string]string{
		"tcp, no password":    fmt.Sprintf("postgres://postgres@127.0.0.1:%d/postgres?sslmode=disable", c.Port),
		"tcp, wrong password": fmt.Sprintf("postgres://postgres:guess@127.0.0.1:%d/postgres?sslmode=disable", c.Port),
		"socket, no password": fmt.Sprintf("host=%s port=%d user=postgres dbname=postgres", c.Dir, c.Port),
	} {
		if err := connectErr(ctx, url); !authFailed(err) {
			t.Errorf("%s: connection error %v, want a password authentication failure", name, err)
		}
	}
	if err := connectErr(ctx, fmt.Sprintf("host=%s port=%d user=postgres password=%s dbname=postgres", c.Dir, c.Port, c.password)); err != nil {
		t.Errorf("the owner's password over the socket: %v", err)
	}
}

func TestStartIsPrivate(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	dir := tempDir(t)
	c := start(t, ctx, dir)
	checkLocked(t, ctx, c)

	for path, want := range map[string]os.FileMode{dir: 0o700, filepath.Join(dir, PasswordFile): 0o600} {
		fi, err := os.Stat(path)
		if err != nil {
			t.Fatal(err)
		}
		if fi.Mode().Perm() != want {
			t.Errorf("%s: mode %v, want %v", path, fi.Mode().Perm(), want)
		}
	}
	conn, err := pgx.Connect(ctx, c.URL("postgres"))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(ctx)
	for setting, want := range map[string]string{
		"listen_addresses": "127.0.0.1", "unix_socket_permissions": "0700", "password_encryption": "scram-sha-256",
	} {
		var got string
		if err := conn.QueryRow(ctx, "SELECT current_setting($1)", setting).Scan(&got); err != nil || got != want {
			t.Errorf("%s = %q (%v), want %q", setting, got, err, want)
		}
	}
	var hba int
	if err := conn.QueryRow(ctx, `SELECT count(*) FROM pg_hba_file_rules WHERE auth_method <> 'scram-sha-256' OR error IS NOT NULL`).Scan(&hba); err != nil || hba != 0 {
		t.Errorf("%d pg_hba.conf rules other than scram-sha-256 (%v)", hba, err)
	}
	if url, err := ConnURL(dir, c.Port, "postgres"); err != nil || url != c.URL("postgres") {
		t.Errorf("ConnURL = %q, %v; want the cluster's URL", url, err)
	}
	conn.Close(ctx)

	// A restart keeps the password.
	if err := c.Stop(); err != nil {
		t.Fatal(err)
	}
	again := start(t, ctx, dir)
	if again.password != c.password {
		t.Error("the password changed across a restart")
	}
	checkLocked(t, ctx, again)
}

// TestStartLocksTrustCluster: a cluster made by an earlier version, with
// trust authentication and a world-readable directory, is given the
// password and locked at its next start.
func TestStartLocksTrustCluster(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	dir := tempDir(t)
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	bin, err := FindBinDir()
	if err != nil {
		t.Fatal(err)
	}
	old := &Cluster{Dir: dir, bin: bin}
	if os.Geteuid() == 0 {
		if old.cred, err = postgresUser(); err != nil {
			t.Fatal(err)
		}
		if err := os.Chown(dir, int(old.cred.Uid), int(old.cred.Gid)); err != nil {
			t.Fatal(err)
		}
	}
	if out, err := old.run(ctx, nil, "initdb", "-D", filepath.Join(dir, "data"), "-U", "postgres", "--auth=trust", "--no-sync"); err != nil {
		t.Fatalf("initdb: %v\n%s", err, out)
	}
	c := start(t, ctx, dir)
	checkLocked(t, ctx, c)
	if fi, err := os.Stat(dir); err != nil || fi.Mode().Perm() != 0o700 {
		t.Errorf("cluster directory %v (%v), want mode 0700", fi.Mode().Perm(), err)
	}
}

// TestPasswordBeforeStart: a harness may learn the URL before the cluster
// exists; Start then uses that password.
func TestPasswordBeforeStart(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	dir := tempDir(t)
	url, err := ConnURL(dir, 0, "postgres")
	if err != nil {
		t.Fatal(err)
	}
	c := start(t, ctx, dir)
	if want := strings.Replace(url, "127.0.0.1:0/", fmt.Sprintf("127.0.0.1:%d/", c.Port), 1); c.URL("postgres") != want {
		t.Errorf("cluster URL %q, want the one given before the start %q", c.URL("postgres"), want)
	}
	if err := connectErr(ctx, c.URL("postgres")); err != nil {
		t.Error(err)
	}
}
