// Package trendscore decides which terms are trending: it scores each term's
// count in a window against the term's own history, not by raw volume.
//
// The model is SigniTrend's (Schubert, Weiler & Kriegel, KDD 2014): per term
// an exponentially weighted moving average and variance of the per-window
// value, and the significance
//
//	sig = (x − max(EWMA, β)) / (√EWMVar + β)
//
// where β, the noise floor, keeps first sightings and rare terms from
// scoring infinitely. On top of it: gates on distinct authors and on how much
// of the volume one author contributes, hysteresis so lists do not flicker,
// and a startedAt per trend. See docs/scoring.md.
//
// Everything here is pure and O(1) per term and window, so a Beam stateful
// DoFn can keep a State per key and call Params.Update once per window.
package trendscore

import (
	"errors"
	"flag"
	"fmt"
	"math"
	"time"
)

// Value selects the per-window quantity the baseline models and the score
// tests.
type Value int

const (
	// ValueAuthors scores distinct authors, so one account posting a term a
	// hundred times moves it as much as posting it once. Recommended.
	ValueAuthors Value = iota
	// ValueCount scores posts containing the term.
	ValueCount
)

// String returns the flag spelling of v.
func (v Value) String() string {
	switch v {
	case ValueAuthors:
		return "authors"
	case ValueCount:
		return "count"
	}
	return fmt.Sprintf("Value(%d)", int(v))
}

// Set parses "authors" or "count", so a Value can be a flag.
func (v *Value) Set(s string) error {
	switch s {
	case "authors":
		*v = ValueAuthors
	case "count":
		*v = ValueCount
	default:
		return fmt.Errorf("unknown value %q (want authors or count)", s)
	}
	return nil
}

// Observation is one term in one window.
type Observation struct {
	// WindowStart is optional; when set it is what StartedAt reports
	// (Bluesky's startedAt and TrendingTerm.first_seen are window starts).
	WindowStart time.Time
	WindowEnd   time.Time
	// Count is the posts containing the term, Authors the distinct authors
	// among them, TopAuthorPosts the posts of the author who used it most.
	Count, Authors, TopAuthorPosts int64
	// Volume is the posts of the term's language in the window: the scale
	// the noise floor is relative to (Params.NoiseShare). Zero leaves the
	// floor at Params.NoiseFloor.
	Volume int64
	// NewestCount, NewestAuthors and NewestVolume are Count, Authors and
	// Volume in the window's newest period alone: the newest-period score
	// (Params.NewestNoiseFloor) tests them against the baseline's share
	// of one period. Zero (a caller without them) never raises a score.
	NewestCount, NewestAuthors, NewestVolume int64
}

// State is what a term carries from window to window. Its fields are plain
// exported, comparable values so that Beam can encode it as stateful-DoFn
// state and copies never share memory; the zero State is a term never seen.
type State struct {
	// EWMA and EWMVar model the scored value per window, over the windows
	// that ended at or before FoldedEnd (Unix ms; 0: none yet). Windows in
	// which the term did not occur count as zeros.
	EWMA, EWMVar float64
	FoldedEnd    int64
	// Pending holds the windows scored but not yet folded in, oldest first
	// (encoded; see pending.go, with PendingFrom the end its first record
	// counts from): with a lag, a window joins the baseline only once the
	// windows it overlaps have been scored.
	Pending     string
	PendingFrom int64
	// LastWindowEnd is the end (Unix ms) of the last window observed.
	LastWindowEnd int64
	// Windows counts the windows observed.
	Windows int64
	// Trending says whether the term was trending after the last window,
	// StartedAt (Unix ms) when its current run began.
	Trending  bool
	StartedAt int64
	// The Prev fields hold the verdict just before the last window, so a
	// re-fired pane for that window replaces it. (The baseline needs no
	// copy: a window is folded in only after it can no longer re-fire.)
	PrevTrending  bool
	PrevStartedAt int64
}

