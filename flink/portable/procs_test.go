package portable

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io/fs"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/IBM/sarama"

	"github.com/trendstream/trendstream/internal/platform/kafkaconf"
	"github.com/trendstream/trendstream/internal/platform/kafkaoffsets"
)

// workerPoolPort is where `boot --worker_pool` listens; boot hard-codes it.
const workerPoolPort = 50000

// moduleRoot is the directory of this module's go.mod, where builds run so
// that they use the module's dependency versions.
func moduleRoot(t testing.TB, goBin string) string {
	t.Helper()
	out, err := exec.Command(goBin, "env", "GOMOD").Output()
	if err != nil {
		t.Fatalf("go env GOMOD: %v", err)
	}
	mod := strings.TrimSpace(string(out))
	if mod == "" || mod == os.DevNull {
		t.Fatal("go env GOMOD: not inside the trendstream module")
	}
	return filepath.Dir(mod)
}

// binaries are the three programs of a portable submission.
type binaries struct {
	prism, boot string
	// pipeline is the trending pipeline's program, watchlist and market
	// the other pipelines'; each is also its own worker binary.
	pipeline, watchlist, market string
}

// buildBinaries builds Prism's job server, Beam's Go container entrypoint
// and the pipeline program into dir with one `go build`. It uses the build
// settings `go test` itself runs with, not `make submit`'s static trimmed
// cross-build: -trimpath and CGO_ENABLED=0 change every package's build
// ID, so a fresh machine would compile Beam and its dependencies a second
// time. The Job API path under test does not depend on how the binary was
// linked.
func buildBinaries(ctx context.Context, t testing.TB, dir string) binaries {
	t.Helper()
	// go test puts its own GOROOT/bin first on PATH.
	goBin, err := exec.LookPath("go")
	if err != nil {
		t.Fatalf("the go command is required to build Prism, boot and the pipeline for this test: %v", err)
	}
	root := moduleRoot(t, goBin)
	recordSources(t, root)
	cmd := exec.CommandContext(ctx, goBin, "build", "-o", dir+string(filepath.Separator),
		"github.com/apache/beam/sdks/v2/go/cmd/prism",
		"github.com/apache/beam/sdks/v2/go/container",
		"./pipelines/trending/cmd/trending",
		"./pipelines/watchlist/cmd/watchlist",
		"./pipelines/market/cmd/market")
	cmd.Dir = root
	cmd.Env = hermeticEnv()
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	start := time.Now()
	if err := cmd.Run(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out.String())
	}
	t.Logf("built prism, boot and the three pipelines in %v", time.Since(start).Round(time.Millisecond))
	// Names of our own: boot stages a worker binary as
	// /tmp/staged/<n>-<basename>, which cleanupBootFiles must recognise.
	rename := func(name string) string {
		to := filepath.Join(dir, fmt.Sprintf("%s-portabletest-%d", name, os.Getpid()))
		if err := os.Rename(filepath.Join(dir, name), to); err != nil {
			t.Fatal(err)
		}
		return to
	}
	return binaries{prism: filepath.Join(dir, "prism"), boot: filepath.Join(dir, "container"),
		pipeline: rename("trending"), watchlist: rename("watchlist"), market: rename("market")}
}

// recordSources stats every Go source file of the module and its go.mod
// and go.sum. The test binary does not link the pipeline it builds, so
// without these recorded inputs go test's result cache would report a
// stale pass after the pipeline changed.
func recordSources(t testing.TB, root string) {
	t.Helper()
	err := filepath.WalkDir(root, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		name := d.Name()
		if d.IsDir() {
			if path != root && (strings.HasPrefix(name, ".") || name == "testdata" || name == "bin") {
				return filepath.SkipDir
			}
			return nil
		}
		if strings.HasSuffix(name, ".go") || path == filepath.Join(root, "go.mod") || path == filepath.Join(root, "go.sum") {
			_, err := os.Stat(path)
			return err
		}
		return nil
	})
	if err != nil {
		t.Fatalf("listing the module's sources: %v", err)
	}
}

// hermeticEnv is this process's environment without the TRENDSTREAM_
// variables, which the pipeline binary would read as flag values.
func hermeticEnv() []string {
	var env []string
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, "TRENDSTREAM_") {
			env = append(env, kv)
		}
	}
	return env
}

