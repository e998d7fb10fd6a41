package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"github.com/trendstream/trendstream/internal/platform/kafkatopics"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/trendstream/trendstream/ingest"
	"github.com/trendstream/trendstream/internal/platform/beamrun"
	"github.com/trendstream/trendstream/internal/platform/kafkaconf"
	"github.com/trendstream/trendstream/internal/readside/api"
	"github.com/trendstream/trendstream/internal/readside/store"
	"github.com/trendstream/trendstream/internal/services/kafkalocal"
	"github.com/trendstream/trendstream/internal/services/pglocal"
	"github.com/trendstream/trendstream/pipelines/trending"
	"github.com/trendstream/trendstream/transforms/kafkaio"
)

func init() {
	register(command{
		name: "run",
		summary: "run the whole system in one process: embedded Kafka and PostgreSQL, ingest, " +
			"the trending pipeline on Prism, and the API + dashboard",
		setup: setupRun,
	})
}

// runConfig is everything `trendstream run` is told.
type runConfig struct {
	dataDir        string
	kafkaPort      int
	kafkaRetention time.Duration
	pgPort         int
	source         sourceFlags
	serve          serveOptions
	metricsAddr    string
	progress       time.Duration
	pipeline       trending.Options
}

func setupRun(fs *flag.FlagSet) func(context.Context) error {
	c := runConfig{pipeline: trending.DefaultOptions(), source: defaultSourceFlags(), serve: defaultServeOptions()}
	// Empty brokers and database mean "embedded" here.
	c.pipeline.Brokers = ""
	fs.StringVar(&c.dataDir, "data-dir", "data", "directory for the embedded Kafka log and PostgreSQL cluster (kept across restarts)")
	fs.IntVar(&c.kafkaPort, "kafka-port", 9092, "port of the embedded Kafka-protocol broker on 127.0.0.1 (with empty -brokers)")
	fs.DurationVar(&c.kafkaRetention, "kafka-retention", 72*time.Hour, "how long the embedded broker keeps posts for replay")
	fs.IntVar(&c.pgPort, "pg-port", 55432, "port of the private PostgreSQL cluster on 127.0.0.1 (without -database-url or DATABASE_URL)")
	c.source.register(fs)
	c.serve.register(fs)
	fs.StringVar(&c.metricsAddr, "metrics-addr", ingest.DefaultMetricsAddr, "listen address of the ingest's /metrics and /healthz (loopback only by default; :9101 listens on every interface); empty disables")
	fs.DurationVar(&c.progress, "progress", 15*time.Second, "how often to print progress (posts/s, lag, top terms); 0 disables")
	c.pipeline.RegisterFlags(fs)
	return func(ctx context.Context) error { return runAll(ctx, c) }
}

