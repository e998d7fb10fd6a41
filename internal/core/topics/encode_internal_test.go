package topics

import (
	"strings"
	"testing"

	tsv1 "github.com/trendstream/trendstream/proto/trendstream/v1"
)

// TestEncodedLen: AppendBinary's size, computed before it appends, is its
// encoding's length, across the varint lengths' boundaries.
func TestEncodedLen(t *testing.T) {
	long := strings.Repeat("é", 200) // 400 bytes: a two-byte length
	for _, tc := range []struct {
		name string
		s    Sample
	}{
		{"empty", Sample{}},
		{"negative times", Sample{Lang: "en", End: -1, Posts: []Post{{At: -64}, {At: -65, Hash: 1}}}},
		{"varint boundaries", Sample{Lang: "pt", End: 1<<62 + 1, Posts: []Post{
			{Hash: ^uint64(0), URI: strings.Repeat("u", 127), Author: strings.Repeat("a", 128), Text: long, At: 1_700_000_000_000,
				Terms: []Term{{Kind: tsv1.TermKind_TERM_KIND_HASHTAG, Text: "#x"}, {Kind: 200, Text: long}}},
			{Hash: 2, URI: "at://b", Text: "no terms", At: 63},
		}}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got, want := tc.s.encodedLen(), len(tc.s.AppendBinary(nil)); got != want {
				t.Errorf("encodedLen = %d, encoding has %d bytes", got, want)
			}
			if got, want := len(tc.s.AppendBinary([]byte("prefix"))), 6+tc.s.encodedLen(); got != want {
				t.Errorf("appended to 6 bytes: %d bytes, want %d", got, want)
			}
		})
	}
}
