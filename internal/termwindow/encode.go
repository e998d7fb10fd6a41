package termwindow

import (
	"bytes"
	"cmp"
	"encoding/binary"
	"errors"
	"fmt"
	"slices"

	tsv1 "github.com/trendstream/trendstream/proto/trendstream/v1"
)

// A Bucket's encoding:
//
//	version byte (2)
//	term count (uvarint)
//	index: per term, sorted by (hash, encoded key):
//	        key hash (uint64) | posts (uint64) | payload offset (uint32), little-endian
//	payload: per term, in index order:
//	        key length (uvarint) | key | author count (uvarint) |
//	        per author, sorted: author ID (uint64, little-endian) | posts (uvarint)
//	key:    language length (uvarint) | language | kind (uvarint) | term (the rest)
//
// The fixed-width index lets a merge compare and sum terms without parsing
// their keys; the payload is read only for terms that are kept.
const encodingVersion = 2

const entrySize = 8 + 8 + 4

// Bucket is the term activity of one period, or of part of one: partial
// buckets of the same period add up with MergeBuckets. The zero Bucket is
// empty. A Bucket is immutable.
type Bucket struct {
	data    []byte // the whole encoding
	n       int
	index   []byte
	payload []byte
}

// Len is the number of distinct terms in b.
func (b Bucket) Len() int { return b.n }

// Hits is how many (term, author) pairs b holds.
func (b Bucket) Hits() int {
	n := 0
	for i := range b.n {
		_, rest := b.keyAt(i)
		na, _ := binary.Uvarint(rest)
		n += int(na)
	}
	return n
}

// MarshalBinary returns b's encoding. It must not be modified.
func (b Bucket) MarshalBinary() ([]byte, error) {
	if b.data == nil {
		return encode(nil).data, nil
	}
	return b.data, nil
}

// UnmarshalBinary checks and decodes an encoding made by MarshalBinary.
func (b *Bucket) UnmarshalBinary(data []byte) error {
	d, err := Decode(bytes.Clone(data))
	if err != nil {
		return err
	}
	*b = d
	return nil
}

// Decode checks an encoding made by MarshalBinary and returns its Bucket,
// which keeps data: the caller must not modify it afterwards.
func Decode(data []byte) (Bucket, error) {
	b, err := decode(data)
	if err != nil {
		return Bucket{}, fmt.Errorf("termwindow: decode bucket: %w", err)
	}
	return b, nil
}

var errShort = errors.New("truncated")

func decode(data []byte) (Bucket, error) {
	if len(data) < 2 {
		return Bucket{}, errShort
	}
	if data[0] != encodingVersion {
		return Bucket{}, fmt.Errorf("unknown encoding version %d", data[0])
	}
	n, k := binary.Uvarint(data[1:])
	if k <= 0 {
		return Bucket{}, errShort
	}
	rest := data[1+k:]
	if n > uint64(len(rest)/entrySize) {
		return Bucket{}, fmt.Errorf("%d terms do not fit in %d bytes", n, len(rest))
	}
	b := Bucket{data: data, n: int(n), index: rest[:int(n)*entrySize], payload: rest[int(n)*entrySize:]}
	// Walk the payload once, so that the accessors can trust it.
	off := 0
	for i := range b.n {
		if int(b.off(i)) != off {
			return Bucket{}, fmt.Errorf("term %d at offset %d, want %d", i, b.off(i), off)
		}
		p := b.payload[off:]
		kl, k1 := binary.Uvarint(p)
		if k1 <= 0 || kl > uint64(len(p)-k1) {
			return Bucket{}, errShort
		}
		key := p[k1 : k1+int(kl)]
		if err := checkKey(key); err != nil {
			return Bucket{}, fmt.Errorf("term %d: %w", i, err)
		}
		if i > 0 && compareAt(b, i-1, b, i) >= 0 {
			return Bucket{}, fmt.Errorf("term %d out of order", i)
		}
		p = p[k1+int(kl):]
		na, k2 := binary.Uvarint(p)
		if k2 <= 0 || na > uint64(len(p)-k2)/9 {
			return Bucket{}, errShort
		}
		p = p[k2:]
		var posts, prev uint64
		for j := range na {
			if len(p) < 8 {
				return Bucket{}, errShort
			}
			a := binary.LittleEndian.Uint64(p)
			if j > 0 && a <= prev {
				return Bucket{}, fmt.Errorf("term %d: authors out of order", i)
			}
			prev = a
			np, k3 := binary.Uvarint(p[8:])
			if k3 <= 0 {
				return Bucket{}, errShort
			}
			if np == 0 || np > 1<<40 {
				return Bucket{}, fmt.Errorf("term %d: author with %d posts", i, np)
			}
			posts += np
			p = p[8+k3:]
		}
		if int64(posts) != b.posts(i) {
			return Bucket{}, fmt.Errorf("term %d: index says %d posts, authors %d", i, b.posts(i), posts)
		}
		off = len(b.payload) - len(p)
	}
	if off != len(b.payload) {
		return Bucket{}, fmt.Errorf("%d trailing bytes", len(b.payload)-off)
	}
	return b, nil
}

