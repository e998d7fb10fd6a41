package topics_test

import (
	"testing"

	"github.com/trendstream/trendstream/internal/core/terms"
	"github.com/trendstream/trendstream/internal/core/topics"
	"github.com/trendstream/trendstream/internal/testenv/corpus"
)

// BenchmarkAppendBinary encodes one full period sample (DefaultConfig's
// SamplePosts posts of the bundled corpus), as the counting stage, the
// combine and the join do with every sample they pass on.
func BenchmarkAppendBinary(b *testing.B) {
	all, err := corpus.Posts()
	if err != nil {
		b.Fatal(err)
	}
	smp := fullSample(b, all, terms.New(terms.DefaultOptions()), 0, topics.DefaultConfig().SamplePosts)
	b.ReportAllocs()
	var n int
	for b.Loop() {
		n = len(smp.AppendBinary(nil))
	}
	b.SetBytes(int64(n))
}
