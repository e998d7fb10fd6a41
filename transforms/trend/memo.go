package trend

import (
	"encoding/binary"
	"fmt"

	grouping "github.com/trendstream/trendstream/internal/core/topics"
)

// MemoBatch is one bundle's memos for one retraction shard, in the order
// bucketFn read the posts and deletes; in the retraction stage's Bag, the
// memos a batch added (posts, and marks of retracted posts).
type MemoBatch struct {
	Memos []PostMemo
}

// memoShard is the retraction shard of a post or delete: a delete reaches
// the shard that holds its post's memo, since both have the URI.
func memoShard(uri string, shards int) int {
	return int(grouping.Hash(uri) % uint64(shards))
}

// memoKey identifies a remembered post: the memo keeps its author, so a
// delete by another author never finds it.
type memoKey struct{ Author, URI string }

// memoEntry is what a shard remembers of one (author, URI): the post's
// latest memo and, once retracted, the mark.
type memoEntry struct {
	post, mark         PostMemo
	hasPost, hasMark   bool
	postHorizon, markH int64
}

// memoState is a retraction shard's memos, as the Bag holds them (replayed
// in order) less those past their horizon: the pure part of retractFn.
type memoState struct {
	lateness int64
	// through is the last expiry: memos whose horizon is at or before it
	// are forgotten (the Bag may still hold them until it is rewritten).
	through int64
	m       map[memoKey]*memoEntry
}

func newMemoState(latenessMs, through int64) *memoState {
	return &memoState{lateness: latenessMs, through: through, m: map[memoKey]*memoEntry{}}
}

// horizon is the event time from which a delete of the post no longer
// retracts it (the rule of internal/core/trendcalc, Config.RetractDeletes):
// its bucket stops taking corrections then.
func (st *memoState) horizon(m PostMemo) int64 { return m.End + st.lateness }

// remember adds a stored memo (a post, or a mark of a retracted one)
// unless it is past the last expiry. It reports whether it did.
func (st *memoState) remember(m PostMemo) bool {
	h := st.horizon(m)
	if h <= st.through {
		return false
	}
	k := memoKey{m.Author, m.URI}
	e := st.m[k]
	if e == nil {
		e = &memoEntry{}
		st.m[k] = e
	}
	if m.Delete {
		e.mark, e.hasMark, e.markH = m, true, h
	} else {
		e.post, e.hasPost, e.postHorizon = m, true, h
	}
	return true
}

// memoResult is what applying a batch did.
type memoResult struct {
	// Retract are the posts the batch's deletes retract, in order.
	Retract []PostMemo
	// Store are the memos to append to the Bag: the batch's posts and a
	// mark for every retracted post.
	Store []PostMemo
	// Ignored counts the deletes that changed nothing.
	Ignored int
}

// apply processes a batch's memos in order: a post is remembered; a delete
// of a remembered post of the same author, not retracted before, before
// the post's horizon, retracts it and marks it retracted; any other delete
// is ignored. A delete before its post (in the batch or across batches)
// is ignored, as in the reference.
func (st *memoState) apply(batch []PostMemo) memoResult {
	var r memoResult
	for _, m := range batch {
		if !m.Delete {
			if st.remember(m) {
				r.Store = append(r.Store, m)
			}
			continue
		}
		e := st.m[memoKey{m.Author, m.URI}]
		if e == nil || e.hasMark || !e.hasPost || m.At >= e.postHorizon {
			r.Ignored++
			continue
		}
		r.Retract = append(r.Retract, e.post)
		// Marks the post retracted, so a second delete changes nothing; it
		// expires with the post.
		mark := PostMemo{Author: m.Author, URI: m.URI, At: m.At, End: e.post.End, Delete: true}
		st.remember(mark)
		r.Store = append(r.Store, mark)
	}
	return r
}

// expire forgets the memos whose horizon is at or before now and returns
// the earliest horizon left (0 if none).
func (st *memoState) expire(now int64) int64 {
	if now > st.through {
		st.through = now
	}
	for k, e := range st.m {
		if e.hasPost && e.postHorizon <= st.through {
			e.post, e.hasPost = PostMemo{}, false
		}
		if e.hasMark && e.markH <= st.through {
			e.mark, e.hasMark = PostMemo{}, false
		}
		if !e.hasPost && !e.hasMark {
			delete(st.m, k)
		}
	}
	return st.next()
}

// next returns the earliest horizon held (0 if none).
func (st *memoState) next() int64 {
	next := int64(0)
	for _, e := range st.m {
		for _, h := range []int64{e.postHorizon, e.markH} {
			if h > st.through && (next == 0 || h < next) {
				next = h
			}
		}
	}
	return next
}

// live returns the number of memos held.
func (st *memoState) live() int {
	n := 0
	for _, e := range st.m {
		if e.hasPost {
			n++
		}
		if e.hasMark {
			n++
		}
	}
	return n
}

