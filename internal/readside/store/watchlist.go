package store

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/trendstream/trendstream/internal/core/watchlist"
)

// Watchlists (migration 006, docs/watchlists.md): entries, per-window
// statuses and alerts. Alerts are also the delivery record of the alert
// sink (pipelines/watchlist): upserted on their idempotent id, with the
// time they were published to Kafka and delivered to the webhook set once.

// PutEntries inserts or replaces entries by id (a file load, an API PUT).
func (s *Store) PutEntries(ctx context.Context, es []watchlist.Entry) error {
	if err := watchlist.ValidateAll(es); err != nil {
		return err
	}
	if len(es) == 0 {
		return nil
	}
	b := &pgx.Batch{}
	for _, e := range es {
		b.Queue(`
INSERT INTO watchlist_entries (id, watchlist, kind, text, aliases, langs, enter, exit)
VALUES ($1, $2, $3, $4, $5, $6, $7, $8)
ON CONFLICT (id) DO UPDATE SET watchlist = EXCLUDED.watchlist, kind = EXCLUDED.kind, text = EXCLUDED.text,
  aliases = EXCLUDED.aliases, langs = EXCLUDED.langs, enter = EXCLUDED.enter, exit = EXCLUDED.exit, updated_at = now()`,
			e.ID, e.Watchlist, string(e.Kind), e.Text, nonNil(e.Aliases), nonNil(e.Langs), e.Enter, e.Exit)
	}
	if err := s.pool.SendBatch(ctx, b).Close(); err != nil {
		return fmt.Errorf("store: put watchlist entries: %w", err)
	}
	return nil
}

func nonNil(s []string) []string {
	if s == nil {
		return []string{}
	}
	return s
}

// ErrNotFound is returned for an entry that does not exist.
var ErrNotFound = errors.New("not found")

// WatchEntries returns every entry, by id.
func (s *Store) WatchEntries(ctx context.Context) ([]watchlist.Entry, error) {
	return s.queryEntries(ctx, `SELECT id, watchlist, kind, text, aliases, langs, enter, exit FROM watchlist_entries ORDER BY id`)
}

// WatchEntry returns one entry, or ErrNotFound.
func (s *Store) WatchEntry(ctx context.Context, id string) (watchlist.Entry, error) {
	es, err := s.queryEntries(ctx, `SELECT id, watchlist, kind, text, aliases, langs, enter, exit FROM watchlist_entries WHERE id = $1`, id)
	if err != nil {
		return watchlist.Entry{}, err
	}
	if len(es) == 0 {
		return watchlist.Entry{}, fmt.Errorf("store: watchlist entry %q: %w", id, ErrNotFound)
	}
	return es[0], nil
}

func (s *Store) queryEntries(ctx context.Context, sql string, args ...any) ([]watchlist.Entry, error) {
	rows, err := s.pool.Query(ctx, sql, args...)
	if err != nil {
		return nil, fmt.Errorf("store: watchlist entries: %w", err)
	}
	es, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (watchlist.Entry, error) {
		var e watchlist.Entry
		var kind string
		err := r.Scan(&e.ID, &e.Watchlist, &kind, &e.Text, &e.Aliases, &e.Langs, &e.Enter, &e.Exit)
		e.Kind = watchlist.Kind(kind)
		if len(e.Aliases) == 0 {
			e.Aliases = nil
		}
		if len(e.Langs) == 0 {
			e.Langs = nil
		}
		return e, err
	})
	if err != nil {
		return nil, fmt.Errorf("store: watchlist entries: %w", err)
	}
	return es, nil
}

// DeleteWatchEntry deletes an entry (its windows and alerts stay, as a
// record); ErrNotFound if there was none.
func (s *Store) DeleteWatchEntry(ctx context.Context, id string) error {
	tag, err := s.pool.Exec(ctx, `DELETE FROM watchlist_entries WHERE id = $1`, id)
	if err != nil {
		return fmt.Errorf("store: delete watchlist entry: %w", err)
	}
	if tag.RowsAffected() == 0 {
		return fmt.Errorf("store: watchlist entry %q: %w", id, ErrNotFound)
	}
	return nil
}

