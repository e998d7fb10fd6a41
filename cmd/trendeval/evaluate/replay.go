// Package evaluate builds the trend-quality replay (real background posts
// plus injected bursts with known ground truth and negative controls) and
// scores rankings against that ground truth. It does no I/O: cmd/trendeval
// runs the replay through the real pipeline and writes the report.
package evaluate

import (
	"fmt"
	"math/rand/v2"
	"slices"
	"strings"
	"time"

	"google.golang.org/protobuf/types/known/timestamppb"

	"github.com/trendstream/trendstream/internal/corpus"
	tsv1 "github.com/trendstream/trendstream/proto/trendstream/v1"
)

// Shape is how a burst's activity unfolds over time (Hendrickson et al.'s
// anomaly types).
type Shape int

const (
	// Pulse is a short spike: full strength for a few periods, then nothing.
	Pulse Shape = iota
	// MeanShift steps up to full strength and stays there for a long time.
	MeanShift
	// RampUp grows linearly from zero to full strength, then holds.
	RampUp
)

// Shapes lists every shape in report order.
var Shapes = []Shape{Pulse, MeanShift, RampUp}

// String names the shape as the report does.
func (s Shape) String() string {
	switch s {
	case Pulse:
		return "pulse"
	case MeanShift:
		return "mean-shift"
	case RampUp:
		return "ramp-up"
	}
	return fmt.Sprintf("Shape(%d)", int(s))
}

// Config sizes the replay. Durations in periods are in window periods.
type Config struct {
	Seed  uint64
	Start time.Time
	// Span is the event time the background posts are spread over.
	Span time.Duration
	// BackgroundPosts caps the real posts used (0: the whole corpus).
	BackgroundPosts int
	Period, Size    time.Duration
	// Quiet is the time after Start before the first onset: warm-up plus a
	// full window, so baselines exist when bursts begin.
	Quiet time.Duration
	// Strengths are the burst strengths: distinct authors per period at
	// full intensity.
	Strengths     []int
	BurstsPerCell int
	// Durations of each shape, in periods. A ramp rises over RampPeriods
	// and holds for half as long again.
	PulsePeriods, ShiftPeriods, RampPeriods int
	// FrequentPerPeriod is the always-frequent control's distinct authors
	// per period, over the whole span.
	FrequentPerPeriod int
	// SpamPosts is how many posts the single-author flood writes, spread
	// over SpamPeriods.
	SpamPosts, SpamPeriods int
	// StopwordAuthorsPerPeriod and StopwordPeriods size the stopword
	// control: many authors posting nothing but stopwords.
	StopwordAuthorsPerPeriod, StopwordPeriods int
}

// DefaultConfig is the default replay of `make eval`.
func DefaultConfig() Config {
	// Sized so that the real pipeline on Prism finishes the replay in a few
	// minutes on a shared 2-core machine (about 4,700 posts).
	return Config{
		Seed:                     1,
		Start:                    time.Date(2026, 3, 2, 8, 0, 0, 0, time.UTC),
		Span:                     110 * time.Minute,
		BackgroundPosts:          2500,
		Period:                   time.Minute,
		Size:                     10 * time.Minute,
		Quiet:                    30 * time.Minute,
		Strengths:                []int{5, 10, 20},
		BurstsPerCell:            2,
		PulsePeriods:             3,
		ShiftPeriods:             10,
		RampPeriods:              8,
		FrequentPerPeriod:        3,
		SpamPosts:                100,
		SpamPeriods:              10,
		StopwordAuthorsPerPeriod: 10,
		StopwordPeriods:          5,
	}
}

// Burst is one injected trend: the ground truth.
type Burst struct {
	Term     string // normalised hashtag text, as rankings report it
	Lang     string
	Shape    Shape
	Strength int
	// Onset is on the period grid; End is after the last post.
	Onset, End time.Time
	// Authors is the distinct authors overall, EarlyAuthors those in the
	// first two periods, [Onset, Onset+2·period).
	Authors, EarlyAuthors int
}

// Controls names the negative controls' terms.
type Controls struct {
	// Frequent is a hashtag posted by many authors all the time.
	Frequent string
	// SpamTerms are what the single-author flood posts.
	SpamTerms []string
	// Stopwords are what the stopword control posts.
	Stopwords []string
}

// Replay is the event-time-ordered input and its ground truth.
type Replay struct {
	Posts    []*tsv1.Post
	Bursts   []Burst
	Controls Controls
	// Background is how many posts are real.
	Background int
	Start, End time.Time
}

