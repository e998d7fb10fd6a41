package ingest

import (
	"strings"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
)

// metrics are the ingest's Prometheus series. Label values are bounded:
// collections outside app.bsky.* are folded into "other".
type metrics struct {
	events        *prometheus.CounterVec
	ops           *prometheus.CounterVec
	posts         *prometheus.CounterVec
	acked         *prometheus.CounterVec
	lag           prometheus.Gauge
	cursor        prometheus.Gauge
	readPos       prometheus.Gauge
	reconnects    *prometheus.CounterVec
	produceErrs   prometheus.Counter
	malformed     *prometheus.CounterVec
	problems      *prometheus.CounterVec
	infos         *prometheus.CounterVec
	inFlight      prometheus.Gauge
	inFlightBytes prometheus.Gauge
	connected     prometheus.Gauge
	cursorSaveEr  prometheus.Counter
	watermark     prometheus.Gauge
	wmRounds      prometheus.Counter
	wmErrors      prometheus.Counter
	deadLetters   *prometheus.CounterVec
	dupSkipped    prometheus.Counter
	deletes       *prometheus.CounterVec
	remembered    prometheus.Gauge
}

func newMetrics(reg prometheus.Registerer) *metrics {
	m := &metrics{
		events:        prometheus.NewCounterVec(prometheus.CounterOpts{Name: "trendstream_ingest_events_total", Help: "Stream events decoded, by kind (commit, sync, identity, account, info, unknown)."}, []string{"kind"}),
		ops:           prometheus.NewCounterVec(prometheus.CounterOpts{Name: "trendstream_ingest_ops_total", Help: "Repo operations seen, by collection (app.bsky.* or other) and action."}, []string{"collection", "action"}),
		posts:         prometheus.NewCounterVec(prometheus.CounterOpts{Name: PostsMetric, Help: "Post messages produced, by operation."}, []string{"operation"}),
		acked:         prometheus.NewCounterVec(prometheus.CounterOpts{Name: "trendstream_ingest_messages_acked_total", Help: "Messages acknowledged by the sink, by topic."}, []string{"topic"}),
		lag:           prometheus.NewGauge(prometheus.GaugeOpts{Name: "trendstream_ingest_lag_seconds", Help: "Now minus the event time of the last event read."}),
		cursor:        prometheus.NewGauge(prometheus.GaugeOpts{Name: "trendstream_ingest_cursor", Help: "Committed cursor: every event up to it is acknowledged."}),
		readPos:       prometheus.NewGauge(prometheus.GaugeOpts{Name: "trendstream_ingest_read_position", Help: "Position of the last event read."}),
		reconnects:    prometheus.NewCounterVec(prometheus.CounterOpts{Name: "trendstream_ingest_reconnects_total", Help: "Session restarts, by reason (stall, close_<code>, dial, read, sink, future_cursor, ...)."}, []string{"reason"}),
		produceErrs:   prometheus.NewCounter(prometheus.CounterOpts{Name: "trendstream_ingest_produce_errors_total", Help: "Messages the producer failed to deliver (they are re-read from the cursor)."}),
		malformed:     prometheus.NewCounterVec(prometheus.CounterOpts{Name: "trendstream_ingest_malformed_frames_total", Help: "Frames or lines skipped as unusable, by reason."}, []string{"reason"}),
		problems:      prometheus.NewCounterVec(prometheus.CounterOpts{Name: "trendstream_ingest_problems_total", Help: "Recoverable defects repaired or skipped inside usable events, by reason."}, []string{"reason"}),
		infos:         prometheus.NewCounterVec(prometheus.CounterOpts{Name: "trendstream_ingest_info_messages_total", Help: "#info messages from the server, by name (e.g. OutdatedCursor)."}, []string{"name"}),
		inFlight:      prometheus.NewGauge(prometheus.GaugeOpts{Name: "trendstream_ingest_in_flight_messages", Help: "Messages sent to the sink and not yet acknowledged."}),
		inFlightBytes: prometheus.NewGauge(prometheus.GaugeOpts{Name: "trendstream_ingest_in_flight_bytes", Help: "Record bytes of the messages sent to the sink and not yet acknowledged."}),
		connected:     prometheus.NewGauge(prometheus.GaugeOpts{Name: "trendstream_ingest_connected", Help: "1 while a source connection is open."}),
		cursorSaveEr:  prometheus.NewCounter(prometheus.CounterOpts{Name: "trendstream_ingest_cursor_save_errors_total", Help: "Failed attempts to persist the cursor."}),
		watermark:     prometheus.NewGauge(prometheus.GaugeOpts{Name: "trendstream_ingest_watermark_seconds", Help: "Time (unix seconds) of the last source-watermark marker every partition of the posts topic acknowledged."}),
		wmRounds:      prometheus.NewCounter(prometheus.CounterOpts{Name: "trendstream_ingest_watermark_rounds_total", Help: "Marker rounds (one marker per partition of the posts topic) acknowledged."}),
		wmErrors:      prometheus.NewCounter(prometheus.CounterOpts{Name: "trendstream_ingest_watermark_errors_total", Help: "Marker rounds that failed on at least one partition (retried by the next round)."}),
		dupSkipped:    prometheus.NewCounter(prometheus.CounterOpts{Name: "trendstream_ingest_duplicates_skipped_total", Help: "Posts of re-read events not written again because the posts topic already holds them (after a crash or a reconnect)."}),
		deletes:       prometheus.NewCounterVec(prometheus.CounterOpts{Name: "trendstream_ingest_deletes_total", Help: "Post deletes read, by whether they carry the post they delete (attached) or the ingest had not read it within -delete-lookback (unknown: only counted downstream)."}, []string{"post"}),
		remembered:    prometheus.NewGauge(prometheus.GaugeOpts{Name: "trendstream_ingest_posts_remembered", Help: "Posts remembered so that their deletes carry them (-delete-lookback, -delete-memory-posts)."}),
		deadLetters:   prometheus.NewCounterVec(prometheus.CounterOpts{Name: "trendstream_ingest_dead_letters_total", Help: "Messages that could not be delivered and went to the dead-letter topic, by reason (too_large, marshal, invalid_timestamp, invalid_record, encoding, rejected) and intended topic."}, []string{"reason", "topic"}),
	}
	m.events, m.ops, m.posts, m.acked = register(reg, m.events), register(reg, m.ops), register(reg, m.posts), register(reg, m.acked)
	m.lag, m.cursor, m.readPos = register(reg, m.lag), register(reg, m.cursor), register(reg, m.readPos)
	m.reconnects, m.produceErrs, m.malformed = register(reg, m.reconnects), register(reg, m.produceErrs), register(reg, m.malformed)
	m.problems, m.infos, m.inFlight = register(reg, m.problems), register(reg, m.infos), register(reg, m.inFlight)
	m.connected, m.cursorSaveEr = register(reg, m.connected), register(reg, m.cursorSaveEr)
	m.watermark, m.wmRounds, m.wmErrors = register(reg, m.watermark), register(reg, m.wmRounds), register(reg, m.wmErrors)
	m.deadLetters, m.inFlightBytes, m.dupSkipped = register(reg, m.deadLetters), register(reg, m.inFlightBytes), register(reg, m.dupSkipped)
	m.deletes, m.remembered = register(reg, m.deletes), register(reg, m.remembered)
	return m
}

// PostsMetric counts the post messages the ingest produced, by operation
// (create, delete).
const PostsMetric = "trendstream_ingest_posts_total"

// NewRegistry returns a registry with the Go and process collectors, for
// Config.Registry when the caller reads the ingest's metrics itself.
func NewRegistry() *prometheus.Registry {
	r := prometheus.NewRegistry()
	r.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	return r
}

func collectionLabel(c string) string {
	if strings.HasPrefix(c, "app.bsky.") && len(c) < 64 {
		return c
	}
	return "other"
}

// register registers c, or returns the collector already registered under
// its name, so several Run calls can share one registry (the all-in-one
// command, tests).
func register[T prometheus.Collector](reg prometheus.Registerer, c T) T {
	if err := reg.Register(c); err != nil {
		if are, ok := err.(prometheus.AlreadyRegisteredError); ok {
			if ex, ok := are.ExistingCollector.(T); ok {
				return ex
			}
		}
		panic(err)
	}
	return c
}
