// Package marketcalc scores unusual trading activity per symbol against
// that symbol's own baseline, in the same sliding windows the trending
// pipeline uses for terms (issue #13, "Stock tickers").
//
// It is the pure scoring plus a single-process reference (Compute): a
// market pipeline must produce exactly these rankings from the same
// trades, as pipelines/trending is checked against internal/core/trendcalc.
//
// Per symbol and window it aggregates Stats (trades, volume, open, close,
// high, low, by event time). Stats merge associatively and commutatively,
// so a distributed combiner gets the same result in any order. A window's
// activity is scored on three features, each against the mean and
// standard deviation of the same feature over the symbol's previous
// windows that ended at or before this window's start (non-overlapping
// past: a burst never inflates its own baseline):
//
//	trades   number of trades
//	volume   shares traded
//	move     |close − open| / open, in basis points
//
// The score is the largest of the three z-scores; its feature is the
// reason. The deviation is floored (a fraction of the mean, and an absolute
// minimum per feature) so a symbol with a flat history does not score
// infinity on a single extra trade.
package marketcalc

import (
	"errors"
	"fmt"
	"math"
	"sort"
	"time"

	"google.golang.org/protobuf/types/known/timestamppb"

	v1 "github.com/trendstream/trendstream/proto/trendstream/v1"
)

// Params configure the scoring. DefaultParams holds the defaults.
type Params struct {
	// WindowSize and WindowPeriod are the sliding windows (as the trending
	// pipeline: 10 minutes, every minute). Size is a multiple of period;
	// windows start at multiples of period since the Unix epoch (Beam's
	// SlidingWindows alignment).
	WindowSize, WindowPeriod time.Duration
	// BaselineWindows is how many of the symbol's past windows (that had
	// trades) the baseline uses.
	BaselineWindows int
	// MinBaseline is how many it needs before a window is scored at all.
	MinBaseline int
	// MinScore is the z-score from which activity is unusual.
	MinScore float64
	// StdFloorFraction floors the deviation at this fraction of the mean.
	StdFloorFraction float64
	// TopK bounds a window's ranking.
	TopK int
	// KeepSuspicious counts trades the feed flagged as suspicious; by
	// default they are left out (a bad print is not activity).
	KeepSuspicious bool
}

// DefaultParams returns the defaults.
func DefaultParams() Params {
	return Params{
		WindowSize:       10 * time.Minute,
		WindowPeriod:     time.Minute,
		BaselineWindows:  30,
		MinBaseline:      5,
		MinScore:         3,
		StdFloorFraction: 0.1,
		TopK:             10,
	}
}

// Validate checks p.
func (p Params) Validate() error {
	switch {
	case p.WindowPeriod <= 0 || p.WindowSize <= 0 || p.WindowSize%p.WindowPeriod != 0:
		return fmt.Errorf("marketcalc: window size %v must be a positive multiple of period %v", p.WindowSize, p.WindowPeriod)
	case p.BaselineWindows < 1 || p.MinBaseline < 1 || p.MinBaseline > p.BaselineWindows:
		return fmt.Errorf("marketcalc: want 1 <= min baseline (%d) <= baseline windows (%d)", p.MinBaseline, p.BaselineWindows)
	case p.TopK < 1:
		return errors.New("marketcalc: top-k must be at least 1")
	case p.StdFloorFraction < 0 || math.IsNaN(p.MinScore):
		return errors.New("marketcalc: negative std floor or NaN min score")
	}
	return nil
}

// Trade is what the scoring needs of a MarketEvent.
type Trade struct {
	Symbol string
	Time   time.Time
	// Seq breaks ties between trades of one symbol at the same time
	// (MarketEvent.sequence), so open and close do not depend on order.
	Seq        int64
	Price      int64 // 1/10000 USD
	Size       int64
	Suspicious bool
}

// FromEvent converts a MarketEvent.
func FromEvent(ev *v1.MarketEvent) Trade {
	return Trade{Symbol: ev.GetSymbol(), Time: ev.GetEventTime().AsTime(), Seq: ev.GetSequence(),
		Price: ev.GetPrice(), Size: ev.GetSize(), Suspicious: ev.GetSuspicious()}
}

// Stats aggregate one symbol's trades. The zero value is empty.
type Stats struct {
	Trades, Volume int64
	// Open is the price of the first trade by (time, seq), Close of the
	// last; First and Last are their keys (times in Unix nanoseconds, so
	// Stats is plain data a Beam coder carries as is).
	Open, Close, High, Low int64
	FirstNanos, LastNanos  int64
	FirstSeq, LastSeq      int64
}

func before(t1, s1, t2, s2 int64) bool {
	if t1 != t2 {
		return t1 < t2
	}
	return s1 < s2
}

// Add counts one trade.
func (s *Stats) Add(t Trade) {
	*s = s.Merge(Stats{Trades: 1, Volume: t.Size, Open: t.Price, Close: t.Price, High: t.Price, Low: t.Price,
		FirstNanos: t.Time.UnixNano(), LastNanos: t.Time.UnixNano(), FirstSeq: t.Seq, LastSeq: t.Seq})
}

