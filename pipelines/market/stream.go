package market

import (
	"context"
	"fmt"
	"reflect"
	"sort"
	"time"

	"github.com/apache/beam/sdks/v2/go/pkg/beam"
	"github.com/apache/beam/sdks/v2/go/pkg/beam/core/graph/mtime"
	"github.com/apache/beam/sdks/v2/go/pkg/beam/core/graph/window"
	"github.com/apache/beam/sdks/v2/go/pkg/beam/core/state"
	"github.com/apache/beam/sdks/v2/go/pkg/beam/core/timers"
	"github.com/apache/beam/sdks/v2/go/pkg/beam/register"
	"google.golang.org/protobuf/proto"

	"github.com/trendstream/trendstream/internal/core/marketcalc"
	"github.com/trendstream/trendstream/internal/core/windowclock"
	v1 "github.com/trendstream/trendstream/proto/trendstream/v1"
	"github.com/trendstream/trendstream/transforms/kafkaio"
	"github.com/trendstream/trendstream/transforms/pgsink"
)

func init() {
	// Types only held in keyed state never appear in the graph a worker
	// process sees; without registration a remote worker decodes them as
	// anonymous structs (transforms/trend/score.go).
	for _, t := range []reflect.Type{
		reflect.TypeOf((*PeriodStats)(nil)).Elem(),
		reflect.TypeOf((*PastWindow)(nil)).Elem(),
		reflect.TypeOf((*SymbolProgress)(nil)).Elem(),
		reflect.TypeOf((*windowclock.Clock)(nil)).Elem(),
		reflect.TypeOf((*ActivityUpdate)(nil)).Elem(),
		reflect.TypeOf((*RankWindow)(nil)).Elem(),
	} {
		beam.RegisterType(t)
	}
	register.DoFn4x0[beam.Window, string, marketcalc.Stats, func(string, PeriodStats)](&stampPeriodFn{})
	register.Emitter2[string, PeriodStats]()
	register.DoFn6x1[context.Context, state.Provider, timers.Provider, string, PeriodStats, func(beam.EventTime, int64, ActivityUpdate), error](&scoreStreamFn{})
	register.Emitter3[beam.EventTime, int64, ActivityUpdate]()
	register.DoFn7x1[context.Context, state.Provider, timers.Provider, int64, ActivityUpdate, func(kafkaio.Message), func(*v1.MarketWindowSnapshot, *v1.MarketWindowSnapshot), error](&rankStreamFn{})
}

var (
	// lateBuckets counts period aggregates that came after a window
	// holding them was released; lateDropped those beyond the allowed
	// lateness; windowsCorrected the symbol windows emitted again.
	lateBuckets      = beam.NewCounter("market", "late_buckets")
	lateDropped      = beam.NewCounter("market", "late_buckets_dropped")
	windowsCorrected = beam.NewCounter("market", "symbol_windows_corrected")
	windowsEmitted   = beam.NewCounter("market", "windows_emitted")
	windowsReEmitted = beam.NewCounter("market", "windows_corrected")
)

