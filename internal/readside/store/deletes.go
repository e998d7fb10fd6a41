package store

import (
	"context"
	"fmt"
	"time"

	tsv1 "github.com/trendstream/trendstream/proto/trendstream/v1"
)

// examplesLock is the advisory lock (pg_advisory_xact_lock) that orders
// writeTopics against WriteDeletes. A snapshot's examples are written
// under its shared form and a batch of deletes under its exclusive form,
// so a delete either sees the examples of a concurrent write (and removes
// them) or that write sees the delete's tombstone (and skips them): under
// READ COMMITTED, two transactions that each check only the other's
// committed rows could otherwise both miss. Both take it before touching
// example_posts, so it is always taken before any row lock there.
const examplesLock int64 = 0x74_72_65_6e_64_73 // "trends"

// DeletedPost is a post its author deleted (a Post with operation DELETE).
type DeletedPost struct {
	Source    tsv1.Source
	URI       string
	AuthorDID string
	// DeletedAt is the delete's event time (Post.observed_at).
	DeletedAt time.Time
}

// DeletedPostOf returns the tombstone of a delete, and false for a create
// or a delete without a URI or author (nothing to match it by).
func DeletedPostOf(p *tsv1.Post) (DeletedPost, bool) {
	if p.GetOperation() != tsv1.Operation_OPERATION_DELETE || p.GetUri() == "" || p.GetAuthorDid() == "" {
		return DeletedPost{}, false
	}
	return DeletedPost{Source: p.GetSource(), URI: p.GetUri(), AuthorDID: p.GetAuthorDid(), DeletedAt: p.GetObservedAt().AsTime()}, true
}

// WriteDeletes records the tombstones of deleted posts and removes their
// example posts (same source, URI and author) from every window, in one
// transaction; writeTopics skips the examples of a post already deleted.
// A deleted post is thus never served as an example, whether its delete
// came before its windows were written or a day after. It returns how many
// example rows it removed. Writing a tombstone twice changes nothing.
func (s *Store) WriteDeletes(ctx context.Context, ds []DeletedPost) (int64, error) {
	if len(ds) == 0 {
		return 0, nil
	}
	src, uri, author := make([]string, len(ds)), make([]string, len(ds)), make([]string, len(ds))
	at := make([]time.Time, len(ds))
	for i, d := range ds {
		src[i], uri[i], author[i], at[i] = SourceName(d.Source), d.URI, d.AuthorDID, pgTime(d.DeletedAt)
	}
	tx, err := s.pool.Begin(ctx)
	if err != nil {
		return 0, fmt.Errorf("store: write deletes: begin: %w", err)
	}
	defer tx.Rollback(ctx) //nolint:errcheck // a no-op after Commit
	if _, err := tx.Exec(ctx, `SELECT pg_advisory_xact_lock($1)`, examplesLock); err != nil {
		return 0, fmt.Errorf("store: write deletes: lock: %w", err)
	}
	if _, err := tx.Exec(ctx, `
INSERT INTO deleted_posts (source, uri, author_did, deleted_at)
SELECT * FROM unnest($1::text[], $2::text[], $3::text[], $4::timestamptz[])
ON CONFLICT DO NOTHING`, src, uri, author, at); err != nil {
		return 0, fmt.Errorf("store: write deletes: tombstones: %w", err)
	}
	tag, err := tx.Exec(ctx, `
DELETE FROM example_posts e
 USING unnest($1::text[], $2::text[], $3::text[]) AS d(source, uri, author_did)
 WHERE e.uri = d.uri AND e.source = d.source AND e.author_did = d.author_did`, src, uri, author)
	if err != nil {
		return 0, fmt.Errorf("store: write deletes: remove examples: %w", err)
	}
	if err := tx.Commit(ctx); err != nil {
		return 0, fmt.Errorf("store: write deletes: commit: %w", err)
	}
	return tag.RowsAffected(), nil
}
