// Package ingest turns a Bluesky event stream into protobuf Post messages in
// Kafka (or on stdout).
//
// Run is the whole ingest as a library call: it reads a source (the relay
// firehose, Jetstream, or a recording), decodes post creates and deletes,
// produces them keyed by author DID with the event time as record
// timestamp, and persists the highest position below which everything is
// acknowledged. Failures of the source or the broker end the current
// session; Run backs off with jitter and starts a new one from that
// committed position, so nothing acknowledged is read twice needlessly and
// nothing unacknowledged is skipped (delivery is at least once). Posts
// of re-read events that the posts topic already holds are not written
// again (delivered, in dedupe.go).
//
// Into every partition of the posts topic it also writes source-watermark
// markers (internal/core/watermark): "every event of the source up to event time
// T has been delivered", so the pipeline's reader can advance its watermark
// on a quiet partition without running ahead of posts still to come.
package ingest

import (
	"bytes"
	"context"
	"encoding/hex"
	"errors"
	"flag"
	"fmt"

	"log/slog"
	"math/rand/v2"
	"net"
	"net/http"

	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/IBM/sarama"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	"google.golang.org/protobuf/types/known/timestamppb"

	"github.com/trendstream/trendstream/ingest/cursor"
	"github.com/trendstream/trendstream/ingest/event"
	"github.com/trendstream/trendstream/ingest/frame"
	"github.com/trendstream/trendstream/ingest/sink"
	"github.com/trendstream/trendstream/ingest/sink/kafkasink"
	"github.com/trendstream/trendstream/ingest/source"
	"github.com/trendstream/trendstream/ingest/source/rawtopic"
	"github.com/trendstream/trendstream/internal/core/recentposts"
	"github.com/trendstream/trendstream/internal/platform/kafkaconf"
	v1 "github.com/trendstream/trendstream/proto/trendstream/v1"
)

// Defaults used by the command and by Run for zero Config fields.
const (
	DefaultTopic       = "trendstream.posts"
	DefaultRawTopic    = "trendstream.raw"
	DefaultMetricsAddr = "127.0.0.1:9101" // loopback: expose with -metrics-addr :9101
	DefaultMaxInFlight = 10000
	// DefaultWatermarkInterval is how often a source-watermark marker is
	// written when the watermark advanced.
	DefaultWatermarkInterval = time.Second
	// watermarkRepeat: a marker is written at least every this many
	// intervals even if the watermark did not move, so a reader that
	// starts on a quiet partition learns it.
	watermarkRepeat = 10
)

// Config configures Run. Zero fields take the defaults above.
type Config struct {
	// Source is what is read: a firehose, Jetstream, a recording or the
	// raw-frame topic (the packages below ingest/source). Required; the
	// command builds it.
	Source source.Source
	// Sink is where the posts go (ingest/sink/kafkasink,
	// ingest/sink/stdoutsink); the command builds it from -sink
	// (cmd/trendstream/sink.go). Nil means the Kafka sink on Brokers with
	// the settings below (KafkaSink).
	Sink sink.Sink
	// Brokers are the Kafka brokers of the default sink and of the cursor
	// store.
	Brokers []string
	Topic   string
	// RawTopic, if set, also receives every raw #commit frame keyed by seq.
	RawTopic string
	// CursorTopic is the compacted topic cursors are persisted in
	// (cursor.DefaultTopic); "-" disables persistence. Only a durable sink
	// (sink.Sink.Durable: Kafka) persists.
	CursorTopic string
	// Cursor overrides the stored start position: "" uses the stored
	// cursor, "live" starts at the live tip (or the start of a file), a
	// number starts there.
	Cursor string
	// MaxInFlight bounds unacknowledged messages; at the bound the source
	// is not read. It, MaxInFlightBytes, DeadLetterTopic and
	// ProducerConfig configure the Kafka sink (KafkaSink).
	MaxInFlight int
	// MaxInFlightBytes bounds their size in bytes the same way
	// (kafkasink.DefaultMaxInFlightBytes); a single larger message still goes,
	// alone.
	MaxInFlightBytes int64
	// CursorInterval is how often the committed cursor is persisted (1s).
	CursorInterval time.Duration
	// WatermarkInterval is how often a source-watermark marker goes to
	// every partition of Topic when the watermark advanced (and at least
	// every 10 intervals regardless); zero means
	// DefaultWatermarkInterval, negative disables markers. Only a sink
	// whose sessions are a sink.Marker (Kafka) writes them.
	WatermarkInterval time.Duration
	// BackoffMin and BackoffMax bound the reconnect delay (500ms, 30s).
	BackoffMin, BackoffMax time.Duration
	// MetricsAddr serves /metrics and /healthz ("" disables the server).
	MetricsAddr string
	// HealthWindow: /healthz is 200 only if connected and, within it, a
	// message was acknowledged, an event needing no delivery was read, or
	// the connection opened (2m).
	HealthWindow time.Duration
	// Registry receives the metrics (default: a fresh registry with the Go
	// and process collectors, served on MetricsAddr).
	Registry *prometheus.Registry
	Logger   *slog.Logger
	// ProducerConfig overrides the sarama producer configuration
	// (kafkaconf.Producer); tests use it to shorten retries.
	ProducerConfig func() *sarama.Config
	// OnListen, if set, is called with the metrics server's address.
	OnListen func(addr string)
	// DeadLetterTopic receives what cannot be delivered (a record too
	// large for the producer, a Post that does not marshal, a message the
	// broker refuses on its own), with headers saying why and where from;
	// the cursor moves past it. Empty means kafkasink.DefaultDeadLetterTopic,
	// "-" disables it: such a message then stops the ingest, which retries
	// it forever.
	DeadLetterTopic string
	// DeleteLookback is how long, in event time, the ingest remembers a
	// post so that its delete can carry it (Post.deleted), which lets the
	// pipelines retract deleted posts without remembering every post
	// themselves (internal/core/recentposts). Zero means the default
	// (15m), negative remembers nothing. It must cover the trending
	// pipeline's -window-size (10m at the defaults): a delete retracts its
	// post from the windows still open, the last of them a window size
	// after the post.
	DeleteLookback time.Duration
	// DeleteMemoryPosts caps the posts remembered (about 400 bytes each).
	DeleteMemoryPosts int
}

