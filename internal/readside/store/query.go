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

// Limits bound what one query may ask for, so a request cannot make the
// database do unbounded work.
const (
	DefaultLimit   = 20
	MaxLimit       = 1000
	DefaultHistory = 30
	MaxHistory     = 1440
	// MaxTrendHistory caps Filter.History: it multiplies with the number of
	// terms returned, unlike a single term's history.
	MaxTrendHistory = 120
)

// Filter selects rankings.
type Filter struct {
	// Source is a source name ("bluesky"); "" means every source.
	Source string
	// Lang is the ranking's language; "" is the overall ranking.
	Lang string
	// AllLangs selects every language's ranking and ignores Lang.
	AllLangs bool
	// Limit caps the terms per ranking (CurrentTrends) or the windows
	// returned (Windows). 0 means DefaultLimit; it is clamped to MaxLimit.
	Limit int
	// History, in CurrentTrends, fills each term's History with its values
	// in the ranking's last History windows. 0 means none; it is clamped to
	// MaxTrendHistory.
	History int
	// At, in CurrentTrends, picks each ranking's newest window that ended
	// at or before it instead of the newest of all, and ends the History
	// there: a past window, as it was ranked. Zero means the newest.
	At time.Time
}

func (f Filter) limit() int { return clamp(f.Limit, DefaultLimit, MaxLimit) }

func clamp(v, def, hi int) int {
	if v <= 0 {
		return def
	}
	return min(v, hi)
}

// CurrentTrends returns the newest window of every ranking f selects (with
// f.At, the newest that ended at or before it), with its top f.Limit terms,
// ordered by source and language. All reads see one snapshot of the
// database, so a window written meanwhile never mixes in.
func (s *Store) CurrentTrends(ctx context.Context, f Filter) ([]Window, error) {
	tx, err := s.pool.BeginTx(ctx, pgx.TxOptions{IsoLevel: pgx.RepeatableRead, AccessMode: pgx.ReadOnly})
	if err != nil {
		return nil, fmt.Errorf("store: current trends: %w", err)
	}
	defer tx.Rollback(ctx) //nolint:errcheck // read-only

	rows, err := tx.Query(ctx, `
SELECT w.source, w.lang, w.window_start, w.window_end, w.posts, w.emitted_at,
       t.rank, t.kind, t.term, t.term_lang, t.count, t.unique_authors, t.baseline, t.score, t.first_seen
  FROM rankings r
 -- One probe of windows_ranking_end_idx per ranking, as current_windows
 -- does, bounded by At ('infinity' when unset).
 CROSS JOIN LATERAL (
        SELECT * FROM windows w
         WHERE w.source = r.source AND w.lang = r.lang AND w.window_end <= $5
         ORDER BY w.window_end DESC, w.window_start DESC
         LIMIT 1) w
  LEFT JOIN LATERAL (
        SELECT * FROM trending_terms t
         WHERE t.source = w.source AND t.lang = w.lang
           AND t.window_start = w.window_start AND t.window_end = w.window_end
         ORDER BY t.rank, t.kind, t.term, t.term_lang
         LIMIT $4) t ON true
 WHERE ($1 = '' OR r.source = $1) AND ($3 OR r.lang = $2)
 ORDER BY w.source, w.lang, t.rank, t.kind, t.term, t.term_lang`,
		f.Source, f.Lang, f.AllLangs, f.limit(), upper(f.At))
	if err != nil {
		return nil, fmt.Errorf("store: current trends: %w", err)
	}
	var out []Window
	for rows.Next() {
		var (
			w               Window
			emitted, first  pgtype.Timestamptz
			rank            pgtype.Int4
			kind, term      pgtype.Text
			termLang        pgtype.Text
			count, uniq     pgtype.Int8
			baseline, score pgtype.Float8
		)
		if err := rows.Scan(&w.Source, &w.Lang, &w.Start, &w.End, &w.Posts, &emitted,
			&rank, &kind, &term, &termLang, &count, &uniq, &baseline, &score, &first); err != nil {
			rows.Close()
			return nil, fmt.Errorf("store: current trends: %w", err)
		}
		if n := len(out); n == 0 || out[n-1].Source != w.Source || out[n-1].Lang != w.Lang {
			w.Start, w.End, w.EmittedAt = w.Start.UTC(), w.End.UTC(), timePtr(emitted)
			out = append(out, w)
		}
		if rank.Valid {
			cur := &out[len(out)-1]
			cur.Terms = append(cur.Terms, Term{
				Rank: rank.Int32, Kind: kind.String, Term: term.String, TermLang: termLang.String,
				Count: count.Int64, UniqueAuthors: uniq.Int64,
				Baseline: baseline.Float64, Score: score.Float64, FirstSeen: timePtr(first),
			})
		}
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("store: current trends: %w", err)
	}
	if f.History > 0 {
		if err := fillHistory(ctx, tx, out, clamp(f.History, DefaultHistory, MaxTrendHistory), f.At); err != nil {
			return nil, err
		}
	}
	return out, nil
}

