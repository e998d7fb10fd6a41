package main

import (
	"context"
	"flag"
	"fmt"
	"log/slog"
	"net"
	"os"
	"time"

	"github.com/trendstream/trendstream/internal/platform/kafkaconf"
	"github.com/trendstream/trendstream/internal/readside/api"
	"github.com/trendstream/trendstream/internal/readside/store"
)

func init() {
	register(command{
		name:    "serve",
		summary: "serve the HTTP API, Prometheus metrics and the live dashboard from the PostgreSQL read model",
		setup:   setupServe,
	})
}

// pruneInterval is how often serve applies -retention. Windows end once a
// minute, so a few minutes' lag keeps the table within a few rows of the
// limit at the cost of one cheap indexed DELETE.
const pruneInterval = 5 * time.Minute

func setupServe(fs *flag.FlagSet) func(context.Context) error {
	so := defaultServeOptions()
	so.register(fs)
	dbURL := fs.String("database-url", "", "PostgreSQL URL of the read model (default $DATABASE_URL)")
	brokers := fs.String("brokers", kafkaconf.DefaultBrokers, "Kafka bootstrap brokers, comma-separated; empty disables live push")
	topic := fs.String("trends-topic", kafkaconf.DefaultTrendsTopic, "Kafka topic of WindowSnapshot results pushed to dashboards")
	return func(ctx context.Context) error {
		st, err := openStore(ctx, *dbURL)
		if err != nil {
			return err
		}
		defer st.Close()
		srv := api.New(st, so.apiOptions(slog.Default()))

		if *brokers != "" {
			bs, err := kafkaconf.SplitBrokers(*brokers)
			if err != nil {
				return err
			}
			go func() {
				// Returns only when ctx ends; it retries while Kafka is away.
				_ = api.ConsumeTrends(ctx, bs, *topic, srv, api.FeedLogger(slog.Default()))
			}()
		}
		if so.retention > 0 {
			go pruneLoop(ctx, st, so.retention)
		}
		ln, err := net.Listen("tcp", so.addr)
		if err != nil {
			return fmt.Errorf("serve: %w", err)
		}
		slog.Info("serving API and dashboard", "addr", ln.Addr().String(), "trends_topic", *topic, "retention", so.retention)
		return srv.Serve(ctx, ln)
	}
}

// serveOptions are the read side's flags, shared by serve and run: where
// the API listens, how long windows are kept, the event stream's limits.
type serveOptions struct {
	addr      string
	retention time.Duration
	streams   *streamOptions
	// watchlistToken allows changing watchlist entries through the API.
	watchlistToken string
}

func defaultServeOptions() serveOptions {
	return serveOptions{addr: api.DefaultAddr, retention: store.DefaultRetention}
}

func (o *serveOptions) register(fs *flag.FlagSet) {
	fs.StringVar(&o.addr, "addr", o.addr, "listen address of the API and dashboard (loopback only by default; :8080 listens on every interface)")
	fs.DurationVar(&o.retention, "retention", o.retention, "delete trend windows that ended this long before the newest window of their source from PostgreSQL (event time: a replayed recording keeps its results); 0 keeps everything")
	o.streams = streamFlags(fs)
	fs.StringVar(&o.watchlistToken, "watchlist-token", o.watchlistToken,
		"bearer token that allows creating, changing and deleting watchlist entries through the API (prefer the environment twin); empty keeps them read-only")
}

// apiOptions are the API server's options.
func (o *serveOptions) apiOptions(log *slog.Logger) api.Options {
	ao := o.streams.options(log)
	ao.WatchlistToken = o.watchlistToken
	return ao
}

// streamOptions are the limits of the API's event stream.
type streamOptions struct {
	maxStreams   int
	writeTimeout time.Duration
	keepAlive    time.Duration
}

func streamFlags(fs *flag.FlagSet) *streamOptions {
	o := &streamOptions{}
	fs.IntVar(&o.maxStreams, "max-streams", api.DefaultMaxStreams,
		"most concurrent /api/stream clients; beyond it the stream answers 503 with Retry-After (each client holds a goroutine and a socket); 0 means no cap")
	fs.DurationVar(&o.writeTimeout, "stream-write-timeout", api.DefaultWriteTimeout,
		"disconnect a /api/stream client when one write to it does not complete within this (it stopped reading)")
	fs.DurationVar(&o.keepAlive, "stream-keep-alive", api.DefaultKeepAlive,
		"interval of keep-alive comments on idle /api/stream connections, so proxies do not cut healthy clients")
	return o
}

func (o *streamOptions) options(log *slog.Logger) api.Options {
	maxStreams := o.maxStreams
	if maxStreams <= 0 {
		maxStreams = -1 // no cap; 0 would mean the default to api.Options
	}
	return api.Options{Logger: log, MaxStreams: maxStreams, WriteTimeout: o.writeTimeout, KeepAlive: o.keepAlive}
}

// databaseURLOrEnv returns the -database-url value, falling back to
// DATABASE_URL, the variable most PostgreSQL tooling and hosts set. The
// fallback is not the flag's default so that -h never prints a password.
func databaseURLOrEnv(flagValue string) (string, error) {
	if flagValue != "" {
		return flagValue, nil
	}
	if v := os.Getenv("DATABASE_URL"); v != "" {
		return v, nil
	}
	return "", fmt.Errorf("no database: set -database-url, TRENDSTREAM_DATABASE_URL or DATABASE_URL")
}

// openStore opens the read model at the -database-url value, falling back
// to DATABASE_URL.
func openStore(ctx context.Context, flagValue string) (*store.Store, error) {
	url, err := databaseURLOrEnv(flagValue)
	if err != nil {
		return nil, err
	}
	return store.Open(ctx, url)
}

// pruneLoop applies retention every pruneInterval until ctx ends. It counts
// in event time (store.PruneRetention): a wall-clock cut-off would delete
// the whole result of replaying a recording older than the retention a few
// minutes after computing it.
func pruneLoop(ctx context.Context, st *store.Store, retention time.Duration) {
	t := time.NewTicker(pruneInterval)
	defer t.Stop()
	for {
		n, err := st.PruneRetention(ctx, retention)
		switch {
		case err != nil && ctx.Err() == nil:
			slog.Warn("retention: prune failed", "err", err)
		case n > 0:
			slog.Info("retention: pruned old windows", "windows", n, "retention", retention)
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}
