// Package market is the Beam pipeline for stock-ticker trends (issue #13):
// it reads MarketEvent records from the market topic with
// transforms/kafkaio, aggregates each symbol's trades per sliding window,
// scores every window against the symbol's own baseline with
// internal/core/marketcalc, and writes one MarketWindowSnapshot per window to a
// results topic (and the read model). Its rankings equal marketcalc.Compute
// on the same trades (pipelines/market tests check that on Prism).
//
// It has two shapes. The streaming one (BuildStreaming, stream.go) keeps
// each symbol's recent periods in keyed state and emits every window once
// the watermark passes its end, and again when late trades correct it; it
// runs on an unbounded read. The bounded one (BuildBounded) ranks the topic
// as it is at start with two global GroupByKeys. Build picks by
// ReadConfig.Bounded.
//
// Bounded shape:
//
//	Read → Decode (symbol, one-trade Stats; suspicious prints dropped)
//	     → SlidingWindows → CombinePerKey(Stats.Merge)
//	     → tag each aggregate with its window → GlobalWindows
//	     → GroupByKey(symbol) → marketcalc.ScoreSymbol
//	     → GroupByKey(window) → rank, top k → encode → Write
//
// The baseline needs a symbol's earlier windows, which the two global
// GroupByKeys bring together: that fires once the input is complete, so
// this shape runs bounded (a replay of the topic up to the end offsets seen
// at start).
package market

import (
	"context"
	"flag"
	"fmt"
	"reflect"
	"sort"
	"strconv"
	"time"

	"github.com/apache/beam/sdks/v2/go/pkg/beam"
	"github.com/apache/beam/sdks/v2/go/pkg/beam/core/graph/window"
	"github.com/apache/beam/sdks/v2/go/pkg/beam/log"
	"github.com/apache/beam/sdks/v2/go/pkg/beam/register"
	"google.golang.org/protobuf/proto"

	"github.com/trendstream/trendstream/internal/core/marketcalc"
	v1 "github.com/trendstream/trendstream/proto/trendstream/v1"
	"github.com/trendstream/trendstream/transforms/kafkaio"
	"github.com/trendstream/trendstream/transforms/pgsink"
)

func init() {
	beam.RegisterType(reflect.TypeOf((*marketcalc.Stats)(nil)).Elem())
	beam.RegisterType(reflect.TypeOf((*WindowStats)(nil)).Elem())
	register.DoFn3x0[context.Context, kafkaio.Record, func(string, marketcalc.Stats)](&decodeFn{})
	register.Emitter2[string, marketcalc.Stats]()
	register.Function2x1(mergeStats)
	register.DoFn4x0[beam.Window, string, marketcalc.Stats, func(string, WindowStats)](&tagWindowFn{})
	register.Emitter2[string, WindowStats]()
	register.DoFn3x0[string, func(*WindowStats) bool, func(int64, *v1.SymbolActivity)](&scoreSymbolFn{})
	register.Emitter2[int64, *v1.SymbolActivity]()
	register.Iter1[*WindowStats]()
	register.DoFn4x1[int64, func(**v1.SymbolActivity) bool, func(kafkaio.Message), func(*v1.MarketWindowSnapshot, *v1.MarketWindowSnapshot), error](&rankFn{})
	register.Emitter2[*v1.MarketWindowSnapshot, *v1.MarketWindowSnapshot]()
	register.Iter1[*v1.SymbolActivity]()
	register.Emitter1[kafkaio.Message]()
}