// BuildStreaming constructs the streaming pipeline over o's read as given:
// unbounded unless o.Bounded (a replay through the streaming shape, which
// the tests and the benchmark use to compare it with the bounded one).
//
//	Read → Decode (symbol, one-trade Stats)
//	     → FixedWindows(period), allowed lateness → CombinePerKey(Stats.Merge)
//	     → stamp the period's end → GlobalWindows
//	     → per symbol, in state: release each window once the watermark has
//	       passed its end, score it against the symbol's earlier windows
//	       (marketcalc's rule), emit its activity keyed by window end
//	     → per window, in state: rank once the watermark has passed its end,
//	       again at once for each correction → Write (and the read model)
//
// Only Bag and Value state and event-time timers with output timestamps
// are used: what Flink's portable runner supports (transforms/trend/score.go).
func BuildStreaming(o Options) (*beam.Pipeline, error) {
	if err := o.Validate(); err != nil {
		return nil, err
	}
	if o.Score.WindowPeriod%time.Millisecond != 0 {
		return nil, fmt.Errorf("market: -window-period %v is not a whole number of milliseconds (Beam's event time)", o.Score.WindowPeriod)
	}
	brokers := o.BrokerList()
	if o.EmitFrom.IsZero() && o.Start.Kind != kafkaio.StartEarliest {
		// A read that begins inside the topic has not seen the trades of
		// the windows before its start: those windows are dropped rather
		// than written over complete ones of an earlier run.
		rs, err := kafkaio.StreamStart(brokers, o.Topic, o.Start, o.Group, o.KafkaRetryFor)
		if err != nil {
			return nil, fmt.Errorf("market: %w", err)
		}
		o.EmitFrom = rs.Complete
	}
	p, s := beam.NewPipelineWithRoot()
	records := kafkaio.Read(s, brokers, o.Topic, o.ReadConfig.Options()...)
	trades := beam.ParDo(s.Scope("Decode"), &decodeFn{KeepSuspicious: o.Score.KeepSuspicious}, records)
	fixed := beam.WindowInto(s, window.NewFixedWindows(o.Score.WindowPeriod), trades, beam.AllowedLateness(o.AllowedLateness))
	perPeriod := beam.CombinePerKey(s.Scope("StatsPerSymbolPeriod"), mergeStats, fixed)
	stamped := beam.ParDo(s.Scope("StampPeriod"), &stampPeriodFn{}, perPeriod)
	global := beam.WindowInto(s, window.NewGlobalWindows(), stamped)
	acts := beam.ParDo(s.Scope("ScoreSymbol"), newScoreStreamFn(o.Score, o.AllowedLateness, o.MaxOutOfOrder), global)
	msgs, rows := beam.ParDo2(s.Scope("Rank"), newRankStreamFn(o.Score, o.AllowedLateness, o.EmitFrom), acts)
	kafkaio.Write(s, brokers, o.ResultsTopic, msgs, kafkaio.WriteRetryFor(o.KafkaRetryFor))
	if o.DatabaseURL != "" {
		pgsink.WriteMarket(s, o.DatabaseURL, rows, o.SinkRetryFor)
	}
	return p, nil
}

// stampPeriodFn records each aggregate's period before it leaves its fixed
// window for keyed state.
type stampPeriodFn struct{}

func (stampPeriodFn) ProcessElement(w beam.Window, sym string, st marketcalc.Stats, emit func(string, PeriodStats)) {
	emit(sym, PeriodStats{End: int64(w.(window.IntervalWindow).End), Stats: st})
}

// SymbolProgress is a symbol's scoring state besides its buckets.
type SymbolProgress struct {
	Clock windowclock.Clock
	// FirstEnd is the end of the symbol's first bucket (HasFirst: any).
	FirstEnd int64
	HasFirst bool
	// Settled is the end of the last window beyond the allowed lateness
	// (SettledStarted: any): windows up to it never change again, and
	// History holds the scored ones a later baseline can use. Windows
	// after it are scored again from the buckets.
	Settled        int64
	SettledStarted bool
	History        []PastWindow
	// BagLen counts the entries in the Periods bag, evicted ones included,
	// so it is rewritten before it grows past twice what windows need.
	BagLen int
	// Rev orders the symbol's emissions of a window (ActivityUpdate.Rev):
	// it grows with each correction.
	Rev int64
}

// ActivityUpdate is one symbol's activity in one window (the key), encoded
// SymbolActivity, with the revision that orders the symbol's emissions of
// the window.
type ActivityUpdate struct {
	Symbol   string
	Rev      int64
	Activity []byte
}

// scoreStreamFn keeps each symbol's period buckets in a bag and releases
// its windows with an event-time timer (windowclock.Clock) once the watermark has
// passed their ends, scoring each against the symbol's earlier windows as
// marketcalc.ScoreSymbol does. A bucket that arrives after some of its
// windows were released (within the allowed lateness) re-scores every
// released window from the settled point on and emits those from the
// bucket's period on again: later windows' baselines hold the corrected
// ones.
type scoreStreamFn struct {
	Params                       marketcalc.Params
	SizeMs, PeriodMs, LatenessMs int64
	// LiveLagMs is how far behind the wall clock a bucket or released
	// window may end for the stream to count as live (windowclock.Live).
	LiveLagMs int64

	Periods  state.Bag[PeriodStats]
	Progress state.Value[SymbolProgress]
	Release  timers.EventTime
}

func newScoreStreamFn(p marketcalc.Params, lateness, outOfOrder time.Duration) *scoreStreamFn {
	return &scoreStreamFn{
		Params: p, SizeMs: p.WindowSize.Milliseconds(), PeriodMs: p.WindowPeriod.Milliseconds(), LatenessMs: lateness.Milliseconds(),
		LiveLagMs: (p.WindowSize + p.WindowPeriod + outOfOrder).Milliseconds(),
		Periods:   state.MakeBagState[PeriodStats]("periods"),
		Progress:  state.MakeValueState[SymbolProgress]("progress"),
		Release:   timers.InEventTime("release"),
	}
}