// WriteWatchStatuses upserts entries' per-window statuses; a re-run writes
// the same rows again.
func (s *Store) WriteWatchStatuses(ctx context.Context, ss []watchlist.Status) error {
	if len(ss) == 0 {
		return nil
	}
	n := len(ss)
	ids, starts, ends := make([]string, n), make([]time.Time, n), make([]time.Time, n)
	posts, authors := make([]int64, n), make([]int64, n)
	scores, bases := make([]float64, n), make([]float64, n)
	scored, active := make([]bool, n), make([]bool, n)
	for i, st := range ss {
		ids[i], starts[i], ends[i] = st.EntryID, time.UnixMilli(st.WindowStart), time.UnixMilli(st.WindowEnd)
		posts[i], authors[i], scores[i], bases[i] = st.Count, st.Authors, st.Score, st.Baseline
		scored[i], active[i] = st.Scored, st.Active
	}
	if _, err := s.pool.Exec(ctx, `
INSERT INTO watchlist_windows (entry_id, window_start, window_end, posts, authors, score, baseline, scored, active)
SELECT DISTINCT ON (e, we) * FROM unnest($1::text[], $2::timestamptz[], $3::timestamptz[], $4::bigint[], $5::bigint[],
  $6::float8[], $7::float8[], $8::bool[], $9::bool[]) AS u(e, ws, we, p, a, s, b, sc, ac)
ON CONFLICT (entry_id, window_end) DO UPDATE SET window_start = EXCLUDED.window_start, posts = EXCLUDED.posts,
  authors = EXCLUDED.authors, score = EXCLUDED.score, baseline = EXCLUDED.baseline, scored = EXCLUDED.scored,
  active = EXCLUDED.active`, ids, starts, ends, posts, authors, scores, bases, scored, active); err != nil {
		return fmt.Errorf("store: write watchlist windows: %w", err)
	}
	return nil
}

// WatchWindows returns an entry's statuses in [from, to) by window end,
// oldest first.
func (s *Store) WatchWindows(ctx context.Context, entryID string, from, to time.Time) ([]watchlist.Status, error) {
	rows, err := s.pool.Query(ctx, `
SELECT entry_id, window_start, window_end, posts, authors, score, baseline, scored, active
FROM watchlist_windows WHERE entry_id = $1 AND window_end >= $2 AND window_end < $3 ORDER BY window_end`, entryID, from, to)
	if err != nil {
		return nil, fmt.Errorf("store: watchlist windows: %w", err)
	}
	return collectStatuses(rows)
}

// LatestWatchWindows returns each entry's newest status.
func (s *Store) LatestWatchWindows(ctx context.Context) ([]watchlist.Status, error) {
	rows, err := s.pool.Query(ctx, `
SELECT DISTINCT ON (entry_id) entry_id, window_start, window_end, posts, authors, score, baseline, scored, active
FROM watchlist_windows ORDER BY entry_id, window_end DESC`)
	if err != nil {
		return nil, fmt.Errorf("store: latest watchlist windows: %w", err)
	}
	return collectStatuses(rows)
}

func collectStatuses(rows pgx.Rows) ([]watchlist.Status, error) {
	out, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (watchlist.Status, error) {
		var st watchlist.Status
		var ws, we time.Time
		err := r.Scan(&st.EntryID, &ws, &we, &st.Count, &st.Authors, &st.Score, &st.Baseline, &st.Scored, &st.Active)
		st.WindowStart, st.WindowEnd = ws.UnixMilli(), we.UnixMilli()
		return st, err
	})
	if err != nil {
		return nil, fmt.Errorf("store: watchlist windows: %w", err)
	}
	return out, nil
}

// AlertRecord is a stored alert and how far its delivery got.
type AlertRecord struct {
	watchlist.Alert
	CreatedAt time.Time
	// PublishedAt is when it was written to the alerts topic, DeliveredAt
	// when the webhook accepted it (nil: not yet).
	PublishedAt, DeliveredAt *time.Time
	WebhookAttempts          int
	WebhookError             string
}

const alertColumns = `alert_id, entry_id, window_start, window_end, posts, authors, score, baseline, enter_threshold,
  created_at, published_at, delivered_at, webhook_attempts, webhook_error`

// UpsertAlert records a, unless an alert with its id exists, and returns
// the stored record: the existing one (with its delivery state) if the
// alert had fired before, in an earlier run or before a restart.
func (s *Store) UpsertAlert(ctx context.Context, a watchlist.Alert) (AlertRecord, error) {
	if _, err := s.pool.Exec(ctx, `
INSERT INTO watchlist_alerts (alert_id, entry_id, window_start, window_end, posts, authors, score, baseline, enter_threshold)
VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9) ON CONFLICT (alert_id) DO NOTHING`,
		a.ID, a.EntryID, time.UnixMilli(a.WindowStart), time.UnixMilli(a.WindowEnd), a.Count, a.Authors, a.Score, a.Baseline, a.Enter); err != nil {
		return AlertRecord{}, fmt.Errorf("store: upsert alert %s: %w", a.ID, err)
	}
	rs, err := s.queryAlerts(ctx, `SELECT `+alertColumns+` FROM watchlist_alerts WHERE alert_id = $1`, a.ID)
	if err != nil {
		return AlertRecord{}, err
	}
	if len(rs) != 1 {
		return AlertRecord{}, fmt.Errorf("store: alert %s vanished after upsert", a.ID)
	}
	return rs[0], nil
}

