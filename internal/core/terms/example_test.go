package terms_test

import (
	"fmt"

	"github.com/trendstream/trendstream/internal/core/terms"
	tsv1 "github.com/trendstream/trendstream/proto/trendstream/v1"
)

func ExampleExtract() {
	p := &tsv1.Post{
		Text:      "RIP Steve Albini 🖤 #music pitchfork.com/news/steve-a...",
		Langs:     []string{"en-US"},
		Hashtags:  []string{"Music"},
		Operation: tsv1.Operation_OPERATION_CREATE,
	}
	for _, t := range terms.Extract(p) {
		fmt.Printf("%s %q %s\n", t.Kind, t.Text, t.Lang)
	}
	// Output:
	// TERM_KIND_HASHTAG "music" en
	// TERM_KIND_WORD "rip" en
	// TERM_KIND_WORD "steve" en
	// TERM_KIND_PHRASE "rip steve" en
	// TERM_KIND_WORD "albini" en
	// TERM_KIND_PHRASE "steve albini" en
}
