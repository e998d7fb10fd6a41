package trend

import (
	"reflect"
	"slices"
	"strings"
	"testing"
)

// TestMemoStateApply checks the retraction stage's batch logic: memos
// applied in order, across batches, with expiries between them, as
// retractFn applies them, and the same state replayed from what it stores
// (the Bag) after every step.
func TestMemoStateApply(t *testing.T) {
	const lateness = 600_000 // horizon = End + 10 min
	post := func(author, uri string, at, end int64) PostMemo {
		return PostMemo{Author: author, URI: uri, At: at, End: end, Lang: "en", Terms: []string{"tea"}, Kinds: []int32{1}}
	}
	del := func(author, uri string, at int64) PostMemo {
		return PostMemo{Author: author, URI: uri, At: at, Delete: true}
	}
	a1 := post("a", "u1", 10_000, 60_000)
	a2 := post("a", "u2", 70_000, 120_000)
	// step is a batch, or an expiry at Expire when Batch is nil.
	type step struct {
		Batch  []PostMemo
		Expire int64
	}
	for _, tc := range []struct {
		name    string
		steps   []step
		retract []string // URIs retracted, in order
		ignored int
		live    int // memos held at the end
		next    int64
	}{
		{"create then delete in one batch", []step{{Batch: []PostMemo{a1, del("a", "u1", 20_000)}}},
			[]string{"u1"}, 0, 2, 660_000},
		{"delete before create in one batch", []step{{Batch: []PostMemo{del("a", "u1", 5_000), a1}}},
			nil, 1, 1, 660_000},
		{"across batches", []step{{Batch: []PostMemo{a1, a2}}, {Batch: []PostMemo{del("a", "u2", 80_000), del("a", "u1", 90_000)}}},
			[]string{"u2", "u1"}, 0, 4, 660_000},
		{"twice", []step{{Batch: []PostMemo{a1}}, {Batch: []PostMemo{del("a", "u1", 20_000), del("a", "u1", 30_000)}}, {Batch: []PostMemo{del("a", "u1", 40_000)}}},
			[]string{"u1"}, 2, 2, 660_000},
		{"another author", []step{{Batch: []PostMemo{a1, del("b", "u1", 20_000)}}},
			nil, 1, 1, 660_000},
		{"never posted", []step{{Batch: []PostMemo{a1, del("a", "u9", 20_000)}}},
			nil, 1, 1, 660_000},
		{"at the horizon", []step{{Batch: []PostMemo{a1, del("a", "u1", 660_000)}}},
			nil, 1, 1, 660_000},
		{"just before the horizon", []step{{Batch: []PostMemo{a1, del("a", "u1", 659_999)}}},
			[]string{"u1"}, 0, 2, 660_000},
		{"expired", []step{{Batch: []PostMemo{a1, a2}}, {Expire: 660_000}, {Batch: []PostMemo{del("a", "u1", 600_000), del("a", "u2", 600_000)}}},
			[]string{"u2"}, 1, 2, 720_000},
		{"the mark expires with its post", []step{{Batch: []PostMemo{a1, del("a", "u1", 20_000), a2}}, {Expire: 660_000}},
			[]string{"u1"}, 0, 1, 720_000},
		{"a post past the last expiry is not kept", []step{{Expire: 700_000}, {Batch: []PostMemo{a1, del("a", "u1", 20_000)}}},
			nil, 1, 0, 0},
		{"all expired", []step{{Batch: []PostMemo{a1, a2, del("a", "u2", 80_000)}}, {Expire: 720_000}},
			[]string{"u2"}, 0, 0, 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			st := newMemoState(lateness, 0)
			var stored []PostMemo // the Bag, rewritten at expiries
			var retracted []string
			ignored := 0
			for _, s := range tc.steps {
				if s.Batch == nil {
					st.expire(s.Expire)
					stored = st.memos()
				} else {
					r := st.apply(s.Batch)
					for _, p := range r.Retract {
						retracted = append(retracted, p.URI)
						if p.Delete || len(p.Terms) == 0 {
							t.Errorf("retracts %+v: not the post's memo", p)
						}
					}
					ignored += r.Ignored
					stored = append(stored, r.Store...)
				}
				// A worker without the cached copy rebuilds it from the Bag.
				replayed := newMemoState(lateness, st.through)
				for _, m := range stored {
					replayed.remember(m)
				}
				if !reflect.DeepEqual(replayed.m, st.m) {
					t.Fatalf("replayed from the stored memos:\n got %+v\nwant %+v", replayed.m, st.m)
				}
			}
			if !slices.Equal(retracted, tc.retract) {
				t.Errorf("retracted %v, want %v", retracted, tc.retract)
			}
			if ignored != tc.ignored {
				t.Errorf("%d deletes ignored, want %d", ignored, tc.ignored)
			}
			if n := st.live(); n != tc.live {
				t.Errorf("%d memos held, want %d", n, tc.live)
			}
			if n := st.next(); n != tc.next {
				t.Errorf("next expiry %d, want %d", n, tc.next)
			}
		})
	}
}

// TestMemoShard: a delete reaches its post's shard, and the shards are
// all used.
func TestMemoShard(t *testing.T) {
	seen := map[int]bool{}
	for _, uri := range []string{"at://did:plc:a/app.bsky.feed.post/1", "at://did:plc:b/app.bsky.feed.post/2", "x", "", "at://did:plc:c/app.bsky.feed.post/3k2"} {
		s := memoShard(uri, 8)
		if s < 0 || s >= 8 || memoShard(uri, 8) != s {
			t.Fatalf("memoShard(%q) = %d", uri, s)
		}
	}
	for i := range 200 {
		seen[memoShard("at://did:plc:x/app.bsky.feed.post/"+strings.Repeat("a", i), 8)] = true
	}
	if len(seen) != 8 {
		t.Errorf("200 URIs over %d of 8 shards", len(seen))
	}
}

func TestMemoBatchCoder(t *testing.T) {
	for _, in := range []MemoBatch{
		{},
		{Memos: []PostMemo{
			{Author: "did:plc:a", URI: "at://x/1", At: 1_700_000_000_123, End: 1_700_000_060_000, Lang: "ja",
				Terms: []string{"東京", "", "tea"}, Kinds: []int32{1, 2, 3}},
			{Author: "did:plc:a", URI: "at://x/1", At: -5, Delete: true},
			{URI: "", At: 0, End: 0, Lang: "en"},
		}},
	} {
		b, err := encodeMemoBatch(in)
		if err != nil {
			t.Fatal(err)
		}
		out, err := decodeMemoBatch(b)
		if err != nil {
			t.Fatal(err)
		}
		if len(in.Memos) == 0 {
			in.Memos = []PostMemo{}
		}
		if !reflect.DeepEqual(out, in) {
			t.Fatalf("round trip:\n got %+v\nwant %+v", out, in)
		}
		for _, bad := range [][]byte{nil, {9}, b[:len(b)-1], append(append([]byte{}, b...), 0)} {
			if len(bad) == len(b)-1 && len(in.Memos) == 0 {
				continue
			}
			if _, err := decodeMemoBatch(bad); err == nil {
				t.Errorf("decodeMemoBatch(%d bytes) accepted a malformed encoding", len(bad))
			}
		}
	}
	if _, err := encodeMemoBatch(MemoBatch{Memos: []PostMemo{{Terms: []string{"a"}}}}); err == nil {
		t.Error("encodeMemoBatch accepted a memo with fewer kinds than terms")
	}
}
