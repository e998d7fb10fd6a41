package termwindow

import (
	"fmt"
	"slices"
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
// minute) with the default scorer's floor (5 posts). Per window. With
// deletes, 6 % of each period's posts (the pipeline benchmark's share)
// are retracted by one bucket per period, merged one by one or summed
// first (SumBuckets, as the scorer does).
func BenchmarkMerge(b *testing.B) {
	var buckets, retracted []Bucket
	for _, hs := range benchHits(b, 10, 600) {
		var bld, del Builder
		for i, h := range hs {
			bld.Add(h.key, AuthorID(h.author), 1)
			if i%17 == 0 {
				del.Add(h.key, AuthorID(h.author), -1)
			}
		}
		buckets = append(buckets, bld.Bucket(1)[0])
		retracted = append(retracted, del.Bucket(1)[0])
	}
	for _, bc := range []struct {
		name   string
		window func() []Bucket
		newest int // MergeNewest's newest buckets (the scorer's: 1)
	}{
		{"deletes=none", func() []Bucket { return buckets }, 0},
		{"deletes=one-bucket-each", func() []Bucket { return append(slices.Clone(buckets), retracted...) }, 0},
		{"deletes=summed", func() []Bucket { return append(slices.Clone(buckets), SumBuckets(retracted)) }, 0},
		{"deletes=none/newest-period", func() []Bucket { return buckets }, 1},
	} {
		b.Run(bc.name, func(b *testing.B) {
			b.ReportAllocs()
			var kept int
			for b.Loop() {
				kept = len(MergeNewest(bc.window(), bc.newest, atLeast(5)))
			}
			b.ReportMetric(float64(kept), "terms-kept")
		})
	}
}