// AlertFilter selects alerts: of one entry (or all), at most Limit, newest
// window first.
type AlertFilter struct {
	EntryID string
	Limit   int
}

// Alerts returns alerts, newest window first.
func (s *Store) Alerts(ctx context.Context, f AlertFilter) ([]AlertRecord, error) {
	if f.Limit <= 0 {
		f.Limit = 100
	}
	return s.queryAlerts(ctx, `SELECT `+alertColumns+` FROM watchlist_alerts
WHERE $1 = '' OR entry_id = $1 ORDER BY window_end DESC, alert_id LIMIT $2`, f.EntryID, f.Limit)
}

// PendingAlerts returns alerts not yet published (with published) or not
// yet delivered (with delivered), oldest window first: what a restarted
// alert sink sends before anything new.
func (s *Store) PendingAlerts(ctx context.Context, published, delivered bool, limit int) ([]AlertRecord, error) {
	return s.queryAlerts(ctx, `SELECT `+alertColumns+` FROM watchlist_alerts
WHERE ($1 AND published_at IS NULL) OR ($2 AND delivered_at IS NULL) ORDER BY window_end, alert_id LIMIT $3`, published, delivered, limit)
}

func (s *Store) queryAlerts(ctx context.Context, sql string, args ...any) ([]AlertRecord, error) {
	rows, err := s.pool.Query(ctx, sql, args...)
	if err != nil {
		return nil, fmt.Errorf("store: alerts: %w", err)
	}
	out, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (AlertRecord, error) {
		var a AlertRecord
		var ws, we time.Time
		err := r.Scan(&a.ID, &a.EntryID, &ws, &we, &a.Count, &a.Authors, &a.Score, &a.Baseline, &a.Enter,
			&a.CreatedAt, &a.PublishedAt, &a.DeliveredAt, &a.WebhookAttempts, &a.WebhookError)
		a.WindowStart, a.WindowEnd = ws.UnixMilli(), we.UnixMilli()
		return a, err
	})
	if err != nil {
		return nil, fmt.Errorf("store: alerts: %w", err)
	}
	return out, nil
}

// AlertStep is a delivery step that must happen once per alert.
type AlertStep int

// The steps of an alert's delivery.
const (
	// StepPublish is writing the alert to the alerts topic (published_at).
	StepPublish AlertStep = iota
	// StepDeliver is the webhook accepting it (delivered_at).
	StepDeliver
)

// Once runs do for alert id unless step is recorded as done, holding the
// alert's row lock meanwhile, so concurrent sinks (two workers, a pipeline
// and a redelivery) do the step once between them. do returns the
// attempts it made and whether the step succeeded; its error is recorded
// (for the webhook) and returned. Once reports whether the step is done
// now, by this call or an earlier one.
func (s *Store) Once(ctx context.Context, id string, step AlertStep, do func(context.Context) (attempts int, err error)) (bool, error) {
	col := "published_at"
	if step == StepDeliver {
		col = "delivered_at"
	}
	tx, err := s.pool.Begin(ctx)
	if err != nil {
		return false, fmt.Errorf("store: alert %s: begin: %w", id, err)
	}
	defer tx.Rollback(ctx) //nolint:errcheck // a no-op after Commit
	var done bool
	if err := tx.QueryRow(ctx, `SELECT `+col+` IS NOT NULL FROM watchlist_alerts WHERE alert_id = $1 FOR UPDATE`, id).Scan(&done); err != nil {
		return false, fmt.Errorf("store: alert %s: lock: %w", id, err)
	}
	if done {
		return true, tx.Commit(ctx)
	}
	attempts, doErr := do(ctx)
	msg := ""
	if doErr != nil {
		msg = doErr.Error()
	}
	if step == StepDeliver {
		_, err = tx.Exec(ctx, `UPDATE watchlist_alerts SET webhook_attempts = webhook_attempts + $2, webhook_error = $3,
  delivered_at = CASE WHEN $4 THEN now() END WHERE alert_id = $1`, id, attempts, msg, doErr == nil)
	} else if doErr == nil {
		_, err = tx.Exec(ctx, `UPDATE watchlist_alerts SET published_at = now() WHERE alert_id = $1`, id)
	}
	if err != nil {
		return false, fmt.Errorf("store: alert %s: record: %w", id, err)
	}
	if err := tx.Commit(ctx); err != nil {
		return false, fmt.Errorf("store: alert %s: commit: %w", id, err)
	}
	return doErr == nil, doErr
}
