// Package kafkabroker runs a real Apache Kafka broker as a child process: one
// KRaft node that is broker and controller at once, listening on 127.0.0.1
// only, started from Kafka's Maven jars without Docker.
//
// Everything about the broker itself (the pinned version, fetching and
// verifying the jars, server.properties, the log4j2 config, formatting the
// data directory) lives in deploy/kafka/broker.sh, so the shell and Go paths
// cannot drift apart. This package runs that script's "run" subcommand, which
// execs the JVM in the foreground: the Go process then owns the JVM directly,
// can stop it by PID, and the kernel kills it if the Go process dies first
// (a test binary that panics or times out leaves no broker behind).
//
// Topics are created from Go over the Kafka protocol (franz-go's kgo/kmsg)
// rather than with Kafka's CLI tools, which would cost a JVM start each.
// franz-go's kadm wraps the same requests, but it is a module of its own that
// go.mod does not require, while kgo and kmsg come with modules it does.
package kafkabroker

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"sort"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/trendstream/trendstream/internal/services/freeport"
)

// ErrNoJava means no java executable is on PATH.
var ErrNoJava = errors.New("kafkabroker: java not found on PATH: a real Kafka broker needs a Java 17+ runtime (Debian: apt-get install openjdk-17-jre-headless)")

// Options configure Start. The zero value starts a throwaway broker on free
// ports in a new temporary directory that Close removes.
type Options struct {
	// Dir holds the broker's state (config, data/, logs/). Empty: a new
	// temporary directory, removed by Close. A directory formatted before
	// is reused with its data, but only on the ports it was formatted for.
	Dir string
	// Port is the client listener and ControllerPort the KRaft controller
	// listener, both on 127.0.0.1; 0 picks a free port.
	Port, ControllerPort int
	// Script is deploy/kafka/broker.sh. Empty: $TRENDSTREAM_KAFKA_SCRIPT,
	// else found by walking up from the working directory, else next to
	// this package's source.
	Script string
	// Cache overrides $TRENDSTREAM_CACHE, where the jars are kept.
	Cache string
	// Heap is the JVM heap options (broker.sh's default: -Xms256m -Xmx512m).
	Heap string
	// Properties are extra server.properties entries; they win over the
	// script's.
	Properties map[string]string
	// StartTimeout bounds fetching the jars (when missing), formatting and
	// starting (2m). A context deadline applies too.
	StartTimeout time.Duration
	// StopTimeout is how long Stop waits after SIGTERM before SIGKILL (30s).
	StopTimeout time.Duration
	// Logger receives start/stop events (slog.Default()).
	Logger *slog.Logger
}

// Broker is a running (or stopped, restartable) Kafka broker.
type Broker struct {
	opts   Options
	dir    string
	ownDir bool
	script string
	log    *slog.Logger

	mu   sync.Mutex
	proc *process
}

// process is one run of the JVM.
type process struct {
	pid    int
	exited chan struct{} // closed when the process has exited
	err    error         // Wait's result, set before exited is closed
}

