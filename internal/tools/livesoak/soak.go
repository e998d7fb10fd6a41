package livesoak

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/trendstream/trendstream/internal/services/freeport"
	"github.com/trendstream/trendstream/internal/services/pglocal"
)

// Config configures Run.
type Config struct {
	Mode Mode
	// Rate is posts per second.
	Rate float64
	// Duration is how long the stream runs, from its first post to the
	// stop of the process under test.
	Duration time.Duration
	// WindowSize and WindowPeriod are passed to `trendstream run`
	// (-window-size, -window-period); MaxOutOfOrder too when not zero.
	WindowSize, WindowPeriod time.Duration
	MaxOutOfOrder            time.Duration
	// MaxDelay is the bound every window after the first must be written
	// within (emitted_at - window_end); 0 means WindowPeriod + 5s.
	MaxDelay time.Duration
	// Authors is the author pool size (0: the texts' real authors) and
	// Seed seeds text order and authors.
	Authors int
	Seed    uint64
	// FramesPath is the frame recording of relay mode.
	FramesPath string
	// TrendstreamBin is the binary under test; empty builds
	// ./cmd/trendstream with `go build` (the working directory must be in
	// the module).
	TrendstreamBin string
	// DataDir is the run's -data-dir; empty makes a temporary one, removed
	// afterwards unless KeepData.
	DataDir  string
	KeepData bool
	// DatabaseURL, when set, is passed as -database-url and read from;
	// otherwise the run starts its private PostgreSQL (DATABASE_URL is
	// removed from its environment).
	DatabaseURL string
	// LogPath receives the child's output (default DataDir/trendstream.log).
	LogPath string
	// ExtraArgs are appended to the child's arguments.
	ExtraArgs []string
	// PollEvery (1s) and SampleEvery (5s) pace the recorder.
	PollEvery, SampleEvery time.Duration
	// StartTimeout bounds the wait for the child to connect (3 min);
	// StopTimeout the wait for it to exit after SIGINT (90 s).
	StartTimeout, StopTimeout time.Duration
	// ChildLog, if set, also receives the child's output.
	ChildLog io.Writer
	Logger   *slog.Logger
}

func (c *Config) defaults() error {
	if c.Mode == "" {
		c.Mode = ModeJetstream
	}
	if c.Rate <= 0 {
		return fmt.Errorf("livesoak: rate must be positive, got %v", c.Rate)
	}
	if c.Duration <= 0 {
		return fmt.Errorf("livesoak: duration must be positive, got %s", c.Duration)
	}
	if c.WindowPeriod <= 0 || c.WindowSize < c.WindowPeriod || c.WindowSize%c.WindowPeriod != 0 {
		return fmt.Errorf("livesoak: window size %s must be a positive multiple of the period %s", c.WindowSize, c.WindowPeriod)
	}
	if c.MaxDelay <= 0 {
		c.MaxDelay = c.WindowPeriod + 5*time.Second
	}
	if c.PollEvery <= 0 {
		c.PollEvery = time.Second
	}
	if c.SampleEvery <= 0 {
		c.SampleEvery = 5 * time.Second
	}
	if c.StartTimeout <= 0 {
		c.StartTimeout = 3 * time.Minute
	}
	if c.StopTimeout <= 0 {
		c.StopTimeout = 90 * time.Second
	}
	if c.Logger == nil {
		c.Logger = slog.Default()
	}
	return nil
}