// Generate builds the replay from the bundled corpus.
func Generate(cfg Config) (*Replay, error) {
	all, err := corpus.Posts()
	if err != nil {
		return nil, err
	}
	return generate(all, cfg)
}

func generate(all []*tsv1.Post, cfg Config) (*Replay, error) {
	if cfg.Period <= 0 || cfg.Span <= 0 {
		return nil, fmt.Errorf("evaluate: period and span must be positive")
	}
	bg := all
	if cfg.BackgroundPosts > 0 && cfg.BackgroundPosts < len(bg) {
		bg = bg[:cfg.BackgroundPosts]
	}
	rate := float64(len(bg)) / cfg.Span.Seconds()
	rep := &Replay{
		Posts:      corpus.Retime(bg, cfg.Start, rate),
		Background: len(bg),
		Start:      cfg.Start,
		End:        cfg.Start.Add(cfg.Span),
	}
	rng := rand.New(rand.NewPCG(cfg.Seed, 0x7e7d))
	g := &gen{cfg: cfg, rng: rng, rep: rep, byLang: map[string][]*tsv1.Post{}, used: map[string]bool{}}
	for _, p := range bg {
		l := lang(p)
		g.byLang[l] = append(g.byLang[l], p)
	}
	g.controls()
	for _, shape := range Shapes {
		for _, s := range cfg.Strengths {
			for range cfg.BurstsPerCell {
				g.burst(shape, s)
			}
		}
	}
	slices.SortStableFunc(rep.Posts, func(a, b *tsv1.Post) int {
		return a.GetObservedAt().AsTime().Compare(b.GetObservedAt().AsTime())
	})
	return rep, nil
}

type gen struct {
	cfg    Config
	rng    *rand.Rand
	rep    *Replay
	byLang map[string][]*tsv1.Post
	used   map[string]bool
	seq    int
}

func lang(p *tsv1.Post) string {
	if l := p.GetLangs(); len(l) > 0 {
		return strings.ToLower(strings.SplitN(l[0], "-", 2)[0])
	}
	return "und"
}

// burstLangs weights burst languages roughly like the corpus's larger
// languages, so per-language rankings are exercised too.
var burstLangs = []string{"en", "en", "en", "en", "de", "ja", "pt"}

// name makes a term that cannot occur in real text: a pronounceable
// nonsense word, unique within the replay.
func (g *gen) name() string {
	cons, vows := "bdfgklmnprstvz", "aeiou"
	for {
		var b strings.Builder
		for range 4 {
			b.WriteByte(cons[g.rng.IntN(len(cons))])
			b.WriteByte(vows[g.rng.IntN(len(vows))])
		}
		b.WriteString("x")
		if s := b.String(); !g.used[s] {
			g.used[s] = true
			return s
		}
	}
}

func (g *gen) post(author, text, lang string, tags []string, at time.Time) {
	g.seq++
	g.rep.Posts = append(g.rep.Posts, &tsv1.Post{
		Uri:        fmt.Sprintf("at://%s/app.bsky.feed.post/eval%06d", author, g.seq),
		AuthorDid:  author,
		Rkey:       fmt.Sprintf("eval%06d", g.seq),
		Text:       text,
		Langs:      []string{lang},
		Hashtags:   tags,
		CreatedAt:  timestamppb.New(at),
		ObservedAt: timestamppb.New(at),
		Source:     tsv1.Source_SOURCE_BLUESKY,
		Operation:  tsv1.Operation_OPERATION_CREATE,
	})
}

// filler is the text of a random real post in lang, so injected posts carry
// ordinary words as real posts about a trend do.
func (g *gen) filler(lang string) string {
	ps := g.byLang[lang]
	if len(ps) == 0 {
		ps = g.byLang["en"]
	}
	if len(ps) == 0 {
		return ""
	}
	return ps[g.rng.IntN(len(ps))].GetText()
}

// within returns a random instant in period i after t.
func (g *gen) within(t time.Time, i int) time.Time {
	return t.Add(time.Duration(i)*g.cfg.Period + time.Duration(g.rng.Int64N(int64(g.cfg.Period))))
}

// rate is a shape's distinct new authors in period i, before rounding.
func (g *gen) rate(shape Shape, strength, i int) float64 {
	if shape == RampUp && i < g.cfg.RampPeriods {
		return float64(strength) * (float64(i) + 0.5) / float64(g.cfg.RampPeriods)
	}
	return float64(strength)
}