func checkKey(key []byte) error {
	ll, k := binary.Uvarint(key)
	if k <= 0 || ll > uint64(len(key)-k) {
		return errShort
	}
	if _, k2 := binary.Uvarint(key[k+int(ll):]); k2 <= 0 {
		return errShort
	}
	return nil
}

func (b Bucket) hash(i int) uint64     { return binary.LittleEndian.Uint64(b.index[i*entrySize:]) }
func (b Bucket) posts(i int) int64     { return int64(binary.LittleEndian.Uint64(b.index[i*entrySize+8:])) }
func (b Bucket) off(i int) uint32      { return binary.LittleEndian.Uint32(b.index[i*entrySize+16:]) }
func (b Bucket) keyBytes(i int) []byte { k, _ := b.keyAt(i); return k }

// keyAt returns term i's encoded key and the payload after it.
func (b Bucket) keyAt(i int) (key, rest []byte) {
	p := b.payload[b.off(i):]
	kl, k := binary.Uvarint(p)
	return p[k : k+int(kl)], p[k+int(kl):]
}

func (b Bucket) key(i int) Key {
	kb := b.keyBytes(i)
	ll, k := binary.Uvarint(kb)
	lang := kb[k : k+int(ll)]
	kind, k2 := binary.Uvarint(kb[k+int(ll):])
	return Key{Lang: string(lang), Kind: tsv1.TermKind(kind), Term: string(kb[k+int(ll)+k2:])}
}

// appendAuthors appends term i's authors to dst.
func (b Bucket) appendAuthors(dst []AuthorPosts, i int) []AuthorPosts {
	_, p := b.keyAt(i)
	na, k := binary.Uvarint(p)
	p = p[k:]
	for range na {
		a := binary.LittleEndian.Uint64(p)
		n, k := binary.Uvarint(p[8:])
		dst = append(dst, AuthorPosts{Author: a, Posts: int64(n)})
		p = p[8+k:]
	}
	return dst
}

// Terms decodes every term of b, in storage order.
func (b Bucket) Terms() []TermActivity {
	out := make([]TermActivity, b.n)
	for i := range b.n {
		out[i] = TermActivity{Key: b.key(i), Posts: b.posts(i), Authors: b.appendAuthors(nil, i)}
	}
	return out
}

// encTerm is a term on its way into an encoding.
type encTerm struct {
	hash    uint64
	posts   int64
	key     []byte // encoded
	authors []AuthorPosts
}

func (b Bucket) encTerm(i int, dst []AuthorPosts) encTerm {
	return encTerm{hash: b.hash(i), posts: b.posts(i), key: b.keyBytes(i), authors: b.appendAuthors(dst, i)}
}

func appendKey(dst []byte, k Key) []byte {
	dst = binary.AppendUvarint(dst, uint64(len(k.Lang)))
	dst = append(dst, k.Lang...)
	dst = binary.AppendUvarint(dst, uint64(uint32(k.Kind)))
	return append(dst, k.Term...)
}

// encode sorts ts into storage order and encodes them.
func encode(ts []encTerm) Bucket {
	slices.SortFunc(ts, func(a, b encTerm) int {
		if c := cmp.Compare(a.hash, b.hash); c != 0 {
			return c
		}
		return bytes.Compare(a.key, b.key)
	})
	size := 1 + binary.MaxVarintLen64 + len(ts)*entrySize
	for _, t := range ts {
		size += binary.MaxVarintLen64*2 + len(t.key) + len(t.authors)*(8+binary.MaxVarintLen64)
	}
	data := make([]byte, 0, size)
	data = append(data, encodingVersion)
	data = binary.AppendUvarint(data, uint64(len(ts)))
	indexAt := len(data)
	data = data[:indexAt+len(ts)*entrySize]
	payloadAt := len(data)
	for i, t := range ts {
		e := data[indexAt+i*entrySize:]
		binary.LittleEndian.PutUint64(e, t.hash)
		binary.LittleEndian.PutUint64(e[8:], uint64(t.posts))
		binary.LittleEndian.PutUint32(e[16:], uint32(len(data)-payloadAt))
		data = binary.AppendUvarint(data, uint64(len(t.key)))
		data = append(data, t.key...)
		data = binary.AppendUvarint(data, uint64(len(t.authors)))
		for _, a := range t.authors {
			data = binary.LittleEndian.AppendUint64(data, a.Author)
			data = binary.AppendUvarint(data, uint64(a.Posts))
		}
	}
	return Bucket{data: data, n: len(ts), index: data[indexAt:payloadAt], payload: data[payloadAt:]}
}
