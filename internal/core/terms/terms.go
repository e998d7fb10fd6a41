// Package terms turns a post into the terms that trends are counted over:
// hashtags, cashtags ($AAPL), single words (or CJK segments) and two-word phrases, each tagged
// with its kind and the post's language.
//
// It is pure logic, with no I/O, so the pipeline's DoFns and the offline
// evaluation share one definition of what a term is. Extraction runs on every
// post, so it avoids regular expressions and allocates little.
package terms

import (
	"flag"
	"strings"
	"sync"
	"unicode/utf8"

	"golang.org/x/text/cases"
	"golang.org/x/text/unicode/norm"

	tsv1 "github.com/trendstream/trendstream/proto/trendstream/v1"
)

// Term is one countable unit of a post.
type Term struct {
	// Text is the normalised term: NFKC, case-folded, hashtags without '#',
	// phrases as two words joined by one space.
	Text string
	// Kind says whether Text is a hashtag, a word, a phrase or a cashtag
	// (a stock symbol, upper-cased and without its '$': "AAPL", "BRK.B").
	Kind tsv1.TermKind
	// Lang is the post's primary language subtag ("en", "ja"), or "und".
	Lang string
}

// Options are the extraction knobs. The zero value is not useful; start from
// DefaultOptions.
type Options struct {
	// MinWordRunes drops shorter words of space-delimited scripts. Two keeps
	// "ai", "eu" and "uk", which do trend; stopwords remove "is", "of".
	MinWordRunes int
	// MaxWordRunes drops longer tokens: in scripts without spaces (Thai,
	// Khmer) a "word" can be a whole sentence, never a useful trend label.
	MaxWordRunes int
	// MinKanaRunes is the shortest hiragana run kept. Short hiragana runs
	// are nearly all particles and inflections (の, です, ました).
	MinKanaRunes int
	// MaxKanaRunes is the longest hiragana run kept; longer free-standing
	// runs are clauses written without kanji, not words.
	MaxKanaRunes int
	// MinKatakanaRunes is the shortest katakana run kept; katakana carries
	// loanwords and names, which are short but meaningful (ネコ).
	MinKatakanaRunes int
	// MaxHanRun is the longest Han run kept whole. Longer runs (Chinese
	// sentences, Japanese compounds) become overlapping character bigrams,
	// because Han text has no spaces to segment on.
	MaxHanRun int
	// MaxTextBytes caps how much of the text is read (Bluesky allows 3000
	// bytes); anything beyond is ignored so odd input cannot cost more.
	MaxTextBytes int
	// MaxTokens caps the tokens examined per post, kept or not.
	MaxTokens int
	// MaxHashtags caps the hashtags taken per post.
	MaxHashtags int
	// Phrases enables two-word phrases of adjacent kept words.
	Phrases bool
}

// DefaultOptions returns the defaults documented on each Options field.
func DefaultOptions() Options {
	return Options{
		MinWordRunes:     2,
		MaxWordRunes:     40,
		MinKanaRunes:     3,
		MaxKanaRunes:     8,
		MinKatakanaRunes: 2,
		MaxHanRun:        4,
		MaxTextBytes:     4096,
		MaxTokens:        400,
		MaxHashtags:      32,
		Phrases:          true,
	}
}