// Merge combines two aggregates; it is associative and commutative.
func (s Stats) Merge(o Stats) Stats {
	if s.Trades == 0 {
		return o
	}
	if o.Trades == 0 {
		return s
	}
	out := Stats{Trades: s.Trades + o.Trades, Volume: s.Volume + o.Volume, High: max(s.High, o.High), Low: min(s.Low, o.Low)}
	if before(o.FirstNanos, o.FirstSeq, s.FirstNanos, s.FirstSeq) {
		out.Open, out.FirstNanos, out.FirstSeq = o.Open, o.FirstNanos, o.FirstSeq
	} else {
		out.Open, out.FirstNanos, out.FirstSeq = s.Open, s.FirstNanos, s.FirstSeq
	}
	if before(s.LastNanos, s.LastSeq, o.LastNanos, o.LastSeq) {
		out.Close, out.LastNanos, out.LastSeq = o.Close, o.LastNanos, o.LastSeq
	} else {
		out.Close, out.LastNanos, out.LastSeq = s.Close, s.LastNanos, s.LastSeq
	}
	return out
}

// MoveBps is |close − open| / open in basis points.
func (s Stats) MoveBps() float64 {
	if s.Open == 0 {
		return 0
	}
	return math.Abs(float64(s.Close-s.Open)) * 10000 / float64(s.Open)
}

// Feature names, the Reason of a score.
const (
	FeatureTrades = "trades"
	FeatureVolume = "volume"
	FeatureMove   = "move"
)

// absFloor is the smallest deviation per feature: one trade, one round lot,
// one basis point.
var absFloor = map[string]float64{FeatureTrades: 1, FeatureVolume: 100, FeatureMove: 1}

func (s Stats) features() [3]float64 {
	return [3]float64{float64(s.Trades), float64(s.Volume), s.MoveBps()}
}

var featureNames = [3]string{FeatureTrades, FeatureVolume, FeatureMove}

// Score is one symbol's activity in one window.
type Score struct {
	Symbol string
	Stats  Stats
	// Score is the largest z-score; Reason names its feature; Z holds all
	// three (trades, volume, move).
	Score  float64
	Reason string
	Z      [3]float64
	// Baseline is how many past windows the baseline had.
	Baseline int
}

// ScoreWindow scores cur against past (the symbol's baseline windows,
// oldest first; only the last p.BaselineWindows are used). ok is false if
// the baseline is too short to score.
func ScoreWindow(p Params, symbol string, cur Stats, past []Stats) (s Score, ok bool) {
	if len(past) > p.BaselineWindows {
		past = past[len(past)-p.BaselineWindows:]
	}
	s = Score{Symbol: symbol, Stats: cur, Baseline: len(past)}
	if len(past) < p.MinBaseline {
		return s, false
	}
	x := cur.features()
	s.Score = math.Inf(-1)
	for f := range 3 {
		var sum, sq float64
		for _, b := range past {
			v := b.features()[f]
			sum += v
			sq += v * v
		}
		n := float64(len(past))
		mean := sum / n
		sd := math.Sqrt(math.Max(sq/n-mean*mean, 0))
		sd = math.Max(sd, math.Max(p.StdFloorFraction*mean, absFloor[featureNames[f]]))
		s.Z[f] = (x[f] - mean) / sd
		if s.Z[f] > s.Score {
			s.Score, s.Reason = s.Z[f], featureNames[f]
		}
	}
	return s, true
}

// Ranking is one window's unusual symbols, highest score first (ties by
// symbol).
type Ranking struct {
	Start, End time.Time
	Symbols    []Score
}

// Compute is the single-process reference: the rankings of every window
// that has at least one (counted) trade, in window order. Trades may come
// in any order.
func Compute(p Params, trades []Trade) ([]Ranking, error) {
	if err := p.Validate(); err != nil {
		return nil, err
	}
	// Per symbol, per period bucket; a window is the merge of its
	// size/period buckets.
	type key struct {
		sym    string
		bucket int64
	}
	period := int64(p.WindowPeriod)
	buckets := map[key]Stats{}
	for _, t := range trades {
		if t.Suspicious && !p.KeepSuspicious {
			continue
		}
		k := key{t.Symbol, floorDiv(t.Time.UnixNano(), period)}
		st := buckets[k]
		st.Add(t)
		buckets[k] = st
	}
	n := int64(p.WindowSize / p.WindowPeriod)
	// window start bucket -> symbol -> stats
	bySym := map[string]map[int64]Stats{}
	for k, st := range buckets {
		m := bySym[k.sym]
		if m == nil {
			m = map[int64]Stats{}
			bySym[k.sym] = m
		}
		// The bucket is in the windows starting at buckets k-n+1 … k.
		for w := k.bucket - n + 1; w <= k.bucket; w++ {
			m[w] = m[w].Merge(st)
		}
	}
	ranked := map[int64][]Score{}
	for sym, wins := range bySym {
		for w := range wins {
			if _, ok := ranked[w]; !ok {
				ranked[w] = nil // a window with trades has a ranking, maybe empty
			}
		}
		for _, ws := range ScoreSymbol(p, sym, wins) {
			ranked[ws.Window] = append(ranked[ws.Window], ws.Score)
		}
	}
	out := make([]Ranking, 0, len(ranked))
	for w, syms := range ranked {
		out = append(out, Rank(p, w, syms))
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Start.Before(out[j].Start) })
	return out, nil
}

