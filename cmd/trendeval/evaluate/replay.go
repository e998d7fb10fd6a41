// Package evaluate builds the trend-quality replay (real background posts
// plus injected bursts with known ground truth and negative controls) and
// scores rankings against that ground truth. It does no I/O: cmd/trendeval
// runs the replay through the real pipeline and writes the report.
package evaluate

import (
	"cmp"
	"fmt"
	"math"
	"math/rand/v2"
	"slices"
	"strings"
	"time"

	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/timestamppb"

	"github.com/trendstream/trendstream/internal/core/recentposts"
	"github.com/trendstream/trendstream/internal/testenv/corpus"
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

// Strength is a burst's intensity at full strength: a share of all the
// posts of a period, and at least Floor distinct new authors per period.
type Strength struct {
	Share float64
	Floor int
}

// String is how the report and the flags write a strength: "5%≥5".
func (s Strength) String() string {
	return fmt.Sprintf("%g%%≥%d", 100*s.Share, s.Floor)
}

// Config sizes the replay. Durations in periods are in window periods.
type Config struct {
	Seed  uint64
	Start time.Time
	// Span is the event time the background posts are spread over.
	Span time.Duration
	// Rate is the background's posts per second. Up to the corpus's size
	// the background is an evenly spaced subsample of it in created_at
	// order, with its real authors (and its real news, which the Oracle
	// recognises); beyond, corpus posts drawn at random, each from an
	// author of a synthetic pool (a stationary background: no organic
	// bursts). Zero: BackgroundPosts over Span.
	Rate float64
	// BackgroundPosts caps the real posts used when Rate is zero (0: the
	// whole corpus).
	BackgroundPosts int
	Period, Size    time.Duration
	// Quiet is the time after Start before the first onset: warm-up plus a
	// full window, so baselines exist when bursts begin.
	Quiet time.Duration
	// Strengths are the burst strengths at full intensity.
	Strengths     []Strength
	BurstsPerCell int
	// ThinLangBursts are pulses in the corpus's smallest burst language,
	// each at a tenth of that language's posts per period and at least
	// ThinLangFloor authors per period: bursts that matter in their
	// language's ranking, not overall.
	ThinLangBursts, ThinLangFloor int
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
	// ControlShare scales the controls with the volume: each is at least
	// this share of the background posts per period (the frequent term's
	// posts, the flood's posts, the stopword authors).
	ControlShare float64
	// DeleteShare is the share of a burst's posts deleted by their
	// authors, DeleteAfter at most after they were posted (uniformly in
	// (0, DeleteAfter]): people delete what they posted in a rush, and a
	// trend list should not be held up by posts that are gone. The deleted
	// posts come from authors of their own, on top of the burst's
	// strength, which is what is left.
	DeleteShare float64
	DeleteAfter time.Duration
	// RetractedBursts are pulses at the strongest strength whose every
	// post is deleted, DeleteAfter at most after it was posted: with
	// deletes retracted they should never be listed. They are not in
	// Replay.Bursts (nothing is there to detect) but in Replay.Retracted.
	RetractedBursts int
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
		Strengths:                []Strength{{0.05, 4}, {0.1, 10}, {0.2, 10}},
		BurstsPerCell:            2,
		ThinLangBursts:           2,
		ThinLangFloor:            10,
		PulsePeriods:             3,
		ShiftPeriods:             10,
		RampPeriods:              8,
		FrequentPerPeriod:        3,
		SpamPosts:                100,
		SpamPeriods:              10,
		StopwordAuthorsPerPeriod: 10,
		StopwordPeriods:          5,
		ControlShare:             0.03,
		DeleteShare:              0.1,
		DeleteAfter:              5 * time.Minute,
		RetractedBursts:          2,
	}
}

// Burst is one injected trend: the ground truth.
type Burst struct {
	Term     string // normalised hashtag text, as rankings report it
	Lang     string
	Shape    Shape
	Strength Strength
	// ThinLang marks a burst sized by its language's posts, not all posts.
	ThinLang bool
	// Onset is on the period grid; End is after the last post.
	Onset, End time.Time
	// Authors is the distinct authors overall, EarlyAuthors those in the
	// first three periods, [Onset, Onset+3·period).
	Authors, EarlyAuthors int
	// EarlyShare is the burst's largest share of all posts of one of its
	// first three periods (of its language's posts, for ThinLang).
	// Both count the posts that were not deleted.
	EarlyShare float64
	// Deleted is how many of the burst's posts their authors deleted.
	Deleted int
	// Gone is when the last of a retracted burst's posts was deleted
	// (Replay.Retracted; zero for the others): no window that ends in its
	// period or later counts any of them (docs/pipeline.md, "Deletes").
	Gone time.Time
	// Companions are the story's other terms (1 to 3 nonsense hashtags
	// or words): each is in a share CompanionShare of the story's posts,
	// drawn per post, beside the hashtag Term that every post carries.
	Companions []StoryTerm
}