// Options configure the pipeline. DefaultOptions holds the defaults.
type Options struct {
	// ReadConfig is the read of the market topic (Topic), the options and
	// flags the other pipelines share (kafkaio.ReadConfig). Bounded picks
	// the bounded shape (BuildBounded), which reads the topic as it is at
	// start whatever Start says; KafkaRetryFor also bounds the results
	// writes.
	kafkaio.ReadConfig
	ResultsTopic string
	// AllowedLateness is how long after a window was released trades that
	// arrive late still correct it (streaming only: re-emitted to the
	// results topic and the read model with a higher revision).
	AllowedLateness time.Duration
	// EmitFrom drops the windows that start before it (streaming only): a
	// read that begins inside the topic (-start latest, a time, or a
	// group's commits) has not seen their earlier trades. Zero:
	// BuildStreaming asks Kafka where the read begins
	// (kafkaio.StreamStart) unless it starts at the earliest offsets.
	EmitFrom time.Time
	// DatabaseURL is the PostgreSQL read model the windows are written to
	// (internal/readside/store, migration 007); empty writes only the results topic.
	DatabaseURL string
	// SinkRetryFor is how long a PostgreSQL write keeps retrying while the
	// database is unreachable.
	SinkRetryFor time.Duration
	Score        marketcalc.Params
}

// DefaultOptions returns the defaults.
func DefaultOptions() Options {
	read := kafkaio.DefaultReadConfig()
	read.Topic = "trendstream.market"
	// From the beginning: the baselines need the symbols' history, and
	// the in-process runner keeps no state across runs, so a restart
	// scores the topic again (the read model keeps the higher revision).
	read.Start = kafkaio.Start{Kind: kafkaio.StartEarliest}
	read.Group = "trendstream-market"
	// market-ingest writes no source-watermark markers
	// (ingest/market/kafkasink.go): a caught-up partition follows the wall
	// clock.
	read.IdleWatermark = kafkaio.IdleWallClock
	return Options{
		ReadConfig:      read,
		ResultsTopic:    "trendstream.market.trends",
		AllowedLateness: 10 * time.Minute,
		SinkRetryFor:    pgsink.DefaultRetryFor,
		Score:           marketcalc.DefaultParams(),
	}
}

// RegisterFlags binds o's fields to flags on fs, with o's current values
// as defaults.
func (o *Options) RegisterFlags(fs *flag.FlagSet) {
	o.ReadConfig.RegisterFlags(fs, kafkaio.ReadFlags{Topic: "market-topic", TopicUsage: "Kafka topic with protobuf trendstream.v1.MarketEvent records",
		StartUsage: "where to start reading: earliest (default: the baselines need the symbols' history), committed, latest or an RFC 3339 time; windows that begin before a later start are not emitted"})
	fs.StringVar(&o.ResultsTopic, "market-trends-topic", o.ResultsTopic, "Kafka topic for MarketWindowSnapshot results (key = window end, Unix ms)")
	fs.DurationVar(&o.AllowedLateness, "allowed-lateness", o.AllowedLateness, "how long after a window was emitted late trades still correct it (re-emitted with a higher revision); 0 drops late trades; unbounded runs only")
	fs.StringVar(&o.DatabaseURL, "database-url", o.DatabaseURL, "PostgreSQL URL of the read model the market windows are written to; empty disables")
	fs.DurationVar(&o.SinkRetryFor, "sink-retry-for", o.SinkRetryFor, "how long a PostgreSQL write retries while the database is unreachable before the pipeline fails")
	fs.DurationVar(&o.Score.WindowSize, "window-size", o.Score.WindowSize, "sliding window length (a multiple of -window-period)")
	fs.DurationVar(&o.Score.WindowPeriod, "window-period", o.Score.WindowPeriod, "sliding window period")
	fs.IntVar(&o.Score.BaselineWindows, "baseline-windows", o.Score.BaselineWindows, "past windows of a symbol its baseline uses")
	fs.IntVar(&o.Score.MinBaseline, "min-baseline", o.Score.MinBaseline, "past windows a symbol needs before it is scored")
	fs.Float64Var(&o.Score.MinScore, "min-score", o.Score.MinScore, "z-score from which activity is unusual")
	fs.Float64Var(&o.Score.StdFloorFraction, "std-floor", o.Score.StdFloorFraction, "the baseline deviation is at least this fraction of its mean")
	fs.IntVar(&o.Score.TopK, "top-k", o.Score.TopK, "symbols per window ranking")
	fs.BoolVar(&o.Score.KeepSuspicious, "keep-suspicious", o.Score.KeepSuspicious, "count trades the feed flagged as suspicious")
}

