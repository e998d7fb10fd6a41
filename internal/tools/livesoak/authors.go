package livesoak

import (
	"crypto/sha256"
	"encoding/base32"
	"encoding/binary"
	"math/rand/v2"
)

// Authors draws author DIDs for generated posts from a fixed pool with a
// Zipf law, as on the real network: a few accounts post a lot, most post
// once in a while. With the defaults (s = 1.1, v = 100) and a pool of
// 500,000, 30,000 posts (a 10-minute window at 50 posts/s) come from about
// 16,000 distinct authors and the busiest posts 0.2% of them, about one post
// every 9 s.
type Authors struct {
	seed uint64
	pool uint64
	zipf *rand.Zipf
}

// Zipf parameters of Authors (math/rand/v2.NewZipf's s and v).
const (
	AuthorsZipfS = 1.1
	AuthorsZipfV = 100
)

// NewAuthors returns a deterministic author source over pool accounts
// (pool >= 1). It is not safe for concurrent use.
func NewAuthors(seed uint64, pool int) *Authors {
	if pool < 1 {
		pool = 1
	}
	r := rand.New(rand.NewPCG(seed, seed^0x9e3779b97f4a7c15))
	return &Authors{seed: seed, pool: uint64(pool), zipf: rand.NewZipf(r, AuthorsZipfS, AuthorsZipfV, uint64(pool)-1)}
}

// Next draws the next post's author.
func (a *Authors) Next() string { return AuthorDID(a.seed, a.zipf.Uint64()) }

var plcEncoding = base32.NewEncoding("abcdefghijklmnopqrstuvwxyz234567").WithPadding(base32.NoPadding)

// AuthorDID is account i of the pool of seed: a did:plc with 24 base32
// characters, like the real ones, derived from a hash so that different
// pools do not share accounts by accident.
func AuthorDID(seed, i uint64) string {
	var b [16]byte
	binary.BigEndian.PutUint64(b[:8], seed)
	binary.BigEndian.PutUint64(b[8:], i)
	h := sha256.Sum256(b[:])
	return "did:plc:" + plcEncoding.EncodeToString(h[:15])
}
