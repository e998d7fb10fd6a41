// Package trend holds the Beam transforms of the trending computation:
// posts → term hits → per-term sliding-window counts → baseline-relative
// scores → per-language rankings (WindowSnapshot).
//
// The text and scoring logic lives in the pure packages internal/terms and
// internal/trendscore; this package only arranges it in windows and keyed
// state.
package trend

import (
	"fmt"
	"time"

	"github.com/apache/beam/sdks/v2/go/pkg/beam"

	"github.com/trendstream/trendstream/internal/terms"
	"github.com/trendstream/trendstream/internal/trendscore"
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
	}
	if err := c.Score.Validate(); err != nil {
		return fmt.Errorf("trend: %w", err)
	}
	return nil
}

// Trends computes ranked trending terms from a PCollection of *tsv1.Post
// whose element timestamps are the posts' event times. It returns a
// PCollection of *tsv1.WindowSnapshot: for every window period, one
// snapshot for the overall ranking (Lang "") and one per language.
func Trends(s beam.Scope, posts beam.PCollection, c Config) beam.PCollection {
	s = s.Scope("Trends")
	hits, marks := ExtractTerms(s, posts, c.Terms)
	windows := CountTerms(s, hits, c.Size, c.Period)
	scored := ScoreTerms(s, windows, c.Score, c.Period)
	postCounts := CountPosts(s, marks, c.Size, c.Period)
	return Rank(s, scored, postCounts, c.Size, c.Period, c.TopK, c.Source)
}
