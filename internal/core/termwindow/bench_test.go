package termwindow

import (
	"fmt"
	"testing"

	"github.com/trendstream/trendstream/internal/core/terms"
	"github.com/trendstream/trendstream/internal/testenv/corpus"
)

// benchBuckets extracts the terms of real posts into n one-period buckets
// of perBucket posts each, as (key, author) hits per bucket.
func benchHits(b *testing.B, n, perBucket int) [][]hit {
	b.Helper()
	posts, err := corpus.Posts()
	if err != nil {
		b.Fatal(err)
	}
	ex := terms.New(terms.DefaultOptions())
	out := make([][]hit, n)
	for i := range n * perBucket {
		p := posts[i%len(posts)]
		author := fmt.Sprint(p.GetAuthorDid(), i/len(posts))
		for _, tm := range ex.Extract(p) {
			out[i/perBucket] = append(out[i/perBucket], hit{key: Key{tm.Lang, tm.Kind, tm.Text}, author: author})
		}
	}
	return out
}

// BenchmarkBuilder counts one minute of the benchmark replay's density (600
// posts) into a bucket and encodes it in 8 shards, as a pipeline bundle
// does. Per post.
func BenchmarkBuilder(b *testing.B) {
	hits := benchHits(b, 1, 600)[0]
	ids := make([]uint64, len(hits))
	for i, h := range hits {
		ids[i] = AuthorID(h.author)
	}
	b.ReportAllocs()
	for b.Loop() {
		var bld Builder
		for i, h := range hits {
			bld.Add(h.key, ids[i], 1)
		}
		bld.Bucket(8)
	}
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*600), "ns/post")
}

// BenchmarkMerge merges the 10 buckets of a 10-minute window (600 posts a
// minute) with the default scorer's floor (5 posts). Per window.
func BenchmarkMerge(b *testing.B) {
	var buckets []Bucket
	for _, hs := range benchHits(b, 10, 600) {
		var bld Builder
		for _, h := range hs {
			bld.Add(h.key, AuthorID(h.author), 1)
		}
		buckets = append(buckets, bld.Bucket(1)[0])
	}
	b.ReportAllocs()
	var kept int
	for b.Loop() {
		kept = len(Merge(buckets, atLeast(5)))
	}
	b.ReportMetric(float64(kept), "terms-kept")
}
