// Package pglocal runs a private PostgreSQL cluster from the server binaries
// installed on the machine (Debian's postgresql-NN packages, or any directory
// holding initdb, pg_ctl and postgres).
//
// It serves two callers: tests, which want a throwaway cluster in a temporary
// directory, and the embedded default of `trendstream run`, which keeps its
// cluster under the data directory so a restart finds yesterday's trends.
// PostgreSQL refuses to run as root, so when the process is root the server
// runs as the "postgres" user.
//
// The cluster is private to the user who starts it: the server listens on
// 127.0.0.1 and on a socket in a directory only its owner can enter, and
// every connection, over TCP or the socket, must give the superuser's
// password (SCRAM-SHA-256). The password is random, made on first start
// and kept in the cluster directory (PasswordFile, mode 0600), so another
// local user can neither reach the socket nor log in over TCP, as they could
// with the trust authentication of earlier versions.
package pglocal

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
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

	"github.com/trendstream/trendstream/internal/services/freeport"
)

// ErrNoBinaries means no PostgreSQL server binaries were found.
var ErrNoBinaries = errors.New("pglocal: no PostgreSQL server binaries found (install Debian's postgresql package, e.g. `apt-get install postgresql-15`, or set PG_BINDIR, or set DATABASE_URL to an existing server)")

// PasswordFile is the name, in a cluster's directory, of the file holding
// the superuser's password (one line, mode 0600).
const PasswordFile = "password"

// hbaConf is the whole pg_hba.conf, written on every start so a cluster made
// by an earlier version (trust authentication) is closed too.
const hbaConf = `# Written by trendstream (internal/services/pglocal) on every start; edits are lost.
# Password (SCRAM-SHA-256) authentication only, on the socket and 127.0.0.1.
local  all  all                scram-sha-256
host   all  all  127.0.0.1/32  scram-sha-256
`

