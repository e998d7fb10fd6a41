// Package pglocal runs a private PostgreSQL cluster from the server binaries
// installed on the machine (Debian's postgresql-NN packages, or any directory
// holding initdb, pg_ctl and postgres).
//
// It serves two callers: tests, which want a throwaway cluster in a temporary
// directory, and the embedded default of `trendstream run`, which keeps its
// cluster under the data directory so a restart finds yesterday's trends.
// PostgreSQL refuses to run as root, so when the process is root the server
// runs as the "postgres" user.
package pglocal

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/trendstream/trendstream/internal/freeport"
)

// ErrNoBinaries means no PostgreSQL server binaries were found.
var ErrNoBinaries = errors.New("pglocal: no PostgreSQL server binaries found (install Debian's postgresql package, e.g. `apt-get install postgresql-15`, or set PG_BINDIR, or set DATABASE_URL to an existing server)")

// Cluster is a running local PostgreSQL server.
type Cluster struct {
	// Dir holds the data directory ("data"), the socket and the log file.
	Dir  string
	Port int
	bin  string
	cred *syscall.Credential
}

// Options configure Start.
type Options struct {
	// Dir is where the cluster lives. It is created if missing and an
	// existing cluster in it is reused.
	Dir string
	// Port to listen on, on 127.0.0.1 only; 0 picks a free port.
	Port int
	// BinDir overrides discovery of initdb/pg_ctl.
	BinDir string
	// Durable keeps fsync on. Tests turn it off for speed.
	Durable bool
}

// FindBinDir locates a directory holding initdb and pg_ctl: $PG_BINDIR,
// then `pg_config --bindir`, then the newest /usr/lib/postgresql/*/bin.
func FindBinDir() (string, error) {
	ok := func(d string) bool {
		for _, b := range []string{"initdb", "pg_ctl", "postgres"} {
			if _, err := os.Stat(filepath.Join(d, b)); err != nil {
				return false
			}
		}
		return true
	}
	if d := os.Getenv("PG_BINDIR"); d != "" {
		if ok(d) {
			return d, nil
		}
		return "", fmt.Errorf("pglocal: PG_BINDIR=%s has no initdb/pg_ctl/postgres: %w", d, ErrNoBinaries)
	}
	if out, err := exec.Command("pg_config", "--bindir").Output(); err == nil {
		if d := strings.TrimSpace(string(out)); ok(d) {
			return d, nil
		}
	}
	dirs, _ := filepath.Glob("/usr/lib/postgresql/*/bin")
	sort.Slice(dirs, func(i, j int) bool { return pgMajor(dirs[i]) > pgMajor(dirs[j]) })
	for _, d := range dirs {
		if ok(d) {
			return d, nil
		}
	}
	return "", ErrNoBinaries
}

func pgMajor(binDir string) int {
	n, _ := strconv.Atoi(filepath.Base(filepath.Dir(binDir)))
	return n
}

