package evaluate

import (
	"math"
	"strings"
	"time"

	"github.com/trendstream/trendstream/internal/core/terms"
	"github.com/trendstream/trendstream/internal/core/termwindow"
	tsv1 "github.com/trendstream/trendstream/proto/trendstream/v1"
)

// Oracle judges, with hindsight over the whole replay and independently of
// any scorer's parameters, whether a term is genuinely bursty in a window.
// Real background posts contain real news; a ranking that lists such a
// term is neither right nor wrong about the injected ground truth.
type Oracle struct {
	period, size int64 // ms
	windows      float64
	// buckets: bucket end → author → the end of the period their last
	// post there stops counting in (the period of its delete; never: max)
	buckets map[terms.Term]map[int64]map[string]int64
	series  map[terms.Term]map[int64]int // window end → distinct authors
	carried map[terms.Term]map[int64]int // window end → distinct burst authors
	mean    map[terms.Term]float64
}

// burstAuthor reports whether a DID is an injected burst's author.
func burstAuthor(did string) bool { return strings.HasPrefix(did, burstDIDPrefix) }

// Organic thresholds: at least OrganicMinAuthors distinct authors in the
// window and at least OrganicFactor × the term's replay-wide mean per window
// plus OrganicSlack.
const (
	OrganicMinAuthors = 5
	OrganicFactor     = 3
	OrganicSlack      = 3
)

// NewOracle counts every term of posts (extracted with opts) per period,
// or only those for which want is true (nil: all): a replay of millions of
// posts needs only the terms some ranking listed (Listed).
func NewOracle(posts []*tsv1.Post, opts terms.Options, period, size time.Duration, start, end time.Time, want func(terms.Term) bool) *Oracle {
	o := &Oracle{
		period: period.Milliseconds(), size: size.Milliseconds(),
		windows: float64(end.Sub(start)/period) + float64(size/period) - 1,
		buckets: map[terms.Term]map[int64]map[string]int64{},
		series:  map[terms.Term]map[int64]int{},
		carried: map[terms.Term]map[int64]int{},
		mean:    map[terms.Term]float64{},
	}
	ex := terms.New(opts)
	// A deleted post counts in the windows that closed before its delete,
	// and in no window that holds the delete's period: as the pipeline
	// retracts it (docs/pipeline.md, "Deletes"). When a window closed, the
	// post was there to see; after, what its author took back is no news.
	until := map[string]int64{} // URI → end of its delete's period
	for _, p := range posts {
		if p.GetOperation() == tsv1.Operation_OPERATION_DELETE {
			end := termwindow.PeriodEnd(p.GetObservedAt().AsTime().UnixMilli(), o.period)
			if prev, ok := until[p.GetUri()]; !ok || end < prev {
				until[p.GetUri()] = end
			}
		}
	}
	for _, p := range posts {
		if p.GetOperation() == tsv1.Operation_OPERATION_DELETE {
			continue
		}
		ts := p.GetObservedAt().AsTime().UnixMilli()
		b := termwindow.PeriodEnd(ts, o.period)
		stop, deleted := until[p.GetUri()]
		if !deleted {
			stop = math.MaxInt64
		}
		stop = max(stop, b) // a delete stamped before its post
		for _, t := range ex.Extract(p) {
			if want != nil && !want(t) {
				continue
			}
			m := o.buckets[t]
			if m == nil {
				m = map[int64]map[string]int64{}
				o.buckets[t] = m
			}
			as := m[b]
			if as == nil {
				as = map[string]int64{}
				m[b] = as
			}
			as[p.GetAuthorDid()] = max(as[p.GetAuthorDid()], stop)
		}
	}
	return o
}

// Authors is t's distinct authors in the window ending at end.
func (o *Oracle) Authors(t terms.Term, end time.Time) int {
	return o.load(t)[end.UnixMilli()]
}

// Organic reports whether t is genuinely bursty in the window ending at
// end, or was in one ending up to a window size before it: a trend is
// listed while it fades, as an injected burst counts as found up to a
// window size after its last post. A term carried by the injected bursts
// (at least half its authors in the window are burst authors, whose posts
// carry real text) is bursty because of them, and counts as organic too.
func (o *Oracle) Organic(t terms.Term, end time.Time) bool {
	s := o.load(t)
	c := o.carried[t]
	for e := end.UnixMilli(); e >= end.UnixMilli()-o.size; e -= o.period {
		a := float64(s[e])
		if a < OrganicMinAuthors {
			continue
		}
		if a >= OrganicFactor*o.mean[t]+OrganicSlack || 2*c[e] >= s[e] {
			return true
		}
	}
	return false
}

func (o *Oracle) load(t terms.Term) map[int64]int {
	if s, ok := o.series[t]; ok {
		return s
	}
	n := o.size / o.period
	sets := map[int64]map[string]struct{}{}
	for b, as := range o.buckets[t] {
		for i := int64(0); i < n; i++ {
			w := sets[b+i*o.period]
			if w == nil {
				w = map[string]struct{}{}
				sets[b+i*o.period] = w
			}
			for a, stop := range as {
				if b+i*o.period < stop {
					w[a] = struct{}{}
				}
			}
		}
	}
	s := make(map[int64]int, len(sets))
	c := map[int64]int{}
	total := 0
	for e, w := range sets {
		s[e] = len(w)
		total += len(w)
		for a := range w {
			if burstAuthor(a) {
				c[e]++
			}
		}
	}
	o.series[t] = s
	o.carried[t] = c
	if o.windows > 0 {
		o.mean[t] = float64(total) / o.windows
	}
	return s
}

// Listed returns a filter for NewOracle: the terms in any of the rankings.
func Listed(runs ...[]*tsv1.WindowSnapshot) func(terms.Term) bool {
	set := map[terms.Term]bool{}
	for _, snaps := range runs {
		for _, s := range snaps {
			for _, t := range s.GetTerms() {
				set[terms.Term{Text: t.GetTerm(), Kind: t.GetKind(), Lang: t.GetLang()}] = true
			}
		}
	}
	return func(t terms.Term) bool { return set[t] }
}