// Params are the scoring knobs. Start from DefaultParams.
type Params struct {
	// HalfLife is how many window periods it takes for an observation's
	// weight in the baseline to halve. Longer remembers more and reacts
	// less to slow ramps.
	HalfLife float64
	// NoiseFloor is the least noise floor β, in units of Value: β is the
	// smallest baseline and the added deviation, and a term first seen
	// with x has score x/β − 1.
	NoiseFloor float64
	// NoiseShare makes β relative to the stream: β = max(NoiseFloor,
	// NoiseShare × Observation.Volume), the posts of the term's language in
	// the window. One setting then suits a thin feed and the firehose: a
	// new term must reach about (Enter + 1) × NoiseShare of its language's
	// posts, or (Enter + 1) × NoiseFloor authors, whichever is more.
	NoiseShare float64
	// NewestNoiseFloor is the least noise floor of the newest-period
	// score; 0 turns that score off. A window is also scored on its newest
	// period alone, against 1/n of the baseline's mean and variance (n
	// periods per window; a Poisson count over one period of n), with
	// β_new = max(NewestNoiseFloor, NoiseShare × the language's posts in
	// that period), and the higher of the two scores counts. A burst that
	// fills one period then trends in its first window even where the
	// whole window's floor asks for more authors than it has yet: five
	// new authors in one minute are news in a stream of three posts a
	// minute, not in ten minutes of it (docs/scoring.md, "Newest period").
	NewestNoiseFloor float64
	// MinAuthors is the fewest distinct authors in the window for a term
	// to be eligible.
	MinAuthors int64
	// MaxAuthorShare is the largest fraction of the window's posts that one
	// author may contribute for the term to be eligible (spam floods).
	MaxAuthorShare float64
	// Enter is the score at which an eligible term starts trending, Exit
	// the lower score below which it stops: the gap is the hysteresis.
	Enter, Exit float64
	// Value is what is scored; counts are reported either way.
	Value Value
	// RankByVolume makes Result.Rank score·ln(1+x) instead of the score,
	// favouring big trends over small surprising ones (SigniTrend's
	// popularity option). It changes the order of lists, not what trends.
	RankByVolume bool
	// RankByAge divides a trending term's Result.Rank by 1 + the periods
	// since its run started (0 in its first trending window): a trend is
	// news when it begins, so a term that has just started trending is
	// listed ahead of one that has trended for a while at a similar score.
	// Without it a new burst at the threshold ranks below the bursts
	// already under way, whose scores the lagged baseline keeps high for a
	// window size, and misses a full list (docs/eval.md). It changes the
	// order of lists, not what trends.
	RankByAge bool
	// Lagged makes a window's baseline learn only from windows that ended
	// at or before the window's start (Lag = the window size, ForWindow),
	// so a burst is compared with what came before it: a ramp cannot raise
	// its own baseline. Without it the baseline holds every window up to
	// the previous one, as in SigniTrend, and overlapping windows of a
	// rising burst absorb it.
	Lagged bool
	// Lag is how far the newest window in the baseline ends before the
	// scored window's end, at least one period; ForWindow sets it.
	Lag time.Duration
	// WarmUp is how long after the start of the stream no term may trend
	// while baselines fill; set the start with StartingAt. It must be at
	// least the window size, so the last warm-up windows are full.
	WarmUp time.Duration
	// WarmUpUntil is the end of the warm-up (StartingAt sets it); zero
	// means no warm-up. While warming up, each window replaces the baseline
	// instead of being averaged in, so that terms that were already common
	// when the stream started look steady, not new.
	WarmUpUntil time.Time
}

// The noise floor's defaults: β is 0.2 % of the posts of the term's
// language in the window, and at least 2 (authors), so that one setting
// works from a thin feed to the firehose (docs/scoring.md, EVAL.md).
const (
	NoiseFloorDefault = 2
	NoiseShareDefault = 0.002
	// NewestNoiseFloorDefault is the newest-period score's least β: half
	// the window's, as a period holds far fewer chance co-occurrences.
	NewestNoiseFloorDefault = 1
)

// DefaultParams returns the documented defaults, for 10-minute windows
// sliding every minute over streams from about 0.05 to 500 posts/s.
func DefaultParams() Params {
	return Params{
		HalfLife:         60, // 1 h at 1-minute periods
		NoiseFloor:       NoiseFloorDefault,
		NoiseShare:       NoiseShareDefault,
		NewestNoiseFloor: NewestNoiseFloorDefault,
		Lagged:           true,
		MinAuthors:       5,
		MaxAuthorShare:   0.5,
		Enter:            4,
		Exit:             2,
		Value:            ValueAuthors,
		RankByAge:        true,
		WarmUp:           15 * time.Minute,
	}
}

