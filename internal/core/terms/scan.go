package terms

import (
	"strings"
	"unicode"
	"unicode/utf8"

	tsv1 "github.com/trendstream/trendstream/proto/trendstream/v1"
)

// class is the segmentation class of a rune. A token is a maximal run of one
// class; a change of class ends it even without a space, which is how kanji,
// kana and Latin mixed in Japanese text come apart.
type class uint8

const (
	clsNone     class = iota // separator: space, punctuation, symbol, emoji
	clsWord                  // letters and digits of space-delimited scripts
	clsHan                   // CJK ideographs
	clsHiragana              // hiragana
	clsKatakana              // katakana (and the prolonged sound mark)
)

// cjkStart is the first code point of any CJK block; below it no rune can be
// Han or kana, which skips three table lookups for most scripts.
const cjkStart = 0x2E80

// prolongedSound (ー) is script Common but lives inside kana words.
const prolongedSound = '\u30FC'

func classOf(r rune) class {
	if r < utf8.RuneSelf {
		if 'a' <= r && r <= 'z' || 'A' <= r && r <= 'Z' || '0' <= r && r <= '9' {
			return clsWord
		}
		return clsNone
	}
	if r >= cjkStart {
		switch {
		case r == prolongedSound:
			return clsKatakana
		case unicode.Is(unicode.Han, r):
			return clsHan
		case unicode.Is(unicode.Hiragana, r):
			return clsHiragana
		case unicode.Is(unicode.Katakana, r):
			return clsKatakana
		}
	}
	if unicode.IsLetter(r) || unicode.IsDigit(r) {
		return clsWord
	}
	return clsNone
}

// scanner segments one normalised text and feeds kept tokens to an
// extraction. Tokens are substrings of the text, so a plain word costs no
// allocation.
type scanner struct {
	e     *Extractor
	x     *extraction
	s     string
	start int   // byte offset of the open token, -1 if none
	cls   class // class of the open token
	alpha bool  // the open token has a letter (else it is a number)
	dirty bool  // the open token contains format characters to strip
	glued bool  // the open token directly follows a token of another class
	prev  string
	// prev is the last kept word that may open a phrase; "" after anything
	// that breaks a phrase (a dropped token, punctuation, a line break).
	tokens int
}

func (e *Extractor) scan(x *extraction, s string) {
	sc := scanner{e: e, x: x, s: s, start: -1}
	for i := 0; i < len(s); {
		if sc.tokens >= e.opts.MaxTokens {
			return
		}
		r, size := utf8.DecodeRuneInString(s[i:])
		if r == '@' && sc.start >= 0 && sc.cls == clsWord {
			if n := handleLen(s[i+1:]); n > 0 {
				// bob@example.com: the open token is an email's local part.
				sc.start = -1
				sc.tokens++
				sc.prev = ""
				i += 1 + n
				continue
			}
		}
		// A mention, URL or tag starts after a separator, or right after
		// CJK text, which needs no space before it (詳細はhttps://…).
		if sc.start < 0 || (sc.cls != clsWord && r < utf8.RuneSelf) {
			if n := sc.skip(i, r); n > 0 {
				sc.endGlued(i)
				if r == '$' {
					sc.x.add(asciiUpper(s[i+1:i+n]), tsv1.TermKind_TERM_KIND_CASHTAG)
				}
				sc.prev = ""
				i += n
				continue
			}
		}
		c := classOf(r)
		if c != clsNone {
			if r == prolongedSound && sc.start >= 0 && (sc.cls == clsHiragana || sc.cls == clsKatakana) {
				c = sc.cls // すごーい stays one run
			}
			glued := false
			if sc.start >= 0 && c != sc.cls {
				sc.endGlued(i)
				glued = true
			}
			if sc.start < 0 {
				sc.start, sc.cls, sc.alpha, sc.dirty, sc.glued = i, c, false, false, glued
			}
			if c != clsWord || !unicode.IsDigit(r) {
				sc.alpha = true
			}
			i += size
			continue
		}
		switch {
		case unicode.IsMark(r):
			// Combining marks belong to the letter before them (Indic
			// vowel signs, accents NFKC could not compose); alone they
			// are noise, as are emoji variation selectors.
		case r == '\u200B' || r == '\uFEFF':
			sc.end(i) // zero-width space separates words
		case unicode.Is(unicode.Cf, r):
			// ZWJ, ZWNJ, bidi marks, soft hyphen: invisible, so a word
			// with them must equal the word without.
			if sc.start >= 0 {
				sc.dirty = true
			}
		case r == '\'' && sc.start >= 0 && sc.cls == clsWord && sc.letterAt(i+size):
			// don't, l'amour: the apostrophe is inside the word.
		case r == '\n' || r == '\u2028' || r == '\u2029':
			sc.end(i)
			sc.prev = ""
		case unicode.IsSpace(r):
			sc.end(i)
		case r == '-' || r == '\u2010' || r == '\u2011' || r == '*' || r == '_':
			// anti-harassment, *really*: join words, do not break phrases.
			sc.end(i)
		default:
			// Sentence punctuation, brackets, symbols, emoji, U+FFFD.
			sc.end(i)
			sc.prev = ""
		}
		i += size
	}
	sc.end(len(s))
}