// DefaultConfig is the ingest's defaults, the one place they are written:
// the command's flags register from it (RegisterFlags) and Run fills a zero
// field of its Config from it.
func DefaultConfig() Config {
	return Config{
		Brokers:           []string{kafkaconf.DefaultBrokers},
		Topic:             DefaultTopic,
		CursorTopic:       cursor.DefaultTopic,
		DeadLetterTopic:   kafkasink.DefaultDeadLetterTopic,
		MaxInFlight:       DefaultMaxInFlight,
		MaxInFlightBytes:  kafkasink.DefaultMaxInFlightBytes,
		CursorInterval:    time.Second,
		WatermarkInterval: DefaultWatermarkInterval,
		BackoffMin:        500 * time.Millisecond,
		BackoffMax:        30 * time.Second,
		MetricsAddr:       DefaultMetricsAddr,
		HealthWindow:      2 * time.Minute,
		DeleteLookback:    recentposts.DefaultConfig().Lookback,
		DeleteMemoryPosts: recentposts.DefaultConfig().MaxPosts,
	}
}

// RegisterFlags registers the ingest's flags on fs with c's values as
// defaults (start from DefaultConfig). The source and the sink are not
// among them: the command builds them (cmd/trendstream/source.go and
// sink.go). Brokers are a
// comma-separated flag; -watermark-interval 0 disables the markers.
func (c *Config) RegisterFlags(fs *flag.FlagSet) {
	fs.Func("brokers", "Kafka bootstrap brokers, comma-separated (default "+strings.Join(c.Brokers, ",")+")", func(v string) error {
		b, err := kafkaconf.SplitBrokers(v)
		c.Brokers = b
		return err
	})
	fs.StringVar(&c.Topic, "posts-topic", c.Topic, "Kafka topic for Post messages (key = author DID)")
	fs.StringVar(&c.Topic, "topic", c.Topic, "alias of -posts-topic")
	fs.StringVar(&c.RawTopic, "raw-topic", c.RawTopic, "if set, also store every raw #commit frame here, keyed by seq, for reprocessing with -source rawtopic:TOPIC (e.g. "+DefaultRawTopic+")")
	fs.StringVar(&c.DeadLetterTopic, "dead-letter-topic", c.DeadLetterTopic, "topic for what cannot be delivered (too large, not marshalable, refused by the broker on its own), with headers saying why; the cursor moves past it. - disables it: such a message then stops the ingest")
	fs.StringVar(&c.CursorTopic, "cursor-topic", c.CursorTopic, "compacted Kafka topic holding the resume cursor per source; - disables persistence")
	fs.StringVar(&c.Cursor, "cursor", c.Cursor, "start position: empty = the stored cursor, live = the live tip (or start of a file), or a number (seq, time_us, or record number)")
	fs.IntVar(&c.MaxInFlight, "max-in-flight", c.MaxInFlight, "unacknowledged messages at which reading the source pauses (backpressure)")
	fs.Int64Var(&c.MaxInFlightBytes, "max-in-flight-bytes", c.MaxInFlightBytes, "unacknowledged record bytes at which reading the source pauses, too (a post can be 1 MB); one larger message still goes, alone")
	fs.DurationVar(&c.CursorInterval, "cursor-interval", c.CursorInterval, "how often the committed cursor is persisted")
	fs.Var((*offDuration)(&c.WatermarkInterval), "watermark-interval", "how often a source-watermark marker goes to every partition of the posts topic when the watermark advanced (and every 10 intervals regardless); 0 disables markers (a `duration`)")
	fs.DurationVar(&c.BackoffMin, "backoff-min", c.BackoffMin, "first reconnect delay (doubles, with jitter)")
	fs.DurationVar(&c.BackoffMax, "backoff-max", c.BackoffMax, "largest reconnect delay")
	fs.StringVar(&c.MetricsAddr, "metrics-addr", c.MetricsAddr, "serve /metrics and /healthz here; empty disables")
	fs.Var((*offDuration)(&c.DeleteLookback), "delete-lookback", "how long (event time) a post is remembered so that its delete carries it and the pipelines can retract it; must cover the trending pipeline's -window-size; 0 remembers nothing (deletes are then only counted) (a `duration`)")
	fs.IntVar(&c.DeleteMemoryPosts, "delete-memory-posts", c.DeleteMemoryPosts, "most posts remembered for -delete-lookback, oldest dropped first (about 400 bytes each)")
}