// memos returns the memos held, for rewriting the Bag: a post before its
// mark, so that replaying them gives this state again.
func (st *memoState) memos() []PostMemo {
	out := make([]PostMemo, 0, len(st.m))
	for _, e := range st.m {
		if e.hasPost {
			out = append(out, e.post)
		}
		if e.hasMark {
			out = append(out, e.mark)
		}
	}
	return out
}

// minHorizon returns the earliest horizon of ms (0 if empty).
func (st *memoState) minHorizon(ms []PostMemo) int64 {
	h := int64(0)
	for _, m := range ms {
		if x := st.horizon(m); h == 0 || x < h {
			h = x
		}
	}
	return h
}

// The MemoBatch coder: a version byte, a uvarint count, and per memo its
// strings as uvarint length and bytes, its times as zigzag varints, a
// flags byte, and its terms (uvarint count, then each term's kind and
// text). A Java runner sees opaque bytes (Beam's row coder would nest the
// memos' structs, which Flink's job server misreads).
const memoBatchVersion = 1

func encodeMemoBatch(b MemoBatch) ([]byte, error) {
	n := 1 + binary.MaxVarintLen64
	for _, m := range b.Memos {
		n += len(m.Author) + len(m.URI) + len(m.Lang) + 40
		for _, t := range m.Terms {
			n += len(t) + 4
		}
	}
	buf := make([]byte, 0, n)
	buf = append(buf, memoBatchVersion)
	buf = binary.AppendUvarint(buf, uint64(len(b.Memos)))
	str := func(s string) {
		buf = binary.AppendUvarint(buf, uint64(len(s)))
		buf = append(buf, s...)
	}
	for _, m := range b.Memos {
		if len(m.Kinds) != len(m.Terms) {
			return nil, fmt.Errorf("trend: encode memo of %s: %d terms, %d kinds", m.URI, len(m.Terms), len(m.Kinds))
		}
		str(m.Author)
		str(m.URI)
		buf = binary.AppendVarint(buf, m.At)
		buf = binary.AppendVarint(buf, m.End)
		var flags byte
		if m.Delete {
			flags |= 1
		}
		buf = append(buf, flags)
		str(m.Lang)
		buf = binary.AppendUvarint(buf, uint64(len(m.Terms)))
		for i, t := range m.Terms {
			buf = binary.AppendVarint(buf, int64(m.Kinds[i]))
			str(t)
		}
	}
	return buf, nil
}

func decodeMemoBatch(data []byte) (MemoBatch, error) {
	fail := func(err error) (MemoBatch, error) {
		return MemoBatch{}, fmt.Errorf("trend: decode memo batch: %w", err)
	}
	if len(data) < 1 {
		return fail(errTruncated)
	}
	if data[0] != memoBatchVersion {
		return fail(fmt.Errorf("unknown version %d", data[0]))
	}
	data = data[1:]
	// The memos' strings are substrings of one copy of the encoding: a
	// few allocations per batch rather than one per term, and less for
	// the collector to trace in the worker's copy of a shard's memos.
	all, off := string(data), 0
	bad := false
	uvarint := func() uint64 {
		v, n := binary.Uvarint(data)
		if n <= 0 {
			bad = true
			return 0
		}
		data, off = data[n:], off+n
		return v
	}
	varint := func() int64 {
		v, n := binary.Varint(data)
		if n <= 0 {
			bad = true
			return 0
		}
		data, off = data[n:], off+n
		return v
	}
	str := func() string {
		n := uvarint()
		if bad || n > uint64(len(data)) {
			bad = true
			return ""
		}
		s := all[off : off+int(n)]
		data, off = data[n:], off+int(n)
		return s
	}
	count := uvarint()
	// A memo takes at least 7 bytes.
	if bad || count > uint64(len(data)/7) {
		return fail(errTruncated)
	}
	b := MemoBatch{Memos: make([]PostMemo, count)}
	for i := range b.Memos {
		m := &b.Memos[i]
		m.Author = str()
		m.URI = str()
		m.At = varint()
		m.End = varint()
		if bad || len(data) < 1 {
			return fail(errTruncated)
		}
		m.Delete = data[0]&1 != 0
		data, off = data[1:], off+1
		m.Lang = str()
		nt := uvarint()
		// A term takes at least 2 bytes.
		if bad || nt > uint64(len(data)/2) {
			return fail(errTruncated)
		}
		if nt > 0 {
			m.Terms, m.Kinds = make([]string, nt), make([]int32, nt)
			for j := range m.Terms {
				m.Kinds[j] = int32(varint())
				m.Terms[j] = str()
			}
		}
		if bad {
			return fail(errTruncated)
		}
	}
	if len(data) > 0 {
		return fail(fmt.Errorf("%d trailing bytes", len(data)))
	}
	return b, nil
}