func (sc *scanner) letterAt(i int) bool {
	if i >= len(sc.s) {
		return false
	}
	r, _ := utf8.DecodeRuneInString(sc.s[i:])
	return unicode.IsLetter(r)
}

// skip returns how many bytes at i are a mention, a URL, a '#tag' already
// counted from facets or a cashtag, or 0 if none starts there.
func (sc *scanner) skip(i int, r rune) int {
	switch {
	case r == '$':
		if n := cashtagLen(sc.s[i+1:]); n > 0 {
			return 1 + n
		}
	case r == '@':
		n := 1 + handleLen(sc.s[i+1:])
		if n > 1 {
			return n
		}
	case r == '#':
		n := tagLen(sc.s[i+1:])
		if n > 0 && sc.x.isTag(sc.s[i+1:i+1+n]) {
			return 1 + n
		}
	case r < utf8.RuneSelf && classOf(r) == clsWord:
		return urlLen(sc.s[i:])
	}
	return 0
}

// end closes the open token, which ends just before byte i at a separator,
// and emits it.
func (sc *scanner) end(i int) { sc.close(i, false) }

// endGlued closes the open token where a token of another class begins.
func (sc *scanner) endGlued(i int) { sc.close(i, true) }

func (sc *scanner) close(i int, gluedRight bool) {
	if sc.start < 0 {
		return
	}
	tok := sc.s[sc.start:i]
	sc.start = -1
	sc.tokens++
	if sc.dirty {
		tok = strings.Map(func(r rune) rune {
			if unicode.Is(unicode.Cf, r) {
				return -1
			}
			return r
		}, tok)
	}
	o := &sc.e.opts
	x := sc.x
	switch sc.cls {
	case clsWord:
		if !sc.alpha {
			sc.prev = "" // numbers are dropped and break phrases
			return
		}
		tok = strings.TrimSuffix(tok, "'s") // Bluesky's → bluesky
		if elides[x.lang] {
			tok = elide(tok)
		}
		if n := utf8.RuneCountInString(tok); n < o.MinWordRunes || n > o.MaxWordRunes || x.isStop(tok) {
			sc.prev = ""
			return
		}
		x.add(tok, tsv1.TermKind_TERM_KIND_WORD)
		if o.Phrases && sc.prev != "" && sc.prev != tok {
			x.add(sc.prev+" "+tok, tsv1.TermKind_TERM_KIND_PHRASE)
		}
		sc.prev = tok
		return
	case clsHan:
		sc.han(tok)
	case clsHiragana:
		// Hiragana glued to kanji or katakana is okurigana and particles
		// (認識|するよりも); only a free-standing run can be a word
		// (おはよう, そろそろ).
		if !sc.glued && !gluedRight {
			sc.kana(tok, o.MinKanaRunes, o.MaxKanaRunes)
		}
	case clsKatakana:
		sc.kana(tok, o.MinKatakanaRunes, o.MaxWordRunes)
	}
	// Phrases are for space-delimited scripts; for Han the bigrams already
	// are the phrases.
	sc.prev = ""
}

