package chaos

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/trendstream/trendstream/internal/tools/livesoak"
)

// Exit is how one run of a process ended.
type Exit struct {
	Process string `json:"process"`
	Run     int    `json:"run"`
	// Planned is true for the harness's own kills and stops.
	Planned bool `json:"planned"`
	// Stopped is true for a clean stop the harness asked for (SIGINT),
	// which the process must honour by exiting 0.
	Stopped bool      `json:"stopped,omitempty"`
	At      time.Time `json:"at"`
	livesoak.ChildResult
}

// Proc is a process of the system under test (the ingest, the pipeline)
// under a supervisor: the harness stops, kills and starts it, and an exit
// it did not ask for is recorded and followed by a restart, as a service
// manager would do, so one crash does not end the run and is still
// reported.
type Proc struct {
	name    string
	bin     string
	args    []string
	env     []string
	logDir  string
	tee     io.Writer
	log     *slog.Logger
	restart time.Duration

	mu    sync.Mutex
	cur   *procRun
	runs  int
	exits []Exit
	// held is set while the harness keeps the process down (between a
	// kill or stop and the next Start): no restart then, even when the
	// harness's stop found it already crashed and awaiting its restart.
	held     bool
	shutdown bool
	wg       sync.WaitGroup
}

type procRun struct {
	n       int
	child   *livesoak.Child
	planned bool // set under Proc.mu before the harness ends it
}

// NewProc describes a supervised process; Start runs it.
func NewProc(name, bin string, args []string, logDir string, tee io.Writer, log *slog.Logger) *Proc {
	return &Proc{name: name, bin: bin, args: args, env: childEnv(os.Environ()), logDir: logDir, tee: tee, log: log, restart: 2 * time.Second}
}

// childEnv drops DATABASE_URL and the TRENDSTREAM_* flag twins: a child
// gets every setting as a flag, never the harness's own environment.
func childEnv(env []string) []string {
	var out []string
	for _, kv := range env {
		if strings.HasPrefix(kv, "DATABASE_URL=") || strings.HasPrefix(kv, "TRENDSTREAM_") {
			continue
		}
		out = append(out, kv)
	}
	return out
}

// Start starts a new run; it is an error if one is running.
func (p *Proc) Start() error {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.startLocked()
}

func (p *Proc) startLocked() error {
	if p.cur != nil {
		return fmt.Errorf("chaos: %s already runs", p.name)
	}
	if p.shutdown {
		return fmt.Errorf("chaos: %s is shut down", p.name)
	}
	p.held = false
	p.runs++
	logPath := filepath.Join(p.logDir, fmt.Sprintf("%s-%d.log", p.name, p.runs))
	c, err := startPinned(p.bin, p.args, p.env, logPath, p.tee)
	if err != nil {
		return fmt.Errorf("chaos: start %s: %w", p.name, err)
	}
	r := &procRun{n: p.runs, child: c}
	p.cur = r
	p.log.Info("chaos: started", "process", p.name, "run", r.n, "pid", c.PID(), "log", logPath)
	p.wg.Add(1)
	go p.watch(r)
	return nil
}

// startPinned starts the child from an OS thread that is kept, locked,
// until the child exits. StartChild asks the kernel for the child's
// SIGTERM when the thread that forked it ends (Pdeathsig), and the Go
// runtime ends threads: kafkabroker's launcher locks an idle thread for
// each JVM and lets it end with the JVM, so a broker restart would
// otherwise stop an ingest forked earlier on that thread, cleanly and
// with exit status 0 (seen in a run: an outage of the harness's making).
func startPinned(bin string, args, env []string, logPath string, tee io.Writer) (*livesoak.Child, error) {
	type started struct {
		c   *livesoak.Child
		err error
	}
	ch := make(chan started, 1)
	go func() {
		runtime.LockOSThread()
		// Never unlocked: the thread ends with this goroutine, after the
		// child.
		c, err := livesoak.StartChild(bin, args, env, logPath, tee)
		ch <- started{c, err}
		if err == nil {
			<-c.Exited()
		}
	}()
	s := <-ch
	return s.c, s.err
}

