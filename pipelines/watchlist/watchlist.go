// Package watchlist is the watchlist pipeline (issue #13, part 3, and
// docs/watchlists.md): it reads the posts topic as the trending pipeline
// does, counts every post that matches a watchlist entry in the same
// sliding event-time windows, scores each entry against its own baseline,
// and sends an alert when an entry's score crosses its rule: to the
// alerts topic, PostgreSQL and an optional webhook, once per crossing
// across re-runs and restarts. Its statuses and alerts equal the
// single-process reference, internal/core/watchlist.Compute (tests check that
// on Prism, replayed and live).
//
// Shape:
//
//	Read → DecodeMatch (KV<entry id, author> per matching post)
//	     → FixedWindows(period) → CombinePerKey: the period's posts per
//	       author (KV<entry id, PeriodMatches>) → stamp the period's end
//	     → GlobalWindows → Score: per entry, keyed state (a Bag of the
//	       periods the windows to come need, a Value with the baseline
//	       and the release clock, internal/core/windowclock) and an
//	       event-time timer that counts and scores each window holding a
//	       match, in window order, once the watermark has passed its end
//	       → statuses and alerts
//	statuses → PostgreSQL (watchlist_windows)
//	alerts   → Dispatch: PostgreSQL upsert on the alert id, then the
//	           alerts topic and the webhook, each done once (store.Once)
//
// The sliding windows are made in state, not by Beam's SlidingWindows: a
// GroupByKey over sliding windows holds its output watermark at its oldest
// buffered element until the last window holding that element closes, so
// in a live stream every window, and so every alert, reached the scorer a
// window size late (10.3–10.5 s with 10 s windows in TestAlertsLive; about
// 1–2 s now, the out-of-order bound and a poll).
//
// Only Bag and Value state and event-time timers are used: what Flink's
// portable runner supports.
package watchlist

import (
	"context"
	"flag"
	"fmt"
	"reflect"
	"slices"
	"time"

	"github.com/apache/beam/sdks/v2/go/pkg/beam"
	"github.com/apache/beam/sdks/v2/go/pkg/beam/core/graph/mtime"
	"github.com/apache/beam/sdks/v2/go/pkg/beam/core/graph/window"
	"github.com/apache/beam/sdks/v2/go/pkg/beam/core/state"
	"github.com/apache/beam/sdks/v2/go/pkg/beam/core/timers"
	"github.com/apache/beam/sdks/v2/go/pkg/beam/log"
	"github.com/apache/beam/sdks/v2/go/pkg/beam/register"
	"google.golang.org/protobuf/proto"

	"github.com/trendstream/trendstream/internal/core/countmerge"
	"github.com/trendstream/trendstream/internal/core/terms"
	"github.com/trendstream/trendstream/internal/core/trendscore"
	"github.com/trendstream/trendstream/internal/core/watchlist"
	"github.com/trendstream/trendstream/internal/core/windowclock"
	"github.com/trendstream/trendstream/internal/platform/webhook"
	"github.com/trendstream/trendstream/internal/readside/store"
	"github.com/trendstream/trendstream/pipelines/trending"
	tsv1 "github.com/trendstream/trendstream/proto/trendstream/v1"
	"github.com/trendstream/trendstream/transforms/kafkaio"
	"github.com/trendstream/trendstream/transforms/pgsink"
)

func init() {
	for _, t := range []reflect.Type{
		reflect.TypeOf((*watchlist.Window)(nil)).Elem(),
		reflect.TypeOf((*watchlist.Status)(nil)).Elem(),
		reflect.TypeOf((*watchlist.Alert)(nil)).Elem(),
		reflect.TypeOf((*Progress)(nil)).Elem(),
		reflect.TypeOf((*PeriodMatches)(nil)).Elem(),
	} {
		beam.RegisterType(t)
	}
	register.DoFn3x1[context.Context, kafkaio.Record, func(string, string), error](&decodeMatchFn{})
	register.Emitter2[string, string]()
	register.Function2x2(toPeriodMatches)
	register.Combiner1[PeriodMatches](&mergeMatchesFn{})
	register.DoFn4x0[beam.Window, string, PeriodMatches, func(string, PeriodMatches)](&stampPeriodFn{})
	register.Emitter2[string, PeriodMatches]()
	register.DoFn7x1[context.Context, state.Provider, timers.Provider, string, PeriodMatches, func(watchlist.Status), func(watchlist.Alert), error](&scoreFn{})
	register.Emitter1[watchlist.Status]()
	register.Emitter1[watchlist.Alert]()
	register.DoFn2x1[context.Context, watchlist.Status, error](&statusSinkFn{})
	register.DoFn2x1[context.Context, watchlist.Alert, error](&alertSinkFn{})
}