// han emits a Han run whole if short (a Japanese word such as 東京 or a name
// such as 大谷翔平), else as overlapping bigrams, the standard segmentation
// for ideographs without a dictionary. Single ideographs are too ambiguous.
func (sc *scanner) han(tok string) {
	n := utf8.RuneCountInString(tok)
	if n < 2 {
		return
	}
	if n <= sc.e.opts.MaxHanRun {
		if !sc.x.isStop(tok) {
			sc.x.add(tok, tsv1.TermKind_TERM_KIND_WORD)
		}
		return
	}
	_, a := utf8.DecodeRuneInString(tok)
	for i := 0; i < len(tok); {
		_, b := utf8.DecodeRuneInString(tok[i+a:])
		if b == 0 {
			break
		}
		if bg := tok[i : i+a+b]; !sc.x.isStop(bg) {
			sc.x.add(bg, tsv1.TermKind_TERM_KIND_WORD)
		}
		i += a
		a = b
	}
}

func (sc *scanner) kana(tok string, min, max int) {
	if n := utf8.RuneCountInString(tok); n < min || n > max || sc.x.isStop(tok) {
		return
	}
	sc.x.add(tok, tsv1.TermKind_TERM_KIND_WORD)
}

// handleLen is the length of the handle or DID after an '@'.
func handleLen(s string) int {
	n := 0
	for n < len(s) {
		c := s[n]
		if 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' || c == '.' || c == '-' || c == '_' || c == ':' {
			n++
			continue
		}
		break
	}
	return n
}

// Cashtag limits: US tickers have 1 to 5 letters, and a share class is one
// more letter after a dot (BRK.B, BF.A).
const (
	maxCashtagLetters = 5
	maxClassLetters   = 1
)

// cashtagLen is the length of the stock symbol after a '$' ("aapl" in
// "$aapl,", "brk.b" in "$brk.b"), or 0 when what follows is not one: a money
// amount ("$5", "$5.99"), a longer word ("$aaplx", "$hello"), or letters
// glued to digits or other letters ("$aapl5", "$café"). The '$' must start a
// token, which the scanner ensures, so "a$ap" or "us$" are no cashtags. The
// text is already case-folded, so "$AAPL" and "$aapl" are one symbol.
func cashtagLen(s string) int {
	n := asciiLetters(s, maxCashtagLetters+1)
	if n == 0 || n > maxCashtagLetters {
		return 0
	}
	if n < len(s) && s[n] == '.' {
		// A class suffix only when exactly that many letters follow and
		// then a boundary; "$aapl." ends a sentence, "$aapl.com" is no
		// symbol with a class (the cashtag is then "aapl" before the dot).
		if k := asciiLetters(s[n+1:], maxClassLetters+1); k > 0 && k <= maxClassLetters && cashtagEnds(s[n+1+k:]) {
			return n + 1 + k
		}
	}
	if !cashtagEnds(s[n:]) {
		return 0
	}
	return n
}

// asciiLetters counts the ASCII letters at the start of s, up to limit.
func asciiLetters(s string, limit int) int {
	n := 0
	for n < len(s) && n < limit && ('a' <= s[n] && s[n] <= 'z' || 'A' <= s[n] && s[n] <= 'Z') {
		n++
	}
	return n
}

// cashtagEnds reports whether a symbol may end before s: at the end of the
// text or at anything but '_', a combining mark, or a letter or digit of a
// space-delimited script. CJK text needs no space, so $AAPLが ends at が.
func cashtagEnds(s string) bool {
	if s == "" {
		return true
	}
	r, _ := utf8.DecodeRuneInString(s)
	return r != '_' && classOf(r) != clsWord && !unicode.IsMark(r)
}

// asciiUpper upper-cases the ASCII letters of s: a symbol is spelled in
// capitals (AAPL), as the market feeds spell it.
func asciiUpper(s string) string {
	b := []byte(s)
	for i, c := range b {
		if 'a' <= c && c <= 'z' {
			b[i] = c - 'a' + 'A'
		}
	}
	return string(b)
}

