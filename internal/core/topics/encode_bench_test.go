package topics_test

import (
	"fmt"
	"testing"

	"google.golang.org/protobuf/proto"

	"github.com/trendstream/trendstream/internal/core/terms"
	"github.com/trendstream/trendstream/internal/core/topics"
	"github.com/trendstream/trendstream/internal/testenv/corpus"
	tsv1 "github.com/trendstream/trendstream/proto/trendstream/v1"
)

// BenchmarkAppendBinary encodes one full period sample (DefaultConfig's
// SamplePosts posts of the bundled corpus), as the counting stage, the
// combine and the join do with every sample they pass on.
func BenchmarkAppendBinary(b *testing.B) {
	all, err := corpus.Posts()
	if err != nil {
		b.Fatal(err)
	}
	k := topics.DefaultConfig().SamplePosts
	ex := terms.New(terms.DefaultOptions())
	s := topics.NewSampler(k)
	key := topics.SampleKey{Lang: "en", End: 60_000}
	for n := range k {
		p := proto.Clone(all[n%len(all)]).(*tsv1.Post)
		p.Uri = fmt.Sprintf("%s-%d", p.GetUri(), n/len(all))
		s.Add(key, topics.NewPost(p, ex.Extract(p)))
	}
	smp := s.Samples()[0]
	b.ReportAllocs()
	var n int
	for b.Loop() {
		n = len(smp.AppendBinary(nil))
	}
	b.SetBytes(int64(n))
}
