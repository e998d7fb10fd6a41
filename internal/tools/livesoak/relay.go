package livesoak

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"
	"time"

	comatproto "github.com/bluesky-social/indigo/api/atproto"
	bsky "github.com/bluesky-social/indigo/api/bsky"
	"github.com/bluesky-social/indigo/atproto/syntax"
	"github.com/bluesky-social/indigo/events"
	lexutil "github.com/bluesky-social/indigo/lex/util"
	"github.com/ipfs/go-cid"
	cbg "github.com/whyrusleeping/cbor-gen"

	"github.com/trendstream/trendstream/ingest/frame"
	"github.com/trendstream/trendstream/ingest/replay"
	tsv1 "github.com/trendstream/trendstream/proto/trendstream/v1"
)

// LoadFrames reads a recording of raw firehose frames (length-prefixed,
// optionally zstd-compressed, as ingest/replay reads them), such as
// ingest/frame/testdata/frames.bin.zst.
func LoadFrames(path string) ([][]byte, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	r, err := replay.NewReader(f, frame.DefaultMaxBytes)
	if err != nil {
		return nil, err
	}
	defer r.Close()
	if r.Format() != replay.Frames {
		return nil, fmt.Errorf("livesoak: %s is not a frame recording", path)
	}
	var out [][]byte
	for {
		b, err := r.Next()
		if errors.Is(err, io.EOF) {
			return out, nil
		}
		if err != nil {
			return nil, fmt.Errorf("livesoak: %s: %w", path, err)
		}
		out = append(out, bytes.Clone(b))
	}
}

// Stamp is what Restamp writes into a frame.
type Stamp struct {
	Seq  int64
	Time time.Time
	// DID replaces the repo (commits) or did (other events); empty keeps it.
	DID string
	// Clock is the TID clock id of new rkeys and revs.
	Clock uint
}

// Restamp re-encodes a recorded firehose frame with a new seq and relay
// time, and optionally a new author: everything the ingest reads from the
// frame's envelope. For a commit the rev and the rkeys of created records
// become TIDs of the new time, so every replayed post has its own URI.
//
// Each created post's createdAt, inside the commit's CAR slice, becomes the
// new time too: the record block is re-encoded, and its CID (which the
// ingest checks the block against) and the op's CID replaced. What stays
// recorded: the other records, and the commit block and MST nodes, which
// no longer match the changed records (the ingest does not walk the MST or
// verify signatures; a full consumer would reject such a commit). Error
// and #info frames are returned unchanged.
func Restamp(b []byte, s Stamp) ([]byte, error) {
	cr := cbg.NewCborReader(bytes.NewReader(b))
	var h events.EventHeader
	if err := h.UnmarshalCBOR(cr); err != nil {
		return nil, fmt.Errorf("livesoak: frame header: %w", err)
	}
	if h.Op != events.EvtKindMessage {
		return b, nil
	}
	ts := s.Time.UTC().Format("2006-01-02T15:04:05.000Z")
	var body interface{ MarshalCBOR(io.Writer) error }
	switch h.MsgType {
	case "#commit":
		var c comatproto.SyncSubscribeRepos_Commit
		if err := c.UnmarshalCBOR(cr); err != nil {
			return nil, fmt.Errorf("livesoak: #commit: %w", err)
		}
		c.Seq, c.Time = s.Seq, ts
		if s.DID != "" {
			c.Repo = s.DID
		}
		tid := syntax.NewTID(s.Time.UnixMicro(), s.Clock)
		c.Rev = tid.String()
		if err := restampPosts(&c, ts); err != nil {
			return nil, err
		}
		for i, op := range c.Ops {
			if op == nil || op.Action != "create" {
				continue
			}
			if coll, _, ok := strings.Cut(op.Path, "/"); ok {
				// Distinct rkeys within one commit: successive TIDs.
				op.Path = coll + "/" + syntax.NewTID(s.Time.UnixMicro()+int64(i), s.Clock).String()
			}
		}
		body = &c
	case "#identity":
		var c comatproto.SyncSubscribeRepos_Identity
		if err := c.UnmarshalCBOR(cr); err != nil {
			return nil, fmt.Errorf("livesoak: #identity: %w", err)
		}
		c.Seq, c.Time = s.Seq, ts
		if s.DID != "" {
			c.Did = s.DID
		}
		body = &c
	case "#account":
		var c comatproto.SyncSubscribeRepos_Account
		if err := c.UnmarshalCBOR(cr); err != nil {
			return nil, fmt.Errorf("livesoak: #account: %w", err)
		}
		c.Seq, c.Time = s.Seq, ts
		if s.DID != "" {
			c.Did = s.DID
		}
		body = &c
	case "#sync":
		var c comatproto.SyncSubscribeRepos_Sync
		if err := c.UnmarshalCBOR(cr); err != nil {
			return nil, fmt.Errorf("livesoak: #sync: %w", err)
		}
		c.Seq, c.Time = s.Seq, ts
		if s.DID != "" {
			c.Did = s.DID
		}
		body = &c
	default:
		return b, nil
	}
	var out bytes.Buffer
	out.Grow(len(b) + 16)
	if err := h.MarshalCBOR(&out); err != nil {
		return nil, err
	}
	if err := body.MarshalCBOR(&out); err != nil {
		return nil, err
	}
	return out.Bytes(), nil
}

