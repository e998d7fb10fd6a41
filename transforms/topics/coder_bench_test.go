package topics

import (
	"testing"

	"github.com/trendstream/trendstream/transforms/gorow"
)

// BenchmarkJoinInCoder encodes and decodes a join input holding a 400 KB
// sample (a full period sample of the bundled corpus encodes to 404,270
// bytes: BenchmarkAppendBinary), with the join input's coder and with the
// row encoding it used before (gorow), which it still decodes.
func BenchmarkJoinInCoder(b *testing.B) {
	in := JoinIn{Sample: make([]byte, 404_270)}
	for i := range in.Sample {
		in.Sample[i] = byte(i)
	}
	for _, c := range []struct {
		name string
		enc  func(JoinIn) ([]byte, error)
		dec  func([]byte) (JoinIn, error)
	}{
		{"tagged", encodeJoinIn, decodeJoinIn},
		{"row", gorow.Encode[JoinIn], gorow.Decode[JoinIn]},
	} {
		b.Run(c.name, func(b *testing.B) {
			b.ReportAllocs()
			b.SetBytes(int64(len(in.Sample)))
			for b.Loop() {
				enc, err := c.enc(in)
				if err != nil {
					b.Fatal(err)
				}
				out, err := c.dec(enc)
				if err != nil || len(out.Sample) != len(in.Sample) {
					b.Fatalf("decoded %d bytes, %v", len(out.Sample), err)
				}
			}
		})
	}
}
