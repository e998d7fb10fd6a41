package termwindow

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"slices"

	tsv1 "github.com/trendstream/trendstream/proto/trendstream/v1"
)

// A Bucket's encoding:
//
//	version byte (3) | term count (uint32, little-endian) | one record per
//	term, sorted by key
//
// A record is a header, uvarint(len(key)<<1 | single), then the key, then
//
//	single = 1: the one author's ID (uint64, little-endian), who posted once
//	single = 0: posts (uvarint) | author count (uvarint) | byte length of the
//	            authors (uvarint) | per author, sorted by ID: ID (uint64,
//	            little-endian) | posts (uvarint)
//
// Posts are signed, stored as the uvarint of their two's complement: a
// partial bucket of retractions (docs/pipeline.md, "Deletes") holds
// negative counts, in 10 bytes each, and never a zero.
//
// and a key is uvarint(len(lang)) | lang | uvarint(kind) | term. Keys are
// compared as bytes. Lengths let a merge step over what it does not read.
const encodingVersion = 3

const headerSize = 1 + 4

// Bucket is the term activity of one period, or of part of one: partial
// buckets of the same period add up with MergeBuckets. The zero Bucket is
// empty. A Bucket is immutable.
type Bucket struct {
	data []byte // the whole encoding
	n    int
	body []byte // the records
}

// Len is the number of distinct terms in b.
func (b Bucket) Len() int { return b.n }

// Hits is how many (term, author) pairs b holds.
func (b Bucket) Hits() int {
	n := 0
	r := b.reader()
	for r.next() {
		n += r.rec.nAuthors
	}
	return n
}