// WindowScore is a symbol's unusual score in the window starting at
// bucket Window (start = Window × period since the epoch).
type WindowScore struct {
	Window int64
	Score  Score
}

// ScoreSymbol scores one symbol's windows (by start bucket: the windows
// that had trades of it) and returns the unusual ones (score >=
// MinScore), in window order. It is all the cross-window state the
// scoring needs, so a pipeline that groups a symbol's window Stats calls
// exactly this.
func ScoreSymbol(p Params, sym string, wins map[int64]Stats) []WindowScore {
	period := int64(p.WindowPeriod)
	n := int64(p.WindowSize / p.WindowPeriod)
	starts := make([]int64, 0, len(wins))
	firstBucket := int64(math.MaxInt64)
	for w, st := range wins {
		starts = append(starts, w)
		firstBucket = min(firstBucket, floorDiv(st.FirstNanos, period))
	}
	sort.Slice(starts, func(i, j int) bool { return starts[i] < starts[j] })
	// The windows that start before the symbol's first trade only partly
	// cover its history (a ramp from 1 to n buckets): they would make an
	// ordinary full window look like a burst, so they are neither scored
	// nor part of any baseline.
	k := sort.Search(len(starts), func(i int) bool { return starts[i] >= firstBucket })
	starts = starts[k:]
	var out []WindowScore
	for i, w := range starts {
		// Baseline: the symbol's windows that ended by w's start
		// (start <= w-n), the latest BaselineWindows of them.
		j := sort.Search(i, func(k int) bool { return starts[k] > w-n })
		lo := max(0, j-p.BaselineWindows)
		past := make([]Stats, 0, j-lo)
		for _, b := range starts[lo:j] {
			past = append(past, wins[b])
		}
		if s, ok := ScoreWindow(p, sym, wins[w], past); ok && s.Score >= p.MinScore {
			out = append(out, WindowScore{Window: w, Score: s})
		}
	}
	return out
}

// Rank orders one window's unusual symbols and keeps the top TopK.
func Rank(p Params, window int64, syms []Score) Ranking {
	syms = append([]Score(nil), syms...)
	sortScores(syms)
	if len(syms) > p.TopK {
		syms = syms[:p.TopK]
	}
	start := time.Unix(0, window*int64(p.WindowPeriod)).UTC()
	return Ranking{Start: start, End: start.Add(p.WindowSize), Symbols: syms}
}

// Snapshot is r on the wire.
func Snapshot(r Ranking) *v1.MarketWindowSnapshot {
	out := &v1.MarketWindowSnapshot{WindowStart: timestamppb.New(r.Start), WindowEnd: timestamppb.New(r.End)}
	for _, s := range r.Symbols {
		out.Symbols = append(out.Symbols, &v1.SymbolActivity{
			Symbol: s.Symbol, Score: s.Score, Reason: s.Reason,
			ZTrades: s.Z[0], ZVolume: s.Z[1], ZMove: s.Z[2],
			Trades: s.Stats.Trades, Volume: s.Stats.Volume,
			Open: s.Stats.Open, Close: s.Stats.Close, High: s.Stats.High, Low: s.Stats.Low,
			MoveBps: s.Stats.MoveBps(), BaselineWindows: int32(s.Baseline),
		})
	}
	return out
}

// RankActivities is Rank for activities already on the wire: a pipeline
// that carries SymbolActivity messages ranks them with it. Same order:
// score, highest first, then symbol.
func RankActivities(p Params, window int64, acts []*v1.SymbolActivity) *v1.MarketWindowSnapshot {
	acts = append([]*v1.SymbolActivity(nil), acts...)
	sort.Slice(acts, func(i, j int) bool {
		if acts[i].GetScore() != acts[j].GetScore() {
			return acts[i].GetScore() > acts[j].GetScore()
		}
		return acts[i].GetSymbol() < acts[j].GetSymbol()
	})
	if len(acts) > p.TopK {
		acts = acts[:p.TopK]
	}
	start := time.Unix(0, window*int64(p.WindowPeriod)).UTC()
	return &v1.MarketWindowSnapshot{WindowStart: timestamppb.New(start), WindowEnd: timestamppb.New(start.Add(p.WindowSize)), Symbols: acts}
}

// Bucket is the period bucket of t (the start bucket of the latest window
// holding t).
func Bucket(p Params, t time.Time) int64 { return floorDiv(t.UnixNano(), int64(p.WindowPeriod)) }

// sortScores orders by score, highest first, then symbol.
func sortScores(s []Score) {
	sort.Slice(s, func(i, j int) bool {
		if s[i].Score != s[j].Score {
			return s[i].Score > s[j].Score
		}
		return s[i].Symbol < s[j].Symbol
	})
}

func floorDiv(a, b int64) int64 {
	q := a / b
	if a%b != 0 && (a < 0) != (b < 0) {
		q--
	}
	return q
}
