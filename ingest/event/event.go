// Package event is the ingest's source-independent view of one stream event:
// what the firehose decoder and the Jetstream decoder both produce, and what
// the runner turns into Kafka messages. It also holds the one conversion from
// an app.bsky.feed.post record to the wire Post, so every source fills the
// Post fields identically.
package event

import (
	"fmt"
	"net/url"
	"strings"
	"time"
	"unicode/utf8"

	bsky "github.com/bluesky-social/indigo/api/bsky"
	"google.golang.org/protobuf/types/known/timestamppb"

	v1 "github.com/trendstream/trendstream/proto/trendstream/v1"
)

// PostCollection is the NSID of Bluesky posts, the only collection turned
// into messages; every other collection is counted and skipped.
const PostCollection = "app.bsky.feed.post"

// MaxClockSkew bounds how far a client-declared createdAt may lie before the
// relay's time before it is clamped.
const MaxClockSkew = 24 * time.Hour

// Kind names an event type the way the firehose header does.
type Kind string

// The kinds a source emits. KindUnknown covers message types this version
// does not know; they are counted, never fatal.
const (
	KindCommit   Kind = "commit"
	KindSync     Kind = "sync"
	KindIdentity Kind = "identity"
	KindAccount  Kind = "account"
	KindInfo     Kind = "info"
	KindUnknown  Kind = "unknown"
)

// Event is one decoded stream event.
type Event struct {
	Kind Kind
	// Cursor is the event's position in its source stream (firehose seq,
	// Jetstream time_us); 0 when the event carries none (#info).
	Cursor int64
	// Repo is the DID the event is about, if any.
	Repo string
	// Time is when the relay (or Jetstream) saw the event.
	Time time.Time
	// Posts are the post creates and deletes, in op order.
	Posts []*v1.Post
	// Ops lists every repo op, posts included, for per-collection counting.
	Ops []Op
	// Info is set for KindInfo (for example OutdatedCursor).
	Info *Info
	// Problems are recoverable defects found while decoding: the event is
	// still usable, but something in it was wrong and had to be repaired or
	// skipped.
	Problems []Problem
}

// Op is one repository operation of a commit.
type Op struct {
	Action     string // create, update, delete
	Collection string
}

// Info is a firehose #info message.
type Info struct {
	Name    string
	Message string
}

// Problem is a recoverable defect in an event.
type Problem struct {
	// Reason is a short, fixed label usable as a metric label value.
	Reason string
	// Detail says what exactly was wrong, for the log.
	Detail string
}

// Reasons for Problems, fixed so metrics stay low-cardinality.
const (
	ReasonInvalidUTF8    = "invalid_utf8"
	ReasonBadCreatedAt   = "bad_created_at"
	ReasonClampedCreated = "clamped_created_at"
	ReasonBadTime        = "bad_event_time"
	ReasonMissingRecord  = "missing_record"
	ReasonBadRecord      = "bad_record"
	ReasonBadPath        = "bad_path"
	ReasonTooBig         = "too_big"
)

// Meta is what a source knows about a post besides its record.
type Meta struct {
	DID        string
	Rkey       string
	CID        string
	ObservedAt time.Time
	Cursor     int64
}

func (m Meta) base(op v1.Operation) *v1.Post {
	return &v1.Post{
		Uri:        "at://" + m.DID + "/" + PostCollection + "/" + m.Rkey,
		Cid:        m.CID,
		AuthorDid:  m.DID,
		Rkey:       m.Rkey,
		ObservedAt: timestamppb.New(m.ObservedAt),
		Cursor:     m.Cursor,
		Source:     v1.Source_SOURCE_BLUESKY,
		Operation:  op,
	}
}

// Delete returns the delete event for a post: identity fields only, so that
// downstream counts can be retracted.
func Delete(m Meta) *v1.Post {
	m.CID = ""
	return m.base(v1.Operation_OPERATION_DELETE)
}

