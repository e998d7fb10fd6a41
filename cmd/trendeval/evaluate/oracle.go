package evaluate

import (
	"strings"
	"time"

	"github.com/trendstream/trendstream/internal/core/terms"
	tsv1 "github.com/trendstream/trendstream/proto/trendstream/v1"
)

// Oracle judges, with hindsight over the whole replay and independently of
// any scorer's parameters, whether a term is genuinely bursty in a window.
// Real background posts contain real news; a ranking that lists such a
// term is neither right nor wrong about the injected ground truth.
type Oracle struct {
	period, size int64 // ms
	windows      float64
	buckets      map[terms.Term]map[int64]map[string]struct{} // bucket end → authors
	series       map[terms.Term]map[int64]int                 // window end → distinct authors
	carried      map[terms.Term]map[int64]int                 // window end → distinct burst authors
	mean         map[terms.Term]float64
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
		buckets: map[terms.Term]map[int64]map[string]struct{}{},
		series:  map[terms.Term]map[int64]int{},
		carried: map[terms.Term]map[int64]int{},
		mean:    map[terms.Term]float64{},
	}
	ex := terms.New(opts)
	// With hindsight a deleted post is gone: what its author took back is
	// no news, so a ranking that lists it is wrong, retraction or not.
	deleted := map[string]bool{}
	for _, p := range posts {
		if p.GetOperation() == tsv1.Operation_OPERATION_DELETE {
			deleted[p.GetUri()] = true
		}
	}
	for _, p := range posts {
		if p.GetOperation() == tsv1.Operation_OPERATION_DELETE || deleted[p.GetUri()] {
			continue
		}
		ts := p.GetObservedAt().AsTime().UnixMilli()
		b := ts - ts%o.period + o.period
		for _, t := range ex.Extract(p) {
			if want != nil && !want(t) {
				continue
			}
			m := o.buckets[t]
			if m == nil {
				m = map[int64]map[string]struct{}{}
				o.buckets[t] = m
			}
			as := m[b]
			if as == nil {
				as = map[string]struct{}{}
				m[b] = as
			}
			as[p.GetAuthorDid()] = struct{}{}
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
			for a := range as {
				w[a] = struct{}{}
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