// Start fetches the jars if needed (verifying their pinned sums), formats a
// new state directory and starts the broker, returning once it serves
// metadata on its client port.
func Start(ctx context.Context, o Options) (*Broker, error) {
	if _, err := exec.LookPath("java"); err != nil {
		return nil, ErrNoJava
	}
	script, err := findScript(o.Script)
	if err != nil {
		return nil, err
	}
	if o.StartTimeout <= 0 {
		o.StartTimeout = 2 * time.Minute
	}
	if o.StopTimeout <= 0 {
		o.StopTimeout = 30 * time.Second
	}
	if o.Logger == nil {
		o.Logger = slog.Default()
	}
	ctx, cancel := context.WithTimeout(ctx, o.StartTimeout)
	defer cancel()
	if err := fetch(ctx, script, o.Cache); err != nil {
		return nil, err
	}
	b := &Broker{opts: o, script: script, log: o.Logger}
	if o.Dir == "" {
		if b.dir, err = os.MkdirTemp("", "trendstream-kafka-"); err != nil {
			return nil, fmt.Errorf("kafkabroker: %w", err)
		}
		b.ownDir = true
	} else {
		b.dir = o.Dir
	}
	// Free ports are found by binding and releasing them, so another process
	// can take one before the JVM binds it. With ports of our own choosing in
	// a fresh directory, try again on new ones.
	if o.Port == 0 && o.ControllerPort == 0 && b.ownDir {
		err = freeport.Retry(2, 3, func(ports []int) error {
			b.opts.Port, b.opts.ControllerPort = ports[0], ports[1]
			err := b.Start(ctx)
			if err == nil || !strings.Contains(err.Error(), "Address already in use") {
				return err
			}
			b.log.Warn("kafkabroker: port taken, retrying on others", "port", b.opts.Port, "controller_port", b.opts.ControllerPort)
			if rerr := resetDir(b.dir); rerr != nil {
				return rerr
			}
			return fmt.Errorf("%w: %w", freeport.ErrTaken, err)
		})
	} else {
		err = b.startOn(ctx)
	}
	if err != nil {
		b.removeDir()
		return nil, err
	}
	return b, nil
}

// startOn starts the broker on the ports it was given, picking free ones
// for those that are 0.
func (b *Broker) startOn(ctx context.Context) error {
	if b.opts.Port == 0 || b.opts.ControllerPort == 0 {
		ports, err := freeport.Loopback(2)
		if err != nil {
			return err
		}
		if b.opts.Port == 0 {
			b.opts.Port = ports[0]
		}
		if b.opts.ControllerPort == 0 {
			b.opts.ControllerPort = ports[1]
		}
	}
	return b.Start(ctx)
}

// Fetch downloads and verifies the pinned Kafka jars into the cache unless
// they are there already. Start does this itself; Fetch lets a caller pay
// for it up front.
func Fetch(ctx context.Context, o Options) error {
	script, err := findScript(o.Script)
	if err != nil {
		return err
	}
	return fetch(ctx, script, o.Cache)
}

func fetch(ctx context.Context, script, cache string) error {
	cmd := exec.CommandContext(ctx, "bash", script, "fetch")
	if cache != "" {
		cmd.Env = append(os.Environ(), "TRENDSTREAM_CACHE="+cache)
	}
	out, err := cmd.CombinedOutput()
	if err != nil {
		return fmt.Errorf("kafkabroker: fetch Kafka jars (%s fetch): %w\n%s", script, err, bytes.TrimSpace(out))
	}
	return nil
}

// Addr is the bootstrap address, 127.0.0.1:port.
func (b *Broker) Addr() string { return net.JoinHostPort("127.0.0.1", strconv.Itoa(b.opts.Port)) }

// Addrs is Addr as a broker list.
func (b *Broker) Addrs() []string { return []string{b.Addr()} }

// Dir is the state directory (server.properties, data/, logs/).
func (b *Broker) Dir() string { return b.dir }

// LogFile is the broker's log4j log.
func (b *Broker) LogFile() string { return filepath.Join(b.dir, "logs", "server.log") }

// PID is the JVM's process id, or 0 when stopped.
func (b *Broker) PID() int {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.proc == nil {
		return 0
	}
	return b.proc.pid
}

// Start starts a stopped broker again on the same ports with the same data.
// It returns once the broker serves metadata.
func (b *Broker) Start(ctx context.Context) error {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.proc != nil {
		return fmt.Errorf("kafkabroker: already running (pid %d)", b.proc.pid)
	}
	ctx, cancel := context.WithTimeout(ctx, b.opts.StartTimeout)
	defer cancel()
	t0 := time.Now()
	p, err := b.launch()
	if err != nil {
		return err
	}
	if err := b.waitReady(ctx, p); err != nil {
		b.kill(p)
		return err
	}
	b.proc = p
	b.log.Info("kafkabroker: started", "addr", b.Addr(), "pid", p.pid, "dir", b.dir, "took", time.Since(t0).Round(time.Millisecond))
	return nil
}

