package terms

import (
	"slices"
	"testing"

	tsv1 "github.com/trendstream/trendstream/proto/trendstream/v1"
)

const cashtag = tsv1.TermKind_TERM_KIND_CASHTAG

// TestExtractCashtags checks the cashtag rule on posts written the way
// Bluesky's finance posters write them: '$' and 1–5 letters at the start of
// a token, an optional one-letter share class, never a money amount.
func TestExtractCashtags(t *testing.T) {
	tests := []struct {
		name      string
		post      *tsv1.Post
		cashtags  []string // in order
		words     []string // in order
		noPhrases bool
	}{
		{"upper case", post("$AAPL earnings after the bell, watching $NVDA too", "en"),
			[]string{"AAPL", "NVDA"}, []string{"earnings", "bell", "watching"}, false},
		{"lower and mixed case are one symbol", post("$tsla $Tsla $TSLA", "en"), []string{"TSLA"}, nil, true},
		{"share class", post("Buffett's $BRK.B hit a record; $BF.A too.", "en"), []string{"BRK.B", "BF.A"}, []string{"buffett", "hit", "record"}, false},
		{"sentence end is not a class", post("Long $SPY.", "en"), []string{"SPY"}, []string{"long"}, true},
		{"dot then a word is no class", post("see $AAPL.com and $IBM.US", "en"), []string{"AAPL", "IBM"}, []string{"com"}, false},
		{"money amounts are not cashtags", post("paid $5 for coffee, $5.99 lunch, $1,000 rent, $5k bonus, $100M deal", "en"), nil,
			[]string{"paid", "coffee", "lunch", "rent", "5k", "bonus", "100m", "deal"}, false},
		{"too long is no symbol", post("$GOOGLE $ABCDEF", "en"), nil, nil, true},
		{"glued to digits or letters", post("$AAPL5 $café", "fr"), nil, []string{"aapl5", "café"}, true},
		{"one letter symbol", post("Ford $F and Agilent $A", "en"), []string{"F", "A"}, []string{"ford", "agilent"}, false},
		{"not at a token start", post("A$AP Rocky US$50 5$", "en"), nil, []string{"ap", "rocky"}, false},
		{"punctuation around", post("($AMD, $INTC; \"$MU\")", "en"), []string{"AMD", "INTC", "MU"}, nil, true},
		{"possessive and hyphen", post("$AIG's rally — $BAC-led banks", "en"), []string{"AIG", "BAC"}, []string{"rally", "led", "banks"}, false},
		{"glued to CJK", post("今日は$AAPLが上昇", "ja"), []string{"AAPL"}, []string{"今日", "上昇"}, true},
		{"full-width dollar", post("＄ＩＢＭ", "ja"), []string{"IBM"}, nil, true},
		{"twice counts once", post("$SPY up, $SPY up", "en"), []string{"SPY"}, nil, true},
		{"cashtag breaks a phrase", post("bought $AAPL shares", "en"), []string{"AAPL"}, []string{"bought", "shares"}, true},
		{"inside a url", post("chart at https://example.com/q/$AAPL", "en"), nil, []string{"chart"}, true},
		{"lone dollar", post("$ $$ $.", "en"), nil, nil, true},
		{"double dollar", post("$$SPY", "en"), []string{"SPY"}, nil, true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got := Extract(tc.post)
			if c := texts(got, cashtag); !slices.Equal(c, tc.cashtags) {
				t.Errorf("cashtags = %q, want %q (all: %+v)", c, tc.cashtags, got)
			}
			if tc.words != nil {
				if w := texts(got, word); !slices.Equal(w, tc.words) {
					t.Errorf("words = %q, want %q", w, tc.words)
				}
			}
			if p := texts(got, phrase); tc.noPhrases && len(p) > 0 {
				t.Errorf("phrases = %q, want none", p)
			}
			for _, term := range got {
				if term.Kind == cashtag && term.Lang != Language(tc.post.GetLangs()) {
					t.Errorf("cashtag %q has lang %q", term.Text, term.Lang)
				}
			}
		})
	}
}

func FuzzCashtagLen(f *testing.F) {
	for _, s := range []string{"aapl", "brk.b", "5", "aapl.", "aapl5", "", ".", "a.b.c"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		n := cashtagLen(s)
		if n < 0 || n > len(s) || n > maxCashtagLetters+1+maxClassLetters {
			t.Fatalf("cashtagLen(%q) = %d", s, n)
		}
		if n > 0 && !cashtagEnds(s[n:]) {
			t.Fatalf("cashtagLen(%q) = %d ends inside a word", s, n)
		}
	})
}