// Cluster is a running local PostgreSQL server.
type Cluster struct {
	// Dir holds the data directory ("data"), the socket, the log file and
	// the password file. Only its owner may enter it (mode 0700).
	Dir      string
	Port     int
	bin      string
	cred     *syscall.Credential
	password string
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
	// The directory holds the socket: 0700 keeps other local users from
	// even reaching it. Chmod too, for directories made by earlier
	// versions with 0755.
	if err := os.MkdirAll(o.Dir, 0o700); err != nil {
		return nil, fmt.Errorf("pglocal: %w", err)
	}
	if err := os.Chmod(o.Dir, 0o700); err != nil {
		return nil, fmt.Errorf("pglocal: %w", err)
	}
	pw, err := Password(o.Dir)
	if err != nil {
		return nil, err
	}
	c := &Cluster{Dir: o.Dir, Port: o.Port, bin: bin, password: pw}
	if os.Geteuid() == 0 {
		cred, err := postgresUser()
		if err != nil {
			return nil, err
		}
		c.cred = cred
		// The server user must reach the directory; every parent must be
		// traversable too, which os.MkdirTemp under /tmp guarantees.
		for _, p := range []string{o.Dir, filepath.Join(o.Dir, PasswordFile)} {
			if err := os.Chown(p, int(cred.Uid), int(cred.Gid)); err != nil {
				return nil, fmt.Errorf("pglocal: chown %s: %w", p, err)
			}
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
		args := []string{"-D", data, "-U", "postgres", "--auth=scram-sha-256",
			"--pwfile=" + filepath.Join(o.Dir, PasswordFile), "-E", "UTF8", "--locale=C"}
		if !o.Durable {
			args = append(args, "--no-sync")
		}
		if out, err := c.run(ctx, nil, "initdb", args...); err != nil {
			return nil, fmt.Errorf("pglocal: initdb: %w\n%s", err, out)
		}
	} else if err := c.setPassword(ctx, data); err != nil {
		// An existing cluster: made by an earlier version with trust
		// authentication and no password, or its password file was lost.
		// The file is the truth; set it before anyone may connect.
		return nil, err
	}
	// Rewriting the file keeps its owner (the server user) and mode.
	if err := os.WriteFile(filepath.Join(data, "pg_hba.conf"), []byte(hbaConf), 0o600); err != nil {
		return nil, fmt.Errorf("pglocal: write pg_hba.conf: %w", err)
	}
	opts := fmt.Sprintf("-c listen_addresses=127.0.0.1 -p %d -k %s -c unix_socket_permissions=0700 -c password_encryption=scram-sha-256",
		c.Port, o.Dir)
	if !o.Durable {
		opts += " -c fsync=off -c synchronous_commit=off -c full_page_writes=off"
	}
	if out, err := c.run(ctx, nil, "pg_ctl", "-D", data, "-l", filepath.Join(o.Dir, "postgres.log"), "-w", "-s", "-t", "60", "-o", opts, "start"); err != nil {
		log, _ := os.ReadFile(filepath.Join(o.Dir, "postgres.log"))
		return nil, fmt.Errorf("pglocal: pg_ctl start: %w\n%s\n%s", err, out, tail(log, 2000))
	}
	return c, nil
}

// URL returns a connection URL for database db as user postgres. It holds
// the password: log it redacted.
func (c *Cluster) URL(db string) string { return connURL(c.Port, c.password, db) }

func connURL(port int, password, db string) string {
	return fmt.Sprintf("postgres://postgres:%s@127.0.0.1:%d/%s?sslmode=disable", password, port, db)
}

// ConnURL returns the connection URL of database db on the cluster kept in
// dir and listening on port, for a process other than the one that started
// it (a test, a soak harness). Like Start, it makes the password if the
// cluster has none yet, so it may be called before Start: the cluster will
// then use that password.
func ConnURL(dir string, port int, db string) (string, error) {
	pw, err := Password(dir)
	if err != nil {
		return "", err
	}
	return connURL(port, pw, db), nil
}

// Password returns the superuser password of the cluster kept in dir,
// making a random one (and dir, mode 0700) if there is none yet. The file
// appears whole or not at all, so concurrent callers agree.
func Password(dir string) (string, error) {
	path := filepath.Join(dir, PasswordFile)
	if b, err := os.ReadFile(path); err == nil {
		pw := strings.TrimSpace(string(b))
		if pw == "" {
			return "", fmt.Errorf("pglocal: %s is empty: delete it to make a new password", path)
		}
		return pw, nil
	} else if !errors.Is(err, os.ErrNotExist) {
		return "", fmt.Errorf("pglocal: read password: %w", err)
	}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return "", fmt.Errorf("pglocal: %w", err)
	}
	// Hex: no character needs escaping in a URL or in SQL.
	raw := make([]byte, 24)
	if _, err := rand.Read(raw); err != nil {
		return "", fmt.Errorf("pglocal: make password: %w", err)
	}
	pw := hex.EncodeToString(raw)
	tmp, err := os.CreateTemp(dir, ".password-*")
	if err != nil {
		return "", fmt.Errorf("pglocal: write password: %w", err)
	}
	defer os.Remove(tmp.Name())
	// CreateTemp makes the file 0600.
	if _, err := tmp.WriteString(pw + "\n"); err != nil {
		tmp.Close()
		return "", fmt.Errorf("pglocal: write password: %w", err)
	}
	if err := tmp.Close(); err != nil {
		return "", fmt.Errorf("pglocal: write password: %w", err)
	}
	// Link fails if another caller got there first; then theirs wins.
	if err := os.Link(tmp.Name(), path); err != nil {
		if errors.Is(err, os.ErrExist) {
			return Password(dir)
		}
		return "", fmt.Errorf("pglocal: write password: %w", err)
	}
	return pw, nil
}

// setPassword sets the superuser's password of the stopped cluster in data
// to c.password, in single-user mode: no connection is accepted meanwhile,
// so the old authentication never applies to anyone.
func (c *Cluster) setPassword(ctx context.Context, data string) error {
	stmt := fmt.Sprintf("SET password_encryption = 'scram-sha-256'; ALTER ROLE postgres PASSWORD '%s';\n", c.password)
	out, err := c.run(ctx, strings.NewReader(stmt), "postgres", "--single", "-D", data, "-c", "listen_addresses=", "postgres")
	if err == nil && bytes.Contains(out, []byte("ERROR")) {
		err = errors.New("statement failed")
	}
	if err != nil {
		out = bytes.ReplaceAll(out, []byte(c.password), []byte("…"))
		return fmt.Errorf("pglocal: set the password of the existing cluster in %s (is it running?): %w\n%s", data, err, tail(out, 2000))
	}
	return nil
}

// Stop shuts the server down (fast mode: open transactions are rolled back).
func (c *Cluster) Stop() error {
	out, err := c.run(context.Background(), nil, "pg_ctl", "-D", filepath.Join(c.Dir, "data"), "-m", "fast", "-w", "-s", "stop")
	if err != nil {
		return fmt.Errorf("pglocal: pg_ctl stop: %w\n%s", err, out)
	}
	return nil
}

func (c *Cluster) run(ctx context.Context, stdin io.Reader, name string, args ...string) ([]byte, error) {
	cmd := exec.CommandContext(ctx, filepath.Join(c.bin, name), args...)
	cmd.Dir = c.Dir
	cmd.Stdin = stdin
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