func (fn *scoreStreamFn) ProcessElement(ctx context.Context, sp state.Provider, tp timers.Provider, sym string, ps PeriodStats, emit func(beam.EventTime, int64, ActivityUpdate)) error {
	pr, _, err := fn.Progress.Read(sp)
	if err != nil {
		return err
	}
	late := pr.Clock.Started && ps.End <= pr.Clock.Through
	if late {
		lateBuckets.Inc(ctx, 1)
		lastWindow := ps.End + fn.SizeMs - fn.PeriodMs
		if (fn.LatenessMs == 0 && lastWindow <= pr.Clock.Through) || (pr.SettledStarted && lastWindow <= pr.Settled) {
			lateDropped.Inc(ctx, 1)
			return nil
		}
	}
	if !pr.HasFirst || ps.End < pr.FirstEnd {
		pr.FirstEnd, pr.HasFirst = ps.End, true
	}
	if pr.Clock.Arrive(ps.End, fn.SizeMs, fn.PeriodMs, windowclock.Live(ps.End, time.Now().UnixMilli(), fn.LiveLagMs)) {
		fn.setRelease(tp, pr.Clock)
	}
	if err := fn.Periods.Add(sp, ps); err != nil {
		return err
	}
	pr.BagLen++
	if late && fn.LatenessMs > 0 {
		w, err := fn.load(sp, sym)
		if err != nil {
			return err
		}
		pr.Rev++
		w.replay(pr.History, pr.FirstEnd, fn.after(pr, w), pr.Clock.Through, func(end int64, act *v1.SymbolActivity) {
			if end >= ps.End {
				windowsCorrected.Inc(ctx, 1)
				fn.emit(end, sym, pr.Rev, act, emit)
			}
		})
	}
	return fn.Progress.Write(sp, pr)
}

// after is the end of the last window the scoring no longer revisits: the
// settled point, or before the first bucket.
func (fn *scoreStreamFn) after(pr SymbolProgress, w *symbolWindows) int64 {
	if pr.SettledStarted {
		return pr.Settled
	}
	return w.earliest() - fn.PeriodMs
}

func (fn *scoreStreamFn) emit(end int64, sym string, rev int64, act *v1.SymbolActivity, emit func(beam.EventTime, int64, ActivityUpdate)) {
	b, _ := proto.Marshal(act) // a message built here always marshals
	emit(mtime.FromMilliseconds(end-1), end, ActivityUpdate{Symbol: sym, Rev: rev, Activity: b})
}

func (fn *scoreStreamFn) setRelease(tp timers.Provider, c windowclock.Clock) {
	fn.Release.Set(tp, mtime.FromMilliseconds(c.Fire).ToTime(), timers.WithOutputTimestamp(mtime.FromMilliseconds(c.Hold).ToTime()))
}

func (fn *scoreStreamFn) load(sp state.Provider, sym string) (*symbolWindows, error) {
	ps, _, err := fn.Periods.Read(sp)
	if err != nil {
		return nil, err
	}
	w := newSymbolWindows(fn.Params, sym)
	for _, p := range ps {
		w.add(p)
	}
	return w, nil
}

