package terms

import (
	"fmt"
	"slices"
	"strings"
	"sync"
	"testing"
	"unicode/utf8"

	tsv1 "github.com/trendstream/trendstream/proto/trendstream/v1"
)

const (
	hashtag = tsv1.TermKind_TERM_KIND_HASHTAG
	word    = tsv1.TermKind_TERM_KIND_WORD
	phrase  = tsv1.TermKind_TERM_KIND_PHRASE
)

// texts renders terms of one kind as their texts, in extraction order.
func texts(ts []Term, kind tsv1.TermKind) []string {
	var out []string
	for _, t := range ts {
		if t.Kind == kind {
			out = append(out, t.Text)
		}
	}
	return out
}

func post(text, lang string, tags ...string) *tsv1.Post {
	p := &tsv1.Post{Text: text, Hashtags: tags, Operation: tsv1.Operation_OPERATION_CREATE}
	if lang != "" {
		p.Langs = []string{lang}
	}
	return p
}

func TestExtractWords(t *testing.T) {
	tests := []struct {
		name string
		post *tsv1.Post
		want []string // words, in order
	}{
		{"case folding", post("Bluesky BLUESKY bluesky", "en"), []string{"bluesky"}},
		{"NFKC full-width", post("ＢＬＵＥＳＫＹ ｄｍｓ", "en"), []string{"bluesky", "dms"}},
		{"full case folding", post("Straße STRASSE", "de"), []string{"strasse"}},
		{"combining mark composes", post("cafe\u0301 café", "fr"), []string{"café"}},
		{"math bold letters", post("𝐖𝐞𝐝𝐧𝐞𝐬𝐝𝐚𝐲", "en"), []string{"wednesday"}},
		{"possessive", post("Bluesky's roadmap", "en"), []string{"bluesky", "roadmap"}},
		{"typographic apostrophe", post("Bluesky’s roadmap", "en"), []string{"bluesky", "roadmap"}},
		{"contraction is a stopword", post("don’t can't won't", "en"), nil},
		{"french elision", post("l'amour qu'il", "fr"), []string{"amour"}},
		{"mentions dropped", post("@alice.bsky.social hello @did:plc:abc123 friends", "en"), []string{"hello", "friends"}},
		{"email dropped", post("mail bob@example.com now", "en"), []string{"mail"}},
		{"urls dropped", post("read https://Example.com/A?b=1 and www.foo.org/x plus bsky.social/about/blog/0... nytimes.com", "en"), []string{"read", "plus"}},
		{"abbreviations are not urls", post("e.g. U.S. politics", "en"), []string{"politics"}},
		{"numbers dropped", post("2024 3.14 1,000 covid19 40k", "en"), []string{"covid19", "40k"}},
		{"single letters dropped", post("a b c x ai eu", "en"), []string{"ai", "eu"}},
		{"emoji only", post("🔥🔥 ❤️ 👨\u200d👩\u200d👧", "en"), nil},
		{"zero-width joiner inside word", post("tren\u200dding trending", "en"), []string{"trending"}},
		{"zero-width space separates", post("hello\u200bworld", "en"), []string{"hello", "world"}},
		{"bidi marks", post("\u200fשלום\u200f עולם", "he"), []string{"שלום", "עולם"}},
		{"arabic", post("مرحبا بالعالم", "ar"), []string{"مرحبا", "بالعالم"}},
		{"devanagari marks stay in word", post("नमस्ते दुनिया", "hi"), []string{"नमस्ते", "दुनिया"}},
		{"invalid utf-8", post("fine\xff\xfebad\xc3", "en"), []string{"fine", "bad"}},
		{"hyphen splits", post("anti-harassment", "en"), []string{"anti", "harassment"}},
		{"facet hashtag not a word", post("Hallo Herr #Merz", "de", "Merz"), []string{"hallo", "herr"}},
		{"unfaceted hash is text", post("Hallo #Merz", "de"), []string{"hallo", "merz"}},
		{"en stopwords", post("the cat and the hat", "en"), []string{"cat", "hat"}},
		{"es stopwords", post("el gato y la casa", "es"), []string{"gato", "casa"}},
		{"pt stopwords", post("o gato e a casa", "pt"), []string{"gato", "casa"}},
		{"de stopwords", post("die Katze und das Haus", "de"), []string{"katze", "haus"}},
		{"fr stopwords", post("le chat et la maison", "fr"), []string{"chat", "maison"}},
		{"ja stopwords", post("これ それ ネコ", "ja"), []string{"ネコ"}},
		{"english stopwords in any language", post("the Katze", "de"), []string{"katze"}},
		{"und uses every list", post("the gato und Katze", ""), []string{"gato", "katze"}},
		{"und keeps english content words", post("war car sin", ""), []string{"war", "car", "sin"}},
		{"german keeps its stopwords", post("war car", "de"), []string{"car"}},
		{"language list only for its language", post("die hard", "en"), []string{"die", "hard"}},
		{"short han run whole", post("東京に行く", "ja"), []string{"東京"}},
		{"single han dropped", post("猫", "ja"), nil},
		{"long han run as bigrams", post("筋肉痛気味", "ja"), []string{"筋肉", "肉痛", "痛気", "気味"}},
		{"chinese bigrams", post("人工智能发展", "zh"), []string{"人工", "工智", "智能", "能发", "发展"}},
		{"katakana with prolonged mark", post("インターネットのルール", "ja"), []string{"インターネット", "ルール"}},
		{"half-width katakana", post("ﾍﾞﾗﾝﾀﾞ", "ja"), []string{"ベランダ"}},
		{"no single kana", post("ネ の ね", "ja"), nil},
		{"hiragana glued to kanji dropped", post("認識するよりも重要", "ja"), []string{"認識", "重要"}},
		{"free-standing hiragana kept", post("そろそろ 帰ろう", "ja"), []string{"そろそろ"}},
		{"hangul words", post("안녕하세요 세계", "ko"), []string{"안녕하세요", "세계"}},
		{"thai run too long dropped", post(strings.Repeat("สวัสดี", 10), "th"), nil},
		{"script change splits", post("DMや動画", "ja"), []string{"dm", "動画"}},
		{"url glued to cjk", post("詳細はhttps://example.com/x 動画", "ja"), []string{"詳細", "動画"}},
		{"bare host glued to cjk", post("見てbsky.app/profile/x", "ja"), nil},
		{"mention glued to cjk", post("感謝@alice.bsky.social", "ja"), []string{"感謝"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := texts(Extract(tt.post), word)
			if !slices.Equal(got, tt.want) {
				t.Errorf("words = %q, want %q", got, tt.want)
			}
		})
	}
}

