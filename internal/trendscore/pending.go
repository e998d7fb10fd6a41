package trendscore

import (
	"encoding/binary"
	"math"
)

// pending is a window scored but not yet folded into the baseline.
type pending struct {
	end   int64 // window end, Unix ms
	value float64
}

// State.Pending is a string, not a slice, so that State stays comparable
// and copies of it (Beam state, the pipeline's settled and current
// baselines) never share a backing array that one of them could overwrite.
// The encoding, oldest window first:
//
//	first window: uvarint(end) | uvarint(value)
//	every later:  uvarint(end − previous end) | uvarint(value)
//
// Values are counts (distinct authors or posts), so whole and
// non-negative; a lagged baseline of 10-minute windows sliding by a minute
// holds at most 10 of them, about 40 bytes.

func decodePending(s string, buf []pending) []pending {
	var prev int64
	for len(s) > 0 {
		d, n := uvarintString(s)
		if n <= 0 {
			break
		}
		s = s[n:]
		v, m := uvarintString(s)
		if m <= 0 {
			break
		}
		s = s[m:]
		prev += int64(d)
		buf = append(buf, pending{end: prev, value: float64(v)})
	}
	return buf
}

func encodePending(ps []pending) string {
	if len(ps) == 0 {
		return ""
	}
	b := make([]byte, 0, 8+4*len(ps))
	var prev int64
	for _, p := range ps {
		b = binary.AppendUvarint(b, uint64(p.end-prev))
		b = binary.AppendUvarint(b, countOf(p.value))
		prev = p.end
	}
	return string(b)
}

// appendPending returns s with the window ending at end and its value x
// added as the newest.
func appendPending(s string, end int64, x float64) string {
	var buf [16]pending
	ps := decodePending(s, buf[:0])
	return encodePending(append(ps, pending{end: end, value: float64(countOf(x))}))
}

// dropLast returns s without its newest window if that window ends at end.
func dropLast(s string, end int64) string {
	var buf [16]pending
	ps := decodePending(s, buf[:0])
	if n := len(ps); n > 0 && ps[n-1].end == end {
		return encodePending(ps[:n-1])
	}
	return s
}

// maxPending is the largest pending value (0 with none).
func maxPending(s string) float64 {
	var buf [16]pending
	m := 0.0
	for _, p := range decodePending(s, buf[:0]) {
		m = math.Max(m, p.value)
	}
	return m
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