// runAll starts every part, waits for ctx, and stops them in reverse order:
// ingest first (it flushes and persists its cursor), then the pipeline, the
// API, and the embedded services.
func runAll(ctx context.Context, c runConfig) error {
	log := slog.Default()
	if err := os.MkdirAll(c.dataDir, 0o755); err != nil {
		return fmt.Errorf("run: data dir: %w", err)
	}
	abs, err := filepath.Abs(c.dataDir)
	if err != nil {
		return fmt.Errorf("run: data dir: %w", err)
	}
	c.dataDir = abs

	// Kafka.
	o := c.pipeline
	if o.Brokers == "" {
		kc, err := kafkalocal.Start(kafkalocal.Port(c.kafkaPort), kafkalocal.DataDir(filepath.Join(c.dataDir, "kafka")),
			kafkalocal.Retention(c.kafkaRetention), kafkalocal.Topics(4, o.Topic, o.TrendsTopic))
		if err != nil {
			return fmt.Errorf("run: embedded Kafka on port %d (is another broker running? use -kafka-port or -brokers): %w", c.kafkaPort, err)
		}
		defer kc.Close()
		o.Brokers = strings.Join(kc.Addrs(), ",")
		log.Info("embedded Kafka-protocol broker (kfake) started", "brokers", o.Brokers, "dir", filepath.Join(c.dataDir, "kafka"))
	}
	brokers, err := kafkaconf.SplitBrokers(o.Brokers)
	if err != nil {
		return err
	}
	// The pipeline's reader needs its topics to exist; existing ones (a
	// real cluster's, or an earlier run's) are left as they are.
	if _, err := kafkatopics.Create(ctx, brokers, kafkatopics.Options{IfMissing: true, ReplicationFactor: 1},
		kafkatopics.Topic{Name: o.Topic, Partitions: 4}, kafkatopics.Topic{Name: o.TrendsTopic, Partitions: 4}); err != nil {
		return fmt.Errorf("run: %w", err)
	}

	// PostgreSQL.
	if o.DatabaseURL == "" {
		o.DatabaseURL = os.Getenv("DATABASE_URL")
	}
	if o.DatabaseURL == "" {
		pgctx, cancel := context.WithTimeout(ctx, 2*time.Minute)
		pg, err := pglocal.Start(pgctx, pglocal.Options{Dir: filepath.Join(c.dataDir, "postgres"), Port: c.pgPort, Durable: true})
		cancel()
		if err != nil {
			return fmt.Errorf("run: no -database-url or DATABASE_URL, and a private PostgreSQL could not be started: %w", err)
		}
		defer func() {
			if err := pg.Stop(); err != nil {
				log.Warn("stop PostgreSQL", "err", err)
			}
		}()
		if err := createDatabase(ctx, pg.URL("postgres"), "trendstream"); err != nil {
			return err
		}
		o.DatabaseURL = pg.URL("trendstream")
		log.Info("private PostgreSQL started", "url", redactURL(o.DatabaseURL), "dir", pg.Dir, "password_file", filepath.Join(pg.Dir, pglocal.PasswordFile))
	}
	st, err := store.Open(ctx, o.DatabaseURL)
	if err != nil {
		return err
	}
	defer st.Close()

	// API and dashboard.
	srv := api.New(st, c.serve.apiOptions(log))
	ln, err := net.Listen("tcp", c.serve.addr)
	if err != nil {
		return fmt.Errorf("run: API listen: %w", err)
	}
	var wg sync.WaitGroup
	errs := make(chan error, 4)
	spawn := func(name string, f func() error) {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if err := f(); err != nil && !errors.Is(err, context.Canceled) {
				errs <- fmt.Errorf("%s: %w", name, err)
			}
		}()
	}
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	spawn("api", func() error { return srv.Serve(ctx, ln) })
	spawn("trends feed", func() error { return api.ConsumeTrends(ctx, brokers, o.TrendsTopic, srv, api.FeedLogger(log)) })
	if c.serve.retention > 0 {
		go pruneLoop(ctx, st, c.serve.retention)
	}

	// The progress lines read the ingest's own counters: the posts topic's
	// offsets also count the ingest's watermark markers (one per partition
	// per second), which made a thin stream look busier than it was.
	ingestMetrics := ingest.NewRegistry()
	src, err := c.source.build(brokers)
	if err != nil {
		return err
	}
	icfg := ingest.Config{
		Source: src, Brokers: brokers, Topic: o.Topic, MetricsAddr: c.metricsAddr, Logger: log,
		Registry: ingestMetrics,
	}
	icfg.Sink = icfg.KafkaSink()
	pr, err := beamrun.StartPrism(ctx, 0)
	if err != nil {
		return err
	}
	runPipeline := func() error {
		p, err := trending.Build(o)
		if err != nil {
			return err
		}
		return pr.Run(ctx, p)
	}
	if src.Bounded() {
		// A recording is replayed whole, then windowed as a bounded job: an
		// unbounded reader would move idle partitions' watermarks to the
		// wall clock and drop the recording's old posts as late.
		log.Info("replaying recording into Kafka", "source", src.Key())
		if err := ingest.Run(ctx, icfg); err != nil {
			return err
		}
		o.Bounded = true
		if o.Start.Kind == kafkaio.StartCommitted {
			o.Start = kafkaio.Start{Kind: kafkaio.StartEarliest}
		}
		log.Info("computing trends over the recording (bounded pipeline on Prism)")
		if err := runPipeline(); err != nil && ctx.Err() == nil {
			return fmt.Errorf("pipeline: %w", err)
		}
		log.Info("recording processed; serving results until interrupted")
	} else {
		spawn("ingest", func() error { return ingest.Run(ctx, icfg) })
		spawn("pipeline", runPipeline)
	}
	log.Info("trendstream is running",
		"dashboard", "http://"+displayAddr(ln.Addr()), "api", "http://"+displayAddr(ln.Addr())+"/api/trends",
		"ingest_metrics", c.metricsAddr, "kafka", o.Brokers, "postgres", redactURL(o.DatabaseURL))
	if c.progress > 0 {
		go progressLoop(ctx, c.progress, ingestMetrics, st)
	}

	var first error
	select {
	case <-ctx.Done():
	case first = <-errs:
		log.Error("stopping after failure", "err", first)
	}
	cancel()
	wg.Wait()
	log.Info("trendstream stopped")
	return first
}

func displayAddr(a net.Addr) string {
	s := a.String()
	if strings.HasPrefix(s, "[::]:") || strings.HasPrefix(s, "0.0.0.0:") {
		return "localhost:" + s[strings.LastIndexByte(s, ':')+1:]
	}
	return s
}

func redactURL(u string) string {
	if i := strings.Index(u, "@"); i > 0 {
		if j := strings.Index(u, "://"); j >= 0 && j < i {
			return u[:j+3] + "…" + u[i:]
		}
	}
	return u
}

// progressLoop prints what a person watching wants to know: is data
// flowing, how far behind are the trends, and what is trending.
func progressLoop(ctx context.Context, every time.Duration, ingestMetrics prometheus.Gatherer, st *store.Store) {
	t := time.NewTicker(every)
	defer t.Stop()
	last, lastAt := postsProduced(ingestMetrics), time.Now()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		n, now := postsProduced(ingestMetrics), time.Now()
		rate := float64(n-last) / now.Sub(lastAt).Seconds()
		args := []any{"posts", n, "posts_per_s", fmt.Sprintf("%.1f", rate)}
		last, lastAt = n, now
		ws, err := st.CurrentTrends(ctx, store.Filter{Limit: 5})
		if err == nil && len(ws) > 0 {
			w := ws[0]
			var top []string
			for _, term := range w.Terms {
				top = append(top, term.Term)
			}
			args = append(args, "window_end", w.End.Format(time.RFC3339), "lag", now.Sub(w.End).Round(time.Second).String(),
				"top", strings.Join(top, ", "))
		} else {
			args = append(args, "top", "(no complete window yet)")
		}
		slog.Info("progress", args...)
	}
}

// postsProduced is the number of new posts (creates, not deletes) the
// ingest has written to Kafka in this process.
func postsProduced(g prometheus.Gatherer) int64 {
	families, err := g.Gather()
	if err != nil {
		return 0
	}
	for _, f := range families {
		if f.GetName() != ingest.PostsMetric {
			continue
		}
		var n float64
		for _, m := range f.GetMetric() {
			for _, l := range m.GetLabel() {
				if l.GetName() == "operation" && l.GetValue() == "create" {
					n += m.GetCounter().GetValue()
				}
			}
		}
		return int64(n)
	}
	return 0
}