// RegisterFlags defines one flag per knob on fs, named "score-…", with the
// current values of p as defaults.
func (p *Params) RegisterFlags(fs *flag.FlagSet) {
	fs.Float64Var(&p.HalfLife, "score-half-life", p.HalfLife, "baseline half-life, in window periods")
	fs.Float64Var(&p.NoiseFloor, "score-noise-floor", p.NoiseFloor, "least noise floor β: minimum baseline and added deviation, in units of -score-value")
	fs.Float64Var(&p.NoiseShare, "score-noise-share", p.NoiseShare, "noise floor relative to the stream: β = max(-score-noise-floor, this × posts of the term's language in the window)")
	fs.Float64Var(&p.NewestNoiseFloor, "score-newest-noise-floor", p.NewestNoiseFloor, "least noise floor of the newest-period score, which tests a window's newest period alone against a period's share of the baseline (0: off)")
	fs.BoolVar(&p.Lagged, "score-lagged-baseline", p.Lagged, "baseline learns only from windows that ended before the scored window began (false: from every earlier window, as SigniTrend)")
	fs.Int64Var(&p.MinAuthors, "score-min-authors", p.MinAuthors, "fewest distinct authors in a window for a term to trend")
	fs.Float64Var(&p.MaxAuthorShare, "score-max-author-share", p.MaxAuthorShare, "largest share of a term's posts in a window one author may have")
	fs.Float64Var(&p.Enter, "score-enter", p.Enter, "score at which a term starts trending")
	fs.Float64Var(&p.Exit, "score-exit", p.Exit, "score below which a trending term stops trending (hysteresis)")
	fs.Var(&p.Value, "score-value", "value scored per window: authors (distinct) or count (posts)")
	fs.BoolVar(&p.RankByVolume, "score-rank-by-volume", p.RankByVolume, "rank trends by score × ln(1 + value) instead of score")
	fs.BoolVar(&p.RankByAge, "score-rank-by-age", p.RankByAge, "divide a trending term's rank by 1 + the window periods since it started trending: new trends are listed first at similar scores")
	fs.DurationVar(&p.WarmUp, "score-warm-up", p.WarmUp, "time after the stream start during which nothing trends while baselines fill (at least the window size)")
}

// Validate reports knobs that cannot work.
func (p Params) Validate() error {
	var errs []error
	if !(p.HalfLife > 0) {
		errs = append(errs, fmt.Errorf("half-life %v must be positive", p.HalfLife))
	}
	if !(p.NoiseFloor > 0) {
		errs = append(errs, fmt.Errorf("noise floor %v must be positive", p.NoiseFloor))
	}
	if !(p.NewestNoiseFloor >= 0) {
		errs = append(errs, fmt.Errorf("newest-period noise floor %v must be at least 0", p.NewestNoiseFloor))
	}
	if !(p.NoiseShare >= 0 && p.NoiseShare < 1) {
		errs = append(errs, fmt.Errorf("noise share %v must be in [0, 1)", p.NoiseShare))
	}
	if p.Lag < 0 {
		errs = append(errs, errors.New("baseline lag must not be negative"))
	}
	if !(p.MaxAuthorShare > 0 && p.MaxAuthorShare <= 1) {
		errs = append(errs, fmt.Errorf("max author share %v must be in (0, 1]", p.MaxAuthorShare))
	}
	if p.Exit > p.Enter {
		errs = append(errs, fmt.Errorf("exit threshold %v above enter threshold %v", p.Exit, p.Enter))
	}
	if p.Value != ValueAuthors && p.Value != ValueCount {
		errs = append(errs, fmt.Errorf("unknown value %v", p.Value))
	}
	if p.WarmUp < 0 {
		errs = append(errs, errors.New("warm-up must not be negative"))
	}
	return errors.Join(errs...)
}

// StartingAt returns p with the warm-up ending WarmUp after start, the
// event time at which the scored stream begins.
func (p Params) StartingAt(start time.Time) Params {
	p.WarmUpUntil = start.Add(p.WarmUp)
	return p
}

// ForWindow returns p with the baseline lag for sliding windows of the
// given size: the size with Lagged, else none (one period). The pipeline
// and the reference calculator call it with their window size.
func (p Params) ForWindow(size time.Duration) Params {
	p.Lag = 0
	if p.Lagged {
		p.Lag = size
	}
	return p
}

