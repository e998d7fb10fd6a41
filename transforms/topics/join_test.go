package topics

import (
	"bytes"
	"fmt"
	"math/rand/v2"
	"reflect"
	"testing"

	grouping "github.com/trendstream/trendstream/internal/core/topics"
	"github.com/trendstream/trendstream/transforms/gorow"
)

// TestInsertMatchesBag: the join's kept copy, updated sample by sample,
// equals what reading the whole bag gives, so a timer that uses the copy
// answers as one that reads the bag.
func TestInsertMatchesBag(t *testing.T) {
	for _, tc := range []struct {
		name             string
		k, periods, adds int
	}{
		{"one period, late panes", 5, 1, 6},
		{"periods out of order", 5, 4, 12},
		{"samples above k", 3, 3, 20},
		{"single sample", 10, 1, 1},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := rand.New(rand.NewPCG(1, uint64(tc.adds)))
			var bag, kept []grouping.Sample
			for i := range tc.adds {
				s := randomSample(r, tc.k, int64(1+r.IntN(tc.periods))*60_000)
				old, before := kept, clone(kept)
				kept = insert(kept, s, tc.k)
				if !reflect.DeepEqual(old, before) {
					t.Fatalf("add %d changed the previous copy", i)
				}
				bag = append(bag, s)
				want := periods(clone(bag), tc.k)
				if !reflect.DeepEqual(kept, want) {
					t.Fatalf("after add %d: kept %v, bag %v", i, summary(kept), summary(want))
				}
			}
		})
	}
}

// randomSample is a bundle's bottom-k sample of one period, with posts
// that other bundles' samples may also hold (a re-delivered record).
func randomSample(r *rand.Rand, k int, end int64) grouping.Sample {
	s := grouping.Sample{Lang: "en", End: end}
	seen := map[uint64]bool{}
	for range 1 + r.IntN(k) {
		h := uint64(r.IntN(4 * k))
		if seen[h] {
			continue
		}
		seen[h] = true
		s.Posts = append(s.Posts, grouping.Post{Hash: h, URI: fmt.Sprintf("at://p/%d", h), Text: fmt.Sprint(h)})
	}
	s.Posts = grouping.Merge(s.Posts[:0:0], sortPosts(s.Posts), k)
	return s
}

func sortPosts(ps []grouping.Post) []grouping.Post {
	return grouping.WindowPosts([]grouping.Sample{{End: 1, Posts: ps}}, 1, 1)
}

func clone(ss []grouping.Sample) []grouping.Sample {
	if ss == nil {
		return nil
	}
	out := make([]grouping.Sample, len(ss))
	for i, s := range ss {
		out[i] = s
		out[i].Posts = append([]grouping.Post(nil), s.Posts...)
	}
	return out
}

func summary(ss []grouping.Sample) []string {
	var out []string
	for _, s := range ss {
		out = append(out, fmt.Sprintf("%d:%d", s.End, len(s.Posts)))
	}
	return out
}

// TestJoinInCoder: a sample and a request come back as they went in, an
// element an older version encoded with gorow still decodes, and what is
// neither is refused.
func TestJoinInCoder(t *testing.T) {
	for _, tc := range []struct {
		name string
		in   JoinIn
	}{
		{"sample", JoinIn{Sample: []byte{1, 2, 3}}},
		{"request", JoinIn{Request: []byte("req")}},
		{"empty sample", JoinIn{Sample: []byte{}}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			b, err := encodeJoinIn(tc.in)
			if err != nil {
				t.Fatal(err)
			}
			got, err := decodeJoinIn(b)
			if err != nil || !reflect.DeepEqual(got, tc.in) {
				t.Fatalf("decoded %+v, %v; want %+v", got, err, tc.in)
			}
			old, err := gorow.Encode(tc.in)
			if err != nil {
				t.Fatal(err)
			}
			if got, err := decodeJoinIn(old); err != nil || !bytes.Equal(got.Sample, tc.in.Sample) || !bytes.Equal(got.Request, tc.in.Request) {
				t.Fatalf("older encoding decoded %+v, %v; want %+v", got, err, tc.in)
			}
		})
	}
	for _, bad := range []JoinIn{{}, {Sample: []byte{1}, Request: []byte{2}}} {
		if _, err := encodeJoinIn(bad); err == nil {
			t.Errorf("encodeJoinIn(%+v) succeeded", bad)
		}
	}
	for _, bad := range [][]byte{nil, {'x', 1}} {
		if _, err := decodeJoinIn(bad); err == nil {
			t.Errorf("decodeJoinIn(%v) succeeded", bad)
		}
	}
}
