package trend

import (
	"sort"
	"sync"

	"github.com/trendstream/trendstream/internal/core/termwindow"
)

// shardState is what scoring a shard's windows reads and changes: the
// buckets of the last window size, by end, and the terms' baselines.
type shardState struct {
	ring      map[int64]ShardEvent
	baselines Baselines
	// settled are the baselines as of ShardProgress.Settled.
	settled Baselines
	// undo records what the windows released since settled changed in
	// baselines (kept only with an allowed lateness).
	undo undoLog
	// suffixes caches, by period end, the sums of each ring event's
	// retractions from the i-th on (retractedFrom).
	suffixes map[int64][]termwindow.Bucket
}

// add puts a period's bucket into the ring, merged with any bucket of the
// same period already there (a re-fired pane upstream).
func (sh *shardState) add(ev ShardEvent) {
	if prev, ok := sh.ring[ev.End]; ok {
		ev = prev.merge(ev)
	}
	sh.ring[ev.End] = ev
	delete(sh.suffixes, ev.End)
}

// retractedFrom returns the sum of the retractions of the ring's event
// ending at end whose periods end after start: those a window starting at
// start holds. They are a suffix of ShardEvent.Retracted, sorted by end,
// and the sums of the suffixes are kept, so a window merges one bucket of
// retractions per period, not one per earlier period: termwindow.Merge
// scans every bucket it merges for each key.
func (sh *shardState) retractedFrom(end, start int64) (termwindow.Bucket, bool) {
	rs := sh.ring[end].Retracted
	i := sort.Search(len(rs), func(i int) bool { return rs[i].End > start })
	if i == len(rs) {
		return termwindow.Bucket{}, false
	}
	sums := sh.suffixes[end]
	if sums == nil {
		sums = make([]termwindow.Bucket, len(rs))
		sums[len(rs)-1] = rs[len(rs)-1].Bucket
		for j := len(rs) - 2; j >= 0; j-- {
			sums[j] = termwindow.MergeBuckets(rs[j].Bucket, sums[j+1])
		}
		if sh.suffixes == nil {
			sh.suffixes = map[int64][]termwindow.Bucket{}
		}
		sh.suffixes[end] = sums
	}
	return sums[i], true
}

// holds reports whether the ring has a bucket whose period ends in
// (after, through].
func (sh *shardState) holds(after, through int64) bool {
	for end := range sh.ring {
		if end > after && end <= through {
			return true
		}
	}
	return false
}

// earliest returns the first bucket end in the ring (0 when empty).
func (sh *shardState) earliest() int64 {
	first, ok := int64(0), false
	for end := range sh.ring {
		if !ok || end < first {
			first, ok = end, true
		}
	}
	return first
}

// evict drops the buckets of periods ending before keepFrom.
func (sh *shardState) evict(keepFrom int64) {
	for end := range sh.ring {
		if end < keepFrom {
			delete(sh.ring, end)
			delete(sh.suffixes, end)
		}
	}
}

// stateCache keeps each shard's state in the worker between firings, so a
// firing reads it from the runner only when another worker had the shard
// since, or this one restarted. An entry is used only while its token is
// the one in the shard's state (ShardProgress.Token), which changes with
// every write: Beam's keyed state stays the truth.
//
// Beam's Fn API has cache tokens for this purpose, which the Go SDK does
// not implement for user state.
var stateCache = newTokenCache[*shardState]()

func newTokenCache[T any]() *tokenCache[T] {
	return &tokenCache[T]{max: 4096, m: map[cacheKey]cacheEntry[T]{}}
}

type tokenCache[T any] struct {
	mu  sync.Mutex
	max int
	m   map[cacheKey]cacheEntry[T]
	// off makes every lookup miss; tests use it to run the state path.
	off bool
}

type cacheKey struct {
	id    string // the DoFn's CacheID
	shard int
}

type cacheEntry[T any] struct {
	token uint64
	sh    T
}

// setOff turns the cache off (every lookup misses) or on.
func (c *tokenCache[T]) setOff(off bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.off = off
}

// take removes the shard's entry and returns it if its token is token,
// else the zero T.
func (c *tokenCache[T]) take(id string, shard int, token uint64) T {
	c.mu.Lock()
	defer c.mu.Unlock()
	k := cacheKey{id, shard}
	e, ok := c.m[k]
	delete(c.m, k)
	if !ok || e.token != token || c.off {
		var zero T
		return zero
	}
	return e.sh
}

// put stores a shard's state as of token.
func (c *tokenCache[T]) put(id string, shard int, token uint64, sh T) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if len(c.m) >= c.max {
		// Only a cache: a worker past its bound (many pipelines, many
		// shards) starts over rather than track recency.
		clear(c.m)
	}
	c.m[cacheKey{id, shard}] = cacheEntry[T]{token, sh}
}
