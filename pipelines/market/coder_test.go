package market

import (
	"testing"

	"github.com/trendstream/trendstream/internal/testenv"
)

// TestNoNestedRowElements: in both shapes, every element type with a
// struct inside has a custom coder, so that Flink's job server carries it
// as opaque bytes instead of decoding it with Java's row coder, which
// misreads the Go SDK's nested rows (transforms/gorow).
func TestNoNestedRowElements(t *testing.T) {
	for _, shape := range shapes {
		t.Run(shape.name, func(t *testing.T) {
			p, err := shape.build(DefaultOptions())
			if err != nil {
				t.Fatal(err)
			}
			if rows := testenv.NestedRowElements(t, p); len(rows) > 0 {
				t.Errorf("elements with the standard row coder (give them a gorow coder): %v", rows)
			}
		})
	}
}
