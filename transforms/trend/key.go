package trend

import (
	"fmt"
	"strconv"
	"strings"

	tsv1 "github.com/trendstream/trendstream/proto/trendstream/v1"
)

// A term key groups counts per (language, kind, term). It is a string so
// Beam's GroupByKey can compare it byte-wise; the separator cannot occur in
// normalised terms.
const sep = "\x1f"

// TermKey is the grouping key of one term in one language.
type TermKey struct {
	Lang string
	Kind tsv1.TermKind
	Term string
}

// String encodes k as a grouping key.
func (k TermKey) String() string {
	return k.Lang + sep + strconv.Itoa(int(k.Kind)) + sep + k.Term
}

// ParseTermKey decodes a key made by TermKey.String.
func ParseTermKey(s string) (TermKey, error) {
	parts := strings.SplitN(s, sep, 3)
	if len(parts) != 3 {
		return TermKey{}, fmt.Errorf("trend: malformed term key %q", s)
	}
	kind, err := strconv.Atoi(parts[1])
	if err != nil {
		return TermKey{}, fmt.Errorf("trend: malformed term key %q: %w", s, err)
	}
	return TermKey{Lang: parts[0], Kind: tsv1.TermKind(kind), Term: parts[2]}, nil
}
