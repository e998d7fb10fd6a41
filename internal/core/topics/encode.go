package topics

import (
	"encoding/binary"
	"errors"
	"fmt"
	"math/bits"
	"slices"

	tsv1 "github.com/trendstream/trendstream/proto/trendstream/v1"
)

// The sample is the topic stages' large value, so it has a compact binary
// form (Beam's reflective row coder is slow on nested slices): lang, end,
// then each post's hash, URI, author, text, time and terms, as varints and
// length-prefixed strings.

// AppendBinary appends s's encoding to b. It grows b once, to the
// encoding's size: appending a 1000-post sample to a nil slice regrew it
// 28 times, about a fifth of the topic stages' extra allocated bytes
// (BENCHMARKS.md, "Topics on and off, and Prism without its busy-wait").
func (s Sample) AppendBinary(b []byte) []byte {
	b = slices.Grow(b, s.encodedLen())
	b = appendString(b, s.Lang)
	b = binary.AppendVarint(b, s.End)
	b = binary.AppendUvarint(b, uint64(len(s.Posts)))
	for _, p := range s.Posts {
		b = binary.LittleEndian.AppendUint64(b, p.Hash)
		b = appendString(b, p.URI)
		b = appendString(b, p.Author)
		b = appendString(b, p.Text)
		b = binary.AppendVarint(b, p.At)
		b = binary.AppendUvarint(b, uint64(len(p.Terms)))
		for _, t := range p.Terms {
			b = binary.AppendUvarint(b, uint64(t.Kind))
			b = appendString(b, t.Text)
		}
	}
	return b
}

// encodedLen is the length of s's encoding.
func (s Sample) encodedLen() int {
	n := stringLen(s.Lang) + varintLen(s.End) + uvarintLen(uint64(len(s.Posts)))
	for _, p := range s.Posts {
		n += 8 + stringLen(p.URI) + stringLen(p.Author) + stringLen(p.Text) + varintLen(p.At) + uvarintLen(uint64(len(p.Terms)))
		for _, t := range p.Terms {
			n += uvarintLen(uint64(t.Kind)) + stringLen(t.Text)
		}
	}
	return n
}

func uvarintLen(v uint64) int { return (bits.Len64(v|1) + 6) / 7 }

// varintLen is the length of binary.AppendVarint's zig-zag encoding of v.
func varintLen(v int64) int {
	u := uint64(v) << 1
	if v < 0 {
		u = ^u
	}
	return uvarintLen(u)
}

func stringLen(s string) int { return uvarintLen(uint64(len(s))) + len(s) }

func appendString(b []byte, s string) []byte {
	b = binary.AppendUvarint(b, uint64(len(s)))
	return append(b, s...)
}

var errMalformed = errors.New("topics: malformed sample encoding")

type reader struct {
	b   []byte
	err error
	// str holds the same bytes as b did at the start, so that strings are
	// slices of it (one allocation per sample, not one per string); off is
	// how far b has advanced.
	str string
	off int
}

func (r *reader) advance(n int) {
	r.b = r.b[n:]
	r.off += n
}

func (r *reader) uvarint() uint64 {
	if r.err != nil {
		return 0
	}
	v, n := binary.Uvarint(r.b)
	if n <= 0 {
		r.err = errMalformed
		return 0
	}
	r.advance(n)
	return v
}

func (r *reader) varint() int64 {
	if r.err != nil {
		return 0
	}
	v, n := binary.Varint(r.b)
	if n <= 0 {
		r.err = errMalformed
		return 0
	}
	r.advance(n)
	return v
}

func (r *reader) string() string {
	n := r.uvarint()
	if r.err != nil || n > uint64(len(r.b)) {
		r.err = errMalformed
		return ""
	}
	s := r.str[r.off : r.off+int(n)]
	r.advance(int(n))
	return s
}

func (r *reader) uint64() uint64 {
	if r.err != nil || len(r.b) < 8 {
		r.err = errMalformed
		return 0
	}
	v := binary.LittleEndian.Uint64(r.b)
	r.advance(8)
	return v
}

// SampleEnd decodes only the period end of the sample encoded in b.
func SampleEnd(b []byte) (int64, error) {
	r := &reader{b: b, str: ""}
	if n := r.uvarint(); r.err == nil && n <= uint64(len(r.b)) {
		r.advance(int(n))
	} else {
		r.err = errMalformed
	}
	end := r.varint()
	if r.err != nil {
		return 0, fmt.Errorf("%w (%d bytes)", r.err, len(b))
	}
	return end, nil
}

// DecodeSample decodes one sample from the front of b and returns the
// rest of b. The sample's strings share one copy of b, and its posts'
// terms a few arrays: decoding every sample the pipeline moves made one
// allocation per string before, much of the topic stages' garbage.
func DecodeSample(b []byte) (Sample, []byte, error) {
	r := &reader{b: b, str: string(b)}
	var slab []Term // the posts' terms are carved from it
	s := Sample{Lang: r.string(), End: r.varint()}
	n := r.uvarint()
	if r.err == nil && n > uint64(len(r.b)) {
		r.err = errMalformed
	}
	if r.err == nil && n > 0 {
		s.Posts = make([]Post, n)
	}
	for i := range s.Posts {
		p := &s.Posts[i]
		p.Hash, p.URI, p.Author, p.Text, p.At = r.uint64(), r.string(), r.string(), r.string(), r.varint()
		nt := r.uvarint()
		if r.err != nil || nt > uint64(len(r.b)) {
			r.err = errMalformed
			break
		}
		if nt > 0 {
			if uint64(cap(slab)-len(slab)) < nt {
				slab = make([]Term, 0, max(nt, 512))
			}
			// Capped, so that appending to one post's terms cannot
			// overwrite the next post's.
			p.Terms = slab[len(slab) : len(slab)+int(nt) : len(slab)+int(nt)]
			slab = slab[:len(slab)+int(nt)]
		}
		for j := range p.Terms {
			p.Terms[j] = Term{Kind: tsv1.TermKind(r.uvarint()), Text: r.string()}
		}
	}
	if r.err != nil {
		return Sample{}, nil, fmt.Errorf("%w (%d bytes)", r.err, len(b))
	}
	return s, r.b, nil
}