// Stop stops the broker gracefully (SIGTERM: Kafka flushes and closes its
// logs), or with SIGKILL after Options.StopTimeout. Stopping a stopped
// broker does nothing.
func (b *Broker) Stop() error {
	b.mu.Lock()
	defer b.mu.Unlock()
	p := b.proc
	if p == nil {
		return nil
	}
	b.proc = nil
	t0 := time.Now()
	// The process group: before the script execs the JVM it may be running
	// the formatting JVM as its child.
	_ = syscall.Kill(-p.pid, syscall.SIGTERM)
	select {
	case <-p.exited:
	case <-time.After(b.opts.StopTimeout):
		b.log.Warn("kafkabroker: no exit after SIGTERM, killing", "pid", p.pid, "after", b.opts.StopTimeout)
		b.kill(p)
		return fmt.Errorf("kafkabroker: pid %d did not stop within %v of SIGTERM; killed", p.pid, b.opts.StopTimeout)
	}
	b.log.Info("kafkabroker: stopped", "pid", p.pid, "took", time.Since(t0).Round(time.Millisecond))
	return nil
}

// Restart stops the broker and starts it again on the same ports with the
// same data, as after an outage.
func (b *Broker) Restart(ctx context.Context) error {
	if err := b.Stop(); err != nil {
		return err
	}
	return b.Start(ctx)
}

// Close stops the broker and, if Start created the state directory, removes
// it.
func (b *Broker) Close() error {
	err := b.Stop()
	b.removeDir()
	return err
}

func (b *Broker) removeDir() {
	if b.ownDir {
		_ = os.RemoveAll(b.dir)
	}
}

// kill ends p's process group at once and waits for the JVM to go.
func (b *Broker) kill(p *process) {
	_ = syscall.Kill(-p.pid, syscall.SIGKILL)
	<-p.exited
}

// launch runs `broker.sh run`. The JVM is started from a goroutine that
// stays locked to its OS thread until the JVM exits, because Pdeathsig
// fires when the thread that forked the child ends, not the process: an
// unlocked thread could be retired by the Go runtime and take the broker
// with it.
func (b *Broker) launch() (*process, error) {
	logDir := filepath.Join(b.dir, "logs")
	if err := os.MkdirAll(logDir, 0o755); err != nil {
		return nil, fmt.Errorf("kafkabroker: %w", err)
	}
	// A fresh server.log per start, so errors reported are this start's.
	if _, err := os.Stat(b.LogFile()); err == nil {
		_ = os.Rename(b.LogFile(), b.LogFile()+".1")
	}
	out, err := os.OpenFile(filepath.Join(logDir, "launcher.log"), os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		return nil, fmt.Errorf("kafkabroker: %w", err)
	}
	env := append(os.Environ(),
		"KAFKA_STATE_DIR="+b.dir,
		"KAFKA_PORT="+strconv.Itoa(b.opts.Port),
		"KAFKA_CONTROLLER_PORT="+strconv.Itoa(b.opts.ControllerPort),
	)
	if b.opts.Cache != "" {
		env = append(env, "TRENDSTREAM_CACHE="+b.opts.Cache)
	}
	if b.opts.Heap != "" {
		env = append(env, "KAFKA_HEAP_OPTS="+b.opts.Heap)
	}
	if len(b.opts.Properties) > 0 {
		keys := make([]string, 0, len(b.opts.Properties))
		for k := range b.opts.Properties {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		var lines []string
		for _, k := range keys {
			lines = append(lines, k+"="+b.opts.Properties[k])
		}
		env = append(env, "KAFKA_EXTRA_PROPERTIES="+strings.Join(lines, "\n"))
	}
	cmd := exec.Command("bash", b.script, "run")
	cmd.Env = env
	cmd.Stdout, cmd.Stderr = out, out
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}

	p := &process{exited: make(chan struct{})}
	started := make(chan error, 1)
	go func() {
		runtime.LockOSThread()
		// Never unlocked: the thread exits with this goroutine, after the JVM.
		if err := cmd.Start(); err != nil {
			out.Close()
			started <- err
			return
		}
		p.pid = cmd.Process.Pid
		started <- nil
		p.err = cmd.Wait()
		out.Close()
		close(p.exited)
	}()
	if err := <-started; err != nil {
		return nil, fmt.Errorf("kafkabroker: start %s run: %w", b.script, err)
	}
	return p, nil
}

