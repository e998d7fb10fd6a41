// Package recentposts remembers the posts of the last stretch of a stream
// by URI, so that a delete, which on the firehose names its post but
// carries none of its text, can carry the post it deletes (Post.deleted).
// With it a pipeline takes a deleted post's counts out of its windows from
// the delete alone, instead of keeping every post it counted in state until
// its windows close (docs/pipeline.md, "Deletes").
//
// The ingest is the one place that sees every post of a source in order,
// so it keeps the memory: one process, bounded by Config, lost on restart.
// A delete whose post is not remembered (read before a restart, longer ago
// than Lookback, or pushed out by MaxPosts) goes on without it and is only
// counted downstream.
package recentposts

import (
	"errors"
	"fmt"
	"math"
	"slices"
	"time"

	tsv1 "github.com/trendstream/trendstream/proto/trendstream/v1"
)

// Config bounds the memory.
type Config struct {
	// Lookback is how long, in event time, a post stays remembered: past
	// the newest event time seen by more than Lookback it is forgotten. It
	// must cover the pipeline's window size (10 minutes at the defaults),
	// past which no window of the post is still open for its delete.
	// 0 remembers nothing: deletes go on as they came.
	Lookback time.Duration
	// MaxPosts caps the posts remembered; the oldest go first. It bounds
	// memory when the stream runs faster than planned: about 400 bytes a
	// post (text, URI, DID, tags), so the default is some 80 MB.
	MaxPosts int
}

// DefaultConfig remembers 15 minutes of posts, at most 200,000 (the whole
// Bluesky firehose peaks at about 100 posts/s).
func DefaultConfig() Config {
	return Config{Lookback: 15 * time.Minute, MaxPosts: 200_000}
}

// Validate reports a config that cannot work.
func (c Config) Validate() error {
	var errs []error
	if c.Lookback < 0 {
		errs = append(errs, fmt.Errorf("recentposts: lookback %v is negative", c.Lookback))
	}
	if c.Lookback > 0 && c.MaxPosts <= 0 {
		errs = append(errs, fmt.Errorf("recentposts: max posts %d must be positive when lookback is set", c.MaxPosts))
	}
	return errors.Join(errs...)
}

// Cache remembers recent posts. It is not safe for concurrent use.
type Cache struct {
	cfg    Config
	byURI  map[string]*entry
	queue  []*entry // in the order remembered; forgotten ones are skipped
	head   int
	newest int64 // Unix ms
}

type entry struct {
	at          int64 // event time, Unix ms
	uri, author string
	post        *tsv1.DeletedPost
	gone        bool // replaced or expired: only its queue slot is left
	// deletedBy is the delete that carried it (zero: none yet).
	deletedBy deleteID
}

// deleteID tells one delete event from another: its position in the
// source and its event time.
type deleteID struct {
	cursor, at int64
}

// New returns an empty Cache.
func New(cfg Config) *Cache {
	return &Cache{cfg: cfg, byURI: map[string]*entry{}}
}

// Outcome is what Observe did with a post.
type Outcome int

const (
	// Remembered: a create, kept for a delete to come.
	Remembered Outcome = iota
	// Attached: a delete that now carries its post (Post.deleted).
	Attached
	// Unknown: a delete of a post not remembered; it goes on as it came.
	Unknown
	// Skipped: nothing to do (no URI, no operation, or Lookback 0).
	Skipped
)

