package store

import (
	"cmp"
	"context"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgtype"
)

// Bounds of a timeline, so one request cannot read the whole retention.
const (
	// DefaultSpan is the stretch a timeline covers when From is not set.
	DefaultSpan = 6 * time.Hour
	// MaxSpan caps To - From.
	MaxSpan = 7 * 24 * time.Hour
	// MaxTimelineWindows caps the windows of a timeline per ranking: a
	// day of one-minute periods. Beyond it the oldest are left out.
	MaxTimelineWindows = 1440
	// DefaultTimelineTerms and MaxTimelineTerms bound the overview's terms.
	DefaultTimelineTerms = 30
	MaxTimelineTerms     = 200
)

// TimelineFilter selects one ranking's stretch of windows.
type TimelineFilter struct {
	// Source restricts to one source; "" means every source.
	Source string
	// Lang is the ranking's language; "" is the overall ranking.
	Lang string
	// From and To bound the windows' ends (inclusive). Zero To is the end
	// of the ranking's newest window; zero From is To - DefaultSpan. The
	// span is clamped to MaxSpan.
	From, To time.Time
	// Terms caps the overview's terms; 0 means DefaultTimelineTerms,
	// clamped to MaxTimelineTerms.
	Terms int
}

// Timeline is what a ranking looked like over a stretch: every window that
// exists, how many terms each ranked, and which terms trended when.
type Timeline struct {
	Source string    `json:"source,omitempty"`
	Lang   string    `json:"lang"`
	From   time.Time `json:"from"`
	To     time.Time `json:"to"`
	// Newest is the end of the ranking's newest window, whatever the
	// stretch; nil when it has none.
	Newest *time.Time `json:"newest,omitempty"`
	// LatestTrending is the end of the newest window, at or before To,
	// that ranked any term. After a replay the last windows hold only the
	// recording's last few posts and rank nothing; this is where the
	// trends are. Nil when no window ranked anything.
	LatestTrending *time.Time `json:"latest_trending,omitempty"`
	// Windows are the stretch's windows, oldest first, with Ranked set.
	Windows []Window `json:"windows"`
	// Terms are the terms ranked in the stretch, in the order they first
	// trended. When there are more than TimelineFilter.Terms, the most
	// persistent are kept: by windows ranked in, then best rank, then peak
	// score.
	Terms []TimelineTerm `json:"terms"`
}

// TimelineTerm is one term's appearances in a timeline's stretch.
type TimelineTerm struct {
	Source   string `json:"source"`
	Kind     string `json:"kind"`
	Term     string `json:"term"`
	TermLang string `json:"term_lang"`
	// Windows is how many of the stretch's windows ranked the term.
	Windows   int     `json:"windows"`
	BestRank  int32   `json:"best_rank"`
	PeakScore float64 `json:"peak_score"`
	PeakCount int64   `json:"peak_count"`
	// Points are the windows that ranked it, oldest first; windows that
	// did not are left out (their counts are not stored).
	Points []Point `json:"points"`
}

