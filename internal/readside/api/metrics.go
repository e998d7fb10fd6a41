package api

import (
	"net/http"
	"strconv"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

type metrics struct {
	requests   *prometheus.CounterVec
	duration   *prometheus.HistogramVec
	published  prometheus.Counter
	stale      prometheus.Counter
	updates    prometheus.Counter
	dropped    prometheus.Counter
	timedOut   prometheus.Counter
	rejected   prometheus.Counter
	lastWindow prometheus.Gauge
}

func newMetrics(reg prometheus.Registerer, streams func() int) metrics {
	m := metrics{
		requests: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "trendstream_api_requests_total", Help: "HTTP requests by route and status code.",
		}, []string{"route", "code"}),
		duration: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name: "trendstream_api_request_duration_seconds", Help: "HTTP request latency by route (streams: connection lifetime).",
			Buckets: prometheus.ExponentialBuckets(0.0005, 4, 10),
		}, []string{"route"}),
		published: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "trendstream_api_snapshots_published_total", Help: "Rankings pushed to stream clients.",
		}),
		stale: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "trendstream_api_snapshots_stale_total", Help: "Snapshots not pushed because the same window was already pushed with the same or a later emission time.",
		}),
		updates: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "trendstream_api_window_updates_total", Help: "Corrected windows older than their ranking's newest, pushed as update events (also in snapshots_published_total).",
		}),
		dropped: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "trendstream_api_stream_clients_dropped_total", Help: "Stream clients disconnected for falling more than the stream buffer behind.",
		}),
		timedOut: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "trendstream_api_stream_write_timeouts_total", Help: "Stream clients disconnected because a write failed or did not complete within the write timeout.",
		}),
		rejected: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "trendstream_api_stream_clients_rejected_total", Help: "Stream requests answered 503 because the stream client cap was reached.",
		}),
		lastWindow: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "trendstream_api_last_window_end_seconds", Help: "End (unix seconds) of the newest window pushed to stream clients.",
		}),
	}
	reg.MustRegister(m.requests, m.duration, m.published, m.stale, m.updates, m.dropped, m.timedOut, m.rejected, m.lastWindow,
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{
			Name: "trendstream_api_stream_clients", Help: "Connected Server-Sent Events clients, from accept to close.",
		}, func() float64 { return float64(streams()) }))
	return m
}

// instrument counts and times requests under a fixed route label, never
// the raw path, whose terms would make label cardinality unbounded.
func (m metrics) instrument(route string, h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		start := time.Now()
		sw := &statusWriter{ResponseWriter: w, code: http.StatusOK}
		h.ServeHTTP(sw, r)
		m.requests.WithLabelValues(route, strconv.Itoa(sw.code)).Inc()
		m.duration.WithLabelValues(route).Observe(time.Since(start).Seconds())
	})
}

type statusWriter struct {
	http.ResponseWriter
	code int
}

func (w *statusWriter) WriteHeader(code int) {
	w.code = code
	w.ResponseWriter.WriteHeader(code)
}

// Unwrap lets http.ResponseController reach the real writer's Flush.
func (w *statusWriter) Unwrap() http.ResponseWriter { return w.ResponseWriter }