// offDuration is a duration flag whose 0 turns its feature off, which
// Config spells as negative (its zero means the default):
// -watermark-interval, -delete-lookback.
type offDuration time.Duration

func (m *offDuration) String() string {
	if *m < 0 {
		return "0s"
	}
	return time.Duration(*m).String()
}

func (m *offDuration) Set(v string) error {
	d, err := time.ParseDuration(v)
	if err != nil {
		return err
	}
	if d == 0 {
		d = -1
	}
	*m = offDuration(d)
	return nil
}

// Validate reports a Config that cannot run: no source, backoff bounds
// the wrong way round.
func (c *Config) Validate() error {
	if c.Source == nil {
		return errors.New("ingest: no source (Config.Source)")
	}
	if c.BackoffMin > 0 && c.BackoffMax > 0 && c.BackoffMin > c.BackoffMax {
		return fmt.Errorf("ingest: -backoff-min %s is above -backoff-max %s", c.BackoffMin, c.BackoffMax)
	}
	if c.DeleteLookback > 0 && c.DeleteMemoryPosts < 0 {
		return fmt.Errorf("ingest: -delete-memory-posts %d is negative", c.DeleteMemoryPosts)
	}
	return nil
}

// defaults fills zero fields from DefaultConfig. MetricsAddr is not
// filled: empty means no metrics server.
func (c *Config) defaults() {
	d := DefaultConfig()
	def := func(s *string, v string) {
		if *s == "" {
			*s = v
		}
	}
	def(&c.Topic, d.Topic)
	def(&c.CursorTopic, d.CursorTopic)
	def(&c.DeadLetterTopic, d.DeadLetterTopic)
	if len(c.Brokers) == 0 {
		c.Brokers = d.Brokers
	}
	if c.MaxInFlight <= 0 {
		c.MaxInFlight = d.MaxInFlight
	}
	if c.MaxInFlightBytes <= 0 {
		c.MaxInFlightBytes = d.MaxInFlightBytes
	}
	dur := func(p *time.Duration, v time.Duration) {
		if *p <= 0 {
			*p = v
		}
	}
	dur(&c.CursorInterval, d.CursorInterval)
	if c.WatermarkInterval == 0 {
		c.WatermarkInterval = d.WatermarkInterval
	}
	dur(&c.BackoffMin, d.BackoffMin)
	dur(&c.BackoffMax, d.BackoffMax)
	dur(&c.HealthWindow, d.HealthWindow)
	if c.DeleteLookback == 0 {
		c.DeleteLookback = d.DeleteLookback
	}
	if c.DeleteMemoryPosts <= 0 {
		c.DeleteMemoryPosts = d.DeleteMemoryPosts
	}
	if c.Sink == nil {
		c.Sink = c.KafkaSink()
	}
	if c.Logger == nil {
		c.Logger = slog.Default()
	}
	if c.Registry == nil {
		c.Registry = NewRegistry()
	}
}

// KafkaSink is the Kafka sink on c's Brokers, with c's MaxInFlight,
// MaxInFlightBytes, DeadLetterTopic and ProducerConfig: what -sink kafka
// builds, and what a nil Sink means.
func (c *Config) KafkaSink() *kafkasink.Sink {
	dl := c.DeadLetterTopic
	switch dl {
	case "":
		dl = kafkasink.DefaultDeadLetterTopic
	case "-":
		dl = "" // disabled
	}
	return kafkasink.New(kafkasink.Options{
		Brokers: c.Brokers, ClientID: kafkasink.ClientID,
		MaxInFlight: c.MaxInFlight, MaxInFlightBytes: c.MaxInFlightBytes,
		DeadLetterTopic: dl, ProducerConfig: c.ProducerConfig,
	})
}

// runner is one Run call's state.
type runner struct {
	cfg Config
	log *slog.Logger
	m   *metrics
	src source.Source
	// srcKey is src.Key(), the HeaderSource of every post.
	srcKey []byte
	store  *cursor.KafkaStore // nil: no persistence
	// recent remembers the posts read, so their deletes carry them
	// (Config.DeleteLookback). Only the read loop uses it.
	recent *recentposts.Cache

	connected atomic.Bool
	// lastProgress is unix nanos of the last progress, for /healthz: the
	// committed cursor passing the highest one an earlier session reached
	// (commitHigh), or a connection opening after a session that did not
	// end on a Kafka failure. Re-reading and re-sending what an earlier
	// session already got through is not progress: an ingest stuck on an
	// event it cannot deliver does exactly that after every reconnect.
	lastProgress atomic.Int64
	// floor is commitHigh as the session started (floorOK: there is one);
	// sinkFailed says the last session ended on a Kafka failure.
	floor      atomic.Int64
	floorOK    atomic.Bool
	sinkFailed atomic.Bool

	// suspects are messages that failed in a batch with a message-scoped
	// error; the next session sends them alone (sink.Message.Alone).
	suspectMu sync.Mutex
	suspects  map[msgRef]bool
	// persisted is the last position saved (for skipping no-op saves).
	mu           sync.Mutex
	persisted    int64
	hasPersisted bool
	// commitHigh is the highest committed position any session reached.
	commitHigh int64
	hasHigh    bool

	// wm is the marker schedule; it outlives sessions so that markers
	// stay non-decreasing across reconnects.
	wm wmSchedule
}

