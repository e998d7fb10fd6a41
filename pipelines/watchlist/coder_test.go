package watchlist

import (
	"testing"
	"time"

	"github.com/trendstream/trendstream/internal/core/watchlist"
	"github.com/trendstream/trendstream/internal/testenv"
)

// TestNoNestedRowElements: every element type with a struct inside has a
// custom coder, so that Flink's job server carries it as opaque bytes
// instead of decoding it with Java's row coder, which misreads the Go
// SDK's nested rows (transforms/gorow).
func TestNoNestedRowElements(t *testing.T) {
	o := DefaultOptions()
	o.StreamStart = time.Unix(1_700_000_000, 0)
	o.Entries = []watchlist.Entry{{ID: "eclipse", Kind: watchlist.KindKeyword, Text: "eclipse"}}
	p, err := Build(o)
	if err != nil {
		t.Fatal(err)
	}
	if rows := testenv.NestedRowElements(t, p); len(rows) > 0 {
		t.Errorf("elements with the standard row coder (give them a gorow coder): %v", rows)
	}
}
