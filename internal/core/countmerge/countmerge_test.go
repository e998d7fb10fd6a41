package countmerge

import (
	"slices"
	"testing"
)

func TestAdd(t *testing.T) {
	type list struct {
		keys   []string
		counts []int64
	}
	tests := []struct {
		name    string
		a, b    list
		want    list
		wantNil bool
	}{
		{name: "both empty", wantNil: true},
		{
			name: "one side empty",
			a:    list{[]string{"a", "c"}, []int64{1, 2}},
			want: list{[]string{"a", "c"}, []int64{1, 2}},
		},
		{
			name: "other side empty",
			b:    list{[]string{"a", "c"}, []int64{1, 2}},
			want: list{[]string{"a", "c"}, []int64{1, 2}},
		},
		{
			name: "disjoint keys interleave in order",
			a:    list{[]string{"a", "c", "e"}, []int64{1, 3, 5}},
			b:    list{[]string{"b", "d"}, []int64{2, 4}},
			want: list{[]string{"a", "b", "c", "d", "e"}, []int64{1, 2, 3, 4, 5}},
		},
		{
			name: "shared keys are summed",
			a:    list{[]string{"a", "b"}, []int64{1, 2}},
			b:    list{[]string{"b", "c"}, []int64{10, 20}},
			want: list{[]string{"a", "b", "c"}, []int64{1, 12, 20}},
		},
		{
			name: "negative counts (retractions) sum to zero and stay",
			a:    list{[]string{"en"}, []int64{3}},
			b:    list{[]string{"en"}, []int64{-3}},
			want: list{[]string{"en"}, []int64{0}},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			a := list{slices.Clone(tt.a.keys), slices.Clone(tt.a.counts)}
			b := list{slices.Clone(tt.b.keys), slices.Clone(tt.b.counts)}
			keys, counts := Add(a.keys, a.counts, b.keys, b.counts)
			if tt.wantNil && (keys != nil || counts != nil) {
				t.Fatalf("Add = %v, %v; want nil, nil", keys, counts)
			}
			if !slices.Equal(keys, tt.want.keys) || !slices.Equal(counts, tt.want.counts) {
				t.Errorf("Add = %v, %v; want %v, %v", keys, counts, tt.want.keys, tt.want.counts)
			}
			if !slices.Equal(a.keys, tt.a.keys) || !slices.Equal(a.counts, tt.a.counts) ||
				!slices.Equal(b.keys, tt.b.keys) || !slices.Equal(b.counts, tt.b.counts) {
				t.Errorf("Add changed its inputs: a %v, b %v", a, b)
			}
		})
	}
}

// TestAddDoesNotAlias checks that appending to the result cannot write
// into an input's backing array, which a pipeline element may share.
func TestAddDoesNotAlias(t *testing.T) {
	aKeys := make([]string, 1, 4)
	aKeys[0] = "a"
	aCounts := make([]int64, 1, 4)
	aCounts[0] = 1
	keys, counts := Add(aKeys, aCounts, nil, nil)
	keys[0], counts[0] = "z", 9
	if aKeys[0] != "a" || aCounts[0] != 1 {
		t.Errorf("result shares the input's array: %v %v", aKeys, aCounts)
	}
}