// Observe takes the stream's posts in order. A create is remembered; a
// delete of a remembered post by the same author gets the post in
// Post.deleted. Only the first delete of a post carries it, so a pipeline
// takes the post out once; the same delete read again (an ingest session
// that re-reads from its cursor after a failure, before the delete was
// delivered) carries it again, or a fault would lose the retraction.
func (c *Cache) Observe(p *tsv1.Post) Outcome {
	if c.cfg.Lookback <= 0 || p.GetUri() == "" {
		return Skipped
	}
	at := p.GetObservedAt().AsTime().UnixMilli()
	if at > c.newest {
		c.newest = at
		c.expire()
	}
	switch p.GetOperation() {
	case tsv1.Operation_OPERATION_CREATE:
		c.remember(p, at)
		return Remembered
	case tsv1.Operation_OPERATION_DELETE:
		p.Deleted = nil // what this Cache says, not an earlier one
		e := c.byURI[p.GetUri()]
		if e == nil || e.author != p.GetAuthorDid() {
			return Unknown
		}
		id := deleteID{cursor: p.GetCursor(), at: at}
		switch e.deletedBy {
		case deleteID{}:
			e.deletedBy = id
		case id:
		default:
			return Unknown // deleted before, by another delete event
		}
		p.Deleted = e.post
		return Attached
	}
	return Skipped
}

// Len is how many posts are remembered.
func (c *Cache) Len() int { return len(c.byURI) }

// remember keeps what a pipeline needs of p to retract it.
func (c *Cache) remember(p *tsv1.Post, at int64) {
	if old := c.byURI[p.GetUri()]; old != nil {
		if old.at == at {
			return // the same post read again: keep what its delete did
		}
		old.gone = true
	}
	e := &entry{at: at, uri: p.GetUri(), author: p.GetAuthorDid(), post: trim(p)}
	c.byURI[p.GetUri()] = e
	c.queue = append(c.queue, e)
	for len(c.byURI) > c.cfg.MaxPosts {
		c.pop()
	}
}

// expire forgets the posts older than Lookback before the newest time.
func (c *Cache) expire() {
	horizon := c.newest - c.cfg.Lookback.Milliseconds()
	for c.head < len(c.queue) && c.queue[c.head].at < horizon {
		c.pop()
	}
}

// pop forgets the oldest remembered post (and the slots of gone ones
// before it).
func (c *Cache) pop() {
	for c.head < len(c.queue) {
		e := c.queue[c.head]
		c.queue[c.head] = nil
		c.head++
		if !e.gone {
			delete(c.byURI, e.uri)
			break
		}
	}
	// Reuse the slice once half of it is spent, so it stays O(posts held).
	if c.head > 1024 && c.head*2 > len(c.queue) {
		c.queue = append(c.queue[:0], c.queue[c.head:]...)
		c.head = 0
	}
}

// trim returns what a delete carries of p (the delete names its URI and
// author): the fields a pipeline extracts terms from, and the event time.
func trim(p *tsv1.Post) *tsv1.DeletedPost {
	return &tsv1.DeletedPost{Text: p.GetText(), Langs: p.GetLangs(), Hashtags: p.GetHashtags(), ObservedAt: p.GetObservedAt()}
}

// Post returns the post a delete carries as the Post it was (a create),
// with the delete's URI and author: what a pipeline counted. Nil if del
// carries none.
func Post(del *tsv1.Post) *tsv1.Post {
	d := del.GetDeleted()
	if d == nil {
		return nil
	}
	return &tsv1.Post{
		Uri: del.GetUri(), AuthorDid: del.GetAuthorDid(), Rkey: del.GetRkey(), Source: del.GetSource(),
		Text: d.GetText(), Langs: d.GetLangs(), Hashtags: d.GetHashtags(), ObservedAt: d.GetObservedAt(),
		Operation: tsv1.Operation_OPERATION_CREATE,
	}
}

// Attach runs posts through a Cache that forgets nothing, in the order of
// their event time (stable), as the ingest reads a stream with a Lookback
// longer than it: replays written to Kafka without the ingest (tests, the
// evaluation) get their deletes the way the ingest gives them. It returns
// how many deletes now carry their post.
func Attach(posts []*tsv1.Post) int {
	ordered := slices.Clone(posts)
	slices.SortStableFunc(ordered, func(a, b *tsv1.Post) int {
		return a.GetObservedAt().AsTime().Compare(b.GetObservedAt().AsTime())
	})
	c := New(Config{Lookback: time.Duration(math.MaxInt64), MaxPosts: math.MaxInt})
	n := 0
	for _, p := range ordered {
		if c.Observe(p) == Attached {
			n++
		}
	}
	return n
}