// OnTimer scores and emits the windows that are due, moves the settled
// point, drops the buckets no window to come needs and sets the timer for
// the next window.
func (fn *scoreStreamFn) OnTimer(ctx context.Context, _ beam.EventTime, sp state.Provider, tp timers.Provider, sym string, _ timers.Context, emit func(beam.EventTime, int64, ActivityUpdate)) error {
	pr, _, err := fn.Progress.Read(sp)
	if err != nil {
		return err
	}
	w, err := fn.load(sp, sym)
	if err != nil {
		return err
	}
	after := fn.after(pr, w)
	ends := pr.Clock.Due(fn.PeriodMs, w.earliest(), w.has)
	if len(ends) > 0 {
		w.replay(pr.History, pr.FirstEnd, after, ends[len(ends)-1], func(end int64, act *v1.SymbolActivity) {
			if end >= ends[0] {
				fn.emit(end, sym, pr.Rev, act, emit)
			}
		})
		// Windows that left the allowed lateness are folded into the
		// history once (in batches of half the lateness, so the
		// re-scoring of the windows after it stays short).
		settleTo := pr.Clock.Through
		if fn.LatenessMs > 0 {
			horizon := (fn.LatenessMs/fn.PeriodMs + 1) * fn.PeriodMs
			settleTo -= horizon
			if pr.SettledStarted && settleTo-pr.Settled < max(horizon/2, fn.PeriodMs) {
				settleTo = pr.Settled
			}
		}
		if settleTo > after {
			pr.History = w.replay(pr.History, pr.FirstEnd, after, settleTo, nil)
			pr.Settled, pr.SettledStarted = settleTo, true
			if err := fn.compact(sp, w, &pr); err != nil {
				return err
			}
		}
	}
	// Live when the released windows end within a window size (and the
	// out-of-order bound) of the wall clock: the choice moves the timer,
	// never what a window holds.
	live := windowclock.Live(pr.Clock.Through, time.Now().UnixMilli(), fn.LiveLagMs)
	if pr.Clock.Next(fn.SizeMs, fn.PeriodMs, live, w.has) {
		fn.setRelease(tp, pr.Clock)
	}
	return fn.Progress.Write(sp, pr)
}

// compact drops the buckets of settled windows and rewrites the bag once
// it holds as many dropped entries as live ones: a bag cannot drop single
// entries, and rewriting it every period would write each bucket many
// times.
func (fn *scoreStreamFn) compact(sp state.Provider, w *symbolWindows, pr *SymbolProgress) error {
	w.evict(pr.Settled)
	if pr.BagLen < 2*len(w.buckets) || pr.BagLen <= int((fn.SizeMs+fn.LatenessMs)/fn.PeriodMs) {
		return nil
	}
	if err := fn.Periods.Clear(sp); err != nil {
		return err
	}
	ends := make([]int64, 0, len(w.buckets))
	for e := range w.buckets {
		ends = append(ends, e)
	}
	sort.Slice(ends, func(i, j int) bool { return ends[i] < ends[j] })
	for _, e := range ends {
		if err := fn.Periods.Add(sp, PeriodStats{End: e, Stats: w.buckets[e]}); err != nil {
			return err
		}
	}
	pr.BagLen = len(ends)
	return nil
}

// RankWindow is what the ranking has received for one window.
type RankWindow struct {
	End int64
	// Acts holds each symbol's latest revision.
	Acts []ActivityUpdate
	// Timers says the fire and forget timers are set; Fired that the
	// window was emitted.
	Timers, Fired bool
	// Emits counts the window's snapshots (the low bits of the revision).
	Emits int64
}

// add takes in unless the window has a later revision of its symbol.
func (w *RankWindow) add(in ActivityUpdate) {
	for i, a := range w.Acts {
		if a.Symbol == in.Symbol {
			if a.Rev <= in.Rev {
				w.Acts[i] = in
			}
			return
		}
	}
	w.Acts = append(w.Acts, in)
}

// rankStreamFn ranks one window (the key, its end in Unix ms) from its
// symbols' activities, kept in state: a timer emits the window once the
// watermark has passed its end (every symbol's on-time activity is in by
// then: the scorer holds its output watermark at its first unreleased
// window), and each correction after that emits it again at once. A second
// timer forgets the window once no correction can come. This is
// transforms/trend's rankFn for market windows.
type rankStreamFn struct {
	Params           marketcalc.Params
	SizeMs, PeriodMs int64
	// RunEpoch is when the pipeline was built (Unix s), the high bits of
	// every snapshot's revision.
	RunEpoch int64
	// KeepMs is how long after its end a window still takes corrections.
	KeepMs int64
	// EmitFromMs drops the windows that start before it (Options.EmitFrom).
	EmitFromMs int64

	State state.Value[RankWindow]
	// Timer has two tags, fireTag and forgetTag: one family, as in
	// transforms/trend (Prism v2.77 stalls a DoFn with a second timer
	// family that is not set).
	Timer timers.EventTime
}

const (
	fireTag   = "fire"
	forgetTag = "forget"
	// revisionEmitBits is how many low bits of a revision count a
	// window's snapshots.
	revisionEmitBits = 20
)