// Validate reports options the pipeline cannot run with.
func (o Options) Validate() error {
	if err := o.ReadConfig.Validate(); err != nil {
		return fmt.Errorf("market: %w", err)
	}
	switch {
	case o.ResultsTopic == "":
		return fmt.Errorf("market: -market-trends-topic must be set")
	case o.SinkRetryFor <= 0:
		return fmt.Errorf("market: -sink-retry-for must be positive, got %v", o.SinkRetryFor)
	case o.AllowedLateness < 0:
		return fmt.Errorf("market: -allowed-lateness must not be negative, got %v", o.AllowedLateness)
	}
	return o.Score.Validate()
}

// Build constructs the pipeline: the bounded shape if o.Bounded, else the
// streaming one.
func Build(o Options) (*beam.Pipeline, error) {
	if o.Bounded {
		return BuildBounded(o)
	}
	return BuildStreaming(o)
}

// BuildBounded constructs the bounded pipeline, which ranks the topic as it
// is at start, from its beginning.
func BuildBounded(o Options) (*beam.Pipeline, error) {
	if err := o.Validate(); err != nil {
		return nil, err
	}
	brokers := o.BrokerList()
	p, s := beam.NewPipelineWithRoot()
	// Always bounded and from the beginning: the rankings need the whole
	// input (see the package comment), whatever Options say.
	read := o.ReadConfig
	read.Bounded = true
	read.Start = kafkaio.Start{Kind: kafkaio.StartEarliest}
	// As before streaming existed: a replay commits nothing.
	read.Group = ""
	records := kafkaio.Read(s, brokers, o.Topic, read.Options()...)
	trades := beam.ParDo(s.Scope("Decode"), &decodeFn{KeepSuspicious: o.Score.KeepSuspicious}, records)
	windowed := beam.WindowInto(s, window.NewSlidingWindows(o.Score.WindowPeriod, o.Score.WindowSize), trades)
	perWindow := beam.CombinePerKey(s.Scope("StatsPerSymbolWindow"), mergeStats, windowed)
	tagged := beam.ParDo(s.Scope("TagWindow"), &tagWindowFn{PeriodNanos: int64(o.Score.WindowPeriod)}, perWindow)
	global := beam.WindowInto(s, window.NewGlobalWindows(), tagged)
	bySymbol := beam.GroupByKey(s.Scope("BySymbol"), global)
	scores := beam.ParDo(s.Scope("ScoreSymbol"), &scoreSymbolFn{Params: o.Score}, bySymbol)
	byWindow := beam.GroupByKey(s.Scope("ByWindow"), scores)
	msgs, rows := beam.ParDo2(s.Scope("Rank"), &rankFn{Params: o.Score}, byWindow)
	kafkaio.Write(s, brokers, o.ResultsTopic, msgs, kafkaio.WriteRetryFor(o.KafkaRetryFor))
	if o.DatabaseURL != "" {
		pgsink.WriteMarket(s, o.DatabaseURL, rows, o.SinkRetryFor)
	}
	return p, nil
}

var malformed = beam.NewCounter("market", "malformed_events")

// decodeFn turns a record into (symbol, one-trade Stats). A record that is
// not a valid MarketEvent is counted and logged, not fatal: the ingest
// dead-letters bad input, so this is another producer's bug.
type decodeFn struct {
	KeepSuspicious bool
}

func (fn *decodeFn) ProcessElement(ctx context.Context, r kafkaio.Record, emit func(string, marketcalc.Stats)) {
	var ev v1.MarketEvent
	if err := proto.Unmarshal(r.Value, &ev); err != nil || ev.GetSymbol() == "" || ev.GetEventTime() == nil {
		malformed.Inc(ctx, 1)
		log.Warnf(ctx, "market: skipping malformed record %s/%d@%d: %v", r.Topic, r.Partition, r.Offset, err)
		return
	}
	if ev.GetSuspicious() && !fn.KeepSuspicious {
		return
	}
	var st marketcalc.Stats
	st.Add(marketcalc.FromEvent(&ev))
	emit(ev.GetSymbol(), st)
}