// StoryTerm is one term of an injected story, as rankings report it.
type StoryTerm struct {
	Text string
	Kind tsv1.TermKind
}

// Story lists every term of the burst's story: its hashtag first.
func (b *Burst) Story() []StoryTerm {
	return append([]StoryTerm{{b.Term, tsv1.TermKind_TERM_KIND_HASHTAG}}, b.Companions...)
}

// CompanionShare is the chance that a story post carries a given companion
// term.
const CompanionShare = 0.6

// burstDIDPrefix starts every burst author's DID.
const burstDIDPrefix = "did:plc:evalburst-"

// EarlyPeriods is how many periods after onset EarlyAuthors and EarlyShare
// look at.
const EarlyPeriods = 3

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
	// Background is how many posts are the background, Real whether they
	// are a subsample of the corpus in order (else resampled).
	Background int
	Real       bool
	Start, End time.Time
	// Retracted are the bursts whose every post was deleted
	// (Config.RetractedBursts): ground truth of what must not be listed.
	Retracted []Burst
	// Deletes is how many delete events the replay holds.
	Deletes int
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
	rng := rand.New(rand.NewPCG(cfg.Seed, 0x7e7d))
	bg, real := background(all, cfg, rng)
	rate := float64(len(bg)) / cfg.Span.Seconds()
	rep := &Replay{
		Posts:      corpus.Retime(bg, cfg.Start, rate),
		Background: len(bg),
		Real:       real,
		Start:      cfg.Start,
		End:        cfg.Start.Add(cfg.Span),
	}
	// Retime spreads evenly; jitter within the step keeps a resampled
	// background from being a metronome.
	step := time.Duration(float64(time.Second) / rate)
	if !real && step > 0 {
		for _, p := range rep.Posts {
			p.ObservedAt = timestamppb.New(p.GetObservedAt().AsTime().Add(time.Duration(rng.Int64N(int64(step)))))
		}
	}
	g := &gen{cfg: cfg, rng: rng, story: rand.New(rand.NewPCG(cfg.Seed, 0x5707)), del: rand.New(rand.NewPCG(cfg.Seed, 0xde1e7e)), rep: rep, byLang: map[string][]*tsv1.Post{}, bgLang: map[string]int{}, used: map[string]bool{}}
	// Filler comes from the whole corpus: drawn from a thin background's
	// few posts, it would repeat their words so often that they burst too.
	for _, p := range all {
		l := lang(p)
		g.byLang[l] = append(g.byLang[l], p)
	}
	for _, p := range bg {
		g.bgLang[lang(p)]++
	}
	g.perPeriod = rate * cfg.Period.Seconds()
	g.langs = burstLangs
	if cfg.ThinLangBursts > 0 {
		// The thin language has only its own bursts: the scenario is a
		// small burst in a small language, not one under a big burst's
		// co-trending words.
		g.thin = g.thinLang()
		g.langs = slices.DeleteFunc(slices.Clone(burstLangs), func(l string) bool { return l == g.thin })
	}
	g.controls()
	for _, shape := range Shapes {
		for _, s := range cfg.Strengths {
			for range cfg.BurstsPerCell {
				g.burst(shape, s, false)
			}
		}
	}
	for range cfg.ThinLangBursts {
		g.burst(Pulse, Strength{Share: 0.1, Floor: cfg.ThinLangFloor}, true)
	}
	// Last, so that they move no other burst: the replay without them is
	// the replay before deletes were added.
	if len(cfg.Strengths) > 0 {
		strongest := slices.MaxFunc(cfg.Strengths, func(a, b Strength) int { return cmp.Compare(a.Share, b.Share) })
		for range cfg.RetractedBursts {
			g.retracted = true
			g.burst(Pulse, strongest, false)
			g.retracted = false
		}
	}
	slices.SortStableFunc(rep.Posts, func(a, b *tsv1.Post) int {
		return a.GetObservedAt().AsTime().Compare(b.GetObservedAt().AsTime())
	})
	// As the ingest writes them: each delete carries the post it deletes.
	recentposts.Attach(rep.Posts)
	rep.measure(cfg.Period)
	return rep, nil
}