// fillHistory sets every term's History to its values in the last n
// windows of its own ranking that ended at or before at (zero: no bound),
// in one query. An entry is (kind, term, term language): the same word
// trending in two languages has two histories.
func fillHistory(ctx context.Context, tx pgx.Tx, ws []Window, n int, at time.Time) error {
	var src, lang, kind, term, termLang []string
	for _, w := range ws {
		for _, t := range w.Terms {
			src, lang, kind, term = append(src, w.Source), append(lang, w.Lang), append(kind, t.Kind), append(term, t.Term)
			termLang = append(termLang, t.TermLang)
		}
	}
	if len(term) == 0 {
		return nil
	}
	rows, err := tx.Query(ctx, `
SELECT c.source, c.lang, c.kind, c.term, c.term_lang, r.window_start, r.window_end, r.posts,
       coalesce(h.rank, 0), coalesce(h.count, 0), coalesce(h.unique_authors, 0),
       coalesce(h.baseline, 0), coalesce(h.score, 0)
  FROM unnest($1::text[], $2::text[], $3::text[], $4::text[], $6::text[]) AS c(source, lang, kind, term, term_lang)
 CROSS JOIN LATERAL (
        SELECT window_start, window_end, posts FROM windows w
         WHERE w.source = c.source AND w.lang = c.lang AND w.window_end <= $7
         ORDER BY w.window_end DESC, w.window_start DESC
         LIMIT $5) r
  -- A primary-key probe per (term, window). LIMIT 1 (the key is unique)
  -- stops the planner from flattening this into a join that hashes the
  -- whole table.
  LEFT JOIN LATERAL (
        SELECT rank, count, unique_authors, baseline, score FROM trending_terms h
         WHERE h.source = c.source AND h.lang = c.lang AND h.window_start = r.window_start
           AND h.window_end = r.window_end AND h.kind = c.kind AND h.term = c.term
           AND h.term_lang = c.term_lang
         LIMIT 1) h ON true
 ORDER BY c.source, c.lang, c.kind, c.term, c.term_lang, r.window_end, r.window_start`,
		src, lang, kind, term, n, termLang, upper(at))
	if err != nil {
		return fmt.Errorf("store: term history: %w", err)
	}
	type key struct{ source, lang, kind, term, termLang string }
	hist := map[key][]Point{}
	for rows.Next() {
		var k key
		var p Point
		if err := rows.Scan(&k.source, &k.lang, &k.kind, &k.term, &k.termLang, &p.Start, &p.End, &p.Posts,
			&p.Rank, &p.Count, &p.UniqueAuthors, &p.Baseline, &p.Score); err != nil {
			rows.Close()
			return fmt.Errorf("store: term history: %w", err)
		}
		p.Start, p.End = p.Start.UTC(), p.End.UTC()
		hist[k] = append(hist[k], p)
	}
	if err := rows.Err(); err != nil {
		return fmt.Errorf("store: term history: %w", err)
	}
	for i := range ws {
		for j := range ws[i].Terms {
			t := &ws[i].Terms[j]
			t.History = hist[key{ws[i].Source, ws[i].Lang, t.Kind, t.Term, t.TermLang}]
		}
	}
	return nil
}