// waitReady waits until the broker answers a metadata request listing
// itself: the port opens only once the broker is unfenced, but a metadata
// answer is what clients need.
func (b *Broker) waitReady(ctx context.Context, p *process) error {
	for {
		select {
		case <-p.exited:
			return fmt.Errorf("kafkabroker: broker exited during start (%v)\n%s", p.err, b.logTails())
		case <-ctx.Done():
			return fmt.Errorf("kafkabroker: broker not serving on %s: %w\n%s", b.Addr(), ctx.Err(), b.logTails())
		case <-time.After(200 * time.Millisecond):
		}
		c, err := net.DialTimeout("tcp", b.Addr(), time.Second)
		if err != nil {
			continue
		}
		c.Close()
		actx, cancel := context.WithTimeout(ctx, 5*time.Second)
		n, err := b.brokerCount(actx)
		cancel()
		if err == nil && n > 0 {
			return nil
		}
	}
}

// logTails is the end of the launcher output and of the broker log, for
// error messages.
func (b *Broker) logTails() string {
	var sb strings.Builder
	for _, f := range []string{filepath.Join(b.dir, "logs", "launcher.log"), b.LogFile()} {
		data, err := os.ReadFile(f)
		if err != nil {
			continue
		}
		lines := strings.Split(strings.TrimRight(string(data), "\n"), "\n")
		if len(lines) > 25 {
			lines = lines[len(lines)-25:]
		}
		fmt.Fprintf(&sb, "--- %s (last %d lines)\n%s\n", f, len(lines), strings.Join(lines, "\n"))
	}
	return sb.String()
}

// findScript locates deploy/kafka/broker.sh.
func findScript(explicit string) (string, error) {
	const rel = "deploy/kafka/broker.sh"
	var tried []string
	try := func(p string) (string, bool) {
		tried = append(tried, p)
		if st, err := os.Stat(p); err == nil && !st.IsDir() {
			abs, err := filepath.Abs(p)
			return abs, err == nil
		}
		return "", false
	}
	if explicit != "" {
		if p, ok := try(explicit); ok {
			return p, nil
		}
		return "", fmt.Errorf("kafkabroker: script %s not found", explicit)
	}
	if env := os.Getenv("TRENDSTREAM_KAFKA_SCRIPT"); env != "" {
		if p, ok := try(env); ok {
			return p, nil
		}
		return "", fmt.Errorf("kafkabroker: TRENDSTREAM_KAFKA_SCRIPT=%s not found", env)
	}
	if wd, err := os.Getwd(); err == nil {
		for dir := wd; ; dir = filepath.Dir(dir) {
			if p, ok := try(filepath.Join(dir, rel)); ok {
				return p, nil
			}
			if filepath.Dir(dir) == dir {
				break
			}
		}
	}
	// go test and go run keep the source tree; a binary built elsewhere
	// needs Options.Script or the environment variable.
	if _, file, _, ok := runtime.Caller(0); ok {
		if p, ok := try(filepath.Join(filepath.Dir(file), "..", "..", "..", rel)); ok {
			return p, nil
		}
	}
	return "", fmt.Errorf("kafkabroker: %s not found (looked at %s); set Options.Script or TRENDSTREAM_KAFKA_SCRIPT", rel, strings.Join(tried, ", "))
}

// resetDir empties a state directory of a failed first start.
func resetDir(dir string) error {
	entries, err := os.ReadDir(dir)
	if err != nil {
		return fmt.Errorf("kafkabroker: %w", err)
	}
	for _, e := range entries {
		if err := os.RemoveAll(filepath.Join(dir, e.Name())); err != nil {
			return fmt.Errorf("kafkabroker: %w", err)
		}
	}
	return nil
}