// background picks the background posts: an evenly spaced subsample of
// the corpus in its order (real is true), or, above the corpus's size,
// random corpus posts from a synthetic pool of authors.
func background(all []*tsv1.Post, cfg Config, rng *rand.Rand) ([]*tsv1.Post, bool) {
	if cfg.Rate <= 0 {
		bg := all
		if cfg.BackgroundPosts > 0 && cfg.BackgroundPosts < len(bg) {
			bg = bg[:cfg.BackgroundPosts]
		}
		return bg, true
	}
	n := max(1, int(cfg.Rate*cfg.Span.Seconds()+0.5))
	if n <= len(all) {
		bg := make([]*tsv1.Post, n)
		for i := range bg {
			bg[i] = all[i*len(all)/n]
		}
		return bg, true
	}
	// Three posts per author on average over the span.
	pool := n/3 + 1
	bg := make([]*tsv1.Post, n)
	for i := range bg {
		c := proto.Clone(all[rng.IntN(len(all))]).(*tsv1.Post)
		c.AuthorDid = fmt.Sprintf("did:plc:evalbg-%07d", rng.IntN(pool))
		c.Rkey = fmt.Sprintf("bg%08d", i)
		c.Uri = fmt.Sprintf("at://%s/app.bsky.feed.post/%s", c.AuthorDid, c.Rkey)
		bg[i] = c
	}
	return bg, false
}

// measure fills each burst's early authors and share from the posts.
func (rep *Replay) measure(period time.Duration) {
	type pk struct {
		end  int64
		lang string
	}
	per := period.Milliseconds()
	all := map[pk]int{}
	byTag := map[string]map[int64]int{}
	authors := map[string]map[string]bool{}
	bursts := map[string]*Burst{}
	for i := range rep.Bursts {
		bursts[rep.Bursts[i].Term] = &rep.Bursts[i]
	}
	deleted := rep.DeletedURIs()
	for _, p := range rep.Posts {
		// What is left after the deletes is what a burst reached.
		if p.GetOperation() == tsv1.Operation_OPERATION_DELETE || deleted[p.GetUri()] {
			continue
		}
		ts := p.GetObservedAt().AsTime().UnixMilli()
		end := ts - ts%per + per
		all[pk{end, ""}]++
		all[pk{end, lang(p)}]++
		for _, h := range p.GetHashtags() {
			b := bursts[h]
			if b == nil || ts >= b.Onset.Add(EarlyPeriods*period).UnixMilli() || ts < b.Onset.UnixMilli() {
				continue
			}
			if byTag[h] == nil {
				byTag[h], authors[h] = map[int64]int{}, map[string]bool{}
			}
			byTag[h][end]++
			authors[h][p.GetAuthorDid()] = true
		}
	}
	for h, b := range bursts {
		b.EarlyAuthors = len(authors[h])
		b.EarlyShare = 0
		for end, n := range byTag[h] {
			l := ""
			if b.ThinLang {
				l = b.Lang
			}
			if tot := all[pk{end, l}]; tot > 0 {
				b.EarlyShare = max(b.EarlyShare, float64(n)/float64(tot))
			}
		}
	}
}

// DeletedURIs is the set of posts the replay deletes (whenever it does).
func (rep *Replay) DeletedURIs() map[string]bool {
	out := map[string]bool{}
	for _, p := range rep.Posts {
		if p.GetOperation() == tsv1.Operation_OPERATION_DELETE {
			out[p.GetUri()] = true
		}
	}
	return out
}