func (g *gen) periods(shape Shape) int {
	switch shape {
	case Pulse:
		return g.cfg.PulsePeriods
	case MeanShift:
		return g.cfg.ShiftPeriods
	}
	return g.cfg.RampPeriods + g.cfg.RampPeriods/2
}

func (g *gen) burst(shape Shape, strength int) {
	n := g.periods(shape)
	dur := time.Duration(n) * g.cfg.Period
	lo := g.rep.Start.Add(g.cfg.Quiet)
	hi := g.rep.End.Add(-dur - g.cfg.Size)
	slots := int(hi.Sub(lo) / g.cfg.Period)
	if slots < 1 {
		slots = 1
	}
	onset := lo.Add(time.Duration(g.rng.IntN(slots)) * g.cfg.Period).Truncate(g.cfg.Period)
	b := Burst{Term: g.name(), Lang: burstLangs[g.rng.IntN(len(burstLangs))], Shape: shape, Strength: strength, Onset: onset}
	var authors []string
	early := map[string]bool{}
	last := onset
	for i := range n {
		r := g.rate(shape, strength, i)
		k := int(r)
		if g.rng.Float64() < r-float64(k) {
			k++
		}
		for range k {
			a := fmt.Sprintf("did:plc:evalburst-%s-%04d", b.Term, len(authors))
			authors = append(authors, a)
			posts := []string{a}
			// Some authors post twice, as real ones do.
			if g.rng.Float64() < 0.15 {
				posts = append(posts, a)
			}
			for _, who := range posts {
				at := g.within(onset, i)
				g.post(who, g.filler(b.Lang)+" #"+b.Term, b.Lang, []string{b.Term}, at)
				if at.Before(onset.Add(2 * g.cfg.Period)) {
					early[who] = true
				}
				if at.After(last) {
					last = at
				}
			}
		}
	}
	b.Authors, b.EarlyAuthors, b.End = len(authors), len(early), last
	g.rep.Bursts = append(g.rep.Bursts, b)
}

func (g *gen) controls() {
	c := &g.rep.Controls
	span := int(g.rep.End.Sub(g.rep.Start) / g.cfg.Period)

	// Always frequent: a steady stream from a pool of regulars.
	c.Frequent = g.name()
	pool := 10 * g.cfg.FrequentPerPeriod
	for i := 0; i < span && g.cfg.FrequentPerPeriod > 0; i++ {
		for range g.cfg.FrequentPerPeriod {
			a := fmt.Sprintf("did:plc:evalregular-%04d", g.rng.IntN(pool))
			g.post(a, g.filler("en")+" #"+c.Frequent, "en", []string{c.Frequent}, g.within(g.rep.Start, i))
		}
	}

	// Single-author flood, after the quiet start.
	coin, deal := g.name(), g.name()
	c.SpamTerms = []string{coin, deal}
	if g.cfg.SpamPosts > 0 && g.cfg.SpamPeriods > 0 {
		first := g.rep.Start.Add(g.cfg.Quiet)
		slots := max(1, int(g.rep.End.Sub(first)/g.cfg.Period)-g.cfg.SpamPeriods)
		at0 := first.Add(time.Duration(g.rng.IntN(slots)) * g.cfg.Period)
		for j := range g.cfg.SpamPosts {
			i := j * g.cfg.SpamPeriods / g.cfg.SpamPosts
			text := fmt.Sprintf("#%s %s %s now", coin, coin, deal)
			g.post("did:plc:evalspammer", text, "en", []string{coin}, g.within(at0, i))
		}
	}

	// Stopwords: many authors at once, nothing but function words.
	c.Stopwords = []string{"the", "and", "lol", "you", "this", "just"}
	if g.cfg.StopwordAuthorsPerPeriod > 0 {
		first := g.rep.Start.Add(g.cfg.Quiet)
		slots := max(1, int(g.rep.End.Sub(first)/g.cfg.Period)-g.cfg.StopwordPeriods)
		at0 := first.Add(time.Duration(g.rng.IntN(slots)) * g.cfg.Period)
		n := 0
		for i := range g.cfg.StopwordPeriods {
			for range g.cfg.StopwordAuthorsPerPeriod {
				n++
				g.post(fmt.Sprintf("did:plc:evalstop-%04d", n), "lol the and you just this", "en", nil, g.within(at0, i))
			}
		}
	}
}
