package trend

import (
	"slices"
	"testing"
)

func TestMergeByEnd(t *testing.T) {
	type e struct{ end, n int64 }
	sum := func(a, b e) e { return e{a.end, a.n + b.n} }
	for _, tc := range []struct {
		name    string
		a, b    []e
		want    []e
		wantNil bool
	}{
		{name: "both empty", wantNil: true},
		{name: "one side", a: []e{{1, 1}, {3, 1}}, want: []e{{1, 1}, {3, 1}}},
		{name: "interleaved", a: []e{{1, 1}, {5, 1}}, b: []e{{2, 2}, {7, 2}}, want: []e{{1, 1}, {2, 2}, {5, 1}, {7, 2}}},
		{name: "same ends summed", a: []e{{1, 1}, {2, 1}}, b: []e{{2, 5}, {3, 1}}, want: []e{{1, 1}, {2, 6}, {3, 1}}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			a, b := slices.Clone(tc.a), slices.Clone(tc.b)
			got := mergeByEnd(tc.a, tc.b, func(x e) int64 { return x.end }, sum)
			if tc.wantNil != (got == nil) || !tc.wantNil && !slices.Equal(got, tc.want) {
				t.Errorf("mergeByEnd = %v, want %v", got, tc.want)
			}
			if !slices.Equal(a, tc.a) || !slices.Equal(b, tc.b) {
				t.Error("mergeByEnd changed its inputs")
			}
		})
	}
}