// Run runs one soak: the server, `trendstream run` as a child process
// against it, the recorder; then the stop and the report. A cancelled ctx
// ends the stream early; the report is still made. The error is for a run
// that could not be set up.
func Run(ctx context.Context, c Config) (*Report, error) {
	if err := c.defaults(); err != nil {
		return nil, err
	}
	log := c.Logger
	so := ServerOptions{Mode: c.Mode, Rate: c.Rate, Authors: c.Authors, Seed: c.Seed, Logger: log}
	if c.Mode == ModeRelay {
		frames, err := LoadFrames(c.FramesPath)
		if err != nil {
			return nil, err
		}
		so.Frames = frames
	}
	srv, err := NewServer(so)
	if err != nil {
		return nil, err
	}
	defer srv.Close()

	tmp, err := os.MkdirTemp("", "trendsoak-")
	if err != nil {
		return nil, err
	}
	defer os.RemoveAll(tmp)
	// The PostgreSQL server user (when running as root) must traverse it.
	if err := os.Chmod(tmp, 0o755); err != nil {
		return nil, err
	}
	bin := c.TrendstreamBin
	commit := ""
	if bin == "" {
		bin = filepath.Join(tmp, "trendstream")
		log.Info("building trendstream", "out", bin)
		if err := Build(ctx, bin); err != nil {
			return nil, err
		}
		commit = gitDescribe(ctx)
	}
	dataDir := c.DataDir
	if dataDir == "" {
		dataDir = filepath.Join(tmp, "data")
		if c.KeepData {
			if dataDir, err = os.MkdirTemp("", "trendsoak-data-"); err != nil {
				return nil, err
			}
			if err := os.Chmod(dataDir, 0o755); err != nil {
				return nil, err
			}
		}
	}
	if err := os.MkdirAll(dataDir, 0o755); err != nil {
		return nil, err
	}
	logPath := c.LogPath
	if logPath == "" {
		logPath = filepath.Join(dataDir, "trendstream.log")
	}

	ports, err := freeport.Loopback(4)
	if err != nil {
		return nil, err
	}
	apiAddr := "127.0.0.1:" + strconv.Itoa(ports[0])
	metricsAddr := "127.0.0.1:" + strconv.Itoa(ports[3])
	args := []string{"run"}
	switch c.Mode {
	case ModeJetstream:
		args = append(args, "-source", "jetstream", "-jetstream-url", srv.URL())
	case ModeRelay:
		args = append(args, "-source", "firehose", "-relay", srv.URL())
	}
	args = append(args, "-data-dir", dataDir, "-addr", apiAddr, "-kafka-port", strconv.Itoa(ports[1]),
		"-pg-port", strconv.Itoa(ports[2]), "-metrics-addr", metricsAddr,
		"-window-size", c.WindowSize.String(), "-window-period", c.WindowPeriod.String())
	if c.MaxOutOfOrder > 0 {
		args = append(args, "-max-out-of-order", c.MaxOutOfOrder.String())
	}
	dbURL := c.DatabaseURL
	if dbURL != "" {
		args = append(args, "-database-url", dbURL)
	} else if dbURL, err = pglocal.ConnURL(filepath.Join(dataDir, "postgres"), ports[2], "trendstream"); err != nil {
		// The private PostgreSQL takes only its password; made here, before
		// the child starts it, so the recorder can connect once it is up.
		return nil, err
	}
	args = append(args, c.ExtraArgs...)

	log.Info("starting the process under test", "bin", bin, "args", strings.Join(args, " "), "log", logPath)
	child, err := StartChild(bin, args, childEnv(os.Environ()), logPath, c.ChildLog)
	if err != nil {
		return nil, err
	}
	pidFile := ""
	if c.DatabaseURL == "" {
		pidFile = filepath.Join(dataDir, "postgres", "data", "postmaster.pid")
	}
	rctx := context.WithoutCancel(ctx)
	rec := StartRecorder(rctx, RecorderOptions{
		DatabaseURL: dbURL, APIURL: "http://" + apiAddr, MetricsURL: "http://" + metricsAddr + "/metrics",
		PID: child.PID(), PostmasterPIDFile: pidFile, Since: time.Now().Add(-c.WindowSize - time.Minute),
		PollEvery: c.PollEvery, SampleEvery: c.SampleEvery, Logger: log,
		Sent: func() int64 { return srv.Stats().Posts },
	})

	// The stream starts when the ingest connects.
	wait := time.NewTimer(c.StartTimeout)
	select {
	case <-srv.Started():
		log.Info("the ingest connected; streaming", "rate", c.Rate, "duration", c.Duration, "url", srv.URL())
	case <-child.Exited():
		log.Error("the process under test exited before connecting", "log", logPath)
	case <-wait.C:
		log.Error("the process under test did not connect in time", "timeout", c.StartTimeout)
	case <-ctx.Done():
	}
	wait.Stop()

	select {
	case <-srv.Started():
		t := time.NewTimer(c.Duration)
		select {
		case <-t.C:
		case <-child.Exited():
			log.Error("the process under test exited during the run", "log", logPath)
		case <-ctx.Done():
			log.Warn("interrupted: stopping early")
		}
		t.Stop()
	default:
	}

	// Last look before the stop.
	_ = rec.Poll(rctx)
	rec.SampleNow(rctx)
	obs := rec.Stop()
	stopAt := time.Now()
	log.Info("stopping the process under test (SIGINT)")
	res := child.Stop(c.StopTimeout)
	stopped := time.Now()
	if res.Killed && pidFile != "" {
		stopOrphanPostgres(pidFile)
	}
	stream := srv.Stats()
	_ = srv.Close()

	host, _ := os.Hostname()
	info := RunInfo{Mode: c.Mode, Rate: c.Rate, WindowSize: Dur(c.WindowSize), WindowPeriod: Dur(c.WindowPeriod),
		MaxOutOfOrder: Dur(c.MaxOutOfOrder), Duration: Dur(c.Duration), PollEvery: Dur(c.PollEvery), Bound: Dur(c.MaxDelay),
		Started: stream.Started, StopAt: stopAt, Stopped: stopped, ChildArgs: args, Host: host, CPUs: runtime.NumCPU(), Commit: commit}
	rep := BuildReport(info, obs, stream, res)
	if c.KeepData || c.DataDir != "" {
		log.Info("data kept", "dir", dataDir)
	}
	return rep, nil
}

// Build builds ./cmd/trendstream of the enclosing module into out.
func Build(ctx context.Context, out string) error {
	cmd := exec.CommandContext(ctx, "go", "build", "-o", out, "github.com/trendstream/trendstream/cmd/trendstream")
	b, err := cmd.CombinedOutput()
	if err != nil {
		return fmt.Errorf("livesoak: go build trendstream: %w\n%s", err, b)
	}
	return nil
}

func gitDescribe(ctx context.Context) string {
	b, err := exec.CommandContext(ctx, "git", "describe", "--always", "--dirty").Output()
	if err != nil {
		return ""
	}
	return strings.TrimSpace(string(b))
}

// childEnv is the harness's environment without DATABASE_URL and the
// TRENDSTREAM_* flag twins: the child gets every setting as a flag.
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

// stopOrphanPostgres asks the PostgreSQL of a killed child to shut down
// (fast mode) so it does not outlive the run.
func stopOrphanPostgres(pidFile string) {
	pid, err := PostmasterPID(pidFile)
	if err != nil || pid <= 0 {
		return
	}
	if err := syscall.Kill(pid, syscall.SIGINT); err != nil {
		return
	}
	for range 100 {
		if err := syscall.Kill(pid, 0); errors.Is(err, syscall.ESRCH) {
			return
		}
		time.Sleep(100 * time.Millisecond)
	}
}