// proc is a subprocess running in its own process group, so that it and
// everything it starts (boot starts harnesses, which start workers) can be
// stopped together.
type proc struct {
	name string
	cmd  *exec.Cmd
	log  string
	done chan struct{}
	err  error
}

// runToEnd runs bin as the submitter name of a bounded job and waits for
// it, failing t with the submitter's log if the job fails or does not end
// within timeout; it returns how long the job took.
func runToEnd(t testing.TB, name, logDir, bin string, timeout time.Duration, args ...string) time.Duration {
	t.Helper()
	started := time.Now()
	submit := startProc(t, name, logDir, bin, args...)
	select {
	case <-submit.done:
	case <-time.After(timeout):
		t.Fatalf("%s: the job did not finish within %v\nsubmitter:\n%s", name, timeout, submit.logTail(4000))
	}
	if submit.err != nil {
		t.Fatalf("%s: %v\n%s", name, submit.err, submit.logFrom("pipeline failed", 4000))
	}
	return time.Since(started).Round(time.Millisecond)
}

// startProc starts bin in a new process group with its output in
// logDir/<name>.log, and stops the group when the test ends.
func startProc(t testing.TB, name, logDir, bin string, args ...string) *proc {
	t.Helper()
	logPath := filepath.Join(logDir, name+".log")
	f, err := os.Create(logPath)
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(bin, args...)
	cmd.Env = hermeticEnv()
	cmd.Stdout, cmd.Stderr = f, f
	// Pdeathsig: if the test binary itself is killed, the job server and
	// the pool must not outlive it.
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
	if err := cmd.Start(); err != nil {
		f.Close()
		t.Fatalf("start %s: %v", name, err)
	}
	p := &proc{name: name, cmd: cmd, log: logPath, done: make(chan struct{})}
	go func() {
		p.err = cmd.Wait()
		f.Close()
		close(p.done)
	}()
	t.Cleanup(func() { p.stop(t) })
	return p
}

// stop signals the process group with SIGTERM, then SIGKILL after 5 s, and
// waits for the leader to exit. The group is killed even when the leader
// has already exited, because its children may not have.
func (p *proc) stop(t testing.TB) {
	pgid := p.cmd.Process.Pid
	_ = syscall.Kill(-pgid, syscall.SIGTERM)
	select {
	case <-p.done:
	case <-time.After(5 * time.Second):
		t.Logf("%s: no exit 5s after SIGTERM; killing its process group", p.name)
	}
	_ = syscall.Kill(-pgid, syscall.SIGKILL)
	select {
	case <-p.done:
	case <-time.After(5 * time.Second):
		t.Errorf("%s (pid %d) did not exit after SIGKILL", p.name, pgid)
	}
}

// exited reports whether the process has ended, and how.
func (p *proc) exited() (bool, error) {
	select {
	case <-p.done:
		return true, p.err
	default:
		return false, nil
	}
}

// logTail returns the last n bytes of the process's output.
func (p *proc) logTail(n int) string {
	b, err := os.ReadFile(p.log)
	if err != nil {
		return fmt.Sprintf("(log unreadable: %v)", err)
	}
	if len(b) > n {
		b = append([]byte("…"), b[len(b)-n:]...)
	}
	return string(b)
}

// logFrom returns n bytes of the process's output from the first
// occurrence of marker, or its last n bytes if marker is absent: a failed
// job's cause is at the start of one very long line.
func (p *proc) logFrom(marker string, n int) string {
	b, err := os.ReadFile(p.log)
	if err != nil {
		return fmt.Sprintf("(log unreadable: %v)", err)
	}
	i := bytes.Index(b, []byte(marker))
	if i < 0 {
		return p.logTail(n)
	}
	b = b[i:]
	if len(b) > n {
		b = append(b[:n:n], "…"...)
	}
	return string(b)
}

