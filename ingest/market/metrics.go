package market

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"
)

// DefaultMetricsAddr is where market-ingest serves /metrics and /healthz:
// loopback, and next to the posts ingest's 9101 so both can run on a host.
const DefaultMetricsAddr = "127.0.0.1:9102"

// Registry returns a Prometheus registry exposing sink's counts, labelled
// with the source's name.
func Registry(source string, sink *KafkaSink) *prometheus.Registry {
	reg := prometheus.NewRegistry()
	labels := prometheus.Labels{"source": source}
	for _, c := range []struct {
		name, help string
		get        func(SinkStats) int64
	}{
		{"trendstream_market_trades_total", "Trades acknowledged by Kafka (acks=all).", func(s SinkStats) int64 { return s.Trades }},
		{"trendstream_market_bad_inputs_total", "Rows or messages that did not decode, reported and skipped.", func(s SinkStats) int64 { return s.BadInputs }},
		{"trendstream_market_dead_lettered_total", "Bad inputs acknowledged on the dead-letter topic.", func(s SinkStats) int64 { return s.DeadLettered }},
	} {
		get := c.get
		reg.MustRegister(prometheus.NewCounterFunc(prometheus.CounterOpts{Name: c.name, Help: c.help, ConstLabels: labels},
			func() float64 { return float64(get(sink.Stats())) }))
	}
	return reg
}

// ServeMetrics serves /metrics and /healthz on addr until ctx is done. It
// returns once listening, so a bad address fails the command at start.
func ServeMetrics(ctx context.Context, addr string, reg *prometheus.Registry, log *slog.Logger) error {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return fmt.Errorf("market: metrics listener: %w", err)
	}
	mux := http.NewServeMux()
	mux.Handle("/metrics", promhttp.HandlerFor(reg, promhttp.HandlerOpts{}))
	mux.HandleFunc("/healthz", func(w http.ResponseWriter, _ *http.Request) { _, _ = w.Write([]byte("ok\n")) })
	srv := &http.Server{Handler: mux, ReadHeaderTimeout: 5 * time.Second}
	go func() {
		if err := srv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
			log.Error("market: metrics server", "err", err)
		}
	}()
	context.AfterFunc(ctx, func() {
		sctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		_ = srv.Shutdown(sctx)
	})
	return nil
}