func mergeStats(a, b marketcalc.Stats) marketcalc.Stats { return a.Merge(b) }

// WindowStats is a symbol's aggregate in the window starting at bucket
// Window (start = Window × period since the epoch).
type WindowStats struct {
	Window int64
	Stats  marketcalc.Stats
}

type tagWindowFn struct {
	PeriodNanos int64
}

func (fn *tagWindowFn) ProcessElement(w beam.Window, sym string, st marketcalc.Stats, emit func(string, WindowStats)) {
	iw := w.(window.IntervalWindow)
	startNanos := int64(iw.Start) * int64(time.Millisecond)
	emit(sym, WindowStats{Window: startNanos / fn.PeriodNanos, Stats: st})
}

// scoreSymbolFn scores all windows of one symbol. It emits one element per
// window the symbol traded in (its activity without a reason or score when
// not unusual), so a window with trades but no unusual symbol still gets its
// (empty) ranking, as in the reference, and the read model gets every
// window's activity of the symbol.
type scoreSymbolFn struct {
	Params marketcalc.Params
}

func (fn *scoreSymbolFn) ProcessElement(sym string, iter func(*WindowStats) bool, emit func(int64, *v1.SymbolActivity)) {
	wins := map[int64]marketcalc.Stats{}
	var ws WindowStats
	for iter(&ws) {
		wins[ws.Window] = wins[ws.Window].Merge(ws.Stats)
	}
	unusual := map[int64]bool{}
	for _, sc := range marketcalc.ScoreSymbol(fn.Params, sym, wins) {
		unusual[sc.Window] = true
		emit(sc.Window, marketcalc.Snapshot(marketcalc.Ranking{Symbols: []marketcalc.Score{sc.Score}}).GetSymbols()[0])
	}
	for w, st := range wins {
		if !unusual[w] {
			// Activity only: no Reason marks it as not ranked.
			emit(w, marketcalc.Snapshot(marketcalc.Ranking{Symbols: []marketcalc.Score{{Symbol: sym, Stats: st}}}).GetSymbols()[0])
		}
	}
}

// rankFn ranks one window and encodes its snapshot for the results topic,
// keyed by the window end (Unix ms) so a compacted topic keeps one per
// window. For the read model it also emits the snapshot with every symbol's
// activity in the window (ranked or not, by symbol).
type rankFn struct {
	Params marketcalc.Params
}

func (fn *rankFn) ProcessElement(w int64, iter func(**v1.SymbolActivity) bool, emit func(kafkaio.Message), emitRow func(*v1.MarketWindowSnapshot, *v1.MarketWindowSnapshot)) error {
	var acts, all []*v1.SymbolActivity
	var a *v1.SymbolActivity
	for iter(&a) {
		all = append(all, a)
		if a.GetReason() != "" {
			acts = append(acts, a)
		}
	}
	snap := marketcalc.RankActivities(fn.Params, w, acts)
	b, err := proto.Marshal(snap)
	if err != nil {
		return fmt.Errorf("market: encode snapshot: %w", err)
	}
	emit(kafkaio.Message{Key: []byte(SnapshotKey(snap)), Value: b, Timestamp: snap.GetWindowEnd().AsTime()})
	sort.Slice(all, func(i, j int) bool { return all[i].GetSymbol() < all[j].GetSymbol() })
	emitRow(snap, &v1.MarketWindowSnapshot{WindowStart: snap.GetWindowStart(), WindowEnd: snap.GetWindowEnd(), Symbols: all})
	return nil
}

// SnapshotKey is the results-topic key: the window end in Unix ms.
func SnapshotKey(s *v1.MarketWindowSnapshot) string {
	return strconv.FormatInt(s.GetWindowEnd().AsTime().UnixMilli(), 10)
}
