package rawtopic

import "testing"

func TestSeqWindow(t *testing.T) {
	tests := []struct {
		name string
		seqs []int64
		want []bool
	}{
		{"in order", []int64{1, 2, 3}, []bool{true, true, true}},
		{"copies", []int64{1, 2, 2, 1, 3}, []bool{true, true, false, false, true}},
		{"first copy behind later frames", []int64{1, 7, 5, 6, 7}, []bool{true, true, true, true, false}},
		{"below the window counts as read", []int64{100, 200, 50, 150}, []bool{true, true, false, true}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			w := newSeqWindow(100)
			for i, s := range tt.seqs {
				if got := w.first(s); got != tt.want[i] {
					t.Errorf("first(%d) (#%d) = %v, want %v", s, i, got, tt.want[i])
				}
			}
		})
	}
}

// TestSeqWindowPrunes checks that memory stays bounded by the window.
func TestSeqWindowPrunes(t *testing.T) {
	w := newSeqWindow(1000)
	for s := int64(1); s <= 100_000; s++ {
		if !w.first(s) {
			t.Fatalf("first(%d) = false", s)
		}
	}
	if n := len(w.seqs); n > 2000 {
		t.Errorf("the window holds %d seqs, want at most 2 × its size", n)
	}
	if w.first(100_000 - 500) {
		t.Error("a seq within the window read twice")
	}
}
