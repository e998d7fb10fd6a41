package terms

import (
	"testing"
)

// BenchmarkExtract runs the default extractor over the recorded posts
// (testdata/posts.jsonl) and reports posts and terms per second.
func BenchmarkExtract(b *testing.B) {
	posts := loadSample(b)
	var bytes int64
	for _, p := range posts {
		bytes += int64(len(p.Text))
	}
	b.SetBytes(bytes / int64(len(posts)))
	b.ReportAllocs()
	b.ResetTimer()
	terms := 0
	for i := 0; i < b.N; i++ {
		terms += len(Extract(posts[i%len(posts)]))
	}
	s := b.Elapsed().Seconds()
	b.ReportMetric(float64(b.N)/s, "posts/s")
	b.ReportMetric(float64(terms)/s, "terms/s")
}

// BenchmarkExtractByLang splits the throughput by the posts' language, since
// CJK text takes the slower normalisation and segmentation paths.
func BenchmarkExtractByLang(b *testing.B) {
	by := map[string][]int{}
	posts := loadSample(b)
	for i, p := range posts {
		by[Language(p.Langs)] = append(by[Language(p.Langs)], i)
	}
	for _, lang := range []string{"en", "ja", "de", "pt"} {
		idx := by[lang]
		b.Run(lang, func(b *testing.B) {
			b.ReportAllocs()
			terms := 0
			for i := 0; i < b.N; i++ {
				terms += len(Extract(posts[idx[i%len(idx)]]))
			}
			s := b.Elapsed().Seconds()
			b.ReportMetric(float64(b.N)/s, "posts/s")
			b.ReportMetric(float64(terms)/s, "terms/s")
		})
	}
}