// Run ingests until ctx is done (or a file source ends), then flushes the
// sink and persists the final cursor. It returns an error only for bad
// configuration or a failing metrics listener; stream and broker failures
// are retried.
func Run(ctx context.Context, cfg Config) error {
	if err := cfg.Validate(); err != nil {
		return err
	}
	cfg.defaults()
	src := cfg.Source
	r := &runner{cfg: cfg, log: cfg.Logger.With("component", "ingest", "source", src.Key()), m: newMetrics(cfg.Registry), src: src}
	r.wm.interval = cfg.WatermarkInterval
	r.recent = recentposts.New(recentposts.Config{Lookback: max(cfg.DeleteLookback, 0), MaxPosts: cfg.DeleteMemoryPosts})
	r.srcKey = []byte(src.Key())
	if cfg.Sink.Durable() && cfg.CursorTopic != "-" {
		r.store = cursor.NewKafkaStore(cfg.Brokers, cfg.CursorTopic, src.Key())
		defer r.store.Close()
	}
	if cfg.MetricsAddr != "" {
		stop, err := r.serveMetrics()
		if err != nil {
			return err
		}
		defer stop()
	}
	from, has, err := r.startPosition(ctx)
	if err != nil {
		if ctx.Err() != nil {
			return nil
		}
		return err
	}
	r.log.Info("ingest starting", "sink", cfg.Sink.Name(), "topic", cfg.Topic, "from", from, "has_from", has)
	backoff := cfg.BackoffMin
	for {
		started := time.Now()
		var err error
		from, has, err = r.session(ctx, from, has)
		if ctx.Err() != nil {
			r.log.Info("ingest stopped", "cursor", from, "has_cursor", has)
			return nil
		}
		if err == nil {
			r.log.Info("source ended", "cursor", from)
			return nil
		}
		reason := "other"
		var d *source.Disconnect
		switch {
		case errors.Is(err, source.ErrFutureCursor):
			reason = "future_cursor"
			r.log.Error("relay says our cursor is in the future (relay reset or wrong relay); continuing from the live tip", "cursor", from, "err", err)
			has = false
			// The stored cursor is overwritten by the first commit of the
			// next session; until then, do not report the bogus one.
			r.m.cursor.Set(0)
			// The relay's positions start over: what counts as progress too.
			r.mu.Lock()
			r.hasHigh = false
			r.mu.Unlock()
		case errors.As(err, &d):
			reason = d.Reason
		case errors.Is(err, errSink):
			reason = "sink"
		}
		r.m.reconnects.WithLabelValues(reason).Inc()
		r.sinkFailed.Store(reason == "sink")
		if time.Since(started) > 30*time.Second {
			backoff = cfg.BackoffMin
		}
		wait := backoff/2 + rand.N(backoff/2+1)
		if d != nil && d.Code == 1013 { // try again later
			wait = cfg.BackoffMax
		}
		r.log.Warn("session ended, reconnecting", "reason", reason, "err", err, "cursor", from, "has_cursor", has, "in", wait.Round(time.Millisecond))
		select {
		case <-ctx.Done():
			return nil
		case <-time.After(wait):
		}
		backoff = min(backoff*2, cfg.BackoffMax)
	}
}

// startPosition resolves -cursor or loads the stored cursor, retrying
// while Kafka is unreachable.
func (r *runner) startPosition(ctx context.Context) (int64, bool, error) {
	switch r.cfg.Cursor {
	case "":
	case "live":
		return 0, false, nil
	default:
		v, err := strconv.ParseInt(r.cfg.Cursor, 10, 64)
		if err != nil {
			return 0, false, fmt.Errorf("ingest: -cursor %q: want a number, \"live\" or empty", r.cfg.Cursor)
		}
		return v, true, nil
	}
	if r.store == nil {
		return 0, false, nil
	}
	backoff := r.cfg.BackoffMin
	for {
		lctx, cancel := context.WithTimeout(ctx, 30*time.Second)
		pos, ok, err := r.store.Load(lctx)
		cancel()
		if err == nil {
			r.mu.Lock()
			r.persisted, r.hasPersisted = pos, ok
			r.mu.Unlock()
			if ok {
				r.m.cursor.Set(float64(pos))
			}
			return pos, ok, nil
		}
		r.log.Warn("cannot load cursor, retrying", "err", err, "in", backoff)
		select {
		case <-ctx.Done():
			return 0, false, ctx.Err()
		case <-time.After(backoff):
		}
		backoff = min(backoff*2, r.cfg.BackoffMax)
	}
}

var errSink = errors.New("sink failed")

