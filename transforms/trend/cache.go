package trend

import (
	"sync"

	"github.com/trendstream/trendstream/internal/termwindow"
)

// shardState is what scoring a shard's windows reads and changes: the
// buckets of the last window size, by end, and the terms' baselines.
type shardState struct {
	ring      map[int64]termwindow.Bucket
	baselines Baselines
}

// stateCache keeps each shard's state in the worker between firings, so a
// firing reads it from the runner only when another worker had the shard
// since, or this one restarted. An entry is used only while its token is
// the one in the shard's state (ShardProgress.Token), which changes with
// every write: Beam's keyed state stays the truth.
//
// Beam's Fn API has cache tokens for this purpose, which the Go SDK does
// not implement for user state.
var stateCache = &shardCache{max: 4096, m: map[cacheKey]cacheEntry{}}

type shardCache struct {
	mu  sync.Mutex
	max int
	m   map[cacheKey]cacheEntry
	// off makes every lookup miss; tests use it to run the state path.
	off bool
}

type cacheKey struct {
	id    string // scoreFn.CacheID
	shard int
}

type cacheEntry struct {
	token uint64
	sh    *shardState
}

// take removes the shard's entry and returns it if its token is token.
func (c *shardCache) take(id string, shard int, token uint64) *shardState {
	c.mu.Lock()
	defer c.mu.Unlock()
	k := cacheKey{id, shard}
	e, ok := c.m[k]
	delete(c.m, k)
	if !ok || e.token != token || c.off {
		return nil
	}
	return e.sh
}

// put stores a shard's state as of token.
func (c *shardCache) put(id string, shard int, token uint64, sh *shardState) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if len(c.m) >= c.max {
		// Only a cache: a worker past its bound (many pipelines, many
		// shards) starts over rather than track recency.
		clear(c.m)
	}
	c.m[cacheKey{id, shard}] = cacheEntry{token, sh}
}