// Result is the verdict on one term in one window.
type Result struct {
	// Score is the significance against the baseline before this window.
	Score float64
	// Rank is what lists should be ordered by (Ranked.Score): Score, or
	// Score·ln(1+x) with Params.RankByVolume, divided by 1 + the trend's
	// age in periods with Params.RankByAge.
	Rank float64
	// Baseline is the value expected for this window (the EWMA before it),
	// in units of Params.Value.
	Baseline float64
	// Eligible says the gates passed: enough distinct authors and no
	// author above the share limit.
	Eligible bool
	// Trending is the hysteresis verdict; StartedAt is set only with it.
	Trending  bool
	StartedAt time.Time
	// Late marks a window older than the last one folded in: it was scored
	// against the current baseline and left the state untouched.
	Late bool
}

// Alpha is the EWMA smoothing factor for the half-life.
func (p Params) Alpha() float64 { return 1 - math.Exp(math.Ln2*-1/p.HalfLife) }

// Update scores obs against st and records it in st. period is the sliding
// windows' period, used to count the windows in which the term did not
// occur since the last observation: they enter the baseline as zeros, and a
// term absent from a window stops trending.
//
// The window is scored against the baseline of the windows that ended at
// least Lag before it (one period without a lag), then queued; it joins
// the baseline when a window Lag after it is observed.
//
// A repeated WindowEnd (a re-fired or late pane of the last window) replaces
// that window's contribution. An older WindowEnd is scored without changing
// st (Result.Late).
func (p Params) Update(st *State, obs Observation, period time.Duration) Result {
	end := obs.WindowEnd.UnixMilli()
	if st.Windows > 0 && end > st.LastWindowEnd && end-st.LastWindowEnd >= p.ForgetAfter(*st, period).Milliseconds() {
		// Long unseen: start afresh, exactly as a pipeline that dropped
		// the state (ForgetAfter) would.
		*st = State{}
	}
	x := p.value(obs)
	beta := p.floor(obs)
	eligible := p.eligible(obs)
	warming := p.warming(obs.WindowEnd)

	if st.Windows > 0 && end < st.LastWindowEnd {
		res := Result{Score: p.significance(st, obs, x, beta, period), Baseline: st.EWMA, Eligible: eligible, Late: true}
		res.Rank = p.rank(res.Score, x)
		res.Trending = !warming && eligible && res.Score >= p.threshold(st.Trending)
		if res.Trending {
			res.StartedAt = start(obs)
			if st.Trending {
				res.StartedAt = time.UnixMilli(st.StartedAt)
			}
			res.Rank = p.aged(res.Rank, obs, res.StartedAt, period)
		}
		return res
	}
	last := st.LastWindowEnd // the newest pending window's end, if any
	if st.Windows > 0 && end == st.LastWindowEnd {
		st.Trending, st.StartedAt = st.PrevTrending, st.PrevStartedAt
		last = dropLast(st, end)
	} else {
		if st.Windows > 0 && missedWindows(end-st.LastWindowEnd, period) > 0 {
			// The term had zero in the missed windows, which scores below
			// any exit threshold.
			st.Trending, st.StartedAt = false, 0
		}
		p.advance(st, end-p.lagMs(period), period)
		st.Windows++
	}
	st.PrevTrending, st.PrevStartedAt = st.Trending, st.StartedAt

	res := Result{Score: p.significance(st, obs, x, beta, period), Baseline: st.EWMA, Eligible: eligible}
	res.Rank = p.rank(res.Score, x)
	switch {
	case warming:
		st.Trending, st.StartedAt = false, 0
		// Replace rather than average, at once rather than lagged: at the
		// stream's start every term is "new", and averaging from zero would
		// make common terms look like bursts for hours. Poisson variance
		// (= mean) is the prior.
		st.EWMA, st.EWMVar = x, x
		st.FoldedEnd, st.Pending, st.PendingFrom = end, "", 0
	default:
		if eligible && res.Score >= p.threshold(st.Trending) {
			if !st.Trending {
				st.StartedAt = start(obs).UnixMilli()
			}
			st.Trending = true
		} else {
			st.Trending, st.StartedAt = false, 0
		}
		appendPending(st, last, end, x)
	}
	st.LastWindowEnd = end
	res.Trending = st.Trending
	if st.Trending {
		res.StartedAt = time.UnixMilli(st.StartedAt)
		res.Rank = p.aged(res.Rank, obs, res.StartedAt, period)
	}
	return res
}