// Options configure the pipeline. Start from DefaultOptions.
type Options struct {
	// ReadConfig is the read of the posts topic (Topic), the same options
	// as the trending pipeline's (kafkaio.ReadConfig); KafkaRetryFor also
	// bounds the alert writes.
	kafkaio.ReadConfig
	AlertsTopic string
	DatabaseURL string
	// WatchlistFile is a watchlist file (docs/watchlists.md) whose entries
	// are watched together with those stored in the database (the file's
	// win on the same id). Entries resolves both.
	WatchlistFile string
	// Entries are the entries watched; Resolve fills them from the file
	// and the database.
	Entries      []watchlist.Entry
	WindowSize   time.Duration
	WindowPeriod time.Duration
	// SinkRetryFor means what it means for the trending pipeline
	// (pipelines/trending.Options).
	SinkRetryFor time.Duration
	Terms        terms.Options
	Score        trendscore.Params
	Webhook      webhook.Config
	// StreamStart is the event time the read begins at (the warm-up counts
	// from it); zero: Build asks Kafka, as the trending pipeline does.
	StreamStart time.Time
}

// DefaultOptions returns the defaults: the trending pipeline's for
// everything the two share (brokers, posts topic, windows, reading,
// extraction, scoring), so the watchlist counts in the same windows.
func DefaultOptions() Options {
	t := trending.DefaultOptions()
	read := t.ReadConfig
	read.Start = kafkaio.Start{Kind: kafkaio.StartEarliest}
	read.Group = "trendstream-watchlist"
	return Options{
		ReadConfig:   read,
		AlertsTopic:  "trendstream.watchlist.alerts",
		WindowSize:   t.WindowSize,
		WindowPeriod: t.WindowPeriod,
		SinkRetryFor: t.SinkRetryFor,
		Terms:        t.Terms,
		Score:        t.Score,
		Webhook:      webhook.DefaultConfig(),
	}
}

// RegisterFlags binds o's fields to flags on fs, with o's current values
// as defaults.
func (o *Options) RegisterFlags(fs *flag.FlagSet) {
	o.ReadConfig.RegisterFlags(fs, kafkaio.ReadFlags{
		Topic: "posts-topic", TopicUsage: "Kafka topic with protobuf trendstream.v1.Post records",
		StartUsage: "where to start reading: earliest (a restart re-reads and re-derives every alert, which the database deduplicates), committed, latest or an RFC 3339 time",
	})
	fs.StringVar(&o.AlertsTopic, "alerts-topic", o.AlertsTopic, "Kafka topic for WatchlistAlert messages (key = alert id); empty disables")
	fs.StringVar(&o.DatabaseURL, "database-url", o.DatabaseURL, "PostgreSQL URL: watchlist entries, per-window counts, alerts and their delivery record (needed for once-only delivery across restarts); empty disables")
	fs.StringVar(&o.WatchlistFile, "watchlist-file", o.WatchlistFile, "YAML or JSON watchlist file (docs/watchlists.md); its entries are stored in -database-url if set and watched with those already stored")
	fs.DurationVar(&o.WindowSize, "window-size", o.WindowSize, "sliding window length (a multiple of -window-period)")
	fs.DurationVar(&o.WindowPeriod, "window-period", o.WindowPeriod, "sliding window period")
	fs.DurationVar(&o.SinkRetryFor, "sink-retry-for", o.SinkRetryFor, "how long a PostgreSQL write retries while the database is unreachable")
	fs.StringVar(&o.Webhook.URL, "webhook-url", o.Webhook.URL, "POST each alert as JSON here (Idempotency-Key: the alert id); empty disables")
	fs.IntVar(&o.Webhook.Attempts, "webhook-attempts", o.Webhook.Attempts, "requests per webhook delivery at most (retried on network errors, 408, 429, 5xx)")
	fs.DurationVar(&o.Webhook.FirstBackoff, "webhook-backoff", o.Webhook.FirstBackoff, "wait after the first failed webhook request; doubles up to -webhook-max-backoff")
	fs.DurationVar(&o.Webhook.MaxBackoff, "webhook-max-backoff", o.Webhook.MaxBackoff, "longest wait between webhook requests")
	fs.DurationVar(&o.Webhook.Timeout, "webhook-timeout", o.Webhook.Timeout, "timeout of one webhook request")
	o.Terms.RegisterFlags(fs)
	o.Score.RegisterFlags(fs)
}