// restampPosts sets createdAt of the posts c creates and re-addresses their
// blocks. A block that does not decode as a post is left as it is (the
// ingest reports it as it would the recorded one).
func restampPosts(c *comatproto.SyncSubscribeRepos_Commit, createdAt string) error {
	ops := map[string]*comatproto.SyncSubscribeRepos_RepoOp{}
	for _, op := range c.Ops {
		if op != nil && op.Action == "create" && op.Cid != nil && strings.HasPrefix(op.Path, PostCollection+"/") {
			ops[cid.Cid(*op.Cid).KeyString()] = op
		}
	}
	if len(ops) == 0 || len(c.Blocks) == 0 {
		return nil
	}
	car := []byte(c.Blocks)
	hlen, n := binary.Uvarint(car)
	if n <= 0 || hlen > uint64(len(car)-n) {
		return errors.New("livesoak: CAR: bad header length")
	}
	out := bytes.NewBuffer(make([]byte, 0, len(car)+64))
	out.Write(car[:n+int(hlen)])
	rest := car[n+int(hlen):]
	for len(rest) > 0 {
		l, n := binary.Uvarint(rest)
		if n <= 0 || l == 0 || l > uint64(len(rest)-n) {
			return errors.New("livesoak: CAR: bad section length")
		}
		sec := rest[:n+int(l)]
		body := rest[n : n+int(l)]
		rest = rest[n+int(l):]
		cn, old, err := cid.CidFromBytes(body)
		if err != nil {
			return fmt.Errorf("livesoak: CAR: section CID: %w", err)
		}
		op := ops[old.KeyString()]
		var fp bsky.FeedPost
		if op == nil || fp.UnmarshalCBOR(bytes.NewReader(body[cn:])) != nil {
			out.Write(sec)
			continue
		}
		fp.CreatedAt = createdAt
		var rec bytes.Buffer
		if err := fp.MarshalCBOR(&rec); err != nil {
			return fmt.Errorf("livesoak: re-encode post: %w", err)
		}
		nc, err := old.Prefix().Sum(rec.Bytes())
		if err != nil {
			return fmt.Errorf("livesoak: post CID: %w", err)
		}
		cb := nc.Bytes()
		out.Write(binary.AppendUvarint(nil, uint64(len(cb)+rec.Len())))
		out.Write(cb)
		out.Write(rec.Bytes())
		link := lexutil.LexLink(nc)
		op.Cid = &link
	}
	c.Blocks = lexutil.LexBytes(out.Bytes())
	return nil
}

// PostCreates counts the post creates the ingest would decode from a frame.
func PostCreates(b []byte) int {
	ev, err := frame.Decode(b, frame.Options{})
	if err != nil {
		return 0
	}
	n := 0
	for _, p := range ev.Posts {
		if p.GetOperation() == tsv1.Operation_OPERATION_CREATE {
			n++
		}
	}
	return n
}

// relayGen replays recorded frames in a loop, re-sequenced from 1 and
// re-stamped with the current time and pool authors.
type relayGen struct {
	frames  [][]byte
	posts   []int
	authors *Authors
}

func newRelayGen(frames [][]byte, seed uint64, pool int) (*relayGen, error) {
	if len(frames) == 0 {
		return nil, errors.New("livesoak: no frames to relay")
	}
	g := &relayGen{frames: frames}
	total := 0
	for _, f := range frames {
		n := PostCreates(f)
		g.posts = append(g.posts, n)
		total += n
	}
	if total == 0 {
		return nil, errors.New("livesoak: the frame recording holds no post")
	}
	if pool > 0 {
		g.authors = NewAuthors(seed, pool)
	}
	return g, nil
}

// postsPerEvent is the mean number of posts per frame of the recording.
func (g *relayGen) postsPerEvent() float64 {
	total := 0
	for _, n := range g.posts {
		total += n
	}
	return float64(total) / float64(len(g.frames))
}

func (g *relayGen) event(n int64, at time.Time) (key int64, data []byte, posts int, err error) {
	i := int(n % int64(len(g.frames)))
	s := Stamp{Seq: n + 1, Time: at, Clock: uint(n % 1024)}
	if g.authors != nil {
		s.DID = g.authors.Next()
	}
	b, err := Restamp(g.frames[i], s)
	return s.Seq, b, g.posts[i], err
}
