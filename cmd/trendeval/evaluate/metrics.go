package evaluate

import (
	"math"
	"slices"
	"strings"
	"time"

	"github.com/trendstream/trendstream/internal/core/terms"
	"github.com/trendstream/trendstream/internal/core/termwindow"
	tsv1 "github.com/trendstream/trendstream/proto/trendstream/v1"
)

// Params say how rankings are judged.
type Params struct {
	// TopN is the list length judged (top 10).
	TopN         int
	Period, Size time.Duration
	// ScoredFrom excludes windows ending at or before it (the warm-up)
	// from precision.
	ScoredFrom time.Time
	// TargetAuthors and TargetShare define the target group: bursts with
	// at least TargetAuthors distinct authors in their first EarlyPeriods
	// periods, in one of which they had at least TargetShare of the posts.
	TargetAuthors int
	TargetShare   float64
}

// Cell is one (shape, strength) row of the report.
type Cell struct {
	Shape    Shape
	Strength Strength
	ThinLang bool
	Bursts   int
	// Within2 counts bursts listed in a window ending within two periods
	// of onset; Ever those listed before the burst's last window closed.
	Within2, Ever int
	// MedianTTD is the median time to detect, in windows after onset, of
	// the bursts detected at all (NaN if none).
	MedianTTD float64
}

// Label names the cell's shape as the report does.
func (c Cell) Label() string {
	if c.ThinLang {
		return c.Shape.String() + " (thin language)"
	}
	return c.Shape.String()
}

// Result is one ranking's score on one replay.
type Result struct {
	Name  string
	Cells []Cell
	// Target: bursts in the target group (Params.TargetAuthors,
	// TargetShare); TargetEver how many were detected while they lasted,
	// TargetWithin2 how many within two periods.
	Target, TargetEver, TargetWithin2 int
	// ShapeTTD is the median time to detect per shape label (Cell.Label),
	// over every burst of it, an undetected one counting as +Inf.
	ShapeTTD map[string]float64
	// Top-N entries over the scored windows of the overall ranking:
	// injected bursts during or just after the burst (TP), organic
	// background bursts (Neither), everything else (FP).
	Entries, TP, FP, Neither int
	// Windows in which a negative control was in the top N (overall or
	// per-language rankings).
	FrequentWindows, SpamWindows, StopwordWindows int
	// RetractedWindows counts windows in which a term of a retracted burst
	// (every post deleted, Replay.Retracted) was in the top N (overall or
	// its language's ranking) although the window holds the period of its
	// last delete or a later one: no post of it counts there. Windows that
	// closed before its deletes keep its posts (docs/pipeline.md,
	// "Deletes"), and may list it.
	RetractedWindows int
	// Windows is the number of scored overall windows.
	Windows int
}

// Recall2 is the fraction of the target group detected within two periods.
func (r Result) Recall2() float64 { return ratio(r.TargetWithin2, r.Target) }

// Recall is the fraction of the target group detected while it lasted.
func (r Result) Recall() float64 { return ratio(r.TargetEver, r.Target) }

// Precision is TP / (TP + FP): organic background bursts count as neither.
func (r Result) Precision() float64 { return ratio(r.TP, r.TP+r.FP) }

// StrictPrecision counts every listed non-injected term as a false positive.
func (r Result) StrictPrecision() float64 { return ratio(r.TP, r.TP+r.FP+r.Neither) }

func ratio(a, b int) float64 {
	if b == 0 {
		return math.NaN()
	}
	return float64(a) / float64(b)
}

type key struct {
	text, lang string
	kind       tsv1.TermKind
}