// session runs one source connection with one producer. It returns the
// committed position after draining the producer.
func (r *runner) session(ctx context.Context, from int64, has bool) (int64, bool, error) {
	tr := cursor.NewTracker(from, has)
	r.mu.Lock()
	r.floor.Store(r.commitHigh)
	r.floorOK.Store(r.hasHigh)
	r.mu.Unlock()
	sk, err := r.cfg.Sink.Open(ctx, sink.OpenOptions{
		Source: r.src.Key(),
		Ack: func(tok cursor.Token) {
			tr.Ack(tok)
			r.progress(tr)
		},
		Hooks: r.hooks(tr),
	})
	if err != nil {
		return from, has, fmt.Errorf("%w: %w", errSink, err)
	}
	// What only some sinks do (Kafka): read back what an earlier session
	// delivered, and write watermark markers.
	scanner, _ := sk.(sink.BackScanner)
	marker, _ := sk.(markerSession)
	var seen map[postRef]bool
	if scanner != nil && has {
		if seen, err = r.readBack(ctx, scanner, from); err != nil {
			_ = sk.Close()
			return from, has, err
		}
	}
	sctx, cancel := context.WithCancelCause(ctx)
	defer cancel(nil)
	go func() {
		select {
		case <-sk.Failed():
			cancel(fmt.Errorf("%w: %w", errSink, sk.Err()))
		case <-sctx.Done():
		}
	}()
	var wg sync.WaitGroup
	if marker != nil && r.wm.interval > 0 {
		r.every(sctx, &wg, r.wm.interval, func() { r.markerRound(sctx, tr, marker) })
	}
	r.every(sctx, &wg, r.cfg.CursorInterval, func() { r.persist(sctx, tr) })

	err = r.read(sctx, from, has, tr, sk, seen)
	if err == nil && marker != nil && r.wm.interval > 0 && r.src.Bounded() {
		err = r.finalMarker(sctx, tr, marker)
	}
	if cause := context.Cause(sctx); cause != nil && errors.Is(cause, errSink) {
		err = cause
	} else if err != nil && sk.Err() != nil {
		// Send returned the sink's failure before the watcher above
		// cancelled the session: still a sink failure, not a source one.
		err = fmt.Errorf("%w: %w", errSink, sk.Err())
	}
	cancel(nil)
	wg.Wait()
	return r.endSession(ctx, tr, sk, err)
}

// markerSession is a session that writes watermark markers.
type markerSession interface {
	sink.Session
	sink.Marker
}

// hooks report a session's deliveries to the metrics, the health check
// and the log.
func (r *runner) hooks(tr *cursor.Tracker) sink.Hooks {
	var errLogged atomic.Bool
	return sink.Hooks{
		InFlight: func(n int, b int64) {
			r.m.inFlight.Set(float64(n))
			r.m.inFlightBytes.Set(float64(b))
		},
		Acked: func(m *sink.Message) {
			r.m.acked.WithLabelValues(m.Topic).Inc()
			r.progress(tr)
		},
		DeadLettered: func(m *sink.Message, reason string, cause error) {
			r.m.deadLetters.WithLabelValues(reason, m.Topic).Inc()
			r.log.Warn("undeliverable message sent to the dead-letter topic; moving on", "dead_letter_topic", r.cfg.DeadLetterTopic,
				"reason", reason, "topic", m.Topic, "key", m.Key, "pos", m.Pos, "err", cause)
			r.progress(tr)
		},
		Suspect: func(m *sink.Message) { r.suspect(msgRef{m.Pos, m.Index}) },
		Error: func(m *sink.Message, err error) {
			r.m.produceErrs.Inc()
			// The first failure ends the session; the rest of the
			// batch fails the same way and would only add noise.
			if errLogged.CompareAndSwap(false, true) {
				args := []any{"topic", m.Topic, "key", m.Key, "err", err}
				if errors.Is(err, sarama.ErrUnknownTopicOrPartition) {
					// Our brokers do not create topics on first use.
					args = append(args, "hint", "create the topics first: trendstream topics -brokers …")
				}
				r.log.Warn("produce failed; ending session, unacknowledged events will be re-read", args...)
			}
		},
	}
}

// readBack finds the posts after the cursor that the topic already holds
// (delivered). Failing that, the session only risks duplicates, as before
// the read-back existed; only a cancelled ctx is an error.
func (r *runner) readBack(ctx context.Context, k sink.BackScanner, from int64) (map[postRef]bool, error) {
	rctx, rcancel := context.WithTimeout(ctx, time.Minute)
	seen, err := r.delivered(rctx, k, from)
	rcancel()
	switch {
	case err != nil && ctx.Err() != nil:
		return nil, ctx.Err()
	case err != nil:
		r.log.Warn("cannot read back the posts topic; posts written after the cursor may be written again", "topic", r.cfg.Topic, "err", err)
		return nil, nil
	case len(seen) > 0:
		r.log.Info("posts after the cursor already in the topic will not be written again", "posts", len(seen), "cursor", from)
	}
	return seen, nil
}

// every runs fn every interval until ctx ends, in a goroutine wg tracks.
func (r *runner) every(ctx context.Context, wg *sync.WaitGroup, interval time.Duration, fn func()) {
	wg.Add(1)
	go func() {
		defer wg.Done()
		t := time.NewTicker(interval)
		defer t.Stop()
		for {
			select {
			case <-t.C:
				fn()
			case <-ctx.Done():
				return
			}
		}
	}()
}

// markerRound writes the watermark markers if they are due.
func (r *runner) markerRound(ctx context.Context, tr *cursor.Tracker, k sink.Marker) {
	r.wm.round.Lock()
	defer r.wm.round.Unlock()
	if at, ok := r.wm.due(time.Now(), tr); ok {
		_ = r.writeMarkers(ctx, k, at)
	}
}