// Timeline returns the windows of the ranking f selects over a stretch, and
// the terms that trended in them. Reads see one snapshot of the database.
func (s *Store) Timeline(ctx context.Context, f TimelineFilter) (*Timeline, error) {
	tx, err := s.pool.BeginTx(ctx, pgx.TxOptions{IsoLevel: pgx.RepeatableRead, AccessMode: pgx.ReadOnly})
	if err != nil {
		return nil, fmt.Errorf("store: timeline: %w", err)
	}
	defer tx.Rollback(ctx) //nolint:errcheck // read-only

	tl := &Timeline{Source: f.Source, Lang: f.Lang, Windows: []Window{}, Terms: []TimelineTerm{}}
	// The newest window of the selected rankings, and the newest one with
	// terms at or before To: both walk windows_ranking_end_idx backwards
	// from each known ranking and stop at the first hit. Empty windows are
	// only a replay's tail (or a quiet spell), so the walk is short.
	var newest, trending pgtype.Timestamptz
	if err := tx.QueryRow(ctx, `
SELECT (SELECT max(n.window_end) FROM rankings r
         CROSS JOIN LATERAL (SELECT w.window_end FROM windows w
                              WHERE w.source = r.source AND w.lang = r.lang
                              ORDER BY w.window_end DESC, w.window_start DESC LIMIT 1) n
         WHERE ($1 = '' OR r.source = $1) AND r.lang = $2),
       (SELECT max(x.window_end) FROM rankings r
         CROSS JOIN LATERAL (SELECT w.window_end FROM windows w
                              WHERE w.source = r.source AND w.lang = r.lang AND w.window_end <= $3
                                AND EXISTS (SELECT 1 FROM trending_terms t
                                             WHERE t.source = w.source AND t.lang = w.lang
                                               AND t.window_start = w.window_start AND t.window_end = w.window_end)
                              ORDER BY w.window_end DESC, w.window_start DESC LIMIT 1) x
         WHERE ($1 = '' OR r.source = $1) AND r.lang = $2)`,
		f.Source, f.Lang, upper(f.To)).Scan(&newest, &trending); err != nil {
		return nil, fmt.Errorf("store: timeline: newest windows: %w", err)
	}
	tl.Newest, tl.LatestTrending = timePtr(newest), timePtr(trending)
	if tl.Newest == nil {
		return tl, nil // no such ranking
	}
	tl.To = f.To.UTC()
	if f.To.IsZero() {
		tl.To = *tl.Newest
	}
	tl.From = f.From.UTC()
	if f.From.IsZero() {
		tl.From = tl.To.Add(-DefaultSpan)
	}
	if tl.To.Sub(tl.From) > MaxSpan {
		tl.From = tl.To.Add(-MaxSpan)
	}
	if tl.From.After(tl.To) {
		return tl, nil
	}

	// The stretch's windows with their ranked terms: a range scan of
	// windows_ranking_end_idx per ranking, then primary-key probes into
	// trending_terms, whose key starts with the window.
	rows, err := tx.Query(ctx, `
SELECT w.source, w.window_start, w.window_end, w.posts, w.emitted_at,
       t.kind, t.term, t.term_lang, t.rank, t.count, t.unique_authors, t.baseline, t.score
  FROM rankings r
 CROSS JOIN LATERAL (
        SELECT * FROM windows w
         WHERE w.source = r.source AND w.lang = r.lang AND w.window_end >= $3 AND w.window_end <= $4
         ORDER BY w.window_end DESC, w.window_start DESC
         LIMIT $5) w
  LEFT JOIN trending_terms t
    ON t.source = w.source AND t.lang = w.lang AND t.window_start = w.window_start AND t.window_end = w.window_end
 WHERE ($1 = '' OR r.source = $1) AND r.lang = $2
 ORDER BY w.window_end, w.window_start, w.source, t.rank, t.kind, t.term, t.term_lang`,
		f.Source, f.Lang, tl.From, tl.To, MaxTimelineWindows)
	if err != nil {
		return nil, fmt.Errorf("store: timeline: %w", err)
	}
	type key struct{ source, kind, term, termLang string }
	terms := map[key]*TimelineTerm{}
	for rows.Next() {
		var (
			w                 Window
			emitted           pgtype.Timestamptz
			kind, term, tlang pgtype.Text
			rank              pgtype.Int4
			count, uniq       pgtype.Int8
			baseline, score   pgtype.Float8
		)
		if err := rows.Scan(&w.Source, &w.Start, &w.End, &w.Posts, &emitted,
			&kind, &term, &tlang, &rank, &count, &uniq, &baseline, &score); err != nil {
			rows.Close()
			return nil, fmt.Errorf("store: timeline: %w", err)
		}
		w.Lang, w.Start, w.End, w.EmittedAt = f.Lang, w.Start.UTC(), w.End.UTC(), timePtr(emitted)
		if n := len(tl.Windows); n == 0 || keyOf(tl.Windows[n-1]) != keyOf(w) {
			zero := 0
			w.Ranked = &zero
			tl.Windows = append(tl.Windows, w)
		}
		if !rank.Valid {
			continue
		}
		*tl.Windows[len(tl.Windows)-1].Ranked++
		k := key{w.Source, kind.String, term.String, tlang.String}
		tt := terms[k]
		if tt == nil {
			tt = &TimelineTerm{Source: k.source, Kind: k.kind, Term: k.term, TermLang: k.termLang, BestRank: rank.Int32}
			terms[k] = tt
		}
		tt.Windows++
		tt.BestRank = min(tt.BestRank, rank.Int32)
		tt.PeakScore = max(tt.PeakScore, score.Float64)
		tt.PeakCount = max(tt.PeakCount, count.Int64)
		tt.Points = append(tt.Points, Point{Start: w.Start, End: w.End, Posts: w.Posts, Rank: rank.Int32,
			Count: count.Int64, UniqueAuthors: uniq.Int64, Baseline: baseline.Float64, Score: score.Float64})
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("store: timeline: %w", err)
	}
	for _, tt := range terms {
		tl.Terms = append(tl.Terms, *tt)
	}
	slices.SortFunc(tl.Terms, func(a, b TimelineTerm) int {
		return cmp.Or(cmp.Compare(b.Windows, a.Windows), cmp.Compare(a.BestRank, b.BestRank),
			cmp.Compare(b.PeakScore, a.PeakScore), strings.Compare(a.Source, b.Source), strings.Compare(a.Kind, b.Kind),
			strings.Compare(a.Term, b.Term), strings.Compare(a.TermLang, b.TermLang))
	})
	if n := clamp(f.Terms, DefaultTimelineTerms, MaxTimelineTerms); len(tl.Terms) > n {
		tl.Terms = tl.Terms[:n]
	}
	// Shown in the order they started trending, the overview reads as a
	// timeline: what came up first is on top.
	slices.SortStableFunc(tl.Terms, func(a, b TimelineTerm) int { return a.Points[0].End.Compare(b.Points[0].End) })
	return tl, nil
}