// Start initialises (if needed) and starts a cluster. The caller must Stop it.
func Start(ctx context.Context, o Options) (*Cluster, error) {
	bin := o.BinDir
	if bin == "" {
		var err error
		if bin, err = FindBinDir(); err != nil {
			return nil, err
		}
	}
	if o.Dir == "" {
		return nil, errors.New("pglocal: Options.Dir is required")
	}
	if err := os.MkdirAll(o.Dir, 0o755); err != nil {
		return nil, fmt.Errorf("pglocal: %w", err)
	}
	c := &Cluster{Dir: o.Dir, Port: o.Port, bin: bin}
	if os.Geteuid() == 0 {
		cred, err := postgresUser()
		if err != nil {
			return nil, err
		}
		c.cred = cred
		// The server user must reach the directory; every parent must be
		// traversable too, which os.MkdirTemp under /tmp guarantees.
		if err := os.Chown(o.Dir, int(cred.Uid), int(cred.Gid)); err != nil {
			return nil, fmt.Errorf("pglocal: chown %s: %w", o.Dir, err)
		}
		if err := searchable(o.Dir); err != nil {
			return nil, err
		}
	}
	if c.Port == 0 {
		p, err := freeport.One()
		if err != nil {
			return nil, err
		}
		c.Port = p
	}
	data := filepath.Join(o.Dir, "data")
	if _, err := os.Stat(filepath.Join(data, "PG_VERSION")); err != nil {
		args := []string{"-D", data, "-U", "postgres", "--auth=trust", "-E", "UTF8", "--locale=C"}
		if !o.Durable {
			args = append(args, "--no-sync")
		}
		if out, err := c.run(ctx, "initdb", args...); err != nil {
			return nil, fmt.Errorf("pglocal: initdb: %w\n%s", err, out)
		}
	}
	opts := fmt.Sprintf("-c listen_addresses=127.0.0.1 -p %d -k %s", c.Port, o.Dir)
	if !o.Durable {
		opts += " -c fsync=off -c synchronous_commit=off -c full_page_writes=off"
	}
	if out, err := c.run(ctx, "pg_ctl", "-D", data, "-l", filepath.Join(o.Dir, "postgres.log"), "-w", "-s", "-t", "60", "-o", opts, "start"); err != nil {
		log, _ := os.ReadFile(filepath.Join(o.Dir, "postgres.log"))
		return nil, fmt.Errorf("pglocal: pg_ctl start: %w\n%s\n%s", err, out, tail(log, 2000))
	}
	return c, nil
}

// URL returns a connection URL for database db as user postgres.
func (c *Cluster) URL(db string) string {
	return fmt.Sprintf("postgres://postgres@127.0.0.1:%d/%s?sslmode=disable", c.Port, db)
}

// Stop shuts the server down (fast mode: open transactions are rolled back).
func (c *Cluster) Stop() error {
	out, err := c.run(context.Background(), "pg_ctl", "-D", filepath.Join(c.Dir, "data"), "-m", "fast", "-w", "-s", "stop")
	if err != nil {
		return fmt.Errorf("pglocal: pg_ctl stop: %w\n%s", err, out)
	}
	return nil
}

func (c *Cluster) run(ctx context.Context, name string, args ...string) ([]byte, error) {
	cmd := exec.CommandContext(ctx, filepath.Join(c.bin, name), args...)
	cmd.Dir = c.Dir
	if c.cred != nil {
		cmd.SysProcAttr = &syscall.SysProcAttr{Credential: c.cred}
	}
	return cmd.CombinedOutput()
}

func postgresUser() (*syscall.Credential, error) {
	u, err := user.Lookup("postgres")
	if err != nil {
		return nil, fmt.Errorf("pglocal: running as root needs a 'postgres' user to run the server as: %w", err)
	}
	uid, _ := strconv.Atoi(u.Uid)
	gid, _ := strconv.Atoi(u.Gid)
	return &syscall.Credential{Uid: uint32(uid), Gid: uint32(gid)}, nil
}

func tail(b []byte, n int) []byte {
	if len(b) > n {
		return b[len(b)-n:]
	}
	return b
}

// WaitReady polls until a TCP connection to the server succeeds.
func (c *Cluster) WaitReady(ctx context.Context) error {
	for {
		conn, err := net.DialTimeout("tcp", fmt.Sprintf("127.0.0.1:%d", c.Port), time.Second)
		if err == nil {
			return conn.Close()
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(50 * time.Millisecond):
		}
	}
}

// searchable checks that every parent of dir lets other users through, as
// the server runs as user postgres; without it initdb fails with a bare
// "permission denied".
func searchable(dir string) error {
	abs, err := filepath.Abs(dir)
	if err != nil {
		return fmt.Errorf("pglocal: %w", err)
	}
	for d := filepath.Dir(abs); ; d = filepath.Dir(d) {
		fi, err := os.Stat(d)
		if err != nil {
			return fmt.Errorf("pglocal: %w", err)
		}
		if fi.Mode().Perm()&0o001 == 0 {
			return fmt.Errorf("pglocal: the PostgreSQL server runs as user postgres, which cannot enter %s (mode %v); put the data directory elsewhere (e.g. under /tmp or /var/lib) or set DATABASE_URL", d, fi.Mode().Perm())
		}
		if d == filepath.Dir(d) {
			return nil
		}
	}
}