// tagLen is the length of a hashtag body after '#': letters, digits, marks,
// '_' and '-', as in Bluesky's hashtag rule.
func tagLen(s string) int {
	n := 0
	for n < len(s) {
		r, size := utf8.DecodeRuneInString(s[n:])
		if r == '_' || r == '-' || unicode.IsLetter(r) || unicode.IsDigit(r) || unicode.IsMark(r) || r == prolongedSound {
			n += size
			continue
		}
		break
	}
	return n
}

// urlChars marks the bytes that may appear in a URL written in post text.
var urlChars = func() (t [256]bool) {
	for c := 'a'; c <= 'z'; c++ {
		t[c], t[c-'a'+'A'] = true, true
	}
	for c := '0'; c <= '9'; c++ {
		t[c] = true
	}
	for _, c := range []byte("-._~:/?#[]@!$&'()*+,;=%") {
		t[c] = true
	}
	return t
}()

// urlLen returns the length of the URL at the start of s, or 0. Bluesky
// clients shorten link text to "host/path..." without a scheme, so a bare
// host counts when it has a path or a common top-level domain; "e.g." and
// "U.S." do not.
func urlLen(s string) int {
	n, dots := 0, false
	for n < len(s) && urlChars[s[n]] {
		dots = dots || s[n] == '.'
		n++
	}
	if !dots {
		return 0 // the common case: a plain word; every URL form has a dot
	}
	run := s[:n]
	if strings.HasPrefix(run, "http://") || strings.HasPrefix(run, "https://") || strings.HasPrefix(run, "www.") {
		return n
	}
	trimmed := run
	for len(trimmed) > 0 && strings.IndexByte(".,;:!?)]}'", trimmed[len(trimmed)-1]) >= 0 {
		trimmed = trimmed[:len(trimmed)-1]
	}
	host, hasPath := trimmed, false
	if k := strings.IndexByte(trimmed, '/'); k >= 0 {
		host, hasPath = trimmed[:k], true
	}
	dot := strings.LastIndexByte(host, '.')
	if dot <= 0 || dot == len(host)-1 {
		return 0
	}
	for _, label := range strings.Split(host, ".") {
		if label == "" {
			return 0
		}
		for j := 0; j < len(label); j++ {
			c := label[j]
			if !('a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' || c == '-') {
				return 0
			}
		}
	}
	tld := strings.ToLower(host[dot+1:])
	for j := 0; j < len(tld); j++ {
		if tld[j] < 'a' || tld[j] > 'z' {
			return 0
		}
	}
	if len(tld) < 2 {
		return 0
	}
	if hasPath || commonTLDs[tld] {
		return len(trimmed)
	}
	return 0
}

// commonTLDs are top-level domains frequent enough in posts that a bare
// "name.tld" is more likely a link than two words missing a space.
var commonTLDs = map[string]bool{
	"com": true, "org": true, "net": true, "io": true, "co": true, "uk": true, "de": true, "jp": true,
	"br": true, "fr": true, "es": true, "pt": true, "nl": true, "eu": true,
	"ca": true, "au": true, "gov": true, "edu": true, "tv": true, "app": true, "social": true,
	"dev": true, "ai": true, "ly": true, "gl": true, "gd": true, "info": true, "news": true,
	"blog": true, "xyz": true, "site": true, "online": true, "link": true, "page": true, "ch": true,
	"ru": true, "cn": true, "kr": true, "mx": true, "ar": true, "tech": true,
}

// elides are the languages whose articles and pronouns elide onto the next
// word (l'amour, qu'il).
var elides = map[string]bool{"fr": true, "it": true, "ca": true}

// elide drops an elided prefix: "l'amour" → "amour", "qu'il" → "il".
func elide(w string) string {
	if i := strings.IndexByte(w, '\''); i > 0 && (i <= 2 || w[:i] == "qu") {
		return w[i+1:]
	}
	return w
}