// read runs the source until it ends or fails, handing every item to the
// sink.
func (r *runner) read(ctx context.Context, from int64, has bool, tr *cursor.Tracker, sk sink.Session, seen map[postRef]bool) error {
	if ws, ok := r.src.(interface{ SetOnConnect(func(string)) }); ok {
		ws.SetOnConnect(r.onConnect)
	}
	err := r.src.Run(ctx, from, has, func(ctx context.Context, it *source.Item) error { return r.handle(ctx, tr, sk, seen, it) })
	r.connected.Store(false)
	r.m.connected.Set(0)
	return err
}

// endSession waits for the outcome of everything in flight, then saves
// what is committed. A failed sink's unacked messages keep the cursor
// back, so the next session re-reads them.
func (r *runner) endSession(ctx context.Context, tr *cursor.Tracker, sk sink.Session, err error) (int64, bool, error) {
	if cerr := sk.Close(); cerr != nil && err == nil && ctx.Err() == nil {
		err = fmt.Errorf("%w: %w", errSink, cerr)
	}
	r.m.inFlight.Set(0)
	r.m.inFlightBytes.Set(0)
	pctx, pcancel := context.WithTimeout(context.WithoutCancel(ctx), 10*time.Second)
	r.persist(pctx, tr)
	pcancel()
	pos, ok := tr.Committed()
	if ok {
		r.mu.Lock()
		if !r.hasHigh || pos > r.commitHigh {
			r.commitHigh, r.hasHigh = pos, true
		}
		r.mu.Unlock()
	}
	return pos, ok, err
}

// wmSchedule decides when markers are written: when the tracker's
// watermark passed the last marker, and at least every watermarkRepeat
// intervals with the last marker's time, so a reader that starts while the
// source is quiet learns the watermark. Markers never go back: a source
// whose event times go back (Jetstream) does not move them until it passes
// the last one again.
type wmSchedule struct {
	interval time.Duration
	// round is held from the decision to the acknowledgement of a round,
	// so rounds never overlap and one decided earlier cannot land after
	// a newer one (the final marker).
	round sync.Mutex
	mu    sync.Mutex
	last  time.Time // T of the last marker round acknowledged
	wrote time.Time // wall time of that round
}

type watermarker interface{ Watermark() (time.Time, bool) }

// due returns the marker time to write now, if any.
func (s *wmSchedule) due(now time.Time, tr watermarker) (time.Time, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if t, ok := tr.Watermark(); ok && t.After(s.last) {
		return t, true
	}
	if !s.last.IsZero() && now.Sub(s.wrote) >= watermarkRepeat*s.interval {
		return s.last, true
	}
	return time.Time{}, false
}

// done records a marker round written at wall time now.
func (s *wmSchedule) done(now, t time.Time) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if !t.Before(s.last) {
		s.last, s.wrote = t, now
	}
}

// writeMarkers writes a marker with time t to every partition of the posts
// topic. A failure is counted and logged, never fatal: the posts have their
// own acknowledgements, and the next round covers the same ground.
func (r *runner) writeMarkers(ctx context.Context, k sink.Marker, t time.Time) error {
	if err := k.Markers(ctx, r.cfg.Topic, r.src.Kind(), t); err != nil {
		if ctx.Err() == nil {
			r.m.wmErrors.Inc()
			r.log.Warn("cannot write watermark markers (the next round retries)", "watermark", t, "err", err)
		}
		return err
	}
	r.wm.done(time.Now(), t)
	r.m.wmRounds.Inc()
	r.m.watermark.Set(float64(t.UnixNano()) / 1e9)
	return nil
}

// finalMarker ends a recording: once everything read is acknowledged, it
// writes a marker with the wall clock's time. A finished recording never
// produces anything older, and without it the pipeline would hold its last
// windows until posts newer than them arrived, which for a recording is
// never. Its failure fails the session, so Run tries again (the next
// session reads nothing and comes back here).
func (r *runner) finalMarker(ctx context.Context, tr *cursor.Tracker, k markerSession) error {
	for tr.Pending() > 0 {
		select {
		case <-k.Failed():
			return fmt.Errorf("%w: %w", errSink, k.Err())
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(5 * time.Millisecond):
		}
	}
	r.wm.round.Lock()
	defer r.wm.round.Unlock()
	t := time.Now()
	r.wm.mu.Lock()
	if r.wm.last.After(t) {
		t = r.wm.last // a recording with times ahead of our clock
	}
	r.wm.mu.Unlock()
	if err := r.writeMarkers(ctx, k, t); err != nil {
		return fmt.Errorf("%w: final watermark marker: %w", errSink, err)
	}
	r.log.Info("recording delivered; final watermark marker written", "watermark", t)
	return nil
}

// progress marks health progress if the committed cursor passed every
// position an earlier session committed.
func (r *runner) progress(tr *cursor.Tracker) {
	pos, ok := tr.Committed()
	if ok && (!r.floorOK.Load() || pos > r.floor.Load()) {
		r.lastProgress.Store(time.Now().UnixNano())
	}
}

// msgRef names one message of one event: its position and its index
// among the event's messages (posts in op order, then the raw frame).
type msgRef struct {
	pos   int64
	index int
}