// waitListening waits until addr accepts TCP connections, failing if p
// exits first or the timeout passes.
func waitListening(t testing.TB, p *proc, addr string, timeout time.Duration) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for {
		c, err := net.DialTimeout("tcp", addr, time.Second)
		if err == nil {
			c.Close()
			return
		}
		if done, perr := p.exited(); done {
			t.Fatalf("%s exited before listening on %s (%v):\n%s", p.name, addr, perr, p.logTail(4000))
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s is not listening on %s after %v:\n%s", p.name, addr, timeout, p.logTail(4000))
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// requirePortFree fails the test if port is taken on any interface: boot
// binds :port and would exit, or another pool would serve our job.
func requirePortFree(t testing.TB, port int) {
	t.Helper()
	// Another test binary's JVMs (Kafka, Flink) can hold the port for a
	// moment as the local end of an outgoing connection: it lies in the
	// kernel's ephemeral range (.ci/run reserves it). Wait for that to pass.
	var err error
	for deadline := time.Now().Add(90 * time.Second); time.Now().Before(deadline); time.Sleep(500 * time.Millisecond) {
		var l net.Listener
		if l, err = net.Listen("tcp", fmt.Sprintf(":%d", port)); err == nil {
			l.Close()
			return
		}
	}
	holders, _ := exec.Command("ss", "-tanp", fmt.Sprintf("sport = :%d", port)).CombinedOutput()
	t.Fatalf("port %d is in use (%v): Beam's worker pool (boot --worker_pool) always listens there; "+
		"stop whatever holds it and rerun. ss says:\n%s", port, err, holders)
}

// freePort returns a loopback port that was free a moment ago.
func freePort(t testing.TB) int {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}

// bootLeftovers lists what boot leaves under /tmp, which it hard-codes:
// each harness copies the worker binary to a fresh /tmp/bin*/worker and
// stages it under /tmp/staged. Both are ~100 MB per run.
func bootLeftovers() map[string]bool {
	out := map[string]bool{}
	dirs, _ := filepath.Glob("/tmp/bin*")
	for _, d := range dirs {
		out[d] = true
	}
	return out
}

// cleanupBootFiles removes the copies of worker that boot made since the
// before snapshot: new /tmp/bin* directories holding a file "worker" of
// worker's size, and /tmp/staged/*-<worker's name>. Other programs' files
// are left alone.
func cleanupBootFiles(t testing.TB, before map[string]bool, worker string) {
	fi, err := os.Stat(worker)
	if err != nil {
		return
	}
	var errs []error
	var removed []string
	for d := range bootLeftovers() {
		if before[d] {
			continue
		}
		wfi, err := os.Stat(filepath.Join(d, "worker"))
		if err != nil || wfi.Size() != fi.Size() {
			continue
		}
		if entries, _ := os.ReadDir(d); len(entries) == 1 {
			errs = append(errs, os.RemoveAll(d))
			removed = append(removed, d)
		}
	}
	staged, _ := filepath.Glob(filepath.Join("/tmp/staged", "*-"+filepath.Base(worker)))
	for _, s := range staged {
		errs = append(errs, os.Remove(s))
		removed = append(removed, s)
	}
	t.Logf("removed boot's copies of the worker binary: %v", removed)
	if err := errors.Join(errs...); err != nil {
		t.Logf("cleaning up boot's copies of the worker binary: %v", err)
	}
}

// waitReading waits until the job's Kafka reader has started on every
// partition of topic, which it shows by committing its start position to
// group with its first read: a job RUNNING on Flink still has its SDK
// harnesses to start, and a live check must not count that start-up as
// lateness.
func waitReading(t testing.TB, brokers []string, group, topic string, partitions int32, timeout time.Duration) {
	t.Helper()
	client, err := sarama.NewClient(brokers, kafkaconf.Consumer("portabletest-wait"))
	if err != nil {
		t.Fatal(err)
	}
	defer client.Close()
	parts := make([]int32, partitions)
	for i := range parts {
		parts[i] = int32(i)
	}
	deadline := time.Now().Add(timeout)
	for {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		got, err := kafkaoffsets.Committed(ctx, client, group, topic, parts)
		cancel()
		if err == nil && len(got) == len(parts) {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("the job's reader did not start on all %d partitions of %s within %v (group %s commits %v, err %v)", partitions, topic, timeout, group, got, err)
		}
		time.Sleep(500 * time.Millisecond)
	}
}