// Validate reports options the pipeline cannot run with.
func (o Options) Validate() error {
	if err := o.ReadConfig.Validate(); err != nil {
		return fmt.Errorf("watchlist: %w", err)
	}
	switch {
	case o.AlertsTopic == "" && o.DatabaseURL == "":
		return fmt.Errorf("watchlist: neither -alerts-topic nor -database-url is set: alerts would go nowhere")
	case o.SinkRetryFor <= 0:
		return fmt.Errorf("watchlist: -sink-retry-for must be positive, got %v", o.SinkRetryFor)
	case len(o.Entries) == 0:
		return fmt.Errorf("watchlist: no entries to watch (-watchlist-file, or entries stored through the API)")
	}
	if o.Webhook.URL != "" {
		if err := o.Webhook.Validate(); err != nil {
			return err
		}
	}
	if err := watchlist.ValidateAll(o.Entries); err != nil {
		return err
	}
	return o.Reference().Validate()
}

// Reference returns the configuration of the single-process reference
// (watchlist.Compute) that computes what the pipeline o configures does.
func (o Options) Reference() watchlist.Config {
	return watchlist.Config{Size: o.WindowSize, Period: o.WindowPeriod, Terms: o.Terms, Score: o.Score, StreamStart: o.StreamStart}
}

// Resolve loads o.WatchlistFile, stores its entries in the database (when
// there is one) and sets o.Entries to the file's entries merged over the
// stored ones.
func (o *Options) Resolve(ctx context.Context) error {
	var file []watchlist.Entry
	if o.WatchlistFile != "" {
		var err error
		if file, err = watchlist.Load(o.WatchlistFile); err != nil {
			return err
		}
	}
	var stored []watchlist.Entry
	if o.DatabaseURL != "" {
		st, err := store.Open(ctx, o.DatabaseURL)
		if err != nil {
			return err
		}
		defer st.Close()
		if err := st.PutEntries(ctx, file); err != nil {
			return err
		}
		if stored, err = st.WatchEntries(ctx); err != nil {
			return err
		}
	}
	o.Entries = watchlist.Merge(stored, append(o.Entries, file...))
	return nil
}

// Build constructs the pipeline over o.Entries.
func Build(o Options) (*beam.Pipeline, error) {
	if err := o.Validate(); err != nil {
		return nil, err
	}
	brokers := o.BrokerList()
	if o.StreamStart.IsZero() {
		rs, err := kafkaio.StreamStart(brokers, o.Topic, o.Start, o.Group, o.KafkaRetryFor)
		if err != nil {
			return nil, err
		}
		o.StreamStart = rs.Stream
	}
	entries, err := watchlist.EncodeEntries(o.Entries)
	if err != nil {
		return nil, err
	}
	p, s := beam.NewPipelineWithRoot()
	records := kafkaio.Read(s, brokers, o.Topic, o.ReadConfig.Options()...)
	hits := beam.ParDo(s.Scope("DecodeMatch"), &decodeMatchFn{Entries: entries, Terms: o.Terms}, records)
	keyed := beam.ParDo(s, toPeriodMatches, hits)
	fixed := beam.WindowInto(s, window.NewFixedWindows(o.WindowPeriod), keyed)
	perPeriod := beam.ParDo(s.Scope("StampPeriod"), &stampPeriodFn{}, beam.CombinePerKey(s.Scope("ByEntryPeriod"), &mergeMatchesFn{}, fixed))
	global := beam.WindowInto(s, window.NewGlobalWindows(), perPeriod)
	statuses, alerts := beam.ParDo2(s.Scope("Score"), newScoreFn(o.Reference(), entries, o.MaxOutOfOrder), global)
	if o.DatabaseURL != "" {
		beam.ParDo0(s.Scope("WriteStatuses"), &statusSinkFn{DatabaseURL: o.DatabaseURL, RetryFor: o.SinkRetryFor}, statuses)
	}
	beam.ParDo0(s.Scope("DispatchAlerts"), &alertSinkFn{Config: o.dispatchConfig(entries)}, alerts)
	return p, nil
}