// watch records an exit nobody asked for and restarts the process.
func (p *Proc) watch(r *procRun) {
	defer p.wg.Done()
	<-r.child.Exited()
	p.mu.Lock()
	if r.planned || p.cur != r {
		p.mu.Unlock()
		return
	}
	p.cur = nil
	p.mu.Unlock()
	res := r.child.Stop(0)
	p.record(r, false, res)
	p.log.Error("chaos: process exited unasked; restarting", "process", p.name, "run", r.n,
		"exit_code", res.ExitCode, "signal", res.Signal, "log", res.LogPath)
	time.Sleep(p.restart)
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.cur == nil && !p.shutdown && !p.held {
		if err := p.startLocked(); err != nil {
			p.log.Error("chaos: restart failed", "process", p.name, "err", err)
		}
	}
}

func (p *Proc) record(r *procRun, planned bool, res livesoak.ChildResult) {
	p.recordExit(Exit{Process: p.name, Run: r.n, Planned: planned, At: time.Now(), ChildResult: res})
}

func (p *Proc) recordExit(e Exit) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.exits = append(p.exits, e)
}

// take detaches the current run for the harness to end and holds the
// process down; nil when none runs (it crashed and awaits its restart,
// which the hold cancels).
func (p *Proc) take() *procRun {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.held = true
	r := p.cur
	if r != nil {
		r.planned = true
		p.cur = nil
	}
	return r
}

// Kill SIGKILLs the running process and its group, as a crash or the
// kernel's OOM killer would, and waits for it to be gone. A process that
// is down already stays down until Start.
func (p *Proc) Kill() error {
	r := p.take()
	if r == nil {
		return nil
	}
	_ = syscall.Kill(-r.child.PID(), syscall.SIGKILL)
	<-r.child.Exited()
	p.record(r, true, r.child.Stop(0))
	return nil
}

// Stop stops the running process with SIGINT (a clean cancel), killing it
// after timeout. A process that is down already stays down until Start.
func (p *Proc) Stop(timeout time.Duration) error {
	r := p.take()
	if r == nil {
		return nil
	}
	res := r.child.Stop(timeout)
	p.recordExit(Exit{Process: p.name, Run: r.n, Planned: true, Stopped: true, At: time.Now(), ChildResult: res})
	if res.Killed {
		return fmt.Errorf("chaos: %s did not stop within %s of SIGINT; killed", p.name, timeout)
	}
	return nil
}

// Running reports whether a run is up.
func (p *Proc) Running() bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.cur != nil
}

// Shutdown stops the process for good: no restart follows.
func (p *Proc) Shutdown(timeout time.Duration) error {
	p.mu.Lock()
	p.shutdown = true
	p.mu.Unlock()
	err := p.Stop(timeout)
	p.wg.Wait()
	return err
}

// Exits lists how every run ended so far.
func (p *Proc) Exits() []Exit {
	p.mu.Lock()
	defer p.mu.Unlock()
	return append([]Exit(nil), p.exits...)
}

// Binaries are the programs under test.
type Binaries struct {
	// Trendstream runs `trendstream ingest`; Trending is the pipeline
	// program (pipelines/trending/cmd/trending).
	Trendstream, Trending string
}

// build builds whichever binaries are not given, into dir, from the
// module the working directory is in.
func build(ctx context.Context, b Binaries, dir string, log *slog.Logger) (Binaries, error) {
	if b.Trendstream == "" {
		b.Trendstream = filepath.Join(dir, "trendstream")
		log.Info("chaos: building trendstream", "out", b.Trendstream)
		if err := livesoak.Build(ctx, b.Trendstream); err != nil {
			return b, err
		}
	}
	if b.Trending == "" {
		b.Trending = filepath.Join(dir, "trending")
		log.Info("chaos: building the pipeline", "out", b.Trending)
		cmd := exec.CommandContext(ctx, "go", "build", "-o", b.Trending, "github.com/trendstream/trendstream/pipelines/trending/cmd/trending")
		if out, err := cmd.CombinedOutput(); err != nil {
			return b, fmt.Errorf("chaos: go build the pipeline: %w\n%s", err, out)
		}
	}
	return b, nil
}
