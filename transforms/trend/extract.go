package trend

import (
	"context"

	"github.com/apache/beam/sdks/v2/go/pkg/beam"
	"github.com/apache/beam/sdks/v2/go/pkg/beam/register"

	"github.com/trendstream/trendstream/internal/terms"
	tsv1 "github.com/trendstream/trendstream/proto/trendstream/v1"
)

func init() {
	register.DoFn4x0[context.Context, *tsv1.Post, func(string, string), func(string, int64)](&extractFn{})
	register.Emitter2[string, int64]()
}

var (
	postsCounted   = beam.NewCounter("trending", "posts_counted")
	deletesSeen    = beam.NewCounter("trending", "deletes_seen")
	termsExtracted = beam.NewCounter("trending", "terms_extracted")
)

// extractFn emits one (term key, author) hit per distinct term of a post,
// and one (language, 1) per post for each ranking it belongs to.
type extractFn struct {
	Terms terms.Options

	ex *terms.Extractor
}

func (fn *extractFn) Setup() { fn.ex = terms.New(fn.Terms) }

func (fn *extractFn) ProcessElement(ctx context.Context, p *tsv1.Post, hit func(string, string), post func(string, int64)) {
	if p.GetOperation() == tsv1.Operation_OPERATION_DELETE {
		// Deletes are counted, not retracted: see docs/pipeline.md.
		deletesSeen.Inc(ctx, 1)
		return
	}
	postsCounted.Inc(ctx, 1)
	ts := fn.ex.Extract(p)
	termsExtracted.Inc(ctx, int64(len(ts)))
	for _, t := range ts {
		hit(TermKey{Lang: t.Lang, Kind: t.Kind, Term: t.Text}.String(), p.GetAuthorDid())
	}
	post(AllLanguages, 1)
	post(terms.Language(p.GetLangs()), 1)
}

// AllLanguages is the ranking key of the overall (all-language) ranking.
const AllLanguages = ""

// ExtractTerms splits posts into term hits (KV<term key, author DID>) and
// per-language post counts (KV<language, 1>, with AllLanguages too).
func ExtractTerms(s beam.Scope, posts beam.PCollection, opts terms.Options) (hits, postCounts beam.PCollection) {
	s = s.Scope("ExtractTerms")
	return beam.ParDo2(s, &extractFn{Terms: opts}, posts)
}