func (o Options) dispatchConfig(entries string) DispatchConfig {
	return DispatchConfig{
		DatabaseURL: o.DatabaseURL, Brokers: o.Brokers, AlertsTopic: o.AlertsTopic,
		KafkaRetryFor: o.KafkaRetryFor, SinkRetryFor: o.SinkRetryFor, Webhook: o.Webhook, Entries: entries,
	}
}

var (
	malformedPosts = beam.NewCounter("watchlist", "malformed_posts")
	matches        = beam.NewCounter("watchlist", "matches")
	latePanes      = beam.NewCounter("watchlist", "late_windows_dropped")
	alertsFired    = beam.NewCounter("watchlist", "alerts")
)

// decodeMatchFn parses posts and emits (entry id, author) for every entry
// a post matches.
type decodeMatchFn struct {
	Entries string // EncodeEntries
	Terms   terms.Options

	m *watchlist.Matcher
}

func (fn *decodeMatchFn) Setup() error {
	es, err := watchlist.DecodeEntries(fn.Entries)
	if err != nil {
		return err
	}
	fn.m = watchlist.NewMatcher(es, fn.Terms)
	return nil
}

func (fn *decodeMatchFn) ProcessElement(ctx context.Context, r kafkaio.Record, emit func(string, string)) error {
	var p tsv1.Post
	if err := proto.Unmarshal(r.Value, &p); err != nil {
		// One bad producer must not stop the alerts (as in trending).
		malformedPosts.Inc(ctx, 1)
		log.Warnf(ctx, "watchlist: skipping malformed record %s/%d@%d: %v", r.Topic, r.Partition, r.Offset, err)
		return nil
	}
	for _, i := range fn.m.Match(&p) {
		matches.Inc(ctx, 1)
		emit(fn.m.Entries()[i].ID, p.GetAuthorDid())
	}
	return nil
}

// PeriodMatches is one entry's matching posts in the period that ends at
// End (Unix ms): each author (sorted) with their posts. A window's counts
// (watchlist.Tally) are sums and maxima over its periods' authors, so the
// periods are all the scorer keeps.
type PeriodMatches struct {
	End     int64
	Authors []string
	Posts   []int64
}

// add returns the matches of p and q together, in a new value: its inputs
// are pipeline elements, which must not change.
func (p PeriodMatches) add(q PeriodMatches) PeriodMatches {
	out := PeriodMatches{End: max(p.End, q.End)}
	out.Authors, out.Posts = countmerge.Add(p.Authors, p.Posts, q.Authors, q.Posts)
	return out
}

func toPeriodMatches(id, author string) (string, PeriodMatches) {
	return id, PeriodMatches{Authors: []string{author}, Posts: []int64{1}}
}

// mergeMatchesFn sums one entry's matches per author in one period.
type mergeMatchesFn struct{}

func (mergeMatchesFn) MergeAccumulators(a, b PeriodMatches) PeriodMatches { return a.add(b) }

// stampPeriodFn records each period's end before the matches leave their
// fixed windows for keyed state.
type stampPeriodFn struct{}

func (stampPeriodFn) ProcessElement(w beam.Window, id string, pm PeriodMatches, emit func(string, PeriodMatches)) {
	pm.End = int64(w.(window.IntervalWindow).End)
	emit(id, pm)
}

