package frame_test

import (
	"testing"

	"github.com/trendstream/trendstream/ingest/frame"
)

// BenchmarkDecode decodes the real relay frames round-robin: the pure
// per-frame cost of the fast path (CAR scan by op CID, no MST).
func BenchmarkDecode(b *testing.B) {
	frames := realFrames(b)
	var bytes, posts int
	for _, f := range frames {
		bytes += len(f)
	}
	b.SetBytes(int64(bytes / len(frames)))
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		ev, err := frame.Decode(frames[i%len(frames)], frame.Options{})
		if err != nil {
			b.Fatal(err)
		}
		posts += len(ev.Posts)
	}
	s := b.Elapsed().Seconds()
	b.ReportMetric(float64(b.N)/s, "frames/s")
	b.ReportMetric(float64(posts)/s, "posts/s")
}