// maxSuspects bounds the suspects kept; beyond it a message is simply
// retried in a batch, as before.
const maxSuspects = 100000

func (r *runner) suspect(m msgRef) {
	r.suspectMu.Lock()
	defer r.suspectMu.Unlock()
	if r.suspects == nil {
		r.suspects = map[msgRef]bool{}
	}
	if len(r.suspects) < maxSuspects {
		r.suspects[m] = true
	}
}

// takeSuspect reports whether m is a suspect and forgets it: if it fails
// in a batch again, the error hook makes it one again.
func (r *runner) takeSuspect(m msgRef) bool {
	r.suspectMu.Lock()
	defer r.suspectMu.Unlock()
	if !r.suspects[m] {
		return false
	}
	delete(r.suspects, m)
	return true
}

func (r *runner) onConnect(u string) {
	r.connected.Store(true)
	r.m.connected.Set(1)
	if !r.sinkFailed.Load() {
		r.lastProgress.Store(time.Now().UnixNano())
	}
	r.log.Info("connected", "url", u)
}

// persist saves the tracker's committed position if it moved.
func (r *runner) persist(ctx context.Context, tr *cursor.Tracker) {
	pos, ok := tr.Committed()
	if !ok {
		return
	}
	r.m.cursor.Set(float64(pos))
	if r.store == nil {
		return
	}
	r.mu.Lock()
	same := r.hasPersisted && r.persisted == pos
	r.mu.Unlock()
	if same {
		return
	}
	if err := r.store.Save(ctx, pos); err != nil {
		r.m.cursorSaveEr.Inc()
		r.log.Warn("cannot persist cursor (will retry)", "cursor", pos, "err", err)
		return
	}
	r.mu.Lock()
	r.persisted, r.hasPersisted = pos, true
	r.mu.Unlock()
}

// handle turns one source item into messages. It blocks in Send while the
// sink is at its in-flight bound, which stops the source's read loop.
func (r *runner) handle(ctx context.Context, tr *cursor.Tracker, sk sink.Session, seen map[postRef]bool, it *source.Item) error {
	now := time.Now()
	// received stands in for an event time the source did not give
	// (below): now, or the original receive time of a reprocessed frame.
	received := now
	if !it.Received.IsZero() {
		received = it.Received
	}
	if !r.connected.Load() {
		// File sources have no connection; reading counts as connected.
		r.onConnect(r.src.Key())
	}
	if it.Err != nil {
		reason := "malformed"
		switch {
		case errors.Is(it.Err, frame.ErrOversized):
			reason = "oversized"
		case errors.Is(it.Err, source.ErrWrongMessageType):
			reason = "wrong_message_type"
		}
		r.m.malformed.WithLabelValues(reason).Inc()
		head := it.Raw
		if len(head) > 32 {
			head = head[:32]
		}
		r.log.Warn("skipping unusable frame", "reason", reason, "pos", it.Pos, "bytes", len(it.Raw), "head", hex.EncodeToString(head), "err", it.Err)
		if it.Pos > 0 {
			tr.Begin(it.Pos, 0)
		}
		return nil
	}
	ev := it.Event
	r.m.events.WithLabelValues(string(ev.Kind)).Inc()
	for _, op := range ev.Ops {
		r.m.ops.WithLabelValues(collectionLabel(op.Collection), op.Action).Inc()
	}
	for _, p := range ev.Problems {
		r.m.problems.WithLabelValues(p.Reason).Inc()
		lvl := slog.LevelWarn
		if p.Reason == event.ReasonClampedCreated {
			lvl = slog.LevelDebug // common: clients with wrong clocks
		}
		r.log.Log(ctx, lvl, "event defect", "reason", p.Reason, "detail", p.Detail, "pos", it.Pos, "kind", ev.Kind)
	}
	if ev.Info != nil {
		r.m.infos.WithLabelValues(ev.Info.Name).Inc()
		r.log.Warn("server info", "name", ev.Info.Name, "message", ev.Info.Message)
	}
	// The event's time as the source gave it, for the watermark.
	wmTime := ev.Time
	if bad := ev.Time.Before(minEventTime) || ev.Time.After(received.Add(time.Hour)); bad || ev.Time.IsZero() {
		if bad && !ev.Time.IsZero() {
			// The decoder reports a missing or unparsable time itself.
			r.m.problems.WithLabelValues(event.ReasonBadTime).Inc()
			r.log.Warn("event defect", "reason", event.ReasonBadTime, "detail", "event time out of range, replaced by the receive time", "time", ev.Time, "pos", it.Pos, "kind", ev.Kind)
		}
		// No usable relay time: our receive time is the best event time.
		// Before 1970 is not just absurd: sarama cannot encode such a
		// record timestamp and fails the whole produce request, so the
		// event came back after every reconnect and stopped the ingest.
		// The Post has no field for the original relay time (created_at_raw
		// is the client's createdAt); it is only logged.
		// It is not the source's time, so it does not move the watermark:
		// a recording's one bad frame would otherwise put the watermark at
		// today and every later post of the recording behind it.
		wmTime = time.Time{}
		ev.Time = received
		for _, p := range ev.Posts {
			p.ObservedAt = timestamppb.New(received)
			if p.Operation == v1Create {
				ca, _ := event.ClampCreatedAt(p.CreatedAtRaw, received)
				p.CreatedAt = timestamppb.New(ca)
			}
		}
	}
	if ev.Kind != event.KindInfo {
		r.m.lag.Set(now.Sub(ev.Time).Seconds())
	}
	if it.Pos <= 0 {
		return nil
	}
	r.m.readPos.Set(float64(it.Pos))
	r.attachDeleted(ev.Posts)
	raw := r.cfg.RawTopic != "" && it.Raw != nil && ev.Kind == event.KindCommit && r.cfg.Sink.Durable()
	// Posts a crashed predecessor already wrote are not written again
	// (delivered says why that is safe).
	send := make([]bool, len(ev.Posts))
	n := 0
	for i, p := range ev.Posts {
		if seen[refOf(it.Pos, p)] {
			r.m.dupSkipped.Inc()
			continue
		}
		send[i] = true
		n++
	}
	if raw {
		n++
	}
	tok := tr.BeginAt(it.Pos, wmTime, n)
	if n == 0 {
		// Nothing to deliver (a like, a follow): reading it is progress, so
		// a connected stream without posts still counts as healthy.
		r.progress(tr)
	}
	var headers []sarama.RecordHeader
	if n > 0 {
		headers = []sarama.RecordHeader{{Key: []byte(HeaderSource), Value: r.srcKey}, {Key: []byte(HeaderPos), Value: strconv.AppendInt(nil, it.Pos, 10)}}
	}
	for i, p := range ev.Posts {
		if !send[i] {
			continue
		}
		m := &sink.Message{Topic: r.cfg.Topic, Key: p.AuthorDid, Post: p, Headers: headers, Time: p.ObservedAt.AsTime(), Token: tok, Pos: it.Pos, Index: i}
		m.Alone = r.takeSuspect(msgRef{it.Pos, i})
		if err := sk.Send(ctx, m); err != nil {
			return err
		}
		r.m.posts.WithLabelValues(opLabel(p.Operation)).Inc()
	}
	if raw {
		i := len(ev.Posts)
		// The receive time goes along, so that reprocessing (rawtopic)
		// gives an event without a usable time of its own the same one.
		rh := []sarama.RecordHeader{{Key: []byte(rawtopic.HeaderReceived), Value: strconv.AppendInt(nil, received.UnixNano(), 10)}}
		m := &sink.Message{Topic: r.cfg.RawTopic, Key: strconv.FormatInt(ev.Cursor, 10), Raw: bytes.Clone(it.Raw), Headers: rh, Time: ev.Time, Token: tok, Pos: it.Pos, Index: i}
		m.Alone = r.takeSuspect(msgRef{it.Pos, i})
		if err := sk.Send(ctx, m); err != nil {
			return err
		}
	}
	return nil
}

