package chaos

import (
	"context"
	"debug/buildinfo"
	"errors"
	"fmt"
	"log/slog"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"time"

	"github.com/trendstream/trendstream/internal/services/freeport"
	"github.com/trendstream/trendstream/internal/services/kafkabroker"
	"github.com/trendstream/trendstream/internal/testenv/replaytest"
	"github.com/trendstream/trendstream/internal/tools/livesoak"
	"github.com/trendstream/trendstream/pipelines/trending"
	tsv1 "github.com/trendstream/trendstream/proto/trendstream/v1"
)

// run is one chaos run's state, built up step by step by Run.
type run struct {
	c      Config
	log    *slog.Logger
	dir    string
	ownDir bool
	faults []Fault

	broker      *kafkabroker.Broker
	pg          *Postgres
	srv         *livesoak.Server
	proxy       *Proxy
	auditor     *Auditor
	ingest      *Proc
	pipeline    *Proc
	opts        trending.Options
	metricsAddr string

	injected []Injected
	posts    []*tsv1.Post // distinct posts in Kafka, after the drain
	rep      *Report
}

// Run runs the whole system under a seeded schedule of faults and judges
// the outcome (see the package documentation). The error is for a run that
// could not be set up or was interrupted; failed checks are in the report.
func Run(ctx context.Context, c Config) (*Report, error) {
	if err := c.validate(); err != nil {
		return nil, fmt.Errorf("chaos: %w", err)
	}
	var faults []Fault
	if !c.NoFaults {
		var err error
		if faults, err = Schedule(c.scheduleOptions()); err != nil {
			return nil, err
		}
	}
	host, _ := os.Hostname()
	r := &run{c: c, log: c.Logger, faults: faults, rep: &Report{
		Command: c.Command, Host: host, CPUs: runtime.NumCPU(), Began: time.Now(), Logs: map[string]string{},
		Findings: &Findings{},
	}}
	defer r.teardown()
	steps := []struct {
		name string
		do   func(context.Context) error
	}{
		{"prepare", r.prepare},
		{"start services", r.startServices},
		{"start the source", r.startSource},
		{"start the ingest", r.startIngest},
		{"start the pipeline", r.startPipeline},
		{"stream under faults", r.stream},
		{"drain", r.drain},
		{"stop the processes", r.stopProcesses},
		{"check", r.check},
	}
	for _, s := range steps {
		if err := ctx.Err(); err != nil {
			return r.rep, fmt.Errorf("chaos: interrupted before %s: %w", s.name, err)
		}
		t0 := time.Now()
		err := s.do(ctx)
		r.rep.Phases = append(r.rep.Phases, Phase{Name: s.name, Took: Duration(time.Since(t0).Round(100 * time.Millisecond))})
		if err != nil {
			return r.rep, fmt.Errorf("chaos: %s: %w", s.name, err)
		}
	}
	r.rep.Elapsed = Duration(time.Since(r.rep.Began).Round(time.Second))
	return r.rep, nil
}

// prepare makes the work directory and the binaries.
func (r *run) prepare(ctx context.Context) error {
	var err error
	if r.dir, r.ownDir, err = workDir(r.c.Dir); err != nil {
		return err
	}
	r.log.Info("chaos: work directory", "dir", r.dir)
	bins, err := build(ctx, r.c.Binaries, r.dir, r.log)
	if err != nil {
		return err
	}
	r.c.Binaries = bins
	r.rep.Commit = describe(ctx, bins.Trendstream)
	return nil
}

// describe is the revision the binary under test was built from: its
// stamped VCS revision, or, when builds are not stamped (GOFLAGS
// -buildvcs=false), the working tree's, as `git describe` gives it.
func describe(ctx context.Context, bin string) string {
	if info, err := buildinfo.ReadFile(bin); err == nil {
		var rev, dirty string
		for _, s := range info.Settings {
			switch {
			case s.Key == "vcs.revision":
				rev = s.Value[:min(len(s.Value), 12)]
			case s.Key == "vcs.modified" && s.Value == "true":
				dirty = "-dirty"
			}
		}
		if rev != "" {
			return rev + dirty
		}
	}
	out, err := exec.CommandContext(ctx, "git", "describe", "--always", "--dirty").Output()
	if err != nil {
		return ""
	}
	return strings.TrimSpace(string(out))
}