func TestExtractPhrases(t *testing.T) {
	tests := []struct {
		name string
		text string
		want []string
	}{
		{"adjacent words", "Steve Albini died", []string{"steve albini", "albini died"}},
		{"not across stopwords", "RIP to Steve Albini", []string{"steve albini"}},
		{"not across punctuation", "apples, oranges. pears! plums", nil},
		{"not across line breaks", "custom feeds\nvideo", []string{"custom feeds"}},
		{"not across urls", "read nytimes.com/a/b today please", []string{"today please"}},
		{"not across mentions", "thanks @bob.bsky.social friend", nil},
		{"not across numbers", "top 10 songs", nil},
		{"not across emoji", "love 🔥 it", nil},
		{"hyphen joins", "anti-harassment tooling", []string{"anti harassment", "harassment tooling"}},
		{"no phrases for cjk", "新型コロナ", nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := texts(Extract(post(tt.text, "en")), phrase)
			if !slices.Equal(got, tt.want) {
				t.Errorf("phrases = %q, want %q", got, tt.want)
			}
		})
	}
	opts := DefaultOptions()
	opts.Phrases = false
	if got := texts(New(opts).Extract(post("Steve Albini died", "en")), phrase); got != nil {
		t.Errorf("Phrases=false still gave %q", got)
	}
}