// aged is a trending term's rank with Params.RankByAge: rank / (1 + the
// periods from the start of its first trending window to this window's).
func (p Params) aged(rank float64, obs Observation, startedAt time.Time, period time.Duration) float64 {
	if !p.RankByAge || period <= 0 {
		return rank
	}
	age := max(0, float64(start(obs).Sub(startedAt))/float64(period))
	return rank / (1 + age)
}

// lagMs is the baseline lag in ms: at least one period.
func (p Params) lagMs(period time.Duration) int64 {
	return max(p.Lag.Milliseconds(), period.Milliseconds())
}

// advance folds into the baseline every pending window that ended at or
// before to, and the windows up to to in which the term did not occur as
// zeros.
func (p Params) advance(st *State, to int64, period time.Duration) {
	per := period.Milliseconds()
	it := pendingIter{s: st.Pending, end: st.PendingFrom}
	done := 0
	for {
		end, v, ok := it.next()
		if !ok || end > to {
			break
		}
		if st.FoldedEnd != 0 {
			p.decay(st, missedWindows(end-st.FoldedEnd, period))
		}
		p.fold(st, v)
		st.FoldedEnd = end
		done = it.off
		st.PendingFrom = end
	}
	if done > 0 {
		st.Pending = st.Pending[done:]
		if st.Pending == "" {
			st.PendingFrom = 0
		}
	}
	if st.FoldedEnd == 0 || per <= 0 {
		st.FoldedEnd = to
		return
	}
	if d := to - st.FoldedEnd; d > 0 {
		p.decay(st, (d+per/2)/per)
		st.FoldedEnd = to
	}
}

func (p Params) value(obs Observation) float64 {
	if p.Value == ValueCount {
		return float64(obs.Count)
	}
	return float64(obs.Authors)
}

func (p Params) eligible(obs Observation) bool {
	if obs.Authors < p.MinAuthors {
		return false
	}
	return obs.Count <= 0 || float64(obs.TopAuthorPosts) <= p.MaxAuthorShare*float64(obs.Count)
}

func (p Params) warming(end time.Time) bool {
	return !p.WarmUpUntil.IsZero() && !end.After(p.WarmUpUntil)
}

func (p Params) threshold(trending bool) float64 {
	if trending {
		return p.Exit
	}
	return p.Enter
}

// floor is the noise floor β for obs: NoiseFloor, or NoiseShare of the
// posts of the term's language in the window if that is more.
func (p Params) floor(obs Observation) float64 {
	return math.Max(p.NoiseFloor, p.NoiseShare*float64(obs.Volume))
}

// significance is the window's score: SigniTrend's significance of x
// against st with noise floor beta, or the newest-period score if that is
// higher.
func (p Params) significance(st *State, obs Observation, x, beta float64, period time.Duration) float64 {
	s := p.score(st, x, beta)
	if ns, ok := p.newestScore(st, obs, period); ok && ns > s {
		return ns
	}
	return s
}

// newestScore scores the window's newest period alone (Params.NewestNoiseFloor):
// with n periods per window and the term's occurrences in them
// independent, a period's expected value is EWMA/n and its variance
// EWMVar/n. ok is false when the score is off, obs has no window start or
// the term is not in the newest period.
func (p Params) newestScore(st *State, obs Observation, period time.Duration) (float64, bool) {
	if !(p.NewestNoiseFloor > 0) || obs.WindowStart.IsZero() || period <= 0 {
		return 0, false
	}
	n := float64(obs.WindowEnd.Sub(obs.WindowStart)) / float64(period)
	if n <= 1 {
		return 0, false // the period is the window
	}
	x := float64(obs.NewestAuthors)
	if p.Value == ValueCount {
		x = float64(obs.NewestCount)
	}
	if !(x > 0) {
		return 0, false // nothing new to score; and callers without newest counts
	}
	beta := math.Max(p.NewestNoiseFloor, p.NoiseShare*float64(obs.NewestVolume))
	den := math.Sqrt(math.Max(st.EWMVar, 0)/n) + beta
	return (x - math.Max(st.EWMA/n, beta)) / den, true
}