func (r *run) startServices(ctx context.Context) error {
	var err error
	r.log.Info("chaos: starting Kafka and PostgreSQL")
	if r.broker, err = startKafka(ctx, filepath.Join(r.dir, "kafka"), r.c.Partitions, r.c.StartTimeout, r.log); err != nil {
		return err
	}
	r.rep.Logs["kafka"] = r.broker.LogFile()
	pgDir := filepath.Join(r.dir, "postgres")
	if err := os.MkdirAll(pgDir, 0o755); err != nil {
		return err
	}
	if r.pg, err = startPostgres(ctx, pgDir); err != nil {
		return err
	}
	r.rep.Logs["postgres"] = r.pg.LogFile()
	return nil
}

// startSource starts the live-like source and the proxy the ingest reads
// it through. The stream begins when the ingest connects.
func (r *run) startSource(context.Context) error {
	so := livesoak.ServerOptions{Mode: r.c.Mode, Rate: r.c.Rate, Duration: r.c.Duration, Authors: r.c.Authors, Seed: r.c.Seed,
		// The whole stream stays resumable: a cursor older than the
		// buffer would skip posts, and that is not the fault under test.
		Retain: r.c.Duration + 10*time.Minute, RetainBytes: 2 << 30, Logger: r.log,
		// Like the firehose, the stream never goes quiet: after its posts
		// it goes on with identity events, so the ingest's source
		// watermark moves on and the pipeline releases the last windows
		// (a silent source holds them: it may be a stalled one).
		Heartbeat: time.Second}
	if r.c.Mode == livesoak.ModeRelay {
		frames, err := livesoak.LoadFrames(r.c.FramesPath)
		if err != nil {
			return err
		}
		so.Frames = frames
	}
	var err error
	if r.srv, err = livesoak.NewServer(so); err != nil {
		return err
	}
	host := strings.TrimPrefix(r.srv.URL(), "ws://")
	host, _, _ = strings.Cut(host, "/")
	r.proxy, err = NewProxy(host, r.log)
	return err
}

// sourceURL is the source's URL through the proxy.
func (r *run) sourceURL() string {
	u := "ws://" + r.proxy.Addr()
	if r.c.Mode == livesoak.ModeJetstream {
		u += livesoak.JetstreamPath
	}
	return u
}

func (r *run) startIngest(ctx context.Context) error {
	port, err := freeport.One()
	if err != nil {
		return err
	}
	r.metricsAddr = "127.0.0.1:" + strconv.Itoa(port)
	args := []string{"ingest", "-brokers", r.broker.Addr(), "-posts-topic", PostsTopic, "-cursor-topic", CursorsTopic,
		"-metrics-addr", r.metricsAddr}
	if r.c.Mode == livesoak.ModeRelay {
		args = append(args, "-source", "firehose", "-relay", r.sourceURL())
	} else {
		args = append(args, "-source", "jetstream", "-jetstream-url", r.sourceURL())
	}
	r.rep.Settings.IngestArgs = args
	r.ingest = NewProc("ingest", r.c.Binaries.Trendstream, args, r.dir, r.c.ChildLog, r.log)
	if err := r.ingest.Start(); err != nil {
		return err
	}
	// The source starts producing at its first connection: the ingest's,
	// so it reads from the first event without a cursor.
	if err := r.srv.WaitStarted(ctx, 2*time.Minute); err != nil {
		return fmt.Errorf("the ingest did not connect to the source: %w", err)
	}
	r.auditor = StartAuditor(ctx, r.c.Mode, r.srv.URL(), r.log)
	return nil
}

func (r *run) startPipeline(context.Context) error {
	r.opts = PipelineOptions(r.c, r.broker.Addrs(), r.pg.URL())
	args := pipelineArgs(r.opts)
	r.rep.Settings = Settings{Mode: r.c.Mode, Rate: r.c.Rate, Duration: Duration(r.c.Duration), Seed: r.c.Seed,
		WindowSize: Duration(r.c.WindowSize), WindowPeriod: Duration(r.c.WindowPeriod), MaxOutOfOrder: Duration(r.c.MaxOutOfOrder),
		TopK: r.c.TopK, WarmUp: Duration(r.c.Score.WarmUp), Partitions: r.c.Partitions, PipelineArgs: redactArgs(args),
		IngestArgs: r.rep.Settings.IngestArgs}
	r.pipeline = NewProc("pipeline", r.c.Binaries.Trending, args, r.dir, r.c.ChildLog, r.log)
	return r.pipeline.Start()
}