// Evaluate judges snapshots (every language's ranking of every window)
// against rep's ground truth. oracle decides which background terms are
// genuinely bursty.
func Evaluate(name string, rep *Replay, snaps []*tsv1.WindowSnapshot, oracle *Oracle, p Params) Result {
	res := Result{Name: name}
	type list struct {
		end  time.Time
		lang string
		top  []*tsv1.TrendingTerm
	}
	var lists []list
	for _, s := range snaps {
		top := s.GetTerms()
		if len(top) > p.TopN {
			top = top[:p.TopN]
		}
		lists = append(lists, list{s.GetWindowEnd().AsTime(), s.GetLang(), top})
	}
	slices.SortFunc(lists, func(a, b list) int { return a.end.Compare(b.end) })

	bursts := map[key]*Burst{}
	for i := range rep.Bursts {
		b := &rep.Bursts[i]
		bursts[key{b.Term, b.Lang, tsv1.TermKind_TERM_KIND_HASHTAG}] = b
	}
	story := storyIndex(rep)
	retracted := map[key]*Burst{}
	for i := range rep.Retracted {
		b := &rep.Retracted[i]
		for _, st := range b.Story() {
			retracted[key{st.Text, b.Lang, st.Kind}] = b
		}
	}
	first := map[*Burst]time.Time{}
	frequent, spam, stop, gone := map[time.Time]bool{}, map[time.Time]bool{}, map[time.Time]bool{}, map[time.Time]bool{}
	for _, l := range lists {
		scored := l.end.After(p.ScoredFrom)
		overall := l.lang == ""
		if overall && scored {
			res.Windows++
		}
		for _, t := range l.top {
			k := key{t.GetTerm(), t.GetLang(), t.GetKind()}
			b := bursts[k]
			if b != nil && l.end.After(b.Onset) && (overall || l.lang == b.Lang) {
				if _, ok := first[b]; !ok {
					first[b] = l.end
				}
			}
			if isControl(t.GetTerm(), []string{rep.Controls.Frequent}) {
				frequent[l.end] = true
			}
			if isControl(t.GetTerm(), rep.Controls.SpamTerms) {
				spam[l.end] = true
			}
			if slices.Contains(rep.Controls.Stopwords, t.GetTerm()) {
				stop[l.end] = true
			}
			// Listed before its deletes, a retracted burst was news: the
			// windows that closed before a delete keep its post. From
			// the period of its last delete on, no window counts it.
			if rb := retracted[k]; rb != nil && (overall || l.lang == rb.Lang) &&
				l.end.UnixMilli() >= termwindow.PeriodEnd(rb.Gone.UnixMilli(), p.Period.Milliseconds()) {
				gone[l.end] = true
			}
			if !overall || !scored {
				continue
			}
			res.Entries++
			// A story's other terms are as true as its hashtag.
			sb := b
			if sb == nil {
				sb = story.of(t)
			}
			switch {
			case sb != nil && l.end.After(sb.Onset) && !l.end.After(sb.End.Add(p.Size)):
				res.TP++
			case sb == nil && oracle != nil && !isControl(t.GetTerm(), append([]string{rep.Controls.Frequent}, rep.Controls.SpamTerms...)) &&
				oracle.Organic(terms.Term{Text: t.GetTerm(), Kind: t.GetKind(), Lang: t.GetLang()}, l.end):
				res.Neither++
			default:
				res.FP++
			}
		}
	}
	res.FrequentWindows, res.SpamWindows, res.StopwordWindows = len(frequent), len(spam), len(stop)
	res.RetractedWindows = len(gone)

	type ck struct {
		shape    Shape
		strength Strength
		thin     bool
	}
	cells := map[ck]*Cell{}
	var order []ck
	ttds := map[ck][]float64{}
	shapeTTDs := map[string][]float64{}
	for i := range rep.Bursts {
		b := &rep.Bursts[i]
		k := ck{b.Shape, b.Strength, b.ThinLang}
		c := cells[k]
		if c == nil {
			c = &Cell{Shape: b.Shape, Strength: b.Strength, ThinLang: b.ThinLang}
			cells[k] = c
			order = append(order, k)
		}
		c.Bursts++
		target := b.EarlyAuthors >= p.TargetAuthors && b.EarlyShare >= p.TargetShare
		if target {
			res.Target++
		}
		e, ok := first[b]
		if !ok || e.After(b.End.Add(p.Size)) {
			// Undetected counts as never in the shape's median, so a
			// ranking cannot look fast by missing the slow ones.
			shapeTTDs[c.Label()] = append(shapeTTDs[c.Label()], math.Inf(1))
			continue
		}
		c.Ever++
		w := math.Ceil(float64(e.Sub(b.Onset)) / float64(p.Period))
		ttds[k] = append(ttds[k], w)
		shapeTTDs[c.Label()] = append(shapeTTDs[c.Label()], w)
		if target {
			res.TargetEver++
		}
		if w <= 2 {
			c.Within2++
			if target {
				res.TargetWithin2++
			}
		}
	}
	slices.SortFunc(order, func(a, b ck) int {
		switch {
		case a.thin != b.thin:
			if a.thin {
				return 1
			}
			return -1
		case a.shape != b.shape:
			return int(a.shape) - int(b.shape)
		case a.strength.Share != b.strength.Share:
			if a.strength.Share < b.strength.Share {
				return -1
			}
			return 1
		}
		return a.strength.Floor - b.strength.Floor
	})
	for _, k := range order {
		c := cells[k]
		c.MedianTTD = median(ttds[k])
		res.Cells = append(res.Cells, *c)
	}
	res.ShapeTTD = map[string]float64{}
	for l, xs := range shapeTTDs {
		res.ShapeTTD[l] = median(xs)
	}
	return res
}

// isControl reports whether term is, or is a phrase containing, one of
// the control terms.
func isControl(term string, controls []string) bool {
	for _, c := range controls {
		if c != "" && (term == c || strings.Contains(term, c)) {
			return true
		}
	}
	return false
}

func median(xs []float64) float64 {
	if len(xs) == 0 {
		return math.NaN()
	}
	xs = slices.Clone(xs)
	slices.Sort(xs)
	n := len(xs)
	if n%2 == 1 {
		return xs[n/2]
	}
	return (xs[n/2-1] + xs[n/2]) / 2
}

// stories finds the injected story a ranked term belongs to.
type stories struct {
	terms map[key]*Burst
	// words are the stories' plain words in their language, for phrases.
	words map[string][]*Burst
}