// RegisterFlags defines one flag per option on fs, named "terms-…", with the
// current values of o as defaults. Parse fs (with internal/platform/envflag for the
// environment twins) before calling New.
func (o *Options) RegisterFlags(fs *flag.FlagSet) {
	fs.IntVar(&o.MinWordRunes, "terms-min-word-runes", o.MinWordRunes, "shortest word kept, in characters")
	fs.IntVar(&o.MaxWordRunes, "terms-max-word-runes", o.MaxWordRunes, "longest word kept, in characters")
	fs.IntVar(&o.MinKanaRunes, "terms-min-kana-runes", o.MinKanaRunes, "shortest hiragana run kept")
	fs.IntVar(&o.MaxKanaRunes, "terms-max-kana-runes", o.MaxKanaRunes, "longest hiragana run kept")
	fs.IntVar(&o.MinKatakanaRunes, "terms-min-katakana-runes", o.MinKatakanaRunes, "shortest katakana run kept")
	fs.IntVar(&o.MaxHanRun, "terms-max-han-run", o.MaxHanRun, "longest Han (CJK ideograph) run kept whole; longer runs become bigrams")
	fs.IntVar(&o.MaxTextBytes, "terms-max-text-bytes", o.MaxTextBytes, "bytes of post text read at most")
	fs.IntVar(&o.MaxTokens, "terms-max-tokens", o.MaxTokens, "tokens examined per post at most")
	fs.IntVar(&o.MaxHashtags, "terms-max-hashtags", o.MaxHashtags, "hashtags taken per post at most")
	fs.BoolVar(&o.Phrases, "terms-phrases", o.Phrases, "extract two-word phrases")
}

// Extractor extracts terms with fixed options. It is safe for concurrent use.
type Extractor struct {
	opts Options
}

// New returns an Extractor. Non-positive limits fall back to the defaults so
// that a half-filled Options cannot silently disable extraction.
func New(opts Options) *Extractor {
	d := DefaultOptions()
	fix := func(v *int, def int) {
		if *v <= 0 {
			*v = def
		}
	}
	fix(&opts.MinWordRunes, d.MinWordRunes)
	fix(&opts.MaxWordRunes, d.MaxWordRunes)
	fix(&opts.MinKanaRunes, d.MinKanaRunes)
	fix(&opts.MaxKanaRunes, d.MaxKanaRunes)
	fix(&opts.MinKatakanaRunes, d.MinKatakanaRunes)
	fix(&opts.MaxHanRun, d.MaxHanRun)
	fix(&opts.MaxTextBytes, d.MaxTextBytes)
	fix(&opts.MaxTokens, d.MaxTokens)
	fix(&opts.MaxHashtags, d.MaxHashtags)
	return &Extractor{opts: opts}
}

var defaultExtractor = New(DefaultOptions())

// Extract returns the terms of p with DefaultOptions.
func Extract(p *tsv1.Post) []Term { return defaultExtractor.Extract(p) }

// Extract returns the terms of p: its hashtags (from p.Hashtags, which the
// ingest took from tag facets and the tags field), then words and phrases
// from p.Text. Each term appears once. Deletes and nil posts have none.
func (e *Extractor) Extract(p *tsv1.Post) []Term {
	if p == nil || p.GetOperation() == tsv1.Operation_OPERATION_DELETE {
		return nil
	}
	return e.Terms(p.GetText(), p.GetHashtags(), Language(p.GetLangs()))
}

// Terms extracts from parts of a post: text, its facet hashtags (with or
// without '#') and its language as returned by Language.
func (e *Extractor) Terms(text string, hashtags []string, lang string) []Term {
	if lang == "" {
		lang = Undetermined
	}
	// Most posts yield a few dozen terms; sizing once avoids regrowth.
	x := extraction{lang: lang, stop: stopwordsFor(lang), out: make([]Term, 0, 32)}
	for i, h := range hashtags {
		if i >= e.opts.MaxHashtags {
			break
		}
		if len(h) > maxTagBytes {
			continue // cannot be a valid tag; do not normalise megabytes
		}
		h = normalizeTag(h)
		if h == "" || utf8.RuneCountInString(h) > maxTagRunes {
			continue
		}
		x.tags = append(x.tags, h)
		x.add(h, tsv1.TermKind_TERM_KIND_HASHTAG)
	}
	if text != "" {
		e.scan(&x, normalize(truncate(text, e.opts.MaxTextBytes)))
	}
	return x.out
}

// Undetermined is the language of posts that declare none (BCP 47 "und").
const Undetermined = "und"