// stream runs the fault schedule while the source streams, then waits for
// the source's end.
func (r *run) stream(ctx context.Context) error {
	r.rep.StreamStart = r.streamStart()
	r.log.Info("chaos: streaming under faults", "duration", r.c.Duration, "faults", len(r.faults), "seed", r.c.Seed)
	target := &Target{Proxy: r.proxy, Broker: r.broker, Postgres: r.pg, Ingest: r.ingest, Pipeline: r.pipeline,
		StopTimeout: r.c.StopTimeout, StartTimeout: r.c.StartTimeout, Log: r.log}
	r.injected = RunSchedule(ctx, target, r.rep.StreamStart, r.faults)
	r.rep.Faults = r.injected
	select {
	case <-r.srv.Done():
	case <-ctx.Done():
		return ctx.Err()
	}
	return nil
}

// streamStart is when the source produced its first event.
func (r *run) streamStart() time.Time {
	for {
		if st := r.srv.Stats(); !st.Started.IsZero() {
			return st.Started
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// drain waits, each wait bounded, for the audit to have every event, the
// ingest to have acknowledged the last one, and the pipeline to release
// the newest window the reference has. A wait that times out is noted and
// the run goes on: the checks then show what is missing.
func (r *run) drain(ctx context.Context) error {
	d := &r.rep.Drain
	st := r.srv.Stats()
	actx, cancel := context.WithTimeout(ctx, time.Minute)
	err := r.auditor.WaitEvents(actx, st.Events)
	cancel()
	if err != nil {
		return fmt.Errorf("the audit did not receive the whole stream: %w", err)
	}
	r.log.Info("chaos: the source is done; waiting for the ingest", "events", st.Events, "posts", st.Posts)
	t0 := time.Now()
	d.IngestCaughtUp = r.waitIngest(ctx, r.auditor.LastKey())
	d.IngestTook = Duration(time.Since(t0).Round(100 * time.Millisecond))
	if !d.IngestCaughtUp {
		d.Notes = append(d.Notes, fmt.Sprintf("the ingest's committed cursor did not reach the source's last event within %s", r.c.DrainTimeout))
	}
	topic, err := readPosts(r.broker.Addrs(), PostsTopic, 2*time.Minute)
	if err != nil {
		return err
	}
	r.rep.Findings.Topic = topic
	r.rep.Findings.Sent = r.auditor.Posts()
	r.posts = r.rep.Findings.compareSources()
	ref := Reference(r.opts, r.posts)
	d.LastWindowEnd = newestEnd(ref)
	t0 = time.Now()
	d.LastWindow = r.waitWindow(ctx, d.LastWindowEnd)
	d.LastWindowTook = Duration(time.Since(t0).Round(100 * time.Millisecond))
	if !d.LastWindow {
		d.Notes = append(d.Notes, fmt.Sprintf("the newest window did not reach PostgreSQL within %s", r.c.DrainTimeout))
	}
	// The other languages' windows of the last firing, and late firings.
	sleep(ctx, r.c.WindowPeriod+5*time.Second)
	return ctx.Err()
}

// waitIngest polls the ingest's committed-cursor metric until it reaches
// last.
func (r *run) waitIngest(ctx context.Context, last int64) bool {
	ctx, cancel := context.WithTimeout(ctx, r.c.DrainTimeout)
	defer cancel()
	for {
		m, err := scrape(ctx, "http://"+r.metricsAddr+"/metrics")
		if err == nil && m["trendstream_ingest_cursor"] >= float64(last) {
			return true
		}
		if !sleep(ctx, time.Second) {
			return false
		}
	}
}

// waitWindow polls the read model until its newest overall window ends at
// or after end.
func (r *run) waitWindow(ctx context.Context, end time.Time) bool {
	ctx, cancel := context.WithTimeout(ctx, r.c.DrainTimeout)
	defer cancel()
	for {
		got, err := newestWindowEnd(ctx, r.pg.URL())
		if err == nil && !got.Before(end) {
			return true
		}
		if !sleep(ctx, time.Second) {
			return false
		}
	}
}

// stopProcesses stops the pipeline and the ingest for good, so the read
// model no longer changes while it is checked.
func (r *run) stopProcesses(ctx context.Context) error {
	if m, err := scrape(ctx, "http://"+r.metricsAddr+"/metrics"); err == nil {
		r.rep.Metrics = pick(m, "trendstream_ingest_reconnects_total", "trendstream_ingest_produce_errors_total",
			"trendstream_ingest_posts_total", "trendstream_ingest_cursor_save_errors_total")
	}
	return errors.Join(r.pipeline.Shutdown(r.c.StopTimeout), r.ingest.Shutdown(r.c.StopTimeout))
}

// check reads the outcome and judges it.
func (r *run) check(ctx context.Context) error {
	f := r.rep.Findings
	r.rep.Source = r.srv.Stats()
	ref := Reference(r.opts, r.posts)
	f.sizeReference(ref)
	rm, err := readModel(ctx, r.pg.URL())
	if err != nil {
		return err
	}
	f.PGDuplicates = rm.Duplicates
	f.WindowsCompared, f.WindowDiffs = CompareWindows(rm.Windows, ref)
	if snaps, err := replaytest.ReadSnapshots(r.broker.Addrs(), TrendsTopic, 2*time.Minute); err != nil {
		f.ResultsErr = err.Error()
	} else {
		got := make([]*tsv1.WindowSnapshot, 0, len(snaps))
		for _, s := range snaps {
			got = append(got, s)
		}
		f.ResultsCompared, f.ResultsDiffs = CompareWindows(Windows(got), ref)
	}
	f.Exits = append(r.ingest.Exits(), r.pipeline.Exits()...)
	for _, e := range f.Exits {
		r.rep.Logs[fmt.Sprintf("%s-%d", e.Process, e.Run)] = e.LogPath
	}
	r.rep.Checks = Judge(f, r.injected, r.rep.StreamStart, r.c.NoFaults)
	return nil
}

// teardown stops whatever runs, and removes a temporary work directory
// after a run whose checks all passed (a failed run keeps its logs).
func (r *run) teardown() {
	if r.auditor != nil {
		r.auditor.Stop()
	}
	for _, p := range []*Proc{r.pipeline, r.ingest} {
		if p != nil {
			if err := p.Shutdown(r.c.StopTimeout); err != nil {
				r.log.Warn("chaos: teardown", "err", err)
			}
		}
	}
	if r.proxy != nil {
		_ = r.proxy.Close()
	}
	if r.srv != nil {
		_ = r.srv.Close()
	}
	if r.broker != nil {
		if err := r.broker.Stop(); err != nil {
			r.log.Warn("chaos: stop Kafka", "err", err)
		}
	}
	if r.pg != nil {
		if err := r.pg.Stop(); err != nil {
			r.log.Warn("chaos: stop PostgreSQL", "err", err)
		}
	}
	passed := len(r.rep.Checks) > 0 && len(r.rep.Failed()) == 0
	if r.ownDir && !r.c.Keep && passed {
		_ = os.RemoveAll(r.dir)
		r.rep.Logs = nil
	} else if r.dir != "" {
		r.rep.Dir = r.dir
		r.log.Info("chaos: logs and state kept", "dir", r.dir)
	}
}

// redactArgs hides the password of URL-valued flags (-database-url): the
// report is committed as RELIABILITY.md.
func redactArgs(args []string) []string {
	out := make([]string, len(args))
	for i, a := range args {
		out[i] = a
		name, val, ok := strings.Cut(a, "=")
		if !ok {
			continue
		}
		u, err := url.Parse(val)
		if err != nil || u.User == nil {
			continue
		}
		if _, has := u.User.Password(); has {
			u.User = url.UserPassword(u.User.Username(), "REDACTED")
			out[i] = name + "=" + u.String()
		}
	}
	return out
}