// attachDeleted remembers the posts an event creates and gives each of its
// deletes the post it deletes, if remembered (recentposts.Cache.Observe).
func (r *runner) attachDeleted(posts []*v1.Post) {
	for _, p := range posts {
		switch r.recent.Observe(p) {
		case recentposts.Attached:
			r.m.deletes.WithLabelValues("attached").Inc()
		case recentposts.Unknown:
			r.m.deletes.WithLabelValues("unknown").Inc()
		}
	}
	r.m.remembered.Set(float64(r.recent.Len()))
}

// serveMetrics serves /metrics and /healthz until the returned stop.
func (r *runner) serveMetrics() (func(), error) {
	ln, err := net.Listen("tcp", r.cfg.MetricsAddr)
	if err != nil {
		return nil, fmt.Errorf("ingest: metrics listener: %w", err)
	}
	mux := http.NewServeMux()
	mux.Handle("/metrics", promhttp.HandlerFor(r.cfg.Registry, promhttp.HandlerOpts{Registry: r.cfg.Registry}))
	mux.HandleFunc("/healthz", func(w http.ResponseWriter, _ *http.Request) {
		ok, why := r.healthy()
		if !ok {
			http.Error(w, why, http.StatusServiceUnavailable)
			return
		}
		fmt.Fprintln(w, "ok")
	})
	srv := &http.Server{Handler: mux, ReadHeaderTimeout: 5 * time.Second}
	go func() { _ = srv.Serve(ln) }()
	if r.cfg.OnListen != nil {
		r.cfg.OnListen(ln.Addr().String())
	}
	r.log.Info("metrics listening", "addr", ln.Addr().String())
	return func() {
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		defer cancel()
		_ = srv.Shutdown(ctx)
	}, nil
}

func (r *runner) healthy() (bool, string) {
	if !r.connected.Load() {
		return false, "not connected to the source"
	}
	last := time.Unix(0, r.lastProgress.Load())
	if time.Since(last) > r.cfg.HealthWindow {
		return false, fmt.Sprintf("nothing acknowledged since %s", last.UTC().Format(time.RFC3339))
	}
	return true, ""
}

const v1Create = v1.Operation_OPERATION_CREATE

// minEventTime is the earliest event time accepted from a source.
var minEventTime = time.Unix(0, 0)

func opLabel(o v1.Operation) string {
	if o == v1.Operation_OPERATION_DELETE {
		return "delete"
	}
	return "create"
}
