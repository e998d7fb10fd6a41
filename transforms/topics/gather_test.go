package topics

import "testing"

// TestKeyEnd: the gather's forget time comes from its key, which every
// message of the window shares, snapshot or part.
func TestKeyEnd(t *testing.T) {
	for _, tc := range []struct {
		key     string
		want    int64
		wantErr bool
	}{
		{"1||1772439480000", 1772439480000, false},
		{"1|pt|60000", 60000, false},
		{"1|pt|", 0, true},
		{"no window", 0, true},
	} {
		got, err := keyEnd(tc.key)
		if (err != nil) != tc.wantErr || got != tc.want {
			t.Errorf("keyEnd(%q) = %d, %v; want %d, error %v", tc.key, got, err, tc.want, tc.wantErr)
		}
	}
}