func newRankStreamFn(p marketcalc.Params, lateness time.Duration, emitFrom time.Time) *rankStreamFn {
	fn := &rankStreamFn{
		Params: p, SizeMs: p.WindowSize.Milliseconds(), PeriodMs: p.WindowPeriod.Milliseconds(),
		RunEpoch: time.Now().Unix(),
		KeepMs:   (2*lateness + p.WindowSize + p.WindowPeriod).Milliseconds(),
		State:    state.MakeValueState[RankWindow]("window"),
		Timer:    timers.InEventTime("rank"),
	}
	if !emitFrom.IsZero() {
		fn.EmitFromMs = emitFrom.UnixMilli()
	}
	return fn
}

func (fn *rankStreamFn) ProcessElement(ctx context.Context, sp state.Provider, tp timers.Provider, end int64, in ActivityUpdate, emit func(kafkaio.Message), emitRow func(*v1.MarketWindowSnapshot, *v1.MarketWindowSnapshot)) error {
	if fn.EmitFromMs != 0 && end-fn.SizeMs < fn.EmitFromMs {
		return nil // a window the read saw only part of
	}
	w, _, err := fn.State.Read(sp)
	if err != nil {
		return err
	}
	w.End = end
	w.add(in)
	switch {
	case w.Fired:
		windowsReEmitted.Inc(ctx, 1)
		if err := fn.emit(ctx, &w, emit, emitRow); err != nil {
			return err
		}
	case !w.Timers:
		w.Timers = true
		// Fire at the end, hold at end-1, as transforms/trend's Rank: a
		// timer at end-1 can fire while the symbol scorer, holding at
		// end-1, has not yet emitted the window.
		fn.Timer.Set(tp, mtime.FromMilliseconds(end).ToTime(), timers.WithTag(fireTag),
			timers.WithOutputTimestamp(mtime.FromMilliseconds(end-1).ToTime()))
		fn.Timer.Set(tp, mtime.FromMilliseconds(end+fn.KeepMs).ToTime(), timers.WithTag(forgetTag))
	}
	return fn.State.Write(sp, w)
}

// OnTimer emits the window (fireTag) or forgets it (forgetTag). Should an
// input still come after that, the window starts over, and its snapshot's
// revision is lower than what the store keeps.
func (fn *rankStreamFn) OnTimer(ctx context.Context, sp state.Provider, tp timers.Provider, _ int64, tc timers.Context, emit func(kafkaio.Message), emitRow func(*v1.MarketWindowSnapshot, *v1.MarketWindowSnapshot)) error {
	if tc.Tag == forgetTag {
		return fn.State.Clear(sp)
	}
	w, _, err := fn.State.Read(sp)
	if err != nil {
		return err
	}
	w.Fired = true
	if err := fn.emit(ctx, &w, emit, emitRow); err != nil {
		return err
	}
	return fn.State.Write(sp, w)
}

// emit ranks window w and emits its snapshot for the results topic (keyed
// by window end) and, for the read model, with every symbol's activity.
func (fn *rankStreamFn) emit(ctx context.Context, w *RankWindow, emit func(kafkaio.Message), emitRow func(*v1.MarketWindowSnapshot, *v1.MarketWindowSnapshot)) error {
	var ranked, all []*v1.SymbolActivity
	for _, in := range w.Acts {
		var a v1.SymbolActivity
		if err := proto.Unmarshal(in.Activity, &a); err != nil {
			return fmt.Errorf("market: decode activity of %s in window ending %d: %w", in.Symbol, w.End, err)
		}
		all = append(all, &a)
		if a.GetReason() != "" {
			ranked = append(ranked, &a)
		}
	}
	startNanos := (w.End - fn.SizeMs) * int64(time.Millisecond)
	snap := marketcalc.RankActivities(fn.Params, startNanos/int64(fn.Params.WindowPeriod), ranked)
	w.Emits++
	snap.Revision = fn.RunEpoch<<revisionEmitBits | min(w.Emits, 1<<revisionEmitBits-1)
	b, err := proto.Marshal(snap)
	if err != nil {
		return fmt.Errorf("market: encode snapshot: %w", err)
	}
	windowsEmitted.Inc(ctx, 1)
	emit(kafkaio.Message{Key: []byte(SnapshotKey(snap)), Value: b, Timestamp: snap.GetWindowEnd().AsTime()})
	sort.Slice(all, func(i, j int) bool { return all[i].GetSymbol() < all[j].GetSymbol() })
	emitRow(snap, &v1.MarketWindowSnapshot{WindowStart: snap.GetWindowStart(), WindowEnd: snap.GetWindowEnd(), Symbols: all, Revision: snap.GetRevision()})
	return nil
}