// HistoryFilter selects the windows of a term's history.
type HistoryFilter struct {
	// Source restricts to one source; "" means every source.
	Source string
	// Lang is the ranking's language; "" is the overall ranking.
	Lang string
	// Kind restricts to one term kind; "" takes, per window, the best-ranked
	// kind under which the term appears.
	Kind string
	// TermLang restricts to the term counted in one language (Term.TermLang);
	// "" takes, per window, the best-ranked entry of any language.
	TermLang string
	// Windows is how many of the newest windows to return; 0 means
	// DefaultHistory, clamped to MaxHistory.
	Windows int
	// From and Until bound the windows' ends (inclusive), so a page can show
	// the hours before a past window; zero means no bound. Windows still
	// caps the count, keeping the newest.
	From, Until time.Time
}

// TermHistory returns the term's values in the newest windows f selects
// (those ending within [f.From, f.Until] when set),
// oldest first, including windows in which it was not ranked (Rank 0), so
// a chart shows it rising from nothing. It returns nil when the term was
// never ranked in those windows.
func (s *Store) TermHistory(ctx context.Context, term string, f HistoryFilter) ([]Point, error) {
	rows, err := s.pool.Query(ctx, `
SELECT * FROM (
  SELECT DISTINCT ON (r.source, r.window_end, r.window_start)
         r.source, coalesce(h.kind, ''), coalesce(h.term_lang, ''), r.window_start, r.window_end, r.posts,
         coalesce(h.rank, 0), coalesce(h.count, 0), coalesce(h.unique_authors, 0),
         coalesce(h.baseline, 0), coalesce(h.score, 0)
    FROM (SELECT source, lang, window_start, window_end, posts FROM windows
           WHERE ($1 = '' OR source = $1) AND lang = $2 AND window_end >= $7 AND window_end <= $8
           ORDER BY window_end DESC, window_start DESC, source
           LIMIT $4) r
    LEFT JOIN trending_terms h
      ON h.source = r.source AND h.lang = r.lang AND h.window_start = r.window_start
     AND h.window_end = r.window_end AND h.term = $5 AND ($3 = '' OR h.kind = $3)
     AND ($6 = '' OR h.term_lang = $6)
   ORDER BY r.source, r.window_end, r.window_start, h.rank NULLS LAST, h.kind, h.term_lang
) p ORDER BY window_end, window_start, source`,
		f.Source, f.Lang, f.Kind, clamp(f.Windows, DefaultHistory, MaxHistory), term, f.TermLang, lower(f.From), upper(f.Until))
	if err != nil {
		return nil, fmt.Errorf("store: term history: %w", err)
	}
	var out []Point
	ranked := false
	for rows.Next() {
		var p Point
		if err := rows.Scan(&p.Source, &p.Kind, &p.TermLang, &p.Start, &p.End, &p.Posts,
			&p.Rank, &p.Count, &p.UniqueAuthors, &p.Baseline, &p.Score); err != nil {
			rows.Close()
			return nil, fmt.Errorf("store: term history: %w", err)
		}
		p.Start, p.End = p.Start.UTC(), p.End.UTC()
		ranked = ranked || p.Rank > 0
		out = append(out, p)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("store: term history: %w", err)
	}
	if !ranked {
		return nil, nil
	}
	return out, nil
}

