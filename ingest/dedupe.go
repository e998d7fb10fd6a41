package ingest

import (
	"context"
	"strconv"

	"github.com/IBM/sarama"
	"google.golang.org/protobuf/proto"

	"github.com/trendstream/trendstream/ingest/sink"
	"github.com/trendstream/trendstream/ingest/source"
	"github.com/trendstream/trendstream/internal/core/watermark"
	v1 "github.com/trendstream/trendstream/proto/trendstream/v1"
)

// Headers of every post record: the source it was read from (its key, as
// the cursor store names it: kind and URL or path) and the event's
// position in that source. Post.cursor is not enough: for a recording the
// position is the record number, not the seq inside the frame.
const (
	HeaderSource = "trendstream-source"
	HeaderPos    = "trendstream-pos"
)

// dedupeScanMax bounds the records read back per partition at a session
// start. Beyond it the posts not seen are simply sent again (duplicates,
// as before), never skipped.
const dedupeScanMax = 50_000

// postRef is what makes a post record the same one: the event's position
// and the post's identity within it.
type postRef struct {
	pos      int64
	uri, cid string
	op       v1.Operation
}

func refOf(pos int64, p *v1.Post) postRef {
	return postRef{pos: pos, uri: p.Uri, cid: p.Cid, op: p.Operation}
}

// delivered reads back which posts of the events after from are already
// in the posts topic, so a session that resumes from an older cursor (the
// last one persisted before a crash) does not write them twice.
//
// Why this is safe: a post is skipped only if that exact post — same
// source, same position, same URI, CID and operation — was read back from
// the topic, and what a consumer reads there is committed. The set can be
// incomplete, never wrong, and incomplete only means a duplicate.
//
// Why it is exact rather than "the partition already holds this position
// or a later one": that shortcut assumes a partition never holds a post
// without every earlier post of the same source in that partition. The
// idempotent producer keeps a partition's order only while nothing fails:
// when a batch fails for good (retries exhausted during a broker outage,
// or refused), sarama returns it and goes on with the next batches of the
// same partition, which can succeed. The session ends on that failure, the
// failed posts are re-read from the cursor — and the shortcut would skip
// them because later ones made it. Exact membership does not care.
//
// Order is still what makes the read short: within one session the
// positions in a partition only grow (the producer keeps their order
// apart from failures, which end the session), so reading a partition
// backwards, the first record of this source at or below stopAt ends
// the scan: everything before it is older or from an earlier session.
// Posts of an earlier session beyond that point (left by a failure) are
// then not seen and are sent again: a duplicate, not a loss.
func (r *runner) delivered(ctx context.Context, k sink.BackScanner, from int64) (map[postRef]bool, error) {
	// A source resumed before its cursor (Jetstream, which is also
	// slightly out of order) sends again what lies up to its rewind back.
	collectAbove, stopAt := from, from
	if rw, ok := r.src.(source.Rewinding); ok {
		collectAbove = from - rw.Rewind()
		stopAt = collectAbove - rw.Rewind()
	}
	key := r.src.Key()
	seen := map[postRef]bool{}
	err := k.ScanBack(ctx, r.cfg.Topic, dedupeScanMax, func(_ int32, recs []*sarama.ConsumerMessage) bool {
		more := true
		for _, m := range recs {
			src, pos, ok := postHeaders(m)
			if !ok || src != key {
				continue // a marker, another source, or an older ingest
			}
			if pos <= stopAt {
				more = false
			}
			if pos <= collectAbove {
				continue
			}
			var p v1.Post
			if err := proto.Unmarshal(m.Value, &p); err != nil {
				continue // not ours to judge; it is simply not counted
			}
			seen[refOf(pos, &p)] = true
		}
		return more
	})
	return seen, err
}

// postHeaders returns a post record's source and position headers.
func postHeaders(m *sarama.ConsumerMessage) (src string, pos int64, ok bool) {
	var hasSrc, hasPos bool
	for _, h := range m.Headers {
		switch string(h.Key) {
		case watermark.Header:
			return "", 0, false
		case HeaderSource:
			src, hasSrc = string(h.Value), true
		case HeaderPos:
			v, err := strconv.ParseInt(string(h.Value), 10, 64)
			if err != nil {
				return "", 0, false
			}
			pos, hasPos = v, true
		}
	}
	return src, pos, hasSrc && hasPos
}