type gen struct {
	// perPeriod is the background's posts per period.
	perPeriod float64
	cfg       Config
	rng       *rand.Rand
	// story draws the companions and which posts carry them, apart from
	// rng, so the bursts' timing and authors do not depend on them.
	story *rand.Rand
	// del draws which burst posts are deleted and when, apart from rng
	// too: with DeleteShare 0 the replay is the one before deletes.
	del *rand.Rand
	// retracted marks the burst being made as one whose posts are all
	// deleted.
	retracted bool
	rep       *Replay
	langs     []string                // languages of the bursts
	thin      string                  // the thin language
	byLang    map[string][]*tsv1.Post // corpus posts by language, for filler
	bgLang    map[string]int          // background posts by language
	used      map[string]bool
	seq       int
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
func (g *gen) name() string { return g.nameFrom(g.rng) }

func (g *gen) nameFrom(rng *rand.Rand) string {
	cons, vows := "bdfgklmnprstvz", "aeiou"
	for {
		var b strings.Builder
		for range 4 {
			b.WriteByte(cons[rng.IntN(len(cons))])
			b.WriteByte(vows[rng.IntN(len(vows))])
		}
		b.WriteString("x")
		if s := b.String(); !g.used[s] {
			g.used[s] = true
			return s
		}
	}
}

func (g *gen) post(author, text, lang string, tags []string, at time.Time) *tsv1.Post {
	g.seq++
	p := &tsv1.Post{
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
	}
	g.rep.Posts = append(g.rep.Posts, p)
	return p
}

// deleteLater adds the delete of p by its author, at most DeleteAfter after
// it was posted, as the firehose carries one: identity fields only (generate
// attaches the post, as the ingest does), and returns the delete's time.
func (g *gen) deleteLater(p *tsv1.Post) time.Time {
	after := time.Millisecond
	if g.cfg.DeleteAfter > after {
		after += time.Duration(g.del.Int64N(int64(g.cfg.DeleteAfter - after + 1)))
	}
	g.rep.Deletes++
	at := p.GetObservedAt().AsTime().Add(after)
	g.rep.Posts = append(g.rep.Posts, &tsv1.Post{
		Uri:        p.GetUri(),
		AuthorDid:  p.GetAuthorDid(),
		Rkey:       p.GetRkey(),
		ObservedAt: timestamppb.New(at),
		Source:     p.GetSource(),
		Operation:  tsv1.Operation_OPERATION_DELETE,
	})
	return at
}

// filler is the text of a random real post in lang, so injected posts carry
// ordinary words as real posts about a trend do.
func (g *gen) filler(lang string) string { return g.fillerFrom(lang, g.rng) }

func (g *gen) fillerFrom(lang string, rng *rand.Rand) string {
	ps := g.byLang[lang]
	if len(ps) == 0 {
		ps = g.byLang["en"]
	}
	if len(ps) == 0 {
		return ""
	}
	return ps[rng.IntN(len(ps))].GetText()
}

// storyPost posts one post of b's story: filler text, the hashtag, and
// each companion with probability CompanionShare (drawn from rng).
func (g *gen) storyPost(b *Burst, who, filler string, at time.Time, rng *rand.Rand) *tsv1.Post {
	text, tags := filler+" #"+b.Term, []string{b.Term}
	for _, c := range b.Companions {
		if rng.Float64() >= CompanionShare {
			continue
		}
		if c.Kind == tsv1.TermKind_TERM_KIND_HASHTAG {
			text += " #" + c.Text
			tags = append(tags, c.Text)
		} else {
			text += " " + c.Text
		}
	}
	return g.post(who, text, b.Lang, tags, at)
}

// within returns a random instant in period i after t.
func (g *gen) within(t time.Time, i int) time.Time {
	return t.Add(time.Duration(i)*g.cfg.Period + time.Duration(g.rng.Int64N(int64(g.cfg.Period))))
}

// full is a strength's distinct new authors per period: its share of all
// the posts of a period (the background's per-period posts are the rest),
// or its floor. base is the posts per period it is a share of.
func full(s Strength, base float64) float64 {
	return math.Max(float64(s.Floor), s.Share/(1-s.Share)*base)
}

// rate is a shape's distinct new authors in period i, before rounding, at
// full strength f. A ramp-up is weighted like a pulse: it rises linearly
// so that its first three periods together hold a pulse's authors (½, 1,
// 1½ × f), and goes on rising to 2 × f, where it holds.
func (g *gen) rate(shape Shape, f float64, i int) float64 {
	if shape == RampUp {
		return f * float64(min(i+1, 4)) / 2
	}
	return f
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

func (g *gen) burst(shape Shape, strength Strength, thin bool) {
	n := g.periods(shape)
	dur := time.Duration(n) * g.cfg.Period
	lo := g.rep.Start.Add(g.cfg.Quiet)
	hi := g.rep.End.Add(-dur - g.cfg.Size)
	slots := int(hi.Sub(lo) / g.cfg.Period)
	if slots < 1 {
		slots = 1
	}
	onset := lo.Add(time.Duration(g.rng.IntN(slots)) * g.cfg.Period).Truncate(g.cfg.Period)
	b := Burst{Term: g.name(), Lang: g.langs[g.rng.IntN(len(g.langs))], Shape: shape, Strength: strength, Onset: onset, ThinLang: thin}
	base := g.perPeriod
	if thin {
		b.Lang = g.thin
		base = g.perPeriod * float64(g.bgLang[b.Lang]) / float64(max(1, g.rep.Background))
	}
	// The story's companions: 1 to 3, each a hashtag or a plain word.
	for range 1 + g.story.IntN(3) {
		k := tsv1.TermKind_TERM_KIND_HASHTAG
		if g.story.IntN(2) == 0 {
			k = tsv1.TermKind_TERM_KIND_WORD
		}
		b.Companions = append(b.Companions, StoryTerm{g.nameFrom(g.story), k})
	}
	f := full(strength, base)
	var authors []string
	last := onset
	for i := range n {
		r := g.rate(shape, f, i)
		k := int(r)
		if g.rng.Float64() < r-float64(k) {
			k++
		}
		for range k {
			a := fmt.Sprintf("%s%s-%04d", burstDIDPrefix, b.Term, len(authors))
			authors = append(authors, a)
			posts := []string{a}
			// Some authors post twice, as real ones do.
			if g.rng.Float64() < 0.15 {
				posts = append(posts, a)
			}
			for _, who := range posts {
				at := g.within(onset, i)
				p := g.storyPost(&b, who, g.filler(b.Lang), at, g.story)
				if g.retracted {
					if gone := g.deleteLater(p); gone.After(b.Gone) {
						b.Gone = gone
					}
					b.Deleted++
				}
				if at.After(last) {
					last = at
				}
			}
		}
		// Posts deleted soon after: from authors of their own, on top of
		// the strength, so that what is left is the burst the strength
		// says (a burst that loses authors is a weaker burst, which the
		// strengths already cover) and DeleteShare of all its posts are
		// deleted. Everything drawn from del: the rest of the replay does
		// not move.
		if g.cfg.DeleteShare > 0 && g.cfg.DeleteShare < 1 && !g.retracted {
			r := float64(k) * g.cfg.DeleteShare / (1 - g.cfg.DeleteShare)
			d := int(r)
			if g.del.Float64() < r-float64(d) {
				d++
			}
			for j := range d {
				at := onset.Add(time.Duration(i)*g.cfg.Period + time.Duration(g.del.Int64N(int64(g.cfg.Period))))
				who := fmt.Sprintf("%s%s-deleted-%04d-%d", burstDIDPrefix, b.Term, i, j)
				g.deleteLater(g.storyPost(&b, who, g.fillerFrom(b.Lang, g.del), at, g.del))
				b.Deleted++
			}
		}
	}
	b.Authors, b.End = len(authors), last
	if g.retracted {
		g.rep.Retracted = append(g.rep.Retracted, b)
		return
	}
	g.rep.Bursts = append(g.rep.Bursts, b)
}

// thinLang is the burst language with the fewest background posts (at
// least one).
func (g *gen) thinLang() string {
	best := ""
	for _, l := range burstLangs {
		if n := g.bgLang[l]; n > 0 && (best == "" || n < g.bgLang[best]) {
			best = l
		}
	}
	if best == "" {
		return "en"
	}
	return best
}

// scaled is n, or share of the background's posts per period if more.
func (g *gen) scaled(n int) int {
	return max(n, int(math.Round(g.cfg.ControlShare*g.perPeriod)))
}

func (g *gen) controls() {
	c := &g.rep.Controls
	span := int(g.rep.End.Sub(g.rep.Start) / g.cfg.Period)

	// Always frequent: a steady stream from a pool of regulars.
	c.Frequent = g.name()
	frequent := g.scaled(g.cfg.FrequentPerPeriod)
	pool := 10 * frequent
	for i := 0; i < span && g.cfg.FrequentPerPeriod > 0; i++ {
		for range frequent {
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
		posts := max(g.cfg.SpamPosts, g.scaled(0)*g.cfg.SpamPeriods)
		for j := range posts {
			i := j * g.cfg.SpamPeriods / posts
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
			for range g.scaled(g.cfg.StopwordAuthorsPerPeriod) {
				n++
				g.post(fmt.Sprintf("did:plc:evalstop-%04d", n), "lol the and you just this", "en", nil, g.within(at0, i))
			}
		}
	}
}
