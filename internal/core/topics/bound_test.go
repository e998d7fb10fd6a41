package topics_test

import (
	"fmt"
	"runtime"
	"testing"
	"time"

	"google.golang.org/protobuf/proto"

	"github.com/trendstream/trendstream/internal/core/terms"
	"github.com/trendstream/trendstream/internal/core/topics"
	"github.com/trendstream/trendstream/internal/testenv/corpus"
	tsv1 "github.com/trendstream/trendstream/proto/trendstream/v1"
)

// BenchmarkJoinBound measures the most the topic join holds for one
// language at the production defaults: (2 × 10 min window + 10 min allowed
// lateness + 1 min period) / 1 min = 31 period samples, each full at
// DefaultConfig().SamplePosts posts of real text (the bundled corpus,
// cycled with fresh URIs so every post is distinct). The join reads its
// periods from Bag state as encoded samples and decodes them, so the
// benchmark reports both the encoded size (what the runner stores) and
// the Go heap of the decoded samples (what the worker holds while it
// answers a window), per post and for the whole bound.
func BenchmarkJoinBound(b *testing.B) {
	all, err := corpus.Posts()
	if err != nil {
		b.Fatal(err)
	}
	const periods = 2*10 + 10 + 1
	k := topics.DefaultConfig().SamplePosts
	ex := terms.New(terms.DefaultOptions())
	var encoded [][]byte
	for i := range periods {
		smp := fullSample(b, all, ex, i, k)
		encoded = append(encoded, smp.AppendBinary(nil))
	}
	enc := 0
	for _, e := range encoded {
		enc += len(e)
	}
	var held []topics.Sample
	var heap uint64
	var before, after runtime.MemStats
	for b.Loop() {
		held = nil
		runtime.GC()
		runtime.ReadMemStats(&before)
		for _, e := range encoded {
			s, rest, err := topics.DecodeSample(e)
			if err != nil || len(rest) != 0 {
				b.Fatalf("decode: %v (%d bytes left)", err, len(rest))
			}
			held = append(held, s)
		}
		runtime.GC()
		runtime.ReadMemStats(&after)
		heap = after.HeapAlloc - before.HeapAlloc
	}
	runtime.KeepAlive(held)
	posts := float64(periods * k)
	b.ReportMetric(float64(enc)/posts, "encoded-B/post")
	b.ReportMetric(float64(enc)/1e6, "encoded-MB/bound")
	b.ReportMetric(float64(heap)/posts, "heap-B/post")
	b.ReportMetric(float64(heap)/1e6, "heap-MB/bound")
}

// fullSample is period i's sample (ending at i+1 minutes) of k posts of the
// bundled corpus, cycled from post i×k on with fresh URIs, so that every
// post of every period is distinct.
func fullSample(tb testing.TB, all []*tsv1.Post, ex *terms.Extractor, i, k int) topics.Sample {
	tb.Helper()
	s := topics.NewSampler(k)
	key := topics.SampleKey{Lang: "en", End: int64(i+1) * time.Minute.Milliseconds()}
	for j := range k {
		n := i*k + j
		p := proto.Clone(all[n%len(all)]).(*tsv1.Post)
		p.Uri = fmt.Sprintf("%s-%d", p.GetUri(), n/len(all))
		s.Add(key, topics.NewPost(p, ex.Extract(p)))
	}
	smp := s.Samples()
	if len(smp) != 1 || len(smp[0].Posts) != k {
		tb.Fatalf("period %d: %d samples, want one of %d posts", i, len(smp), k)
	}
	return smp[0]
}