// MarshalBinary returns b's encoding. It must not be modified.
func (b Bucket) MarshalBinary() ([]byte, error) {
	if b.data == nil {
		return []byte{encodingVersion, 0, 0, 0, 0}, nil
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

// decode checks every record, so that readers can trust the encoding.
func decode(data []byte) (Bucket, error) {
	if len(data) < headerSize {
		return Bucket{}, errShort
	}
	if data[0] != encodingVersion {
		return Bucket{}, fmt.Errorf("unknown encoding version %d", data[0])
	}
	n := uint64(binary.LittleEndian.Uint32(data[1:]))
	body := data[headerSize:]
	if n > uint64(len(body)/10) { // the smallest record is 10 bytes
		return Bucket{}, fmt.Errorf("%d terms do not fit in %d bytes", n, len(body))
	}
	p := body
	var prev []byte
	for i := range int(n) {
		h, k := binary.Uvarint(p)
		if k <= 0 || h>>1 > uint64(len(p)-k) {
			return Bucket{}, fmt.Errorf("term %d: %w", i, errShort)
		}
		key := p[k : k+int(h>>1)]
		if err := checkKey(key); err != nil {
			return Bucket{}, fmt.Errorf("term %d: %w", i, err)
		}
		if i > 0 && bytes.Compare(prev, key) >= 0 {
			return Bucket{}, fmt.Errorf("term %d out of order", i)
		}
		prev = key
		p = p[k+len(key):]
		if h&1 == 1 {
			if len(p) < 8 {
				return Bucket{}, fmt.Errorf("term %d: %w", i, errShort)
			}
			p = p[8:]
			continue
		}
		posts, k1 := binary.Uvarint(p)
		if k1 <= 0 {
			return Bucket{}, fmt.Errorf("term %d: %w", i, errShort)
		}
		na, k2 := binary.Uvarint(p[k1:])
		if k2 <= 0 {
			return Bucket{}, fmt.Errorf("term %d: %w", i, errShort)
		}
		al, k3 := binary.Uvarint(p[k1+k2:])
		if k3 <= 0 || al > uint64(len(p)-k1-k2-k3) {
			return Bucket{}, fmt.Errorf("term %d: %w", i, errShort)
		}
		as := p[k1+k2+k3 : k1+k2+k3+int(al)]
		p = p[k1+k2+k3+int(al):]
		var sum int64
		var prevAuthor uint64
		for j := uint64(0); j < na; j++ {
			if len(as) < 9 {
				return Bucket{}, fmt.Errorf("term %d: %d authors do not fit", i, na)
			}
			a := binary.LittleEndian.Uint64(as)
			if j > 0 && a <= prevAuthor {
				return Bucket{}, fmt.Errorf("term %d: authors out of order", i)
			}
			prevAuthor = a
			// Posts are signed (two's complement): a retraction is
			// negative. Zero never travels (Builder and MergeBuckets drop
			// such authors).
			np, k4 := binary.Uvarint(as[8:])
			if v := int64(np); k4 <= 0 || v == 0 || v > 1<<40 || v < -(1<<40) {
				return Bucket{}, fmt.Errorf("term %d: malformed author posts", i)
			}
			sum += int64(np)
			as = as[8+k4:]
		}
		if len(as) != 0 || na == 0 {
			return Bucket{}, fmt.Errorf("term %d: author list of %d bytes holds %d authors", i, al, na)
		}
		if sum != int64(posts) {
			return Bucket{}, fmt.Errorf("term %d: %d posts, authors have %d", i, posts, sum)
		}
	}
	if len(p) != 0 {
		return Bucket{}, fmt.Errorf("%d trailing bytes", len(p))
	}
	return Bucket{data: data, n: int(n), body: body}, nil
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

// record is one term of a checked encoding.
type record struct {
	key      []byte // encoded
	posts    int64
	nAuthors int
	single   uint64 // the author, when the term is one author's one post
	authors  []byte // encoded, when it is not
}

func (r *record) appendAuthors(dst []AuthorPosts) []AuthorPosts {
	if r.authors == nil {
		return append(dst, AuthorPosts{Author: r.single, Posts: 1})
	}
	p := r.authors
	for len(p) > 0 {
		a := binary.LittleEndian.Uint64(p)
		n, k := binary.Uvarint(p[8:])
		dst = append(dst, AuthorPosts{Author: a, Posts: int64(n)})
		p = p[8+k:]
	}
	return dst
}

// reader walks the records of a checked encoding.
type reader struct {
	p    []byte
	rec  record
	raw  []byte // the current record's encoding
	done bool
}

func (b Bucket) reader() reader { return reader{p: b.body} }

func (r *reader) next() bool {
	if len(r.p) == 0 {
		r.done = true
		return false
	}
	start := r.p
	h, k := binary.Uvarint(r.p)
	kl := int(h >> 1)
	r.rec.key = r.p[k : k+kl]
	p := r.p[k+kl:]
	if h&1 == 1 {
		r.rec.posts, r.rec.nAuthors, r.rec.authors = 1, 1, nil
		r.rec.single = binary.LittleEndian.Uint64(p)
		r.p = p[8:]
	} else {
		posts, k1 := binary.Uvarint(p)
		na, k2 := binary.Uvarint(p[k1:])
		al, k3 := binary.Uvarint(p[k1+k2:])
		off := k1 + k2 + k3
		r.rec.posts, r.rec.nAuthors = int64(posts), int(na)
		r.rec.authors = p[off : off+int(al)]
		r.p = p[off+int(al):]
	}
	r.raw = start[:len(start)-len(r.p)]
	return true
}

func decodeKey(kb []byte) Key {
	ll, k := binary.Uvarint(kb)
	lang := kb[k : k+int(ll)]
	kind, k2 := binary.Uvarint(kb[k+int(ll):])
	return Key{Lang: string(lang), Kind: tsv1.TermKind(kind), Term: string(kb[k+int(ll)+k2:])}
}

// decodeKeyIn is decodeKey for a key whose language is already known as
// lang: its terms share the string.
func decodeKeyIn(kb []byte, lang string) Key {
	ll, k := binary.Uvarint(kb)
	kind, k2 := binary.Uvarint(kb[k+int(ll):])
	return Key{Lang: lang, Kind: tsv1.TermKind(kind), Term: string(kb[k+int(ll)+k2:])}
}

// Langs returns the languages of b's keys, each once, sorted: each term's
// language and each VolumeKey's (its Term). A scorer re-ranks only these
// languages' rankings, and the overall one, after a late bucket.
func (b Bucket) Langs() []string {
	var langs []string
	r := b.reader()
	for r.next() {
		var l []byte
		if isVolumeKey(r.rec.key) {
			l = r.rec.key[2:] // an empty language, kind 0: the rest is the Term
		} else {
			l = keyLang(r.rec.key)
		}
		if !slices.Contains(langs, string(l)) {
			langs = append(langs, string(l))
		}
	}
	slices.Sort(langs)
	return langs
}

// Terms decodes every term of b, in storage order.
func (b Bucket) Terms() []TermActivity {
	out := make([]TermActivity, 0, b.n)
	r := b.reader()
	for r.next() {
		out = append(out, TermActivity{Key: decodeKey(r.rec.key), Posts: r.rec.posts, Authors: r.rec.appendAuthors(nil)})
	}
	return out
}

func appendKey(dst []byte, k Key) []byte {
	dst = binary.AppendUvarint(dst, uint64(len(k.Lang)))
	dst = append(dst, k.Lang...)
	dst = binary.AppendUvarint(dst, uint64(uint32(k.Kind)))
	return append(dst, k.Term...)
}

// writer encodes records, which must come in key order.
type writer struct {
	buf []byte
	n   int
}

func newWriter(size int) *writer {
	w := &writer{buf: make([]byte, headerSize, headerSize+size)}
	w.buf[0] = encodingVersion
	return w
}

func (w *writer) add(key []byte, posts int64, authors []AuthorPosts) {
	if len(authors) == 1 {
		w.addOne(key, authors[0])
		return
	}
	w.n++
	w.buf = binary.AppendUvarint(w.buf, uint64(len(key))<<1)
	w.buf = append(w.buf, key...)
	w.buf = binary.AppendUvarint(w.buf, uint64(posts))
	w.buf = binary.AppendUvarint(w.buf, uint64(len(authors)))
	size := 0
	for _, a := range authors {
		size += 8 + uvarintLen(uint64(a.Posts))
	}
	w.buf = binary.AppendUvarint(w.buf, uint64(size))
	for _, a := range authors {
		w.buf = binary.LittleEndian.AppendUint64(w.buf, a.Author)
		w.buf = binary.AppendUvarint(w.buf, uint64(a.Posts))
	}
}

// addOne adds a term with a single author.
func (w *writer) addOne(key []byte, a AuthorPosts) {
	w.n++
	if a.Posts == 1 {
		w.buf = binary.AppendUvarint(w.buf, uint64(len(key))<<1|1)
		w.buf = append(w.buf, key...)
		w.buf = binary.LittleEndian.AppendUint64(w.buf, a.Author)
		return
	}
	w.buf = binary.AppendUvarint(w.buf, uint64(len(key))<<1)
	w.buf = append(w.buf, key...)
	w.buf = binary.AppendUvarint(w.buf, uint64(a.Posts))
	w.buf = binary.AppendUvarint(w.buf, 1)
	w.buf = binary.AppendUvarint(w.buf, uint64(8+uvarintLen(uint64(a.Posts))))
	w.buf = binary.LittleEndian.AppendUint64(w.buf, a.Author)
	w.buf = binary.AppendUvarint(w.buf, uint64(a.Posts))
}

// addRaw copies a record of another encoding.
func (w *writer) addRaw(rec []byte) {
	w.n++
	w.buf = append(w.buf, rec...)
}

func (w *writer) bucket() Bucket {
	binary.LittleEndian.PutUint32(w.buf[1:], uint32(w.n))
	return Bucket{data: w.buf, n: w.n, body: w.buf[headerSize:]}
}

func uvarintLen(v uint64) int {
	n := 1
	for v >= 0x80 {
		v >>= 7
		n++
	}
	return n
}