// Language returns the primary subtag of the first declared language,
// lower-cased ("pt-BR" → "pt"), or Undetermined when there is none or it is
// not a 2–3 letter code.
func Language(langs []string) string {
	if len(langs) == 0 {
		return Undetermined
	}
	l := strings.TrimSpace(langs[0])
	if i := strings.IndexAny(l, "-_"); i >= 0 {
		l = l[:i]
	}
	if len(l) < 2 || len(l) > 3 {
		return Undetermined
	}
	for i := 0; i < len(l); i++ {
		c := l[i] | 0x20
		if c < 'a' || c > 'z' {
			return Undetermined
		}
	}
	return strings.ToLower(l)
}

// maxTagRunes is Bluesky's hashtag length limit; longer "tags" are junk.
// maxTagBytes bounds the input that could still normalise to that many
// runes (NFKC rarely expands a character beyond 18 bytes).
const (
	maxTagRunes = 64
	maxTagBytes = 18 * maxTagRunes
)

// extraction accumulates one post's terms.
type extraction struct {
	lang string
	stop map[string]struct{}
	tags []string // normalised hashtags, to skip their '#tag' text
	out  []Term
	seen map[termKey]struct{} // only once out is too long to scan linearly
}

type termKey struct {
	text string
	kind tsv1.TermKind
}

// linearDedup is how many terms are checked by scanning before a map pays.
const linearDedup = 32

func (x *extraction) add(text string, kind tsv1.TermKind) {
	if x.seen != nil {
		k := termKey{text, kind}
		if _, ok := x.seen[k]; ok {
			return
		}
		x.seen[k] = struct{}{}
	} else {
		for _, t := range x.out {
			if t.Kind == kind && t.Text == text {
				return
			}
		}
		if len(x.out) >= linearDedup {
			x.seen = make(map[termKey]struct{}, 2*len(x.out))
			for _, t := range x.out {
				x.seen[termKey{t.Text, t.Kind}] = struct{}{}
			}
			x.seen[termKey{text, kind}] = struct{}{}
		}
	}
	x.out = append(x.out, Term{Text: text, Kind: kind, Lang: x.lang})
}

func (x *extraction) isStop(w string) bool {
	_, ok := x.stop[w]
	return ok
}

func (x *extraction) isTag(s string) bool {
	for _, t := range x.tags {
		if t == s {
			return true
		}
	}
	return false
}

// truncate cuts s to at most n bytes without splitting a UTF-8 sequence.
func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	for n > 0 && !utf8.RuneStart(s[n]) {
		n--
	}
	return s[:n]
}

// folders recycles case folders: a cases.Caser keeps state and must not be
// shared between goroutines, and building one per post costs an allocation.
var folders = sync.Pool{New: func() any { c := cases.Fold(); return &c }}

// normalize applies NFKC and Unicode case folding, maps typographic
// apostrophes to ASCII and replaces invalid UTF-8, so that every spelling
// variant of a word yields one term.
func normalize(s string) string {
	if !utf8.ValidString(s) {
		s = strings.ToValidUTF8(s, " ")
	}
	if isASCII(s) {
		return asciiLower(s)
	}
	s = norm.NFKC.String(s)
	c := folders.Get().(*cases.Caser)
	s = c.String(s)
	folders.Put(c)
	if strings.ContainsAny(s, "\u2019\u02bc") {
		s = strings.NewReplacer("\u2019", "'", "\u02bc", "'").Replace(s)
	}
	return s
}

// normalizeTag normalises a hashtag like text and strips its '#'.
func normalizeTag(h string) string {
	h = normalize(strings.TrimSpace(h))
	h = strings.TrimLeft(h, "#")
	return strings.TrimSpace(h)
}

func isASCII(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] >= utf8.RuneSelf {
			return false
		}
	}
	return true
}

func asciiLower(s string) string {
	for i := 0; i < len(s); i++ {
		if c := s[i]; 'A' <= c && c <= 'Z' {
			b := []byte(s)
			for j := i; j < len(b); j++ {
				if c := b[j]; 'A' <= c && c <= 'Z' {
					b[j] = c + 'a' - 'A'
				}
			}
			return string(b)
		}
	}
	return s
}
