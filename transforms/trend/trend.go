// Package trend holds the Beam transforms of the trending computation:
// posts → per-bundle term buckets → per-shard period buckets → sliding
// windows and baseline-relative scores in keyed state → per-language
// rankings (WindowSnapshot).
//
// The text, counting and scoring logic lives in the pure packages
// internal/core/terms, internal/core/termwindow and internal/core/trendscore; this package
// only arranges it in bundles, windows and keyed state.
package trend

import (
	"fmt"
	"time"

	"github.com/apache/beam/sdks/v2/go/pkg/beam"

	"github.com/trendstream/trendstream/internal/core/terms"
	"github.com/trendstream/trendstream/internal/core/trendcalc"
	"github.com/trendstream/trendstream/internal/core/trendscore"
	"github.com/trendstream/trendstream/internal/core/windowclock"
	tsv1 "github.com/trendstream/trendstream/proto/trendstream/v1"
)

// Config sets the windows and the ranking.
type Config struct {
	// Size and Period of the sliding windows; Size must be a multiple of
	// Period so every window is made of whole buckets.
	Size, Period time.Duration
	// TopK is the length of each ranking.
	TopK int
	// Terms parameterises text → terms extraction.
	Terms terms.Options
	// Score parameterises the baseline-relative scorer.
	Score trendscore.Params
	// Source is stamped on every result.
	Source tsv1.Source
	// Shards is how many keys the scorer's state is split over: the
	// scoring stage's parallelism. Zero means DefaultShards.
	Shards int
	// AllowedLateness is how long after the watermark passed a period
	// posts of that period still count: the windows they fall in are
	// corrected and emitted again (and every window after them, whose
	// baselines they change). Zero drops late posts.
	AllowedLateness time.Duration
	// RetractDeletes makes a delete of a post retract it from the windows
	// still open when it comes, those holding both the post's period and
	// the delete's: the rule of internal/core/trendcalc,
	// Config.RetractDeletes, built as in docs/pipeline.md, "Deletes". Off,
	// deletes are only counted.
	RetractDeletes bool
	// LiveLag is how far behind the wall clock a period may end for the
	// stream to count as live, which moves the release timers of the
	// windowed stages (internal/core/windowclock) and never what a window
	// holds. Zero means Size + Period; pipelines/trending adds the
	// reader's out-of-order bound.
	LiveLag time.Duration
	// SamplePosts > 0 makes TrendsSampled also return the bottom
	// SamplePosts post sample per (term language, period) that the topic
	// stages (transforms/topics) group the rankings' terms with, taken in
	// the counting stage from the terms it extracts anyway.
	SamplePosts int
}

// timing is what the windowed stages release their windows by.
type timing struct {
	SizeMs, PeriodMs, LatenessMs, LiveLagMs int64
}

func (c Config) timing() timing {
	lag := c.LiveLag
	if lag == 0 {
		lag = c.Size + c.Period
	}
	return timing{SizeMs: c.Size.Milliseconds(), PeriodMs: c.Period.Milliseconds(), LatenessMs: c.AllowedLateness.Milliseconds(), LiveLagMs: lag.Milliseconds()}
}

// live reports whether a period or window ending at end (Unix ms) belongs
// to a live stream now (windowclock.Live).
func (t timing) live(end int64) bool {
	return windowclock.Live(end, time.Now().UnixMilli(), t.LiveLagMs)
}

// maxShards bounds Shards: every partial bucket is split this many ways.
const maxShards = 4096

// DefaultShards is the scorer's default parallelism: enough for a small
// Flink cluster, few enough that each shard's state call carries hundreds
// of terms.
const DefaultShards = 8

func (c Config) shards() int {
	if c.Shards <= 0 {
		return DefaultShards
	}
	return c.Shards
}

// Validate reports a configuration the pipeline cannot run with.
func (c Config) Validate() error {
	switch {
	case c.Period <= 0 || c.Size <= 0:
		return fmt.Errorf("trend: window size (%v) and period (%v) must be positive", c.Size, c.Period)
	case c.Size%c.Period != 0:
		return fmt.Errorf("trend: window size %v is not a multiple of the period %v", c.Size, c.Period)
	case c.Period < time.Second:
		return fmt.Errorf("trend: window period %v is below one second", c.Period)
	case c.TopK <= 0:
		return fmt.Errorf("trend: top-k must be positive, got %d", c.TopK)
	case c.LiveLag < 0:
		return fmt.Errorf("trend: live lag %v is negative", c.LiveLag)
	case c.AllowedLateness < 0:
		return fmt.Errorf("trend: allowed lateness %v is negative", c.AllowedLateness)
	case c.SamplePosts < 0:
		return fmt.Errorf("trend: sample posts must not be negative, got %d", c.SamplePosts)
	case c.Shards < 0 || c.Shards > maxShards:
		return fmt.Errorf("trend: shards must be between 1 and %d (0 for the default), got %d", maxShards, c.Shards)
	}
	if err := c.Score.Validate(); err != nil {
		return fmt.Errorf("trend: %w", err)
	}
	return nil
}

// Reference returns the configuration of the single-process reference
// (internal/core/trendcalc) that computes what Trends does with c.
func (c Config) Reference() trendcalc.Config {
	return trendcalc.Config{Size: c.Size, Period: c.Period, TopK: c.TopK, Terms: c.Terms, Score: c.Score, Source: c.Source,
		RetractDeletes: c.RetractDeletes}
}

// Trends computes ranked trending terms from a PCollection of *tsv1.Post
// whose element timestamps are the posts' event times. It returns a
// PCollection of *tsv1.WindowSnapshot: for every window period, one
// snapshot for the overall ranking (Lang "") and one per language.
func Trends(s beam.Scope, posts beam.PCollection, c Config) beam.PCollection {
	snaps, _ := TrendsSampled(s, posts, c)
	return snaps
}

// TrendsSampled is Trends that also returns the posts' partial samples for
// the topic stages (BucketTerms, c.SamplePosts): KV<term language,
// internal/core/topics.Sample>, each timestamped at the last instant of its
// period; empty when c.SamplePosts is 0.
func TrendsSampled(s beam.Scope, posts beam.PCollection, c Config) (snaps, samples beam.PCollection) {
	s = s.Scope("Trends")
	partials, postPartials, samples := BucketTerms(s, posts, c.Terms, c.Period, c.Size, c.shards(), c.RetractDeletes, c.SamplePosts)
	buckets := SumBuckets(s, partials, c.Period, c.AllowedLateness)
	trends := scoreTerms(s, buckets, c.Score, c.timing())
	postCounts := countPosts(s, postPartials, c.timing())
	return Rank(s, trends, postCounts, c.Size, c.Period, c.AllowedLateness, c.TopK, c.Source), samples
}