// score is SigniTrend's significance of x against st with noise floor beta.
func (p Params) score(st *State, x, beta float64) float64 {
	den := math.Sqrt(math.Max(st.EWMVar, 0)) + beta
	if !(den > 0) {
		den = 1 // only with an invalid noise floor; Validate rejects it
	}
	return (x - math.Max(st.EWMA, beta)) / den
}

func (p Params) rank(score, x float64) float64 {
	if p.RankByVolume {
		return score * math.Log1p(math.Max(x, 0))
	}
	return score
}

// fold is one SigniTrend EWMA/EWMVar step with value x.
func (p Params) fold(st *State, x float64) {
	a := p.Alpha()
	d := x - st.EWMA
	st.EWMA += a * d
	st.EWMVar = (1 - a) * (st.EWMVar + a*d*d)
}

// decay folds n zero observations in closed form: with r = 1−α and mean m,
// n steps give EWMA = m·rⁿ and EWMVar = rⁿ·(EWMVar + m²·(1 − rⁿ)), so a gap
// of any length costs O(1).
func (p Params) decay(st *State, n int64) {
	rn := math.Pow(1-p.Alpha(), float64(n))
	m := st.EWMA
	st.EWMA = m * rn
	st.EWMVar = rn * (st.EWMVar + m*m*(1-rn))
}

// missedWindows is how many whole periods lie strictly between two window
// ends d ms apart.
func missedWindows(d int64, period time.Duration) int64 {
	p := period.Milliseconds()
	if p <= 0 || d <= 0 {
		return 0
	}
	n := (d + p/2) / p // nearest whole number of periods
	if n <= 1 {
		return 0
	}
	return n - 1
}

func start(obs Observation) time.Time {
	if !obs.WindowStart.IsZero() {
		return obs.WindowStart
	}
	return obs.WindowEnd
}

// Negligible reports whether a window's activity can neither make the term
// eligible (too few authors) nor rise above its noise floor β (which is
// relative to the volume of the term's language, Observation.Volume). Such
// a window moves a baseline that the floor already dominates by less than
// the floor itself, so callers treat it as an empty window: pipelines drop
// it before keyed state, which keeps state proportional to the terms that
// can trend rather than to every word ever written.
func (p Params) Negligible(obs Observation) bool {
	return obs.Authors < p.MinAuthors && p.value(obs) < p.floor(obs)
}

// ForgetAfter is how long after its last window a term's state may be
// dropped. By then its pending windows have joined the baseline (the lag),
// and both its mean and its deviation have decayed below a tenth of the
// least noise floor, and never sooner than one half-life. Update
// applies the same rule to a state it is given, so a pipeline that drops
// state after ForgetAfter scores exactly like one that keeps it forever.
func (p Params) ForgetAfter(st State, period time.Duration) time.Duration {
	m := math.Max(st.EWMA, maxPending(st))
	dev := math.Sqrt(st.EWMVar + m*m) // the m² term of a decaying variance halves only every 2 half-lives
	halfLives := max(1, math.Log2(10*m/p.NoiseFloor), 2*math.Log2(10*dev/p.NoiseFloor))
	d := math.Ceil(p.HalfLife*halfLives)*float64(period) + float64(p.lagMs(period))*float64(time.Millisecond)
	if d >= math.MaxInt64/2 || math.IsNaN(d) { // a frozen baseline (huge half-life) is never forgotten
		return time.Duration(math.MaxInt64 / 2)
	}
	return time.Duration(d)
}

// MinPosts is the fewest posts a window can hold for a term whose language
// has volume posts in it and not be Negligible: authors and the scored
// value never exceed the posts, so a window with fewer is negligible
// whoever wrote them. Counting stages use it (termwindow.Merge) to skip
// merging the authors of the long tail of rare terms. It depends on the
// language's volume because β does: a term of two posts matters in a
// 300-post language, not in the firehose's English, where the floor is
// MinAuthors.
func (p Params) MinPosts(volume int64) int64 {
	beta := p.floor(Observation{Volume: volume})
	if !(beta < float64(p.MinAuthors)) {
		return max(p.MinAuthors, 0)
	}
	return max(int64(math.Ceil(beta)), 0)
}