func TestExtractHashtags(t *testing.T) {
	tests := []struct {
		name string
		tags []string
		want []string
	}{
		{"lower-cased, without #", []string{"#Merz", "EquipeLula"}, []string{"merz", "equipelula"}},
		{"deduplicated across case", []string{"Cat", "cat", "CAT", "#cat"}, []string{"cat"}},
		{"nfkc", []string{"ＣＡＴ"}, []string{"cat"}},
		{"cjk kept whole", []string{"猫", "ニャー子"}, []string{"猫", "ニャー子"}},
		{"spaces from the tags field", []string{"digital art"}, []string{"digital art"}},
		{"empty and oversized dropped", []string{"", "#", strings.Repeat("x", 65), strings.Repeat("ｘ", 1<<20)}, nil},
		{"64 full-width characters fit", []string{strings.Repeat("ｘ", 64)}, []string{strings.Repeat("x", 64)}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := Extract(post("", "en", tt.tags...))
			if tx := texts(got, hashtag); !slices.Equal(tx, tt.want) {
				t.Errorf("hashtags = %q, want %q", tx, tt.want)
			}
			for _, term := range got {
				if term.Lang != "en" {
					t.Errorf("term %q has lang %q, want en", term.Text, term.Lang)
				}
			}
		})
	}
	many := make([]string, 100)
	for i := range many {
		many[i] = fmt.Sprintf("tag%d", i)
	}
	if n := len(Extract(post("", "en", many...))); n != DefaultOptions().MaxHashtags {
		t.Errorf("100 hashtags gave %d terms, want the cap %d", n, DefaultOptions().MaxHashtags)
	}
}

func TestExtractOncePerPost(t *testing.T) {
	got := Extract(post("cats cats CATS, cats cats! big cats big cats", "en", "cats", "Cats"))
	want := []Term{
		{"cats", hashtag, "en"},
		{"cats", word, "en"},
		{"big", word, "en"},
		{"big cats", phrase, "en"},
		{"cats big", phrase, "en"},
	}
	if !slices.Equal(got, want) {
		t.Errorf("got %v, want %v", got, want)
	}
	// Past the linear-scan threshold the map must keep the guarantee.
	var b strings.Builder
	for i := 0; i < 3; i++ {
		for j := 0; j < 60; j++ {
			fmt.Fprintf(&b, "zq%c%c, ", 'a'+j/26, 'a'+j%26)
		}
	}
	terms := Extract(post(b.String(), "en"))
	if len(terms) != 60 {
		t.Errorf("60 distinct words repeated 3 times gave %d terms, want 60", len(terms))
	}
}

func TestExtractLimits(t *testing.T) {
	huge := strings.Repeat("alpha beta gamma ", 100_000) // 1.7 MB
	got := Extract(post(huge, "en"))
	if len(got) == 0 || len(got) > 10 {
		t.Errorf("huge repetitive text gave %d terms", len(got))
	}
	opts := DefaultOptions()
	opts.MaxTokens = 5
	var b strings.Builder
	for i := 0; i < 50; i++ {
		fmt.Fprintf(&b, "word%c%c ", 'a'+i/26, 'a'+i%26)
	}
	if n := len(texts(New(opts).Extract(post(b.String(), "en")), word)); n != 5 {
		t.Errorf("MaxTokens=5 kept %d words", n)
	}
	opts = DefaultOptions()
	opts.MaxTextBytes = 10
	if got := texts(New(opts).Extract(post("ééééé tail", "en")), word); !slices.Equal(got, []string{"ééééé"}) {
		t.Errorf("MaxTextBytes=10 gave %q, want [ééééé]", got)
	}
	zero := New(Options{Phrases: true}).opts
	if zero != DefaultOptions() {
		t.Errorf("zero limits not filled with defaults: %+v", zero)
	}
}

func TestExtractNoTerms(t *testing.T) {
	if got := Extract(nil); got != nil {
		t.Errorf("nil post gave %v", got)
	}
	del := post("text that is ignored", "en", "tag")
	del.Operation = tsv1.Operation_OPERATION_DELETE
	if got := Extract(del); got != nil {
		t.Errorf("delete gave %v", got)
	}
}

func TestLanguage(t *testing.T) {
	tests := []struct {
		langs []string
		want  string
	}{
		{nil, "und"},
		{[]string{""}, "und"},
		{[]string{"en"}, "en"},
		{[]string{"pt-BR", "en"}, "pt"},
		{[]string{"EN_us"}, "en"},
		{[]string{"ja"}, "ja"},
		{[]string{"yue"}, "yue"},
		{[]string{"x"}, "und"},
		{[]string{"english"}, "und"},
		{[]string{"e1"}, "und"},
	}
	for _, tt := range tests {
		if got := Language(tt.langs); got != tt.want {
			t.Errorf("Language(%q) = %q, want %q", tt.langs, got, tt.want)
		}
	}
}