// windowOf counts the matches of the window [end-size, end) from the
// periods in it, as watchlist.Tally counts the window's posts.
func windowOf(ps []PeriodMatches, end, size int64) watchlist.Window {
	w := watchlist.Window{Start: end - size, End: end}
	per := map[string]int64{}
	for _, p := range ps {
		if p.End <= end-size || p.End > end {
			continue
		}
		for i, a := range p.Authors {
			w.Count += p.Posts[i]
			per[a] += p.Posts[i]
			w.TopAuthorPosts = max(w.TopAuthorPosts, per[a])
		}
	}
	w.Authors = int64(len(per))
	return w
}

// Progress is an entry's scoring state besides its periods: its baseline,
// the release clock, and the entries in the Periods bag (dropped ones
// included), so that the bag is rewritten only once it holds as many
// dropped periods as needed ones.
type Progress struct {
	State  trendscore.State
	Clock  windowclock.Clock
	BagLen int
}

// scoreFn keeps each entry's period matches in a bag and releases its
// windows with an event-time timer (windowclock.Clock) once the watermark
// has passed their ends: exactly the windows that hold a match, as the
// reference scores them, each counted from its periods and run through
// watchlist.Step in window order. Windowing in state rather than in Beam's
// sliding windows is what keeps alerts live: a GroupByKey over sliding
// windows holds its output watermark at its oldest buffered element until
// the last window holding it closes, so every window reached the scorer a
// window size late (docs/watchlists.md, "Live latency").
type scoreFn struct {
	Config  watchlist.Config
	Entries string
	// LiveLagMs is how far behind the wall clock a period may end for the
	// stream to count as live (windowclock.Live): it moves the timer, never
	// what a window holds.
	LiveLagMs int64

	Periods  state.Bag[PeriodMatches]
	Progress state.Value[Progress]
	Release  timers.EventTime

	entries map[string]watchlist.Entry
}

func newScoreFn(c watchlist.Config, entries string, outOfOrder time.Duration) *scoreFn {
	return &scoreFn{
		Config: c, Entries: entries,
		LiveLagMs: (c.Size + c.Period + outOfOrder).Milliseconds(),
		Periods:   state.MakeBagState[PeriodMatches]("periods"),
		Progress:  state.MakeValueState[Progress]("progress"),
		Release:   timers.InEventTime("release"),
	}
}

func (fn *scoreFn) Setup() error {
	es, err := watchlist.DecodeEntries(fn.Entries)
	if err != nil {
		return err
	}
	fn.entries = make(map[string]watchlist.Entry, len(es))
	for _, e := range es {
		fn.entries[e.ID] = e
	}
	return nil
}

func (fn *scoreFn) live(end int64) bool {
	return windowclock.Live(end, time.Now().UnixMilli(), fn.LiveLagMs)
}

func (fn *scoreFn) setRelease(tp timers.Provider, c windowclock.Clock) {
	fn.Release.Set(tp, mtime.FromMilliseconds(c.Fire).ToTime(), timers.WithOutputTimestamp(mtime.FromMilliseconds(c.Hold).ToTime()))
}

func (fn *scoreFn) ProcessElement(ctx context.Context, sp state.Provider, tp timers.Provider, id string, pm PeriodMatches, _ func(watchlist.Status), _ func(watchlist.Alert)) error {
	pr, _, err := fn.Progress.Read(sp)
	if err != nil {
		return err
	}
	size, period := fn.Config.Size.Milliseconds(), fn.Config.Period.Milliseconds()
	if pr.Clock.Started && pm.End <= pr.Clock.Through {
		// Late for the windows already scored: the alert rule does not go
		// back (docs/watchlists.md, "Late posts"). Each such window counts
		// as one dropped, as a late pane of it did when Beam windowed.
		last := pm.End + size - period
		latePanes.Inc(ctx, (min(last, pr.Clock.Through)-pm.End)/period+1)
		if last <= pr.Clock.Through {
			return nil // no window to come holds it
		}
	}
	if pr.Clock.Arrive(pm.End, size, period, fn.live(pm.End)) {
		fn.setRelease(tp, pr.Clock)
	}
	if err := fn.Periods.Add(sp, pm); err != nil {
		return err
	}
	pr.BagLen++
	return fn.Progress.Write(sp, pr)
}

