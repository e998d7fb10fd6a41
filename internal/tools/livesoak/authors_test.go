package livesoak

import (
	"testing"

	"github.com/bluesky-social/indigo/atproto/syntax"
)

func TestAuthorDID(t *testing.T) {
	seen := map[string]bool{}
	for _, seed := range []uint64{1, 2} {
		for i := range uint64(1000) {
			d := AuthorDID(seed, i)
			if _, err := syntax.ParseDID(d); err != nil || len(d) != len("did:plc:")+24 {
				t.Fatalf("AuthorDID(%d, %d) = %q: %v", seed, i, d, err)
			}
			if seen[d] {
				t.Fatalf("AuthorDID(%d, %d) = %q repeats", seed, i, d)
			}
			seen[d] = true
		}
	}
	if a, b := AuthorDID(7, 42), AuthorDID(7, 42); a != b {
		t.Fatalf("not deterministic: %s, %s", a, b)
	}
}

func TestAuthorsDistribution(t *testing.T) {
	tests := []struct {
		name                string
		pool, draws         int
		minDistinct, maxTop int
	}{
		// A 10-minute window at 50 posts/s: many authors, none dominant.
		{"10 min at 50/s", 500000, 30000, 12000, 150},
		// A tiny pool: every account appears.
		{"small pool", 10, 5000, 10, 5000},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			a := NewAuthors(1, tt.pool)
			count := map[string]int{}
			for range tt.draws {
				count[a.Next()]++
			}
			top := 0
			for _, c := range count {
				top = max(top, c)
			}
			if len(count) < tt.minDistinct || len(count) > tt.pool || top > tt.maxTop {
				t.Errorf("%d distinct authors (want %d..%d), busiest %d posts (want <= %d)", len(count), tt.minDistinct, tt.pool, top, tt.maxTop)
			}
		})
	}
	// Same seed, same sequence.
	a, b := NewAuthors(3, 1000), NewAuthors(3, 1000)
	for range 100 {
		if a.Next() != b.Next() {
			t.Fatal("same seed drew different authors")
		}
	}
}