// checkInvariants asserts what must hold for the terms of any post.
func checkInvariants(t *testing.T, p *tsv1.Post, got []Term) {
	t.Helper()
	lang := Language(p.GetLangs())
	seen := map[Term]bool{}
	for _, term := range got {
		if seen[term] {
			t.Errorf("%q: duplicate term %v", p.GetText(), term)
		}
		seen[term] = true
		if term.Lang != lang {
			t.Errorf("%q: term %v has lang %q, want %q", p.GetText(), term, term.Lang, lang)
		}
		if term.Text == "" || !utf8.ValidString(term.Text) || strings.TrimSpace(term.Text) != term.Text {
			t.Errorf("%q: malformed term %q", p.GetText(), term.Text)
		}
		if term.Kind == hashtag {
			continue
		}
		if strings.ContainsAny(term.Text, "@#/\u200d\u200b\ufffd") || strings.Contains(term.Text, "://") {
			t.Errorf("%q: term %q contains a mention, URL or invisible character", p.GetText(), term.Text)
		}
		if term.Kind == word && strings.Contains(term.Text, " ") {
			t.Errorf("%q: word %q contains a space", p.GetText(), term.Text)
		}
		if n := utf8.RuneCountInString(term.Text); n < 2 {
			t.Errorf("%q: single-character term %q", p.GetText(), term.Text)
		}
		if _, ok := stopwordsFor(lang)[term.Text]; ok {
			t.Errorf("%q: stopword %q kept", p.GetText(), term.Text)
		}
	}
}

func TestExtractRecordedPosts(t *testing.T) {
	posts := loadSample(t)
	if len(posts) < 400 {
		t.Fatalf("sample has %d posts, want at least 400", len(posts))
	}
	kinds := map[tsv1.TermKind]int{}
	langs := map[string]int{}
	for _, p := range posts {
		got := Extract(p)
		checkInvariants(t, p, got)
		for _, term := range got {
			kinds[term.Kind]++
			langs[term.Lang]++
		}
		for _, h := range p.Hashtags {
			want := normalizeTag(h)
			if want != "" && !slices.Contains(got, Term{want, hashtag, Language(p.Langs)}) {
				t.Errorf("%s: hashtag %q missing from %v", p.Uri, h, got)
			}
		}
	}
	for _, k := range []tsv1.TermKind{hashtag, word, phrase} {
		if kinds[k] == 0 {
			t.Errorf("no %v terms in %d real posts", k, len(posts))
		}
	}
	for _, l := range []string{"en", "ja", "de", "pt"} {
		if langs[l] == 0 {
			t.Errorf("no %s terms in the sample", l)
		}
	}
	// Spot checks against posts read by hand.
	find := func(uri string) *tsv1.Post {
		for _, p := range posts {
			if strings.HasSuffix(p.Uri, uri) {
				return p
			}
		}
		t.Fatalf("sample post %s missing", uri)
		return nil
	}
	spot := []struct {
		uri  string
		want []Term
	}{
		{"3krxoenrrwo2u", []Term{{"ニャー子", hashtag, "ja"}, {"ヒゲ", word, "ja"}, {"意外", word, "ja"}}},
	}
	for _, s := range spot {
		got := Extract(find(s.uri))
		for _, w := range s.want {
			if !slices.Contains(got, w) {
				t.Errorf("%s: %v missing from %v", s.uri, w, got)
			}
		}
	}
}

func TestExtractConcurrent(t *testing.T) {
	posts := loadSample(t)
	want := make([][]Term, len(posts))
	for i, p := range posts {
		want[i] = Extract(p)
	}
	var wg sync.WaitGroup
	for g := 0; g < 4; g++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i, p := range posts {
				if got := Extract(p); !slices.Equal(got, want[i]) {
					t.Errorf("%s: concurrent extraction differs", p.Uri)
					return
				}
			}
		}()
	}
	wg.Wait()
}

func FuzzExtract(f *testing.F) {
	for _, s := range []string{"", "Hello #World @a.b https://x.y/z", "東京ネコのね", "\xff\xfe", "a\u200db", "\u200fשלום", "e\u0301\u0301\u0301", "#", "@", "www.", "a'", "'s"} {
		f.Add(s, "en", "tag")
	}
	f.Fuzz(func(t *testing.T, text, lang, tag string) {
		p := post(text, lang, tag)
		checkInvariants(t, p, Extract(p))
	})
}