// OnTimer scores the windows that are due in order, drops the periods no
// window to come needs and sets the timer for the next window.
func (fn *scoreFn) OnTimer(ctx context.Context, _ beam.EventTime, sp state.Provider, tp timers.Provider, id string, _ timers.Context, emitStatus func(watchlist.Status), emitAlert func(watchlist.Alert)) error {
	pr, _, err := fn.Progress.Read(sp)
	if err != nil {
		return err
	}
	all, _, err := fn.Periods.Read(sp)
	if err != nil {
		return err
	}
	size, period := fn.Config.Size.Milliseconds(), fn.Config.Period.Milliseconds()
	// needed says a period is in a window not yet released; the bag still
	// holds periods dropped since it was last rewritten.
	needed := func(p PeriodMatches) bool { return !pr.Clock.Started || p.End > pr.Clock.Through+period-size }
	ps := slices.DeleteFunc(all, func(p PeriodMatches) bool { return !needed(p) })
	var earliest int64
	for i, p := range ps {
		if i == 0 || p.End < earliest {
			earliest = p.End
		}
	}
	has := func(end int64) bool {
		return slices.ContainsFunc(ps, func(p PeriodMatches) bool { return p.End > end-size && p.End <= end })
	}
	params := fn.Config.ParamsFor(fn.entries[id])
	for _, end := range pr.Clock.Due(period, earliest, has) {
		s, a := watchlist.Step(params, &pr.State, id, windowOf(ps, end, size), fn.Config.Period)
		emitStatus(s)
		if a != nil {
			alertsFired.Inc(ctx, 1)
			emitAlert(*a)
		}
	}
	ps = slices.DeleteFunc(ps, func(p PeriodMatches) bool { return !needed(p) })
	if pr.BagLen >= 2*len(ps) && pr.BagLen > int(size/period) {
		// A bag cannot drop single entries; rewriting it every period
		// would write each period size/period times.
		if err := fn.Periods.Clear(sp); err != nil {
			return err
		}
		for _, p := range ps {
			if err := fn.Periods.Add(sp, p); err != nil {
				return err
			}
		}
		pr.BagLen = len(ps)
	}
	if pr.Clock.Next(size, period, fn.live(pr.Clock.Through), has) {
		fn.setRelease(tp, pr.Clock)
	}
	return fn.Progress.Write(sp, pr)
}

// statusSinkFn writes statuses to watchlist_windows, a bundle at a time.
type statusSinkFn struct {
	DatabaseURL string
	RetryFor    time.Duration

	st  *store.Store
	buf []watchlist.Status
}

func (fn *statusSinkFn) Setup(ctx context.Context) (err error) {
	fn.st, err = pgsink.Connect(ctx, fn.DatabaseURL, fn.RetryFor)
	return err
}

func (fn *statusSinkFn) ProcessElement(_ context.Context, s watchlist.Status) error {
	fn.buf = append(fn.buf, s)
	return nil
}

func (fn *statusSinkFn) FinishBundle(ctx context.Context) error {
	if len(fn.buf) == 0 {
		return nil
	}
	if err := pgsink.Retry(ctx, fn.RetryFor, "write statuses", func() error { return fn.st.WriteWatchStatuses(ctx, fn.buf) }); err != nil {
		return fmt.Errorf("watchlist: write statuses: %w", err)
	}
	fn.buf = fn.buf[:0]
	return nil
}

func (fn *statusSinkFn) Teardown() {
	if fn.st != nil {
		fn.st.Close()
	}
}

// alertSinkFn dispatches each alert (Dispatcher).
type alertSinkFn struct {
	Config DispatchConfig

	d *Dispatcher
}

func (fn *alertSinkFn) Setup(ctx context.Context) error {
	d, err := NewDispatcher(ctx, fn.Config)
	fn.d = d
	return err
}

func (fn *alertSinkFn) ProcessElement(ctx context.Context, a watchlist.Alert) error {
	return fn.d.Dispatch(ctx, a)
}

func (fn *alertSinkFn) Teardown() {
	if fn.d != nil {
		fn.d.Close()
	}
}
