package trendscore

import (
	"encoding/binary"
	"math"
)

// State.Pending is a string, not a slice, so that State stays comparable
// and copies of it (Beam state, the pipeline's settled and current
// baselines) never share a backing array that one of them could overwrite.
// It holds one record per window, oldest first:
//
//	uvarint(end − previous end) | uvarint(value)
//
// where the previous end of the first record is State.PendingFrom. Folding
// the oldest windows only slices the string (PendingFrom becomes the last
// folded end), and adding a window appends to it, so neither decodes the
// rest. Values are counts (distinct authors or posts), whole and
// non-negative; a lagged baseline of 10-minute windows sliding by a minute
// holds at most 10 records, about 40 bytes.

// pendingIter walks the records of a Pending string.
type pendingIter struct {
	s   string
	off int
	end int64
}

// next returns the next record's end and value, and the offset after it.
func (it *pendingIter) next() (end int64, value float64, ok bool) {
	d, n := uvarintString(it.s[it.off:])
	if n <= 0 {
		return 0, 0, false
	}
	v, m := uvarintString(it.s[it.off+n:])
	if m <= 0 {
		return 0, 0, false
	}
	it.off += n + m
	it.end += int64(d)
	return it.end, float64(v), true
}

// appendPending adds the window ending at end with value x as the newest;
// last is the end of the current newest record (unused when there is
// none).
func appendPending(st *State, last, end int64, x float64) {
	if st.Pending == "" {
		st.PendingFrom, last = end, end
	}
	var buf [2 * binary.MaxVarintLen64]byte
	b := binary.AppendUvarint(buf[:0], uint64(end-last))
	b = binary.AppendUvarint(b, countOf(x))
	st.Pending += string(b)
}

// dropLast removes the newest record if it ends at end, and returns the
// end of the newest record left (0 if none).
func dropLast(st *State, end int64) int64 {
	it := pendingIter{s: st.Pending, end: st.PendingFrom}
	lastOff := 0
	var prevEnd, lastEnd int64
	for {
		before := it.off
		e, _, ok := it.next()
		if !ok {
			break
		}
		prevEnd = lastEnd
		lastOff, lastEnd = before, e
	}
	if st.Pending == "" || lastEnd != end {
		return lastEnd
	}
	st.Pending = st.Pending[:lastOff]
	if lastOff == 0 {
		st.PendingFrom = 0
		return 0
	}
	return prevEnd
}

// maxPending is the largest pending value (0 with none).
func maxPending(st State) float64 {
	it := pendingIter{s: st.Pending, end: st.PendingFrom}
	m := 0.0
	for {
		_, v, ok := it.next()
		if !ok {
			return m
		}
		m = math.Max(m, v)
	}
}

func countOf(x float64) uint64 {
	if !(x > 0) {
		return 0
	}
	return uint64(math.Round(x))
}

func uvarintString(s string) (uint64, int) {
	var x uint64
	var shift uint
	for i := 0; i < len(s) && i < binary.MaxVarintLen64; i++ {
		b := s[i]
		if b < 0x80 {
			return x | uint64(b)<<shift, i + 1
		}
		x |= uint64(b&0x7f) << shift
		shift += 7
	}
	return 0, 0
}