// WindowFilter selects windows to list.
type WindowFilter struct {
	// Source restricts to one source; "" means every source.
	Source string
	// Lang restricts to one ranking language when AllLangs is false.
	Lang string
	// AllLangs lists every language's windows and ignores Lang.
	AllLangs bool
	// Current lists only the newest window of each ranking.
	Current bool
	// Limit caps the windows returned; 0 means DefaultLimit, clamped to
	// MaxLimit.
	Limit int
	// From and To bound the windows' ends (inclusive); zero means no bound.
	// With Current, To picks each ranking's newest window ending by then.
	From, To time.Time
}

// Windows lists windows without their terms but with how many terms each
// ranked, newest first (or, with Current, one per ranking ordered by source
// and language).
func (s *Store) Windows(ctx context.Context, f WindowFilter) ([]Window, error) {
	// Both shapes walk windows_ranking_end_idx from each known ranking, so
	// a bounded stretch reads only its own windows.
	per, order := "LIMIT $4", "w.window_end DESC, w.window_start DESC, w.source, w.lang"
	if f.Current {
		per, order = "LIMIT 1", "w.source, w.lang"
	}
	rows, err := s.pool.Query(ctx, `
SELECT w.source, w.lang, w.window_start, w.window_end, w.posts, w.emitted_at,
       (SELECT count(*) FROM trending_terms t
         WHERE t.source = w.source AND t.lang = w.lang
           AND t.window_start = w.window_start AND t.window_end = w.window_end)
  FROM rankings r
 CROSS JOIN LATERAL (
        SELECT * FROM windows w
         WHERE w.source = r.source AND w.lang = r.lang AND w.window_end >= $5 AND w.window_end <= $6
         ORDER BY w.window_end DESC, w.window_start DESC
         `+per+`) w
 WHERE ($1 = '' OR r.source = $1) AND ($3 OR r.lang = $2)
 ORDER BY `+order+` LIMIT $4`,
		f.Source, f.Lang, f.AllLangs, clamp(f.Limit, DefaultLimit, MaxLimit), lower(f.From), upper(f.To))
	if err != nil {
		return nil, fmt.Errorf("store: windows: %w", err)
	}
	var out []Window
	for rows.Next() {
		var w Window
		var emitted pgtype.Timestamptz
		var ranked int
		if err := rows.Scan(&w.Source, &w.Lang, &w.Start, &w.End, &w.Posts, &emitted, &ranked); err != nil {
			rows.Close()
			return nil, fmt.Errorf("store: windows: %w", err)
		}
		w.Start, w.End, w.EmittedAt, w.Ranked = w.Start.UTC(), w.End.UTC(), timePtr(emitted), &ranked
		out = append(out, w)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("store: windows: %w", err)
	}
	return out, nil
}

// upper is t as an inclusive upper bound for a timestamptz column: the zero
// time is no bound ('infinity'), so one statement (and one cached plan)
// serves bounded and unbounded queries through the same index.
func upper(t time.Time) pgtype.Timestamptz {
	if t.IsZero() {
		return pgtype.Timestamptz{InfinityModifier: pgtype.Infinity, Valid: true}
	}
	return pgtype.Timestamptz{Time: t, Valid: true}
}

// lower is t as an inclusive lower bound: zero is '-infinity'.
func lower(t time.Time) pgtype.Timestamptz {
	if t.IsZero() {
		return pgtype.Timestamptz{InfinityModifier: pgtype.NegativeInfinity, Valid: true}
	}
	return pgtype.Timestamptz{Time: t, Valid: true}
}

func timePtr(t pgtype.Timestamptz) *time.Time {
	if !t.Valid {
		return nil
	}
	u := t.Time.UTC()
	return &u
}

func sortWindows(ws []Window) {
	slices.SortFunc(ws, func(a, b Window) int {
		return cmp.Or(strings.Compare(a.Source, b.Source), strings.Compare(a.Lang, b.Lang),
			a.Start.Compare(b.Start), a.End.Compare(b.End))
	})
}