// FromFeedPost converts a post record into a CREATE Post, filling every
// derived field. Defects (invalid UTF-8, unparsable or clamped createdAt) are
// repaired and reported, never fatal.
func FromFeedPost(m Meta, fp *bsky.FeedPost) (*v1.Post, []Problem) {
	var probs []Problem
	fix := func(field, s string) string {
		if utf8.ValidString(s) {
			return s
		}
		probs = append(probs, Problem{ReasonInvalidUTF8, fmt.Sprintf("%s of %s/%s", field, m.DID, m.Rkey)})
		return strings.ToValidUTF8(s, "\uFFFD")
	}
	p := m.base(v1.Operation_OPERATION_CREATE)
	p.Text = fix("text", fp.Text)
	for _, l := range fp.Langs {
		p.Langs = append(p.Langs, fix("langs", l))
	}
	p.CreatedAtRaw = fix("createdAt", fp.CreatedAt)
	created, prob := ClampCreatedAt(fp.CreatedAt, m.ObservedAt)
	if prob != nil {
		prob.Detail += fmt.Sprintf(" (%s/%s)", m.DID, m.Rkey)
		probs = append(probs, *prob)
	}
	p.CreatedAt = timestamppb.New(created)

	tags := newDedup()
	links := newDedup()
	mentions := newDedup()
	for _, f := range fp.Facets {
		if f == nil {
			continue
		}
		for _, feat := range f.Features {
			if feat == nil {
				continue
			}
			switch {
			case feat.RichtextFacet_Tag != nil:
				tags.add(fix("tag", strings.TrimPrefix(feat.RichtextFacet_Tag.Tag, "#")))
			case feat.RichtextFacet_Mention != nil:
				mentions.add(fix("mention", feat.RichtextFacet_Mention.Did))
			case feat.RichtextFacet_Link != nil:
				links.add(Host(feat.RichtextFacet_Link.Uri))
			}
		}
	}
	for _, t := range fp.Tags {
		tags.add(fix("tags", strings.TrimPrefix(t, "#")))
	}
	if r := fp.Reply; r != nil {
		if r.Parent != nil {
			p.ReplyParentUri = fix("reply.parent", r.Parent.Uri)
		}
		if r.Root != nil {
			p.ReplyRootUri = fix("reply.root", r.Root.Uri)
		}
	}
	if e := fp.Embed; e != nil {
		switch {
		case e.EmbedImages != nil, e.EmbedGallery != nil:
			p.EmbedKind = v1.EmbedKind_EMBED_KIND_IMAGES
		case e.EmbedVideo != nil:
			p.EmbedKind = v1.EmbedKind_EMBED_KIND_VIDEO
		case e.EmbedExternal != nil:
			p.EmbedKind = v1.EmbedKind_EMBED_KIND_EXTERNAL
			if e.EmbedExternal.External != nil {
				links.add(Host(e.EmbedExternal.External.Uri))
			}
		case e.EmbedRecord != nil:
			p.EmbedKind = v1.EmbedKind_EMBED_KIND_RECORD
			if e.EmbedRecord.Record != nil {
				p.QuotedUri = fix("embed.record", e.EmbedRecord.Record.Uri)
			}
		case e.EmbedRecordWithMedia != nil:
			p.EmbedKind = v1.EmbedKind_EMBED_KIND_RECORD_WITH_MEDIA
			if r := e.EmbedRecordWithMedia.Record; r != nil && r.Record != nil {
				p.QuotedUri = fix("embed.record", r.Record.Uri)
			}
			if md := e.EmbedRecordWithMedia.Media; md != nil && md.EmbedExternal != nil && md.EmbedExternal.External != nil {
				links.add(Host(md.EmbedExternal.External.Uri))
			}
		default:
			p.EmbedKind = v1.EmbedKind_EMBED_KIND_OTHER
		}
	}
	p.Hashtags = tags.out
	p.Mentions = mentions.out
	p.LinkDomains = links.out
	return p, probs
}

// ClampCreatedAt parses a client-declared createdAt and clamps it into
// [observed-MaxClockSkew, observed]: clients send wrong clocks, and a post
// cannot have been written after the relay saw it. Unparsable values become
// observed. A non-nil Problem says what was repaired.
func ClampCreatedAt(raw string, observed time.Time) (time.Time, *Problem) {
	t, err := ParseTime(raw)
	if err != nil {
		return observed, &Problem{ReasonBadCreatedAt, fmt.Sprintf("createdAt %q: %v", truncate(raw, 64), err)}
	}
	lo := observed.Add(-MaxClockSkew)
	switch {
	case t.After(observed):
		return observed, &Problem{ReasonClampedCreated, fmt.Sprintf("createdAt %s is after the relay time %s", raw, observed.Format(time.RFC3339Nano))}
	case t.Before(lo):
		return lo, &Problem{ReasonClampedCreated, fmt.Sprintf("createdAt %s is more than %s before the relay time %s", raw, MaxClockSkew, observed.Format(time.RFC3339Nano))}
	}
	return t, nil
}

// ParseTime parses an atproto datetime. The spec asks for RFC 3339 with a
// timezone, but real records also carry a few looser forms, which are
// accepted rather than thrown away.
func ParseTime(s string) (time.Time, error) {
	for _, layout := range []string{time.RFC3339Nano, "2006-01-02T15:04:05.999999999", "2006-01-02T15:04:05.999999999Z0700", "2006-01-02 15:04:05.999999999Z07:00"} {
		if t, err := time.Parse(layout, s); err == nil {
			return t.UTC(), nil
		}
	}
	return time.Time{}, fmt.Errorf("not an RFC 3339 datetime")
}

// Host returns the lower-cased host name of a link, or "" when it has none.
// Facet links are usually full URLs, but a scheme-less "example.com/x" is
// accepted as well.
func Host(link string) string {
	if link == "" {
		return ""
	}
	u, err := url.Parse(link)
	if err == nil && strings.EqualFold(u.Scheme, "mailto") {
		return "" // an address, not a site
	}
	if err != nil || u.Host == "" {
		u, err = url.Parse("https://" + link)
		if err != nil {
			return ""
		}
	}
	h := strings.ToLower(u.Hostname())
	if !utf8.ValidString(h) || strings.ContainsAny(h, " /") {
		return ""
	}
	return h
}

func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n] + "…"
}

// dedup keeps first occurrences, comparing case-insensitively, and drops
// empty strings.
type dedup struct {
	seen map[string]bool
	out  []string
}

func newDedup() *dedup { return &dedup{seen: map[string]bool{}} }

func (d *dedup) add(s string) {
	if s == "" {
		return
	}
	k := strings.ToLower(s)
	if d.seen[k] {
		return
	}
	d.seen[k] = true
	d.out = append(d.out, s)
}