func storyIndex(rep *Replay) stories {
	s := stories{terms: map[key]*Burst{}, words: map[string][]*Burst{}}
	for i := range rep.Bursts {
		b := &rep.Bursts[i]
		for _, st := range b.Story() {
			s.terms[key{st.Text, b.Lang, st.Kind}] = b
			if st.Kind == tsv1.TermKind_TERM_KIND_WORD {
				s.words[b.Lang] = append(s.words[b.Lang], b)
			}
		}
	}
	return s
}

// of is the story t is a term of: one of its terms exactly, or a phrase
// that contains one of its words (nonsense words occur nowhere else).
func (s stories) of(t *tsv1.TrendingTerm) *Burst {
	if b := s.terms[key{t.GetTerm(), t.GetLang(), t.GetKind()}]; b != nil {
		return b
	}
	if t.GetKind() != tsv1.TermKind_TERM_KIND_PHRASE {
		return nil
	}
	for _, b := range s.words[t.GetLang()] {
		for _, c := range b.Companions {
			if c.Kind == tsv1.TermKind_TERM_KIND_WORD && slices.Contains(strings.Fields(t.GetTerm()), c.Text) {
				return b
			}
		}
	}
	return nil
}

// Grouping is how the injected stories come out as topics in one
// ranking's overall lists (see docs/eval.md, "Topics").
type Grouping struct {
	// Stories is how many stories had at least two of their terms in the
	// top N of a scored overall window; Observations how many (story,
	// window) pairs that is.
	Stories, Observations int
	// Completeness and Purity are means over the observations.
	Completeness, Purity float64
	// One is how many observations came out as exactly one topic: every
	// ranked term of the story in one topic, and nothing else in it.
	One int
	// AlwaysOne is how many stories were exactly one topic in every
	// window they were observed in.
	AlwaysOne int
	// Untopiced counts observations in windows that carried no topics at
	// all (topics off): then the figures mean nothing.
	Untopiced int
}

// OneShare is the share of observations that came out as exactly one topic.
func (g Grouping) OneShare() float64 { return ratio(g.One, g.Observations) }

// Group measures, in every scored overall window of snaps, how each story
// with at least two of its terms in the top N is grouped into topics.
// For such a story the topic is the one holding the most of its ranked
// terms (ties: the first in the snapshot's order); completeness is the
// share of the story's ranked terms in that topic, purity the share of
// that topic's members that belong to the story (its own terms, or phrases
// of its words).
func Group(rep *Replay, snaps []*tsv1.WindowSnapshot, p Params) Grouping {
	var g Grouping
	idx := storyIndex(rep)
	seen := map[*Burst]bool{}
	notOne := map[*Burst]bool{}
	var comp, pur float64
	for _, s := range snaps {
		if s.GetLang() != "" || !s.GetWindowEnd().AsTime().After(p.ScoredFrom) {
			continue
		}
		top := s.GetTerms()
		if len(top) > p.TopN {
			top = top[:p.TopN]
		}
		ranked := map[*Burst]map[key]bool{}
		for _, t := range top {
			if b := idx.terms[key{t.GetTerm(), t.GetLang(), t.GetKind()}]; b != nil {
				if ranked[b] == nil {
					ranked[b] = map[key]bool{}
				}
				ranked[b][key{t.GetTerm(), t.GetLang(), t.GetKind()}] = true
			}
		}
		for i := range rep.Bursts {
			b := &rep.Bursts[i]
			rk := ranked[b]
			if len(rk) < 2 {
				continue
			}
			g.Observations++
			seen[b] = true
			if len(s.GetTopics()) == 0 {
				g.Untopiced++
				notOne[b] = true
				continue
			}
			var best *tsv1.Topic
			bestIn := 0
			for _, tp := range s.GetTopics() {
				in := 0
				for _, m := range tp.GetMembers() {
					if rk[key{m.GetTerm(), tp.GetLang(), m.GetKind()}] {
						in++
					}
				}
				if in > bestIn {
					best, bestIn = tp, in
				}
			}
			own := 0
			if best != nil {
				for _, m := range best.GetMembers() {
					if idx.of(&tsv1.TrendingTerm{Term: m.GetTerm(), Kind: m.GetKind(), Lang: best.GetLang()}) == b {
						own++
					}
				}
			}
			c := float64(bestIn) / float64(len(rk))
			pu := 0.0
			if best != nil && len(best.GetMembers()) > 0 {
				pu = float64(own) / float64(len(best.GetMembers()))
			}
			comp += c
			pur += pu
			if bestIn == len(rk) && best != nil && own == len(best.GetMembers()) {
				g.One++
			} else {
				notOne[b] = true
			}
		}
	}
	g.Stories = len(seen)
	for b := range seen {
		if !notOne[b] {
			g.AlwaysOne++
		}
	}
	if g.Observations > 0 {
		g.Completeness = comp / float64(g.Observations)
		g.Purity = pur / float64(g.Observations)
	} else {
		g.Completeness, g.Purity = math.NaN(), math.NaN()
	}
	return g
}
