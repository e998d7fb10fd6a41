package livesoak

import (
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"strings"
	"time"

	"github.com/bluesky-social/indigo/atproto/syntax"
	"github.com/ipfs/go-cid"

	"github.com/trendstream/trendstream/ingest/event"
	"github.com/trendstream/trendstream/internal/testenv/corpus"
)

// PostCollection is the collection of Bluesky posts.
const PostCollection = event.PostCollection

// Text is one real post's content, re-used by generated posts.
type Text struct {
	Text  string
	Langs []string
	Tags  []string
	// DID is the post's real author, used when no author pool is set.
	DID string
}

// CorpusTexts returns the texts of the bundled corpus (internal/testenv/corpus:
// 8,552 real posts, see its data/ATTRIBUTION.md).
func CorpusTexts() ([]Text, error) {
	ps, err := corpus.Posts()
	if err != nil {
		return nil, err
	}
	out := make([]Text, 0, len(ps))
	for _, p := range ps {
		if p.GetText() == "" {
			continue
		}
		out = append(out, Text{Text: p.GetText(), Langs: p.GetLangs(), Tags: p.GetHashtags(), DID: p.GetAuthorDid()})
	}
	return out, nil
}

// Jetstream v1 wire shapes; keys in the order Jetstream writes them.
type jsEvent struct {
	DID    string   `json:"did"`
	TimeUS int64    `json:"time_us"`
	Kind   string   `json:"kind"`
	Commit jsCommit `json:"commit"`
}

type jsCommit struct {
	Rev        string          `json:"rev"`
	Operation  string          `json:"operation"`
	Collection string          `json:"collection"`
	Rkey       string          `json:"rkey"`
	Record     json.RawMessage `json:"record"`
	CID        string          `json:"cid"`
}

// jsRecord is an app.bsky.feed.post record; keys sorted, as Jetstream's
// DAG-CBOR to JSON conversion writes them.
type jsRecord struct {
	Type      string    `json:"$type"`
	CreatedAt string    `json:"createdAt"`
	Facets    []jsFacet `json:"facets,omitempty"`
	Langs     []string  `json:"langs,omitempty"`
	Tags      []string  `json:"tags,omitempty"`
	Text      string    `json:"text"`
}

type jsFacet struct {
	Features []jsFeature `json:"features"`
	Index    jsIndex     `json:"index"`
}

type jsFeature struct {
	Type string `json:"$type"`
	Tag  string `json:"tag"`
}

type jsIndex struct {
	ByteEnd   int `json:"byteEnd"`
	ByteStart int `json:"byteStart"`
}

// ATProtoTime formats t as record timestamps are written (millisecond
// precision, UTC).
func ATProtoTime(t time.Time) string { return t.UTC().Format("2006-01-02T15:04:05.000Z") }

// JetstreamPost encodes one Jetstream v1 create commit of a post with t's
// content by did, stamped at: time_us, createdAt and the rkey and rev TIDs
// all come from at. Hashtags become tag facets over their "#tag" in the
// text, or the record's tags field when the text does not contain them.
func JetstreamPost(t Text, did string, at time.Time, clock uint) ([]byte, error) {
	rec := jsRecord{Type: PostCollection, CreatedAt: ATProtoTime(at), Langs: t.Langs, Text: t.Text}
	lower := strings.ToLower(t.Text)
	for _, tag := range t.Tags {
		i := strings.Index(lower, "#"+strings.ToLower(tag))
		if i < 0 || len(lower) != len(t.Text) {
			rec.Tags = append(rec.Tags, tag)
			continue
		}
		end := i + 1 + len(tag)
		rec.Facets = append(rec.Facets, jsFacet{
			Features: []jsFeature{{Type: "app.bsky.richtext.facet#tag", Tag: t.Text[i+1 : end]}},
			Index:    jsIndex{ByteStart: i, ByteEnd: end},
		})
	}
	raw, err := json.Marshal(rec)
	if err != nil {
		return nil, fmt.Errorf("livesoak: post record: %w", err)
	}
	c, err := recordCID(raw)
	if err != nil {
		return nil, err
	}
	tid := syntax.NewTID(at.UnixMicro(), clock).String()
	ev := jsEvent{DID: did, TimeUS: at.UnixMicro(), Kind: "commit", Commit: jsCommit{
		Rev: tid, Operation: "create", Collection: PostCollection, Rkey: tid, Record: raw, CID: c,
	}}
	return json.Marshal(ev)
}

// recordCID is a well-formed CIDv1 (dag-cbor, sha2-256) over the record's
// bytes. The ingest does not verify Jetstream CIDs; this only keeps the
// field realistic and distinct per record.
func recordCID(b []byte) (string, error) {
	c, err := cid.Prefix{Version: 1, Codec: cid.DagCBOR, MhType: 0x12, MhLength: -1}.Sum(b)
	if err != nil {
		return "", fmt.Errorf("livesoak: cid: %w", err)
	}
	return c.String(), nil
}

// jetstreamGen generates Jetstream post events: texts in a fresh random
// order each pass over the corpus, authors from the pool (or the texts'
// real authors when there is no pool).
type jetstreamGen struct {
	texts   []Text
	order   []int
	rng     *rand.Rand
	authors *Authors
}

func newJetstreamGen(texts []Text, seed uint64, pool int) *jetstreamGen {
	g := &jetstreamGen{texts: texts, rng: rand.New(rand.NewPCG(seed, 0x5eed))}
	if pool > 0 {
		g.authors = NewAuthors(seed, pool)
	}
	return g
}

func (g *jetstreamGen) event(n int64, at time.Time) (key int64, data []byte, posts int, err error) {
	i := int(n % int64(len(g.texts)))
	if i == 0 || g.order == nil {
		g.order = g.rng.Perm(len(g.texts))
	}
	t := g.texts[g.order[i]]
	did := t.DID
	if g.authors != nil {
		did = g.authors.Next()
	}
	b, err := JetstreamPost(t, did, at, uint(n%1024))
	return at.UnixMicro(), b, 1, err
}
