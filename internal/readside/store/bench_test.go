package store_test

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/trendstream/trendstream/internal/readside/store"
	"github.com/trendstream/trendstream/internal/testenv"
	tsv1 "github.com/trendstream/trendstream/proto/trendstream/v1"
)

// batch is one minute of pipeline output: the overall ranking plus langs-1
// language rankings, each with k terms.
func batch(end time.Time, langs, k int) []*tsv1.WindowSnapshot {
	terms := make([]string, k)
	for i := range terms {
		terms[i] = fmt.Sprintf("term%03d", i)
	}
	out := []*tsv1.WindowSnapshot{snap("", end, time.Second, terms...)}
	for l := 1; l < langs; l++ {
		out = append(out, snap(fmt.Sprintf("l%02d", l), end, time.Second, terms...))
	}
	return out
}

// BenchmarkWriteSnapshots measures rewriting one minute's rankings
// (50 rankings x 20 terms = 1000 term rows), the steady-state sink load.
func BenchmarkWriteSnapshots(b *testing.B) {
	for _, size := range []struct{ langs, k int }{{50, 20}, {1, 200}} {
		b.Run(fmt.Sprintf("rankings=%d/terms=%d", size.langs, size.k), func(b *testing.B) {
			ctx := context.Background()
			s, err := store.Open(ctx, testenv.Postgres(b))
			if err != nil {
				b.Fatal(err)
			}
			defer s.Close()
			rows := size.langs * size.k
			b.ResetTimer()
			for i := range b.N {
				// Alternate between two windows so every write replaces rows.
				if err := s.WriteSnapshots(ctx, batch(t0.Add(time.Duration(i%2)*time.Minute), size.langs, size.k)); err != nil {
					b.Fatal(err)
				}
			}
			b.ReportMetric(float64(rows*b.N)/b.Elapsed().Seconds(), "rows/s")
		})
	}
}

// BenchmarkQueries measures the API's queries against a day of history:
// 1440 windows x 10 rankings x 20 terms (288k term rows).
func BenchmarkQueries(b *testing.B) {
	ctx := context.Background()
	s, err := store.Open(ctx, testenv.Postgres(b))
	if err != nil {
		b.Fatal(err)
	}
	defer s.Close()
	var pending []*tsv1.WindowSnapshot
	for m := range 1440 {
		pending = append(pending, batch(t0.Add(time.Duration(m)*time.Minute), 10, 20)...)
		if len(pending) >= 500 {
			if err := s.WriteSnapshots(ctx, pending); err != nil {
				b.Fatal(err)
			}
			pending = pending[:0]
		}
	}
	if err := s.WriteSnapshots(ctx, pending); err != nil {
		b.Fatal(err)
	}
	if _, err := s.Pool().Exec(ctx, "ANALYZE"); err != nil {
		b.Fatal(err)
	}
	cases := []struct {
		name string
		run  func() error
	}{
		{"CurrentTrends/overall", func() error { _, err := s.CurrentTrends(ctx, store.Filter{}); return err }},
		{"CurrentTrends/overall+history30", func() error {
			_, err := s.CurrentTrends(ctx, store.Filter{History: 30})
			return err
		}},
		{"CurrentTrends/all-langs", func() error { _, err := s.CurrentTrends(ctx, store.Filter{AllLangs: true}); return err }},
		{"TermHistory/60", func() error {
			_, err := s.TermHistory(ctx, "term007", store.HistoryFilter{Windows: 60})
			return err
		}},
		{"Windows/current", func() error {
			_, err := s.Windows(ctx, store.WindowFilter{AllLangs: true, Current: true})
			return err
		}},
	}
	for _, c := range cases {
		b.Run(c.name, func(b *testing.B) {
			for range b.N {
				if err := c.run(); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
