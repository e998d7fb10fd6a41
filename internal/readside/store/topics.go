package store

import (
	"context"
	"encoding/json"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgtype"
	"google.golang.org/protobuf/types/known/timestamppb"

	"github.com/trendstream/trendstream/internal/core/topics"
	tsv1 "github.com/trendstream/trendstream/proto/trendstream/v1"
)

// TopicWindow is one ranking's window with its topics.
type TopicWindow struct {
	Source string    `json:"source"`
	Lang   string    `json:"lang"`
	Start  time.Time `json:"window_start"`
	End    time.Time `json:"window_end"`
	Posts  int64     `json:"posts"`
	Topics []Topic   `json:"topics"`
}

// Topic is a group of a window's ranked terms that occur in the same posts
// (tsv1.Topic).
type Topic struct {
	ID        string `json:"id"`
	Rank      int32  `json:"rank"`
	Label     string `json:"label"`
	LabelKind string `json:"label_kind"`
	// TermLang is the members' language (Term.TermLang).
	TermLang      string        `json:"term_lang"`
	Members       []TopicMember `json:"members"`
	Mentions      int64         `json:"mentions"`
	UniqueAuthors int64         `json:"unique_authors"`
	Score         float64       `json:"score"`
	FirstSeen     *time.Time    `json:"first_seen,omitempty"`
	Examples      []Example     `json:"examples,omitempty"`
}

// TopicMember is one ranked term of a topic.
type TopicMember struct {
	Term          string  `json:"term"`
	Kind          string  `json:"kind"`
	Count         int64   `json:"count"`
	UniqueAuthors int64   `json:"unique_authors"`
	Score         float64 `json:"score"`
	Rank          int32   `json:"rank"`
}

// Example is an example post of a term or topic.
type Example struct {
	URI string `json:"uri"`
	// URL is the post's bsky.app page, derived from URI ("" if it is not a
	// post URI).
	URL        string     `json:"url,omitempty"`
	AuthorDID  string     `json:"author_did"`
	Text       string     `json:"text"`
	ObservedAt *time.Time `json:"observed_at,omitempty"`
}

// TopicPoint is a topic in one window of its ranking.
type TopicPoint struct {
	Source    string        `json:"source"`
	Start     time.Time     `json:"window_start"`
	End       time.Time     `json:"window_end"`
	Posts     int64         `json:"posts"`
	Rank      int32         `json:"rank"`
	Label     string        `json:"label"`
	Members   []TopicMember `json:"members"`
	Mentions  int64         `json:"mentions"`
	Authors   int64         `json:"unique_authors"`
	Score     float64       `json:"score"`
	FirstSeen *time.Time    `json:"first_seen,omitempty"`
}

// writeTopics replaces the topics and examples of the windows written (the
// last snapshot of each in snaps), in WriteSnapshots' transaction.
func writeTopics(ctx context.Context, tx pgx.Tx, snaps []*tsv1.WindowSnapshot, written map[windowKey]bool) error {
	last := map[windowKey]*tsv1.WindowSnapshot{}
	for _, s := range snaps {
		if s == nil {
			continue
		}
		w := Window{Source: SourceName(s.GetSource()), Lang: s.GetLang(),
			Start: pgTime(s.GetWindowStart().AsTime()), End: pgTime(s.GetWindowEnd().AsTime())}
		if k := keyOf(w); written[k] {
			last[k] = s
		}
	}
	var (
		kSource, kLang                  []string
		kStart, kEnd                    []time.Time
		pSource, pLang, pID, pLabel     []string
		pLabelKind, pTermLang           []string
		pStart, pEnd                    []time.Time
		pRank                           []int32
		pMembers                        []string
		pMentions, pAuthors             []int64
		pScore                          []float64
		pFirst                          []pgtype.Timestamptz
		eSource, eLang, eSubject, eKind []string
		eTermLang, eKey, eURI, eAuthor  []string
		eText                           []string
		eStart, eEnd                    []time.Time
		eOrd                            []int32
		eAt                             []pgtype.Timestamptz
	)
	addExamples := func(k windowKey, w Window, subject, kind, termLang, key string, ex []*tsv1.ExamplePost) {
		for i, e := range ex {
			eSource, eLang, eStart, eEnd = append(eSource, k.source), append(eLang, k.lang), append(eStart, w.Start), append(eEnd, w.End)
			eSubject, eKind, eTermLang, eKey = append(eSubject, subject), append(eKind, kind), append(eTermLang, termLang), append(eKey, key)
			eOrd, eURI, eAuthor, eText = append(eOrd, int32(i)), append(eURI, e.GetUri()), append(eAuthor, e.GetAuthorDid()), append(eText, e.GetText())
			eAt = append(eAt, tsOf(e.GetObservedAt()))
		}
	}
	for k, s := range last {
		w := Window{Start: pgTime(s.GetWindowStart().AsTime()), End: pgTime(s.GetWindowEnd().AsTime())}
		kSource, kLang, kStart, kEnd = append(kSource, k.source), append(kLang, k.lang), append(kStart, w.Start), append(kEnd, w.End)
		for _, tp := range s.GetTopics() {
			members := make([]TopicMember, len(tp.GetMembers()))
			for i, m := range tp.GetMembers() {
				members[i] = TopicMember{Term: m.GetTerm(), Kind: KindName(m.GetKind()), Count: m.GetCount(),
					UniqueAuthors: m.GetUniqueAuthors(), Score: m.GetScore(), Rank: m.GetRank()}
			}
			mj, err := json.Marshal(members)
			if err != nil {
				return fmt.Errorf("store: write topics: %w", err)
			}
			pSource, pLang, pStart, pEnd = append(pSource, k.source), append(pLang, k.lang), append(pStart, w.Start), append(pEnd, w.End)
			pID, pRank, pLabel = append(pID, tp.GetId()), append(pRank, tp.GetRank()), append(pLabel, tp.GetLabel())
			pLabelKind, pTermLang, pMembers = append(pLabelKind, KindName(tp.GetLabelKind())), append(pTermLang, tp.GetLang()), append(pMembers, string(mj))
			pMentions, pAuthors, pScore = append(pMentions, tp.GetMentions()), append(pAuthors, tp.GetUniqueAuthors()), append(pScore, tp.GetScore())
			pFirst = append(pFirst, tsOf(tp.GetFirstSeen()))
			addExamples(k, w, "topic", "", "", tp.GetId(), tp.GetExamples())
		}
		for _, t := range s.GetTerms() {
			addExamples(k, w, "term", KindName(t.GetKind()), t.GetLang(), t.GetTerm(), t.GetExamples())
		}
	}
	if len(kSource) == 0 {
		return nil
	}
	// Before any row of example_posts: see examplesLock.
	if _, err := tx.Exec(ctx, `SELECT pg_advisory_xact_lock_shared($1)`, examplesLock); err != nil {
		return fmt.Errorf("store: write snapshots: lock examples: %w", err)
	}
	for _, table := range []string{"topics", "example_posts"} {
		if _, err := tx.Exec(ctx, `
DELETE FROM `+table+` t
 USING unnest($1::text[], $2::text[], $3::timestamptz[], $4::timestamptz[]) AS k(source, lang, window_start, window_end)
 WHERE t.source = k.source AND t.lang = k.lang AND t.window_start = k.window_start AND t.window_end = k.window_end`,
			kSource, kLang, kStart, kEnd); err != nil {
			return fmt.Errorf("store: write snapshots: delete old %s: %w", table, err)
		}
	}
	if len(pID) > 0 {
		if _, err := tx.Exec(ctx, `
INSERT INTO topics (source, lang, window_start, window_end, id, rank, label, label_kind, term_lang, members,
                    mentions, unique_authors, score, first_seen)
SELECT * FROM unnest($1::text[], $2::text[], $3::timestamptz[], $4::timestamptz[], $5::text[], $6::int4[], $7::text[],
                     $8::text[], $9::text[], $10::jsonb[], $11::int8[], $12::int8[], $13::float8[], $14::timestamptz[])
ON CONFLICT DO NOTHING`,
			pSource, pLang, pStart, pEnd, pID, pRank, pLabel, pLabelKind, pTermLang, pMembers, pMentions, pAuthors, pScore, pFirst); err != nil {
			return fmt.Errorf("store: write snapshots: insert topics: %w", err)
		}
	}
	if len(eURI) > 0 {
		if _, err := tx.Exec(ctx, `
INSERT INTO example_posts (source, lang, window_start, window_end, subject, kind, term_lang, key, ord, uri, author_did, text, observed_at)
SELECT * FROM unnest($1::text[], $2::text[], $3::timestamptz[], $4::timestamptz[], $5::text[], $6::text[], $7::text[],
                     $8::text[], $9::int4[], $10::text[], $11::text[], $12::text[], $13::timestamptz[])
              AS e(source, lang, window_start, window_end, subject, kind, term_lang, key, ord, uri, author_did, text, observed_at)
 WHERE NOT EXISTS (SELECT 1 FROM deleted_posts d -- a deleted post is no example (008_deleted_posts)
                    WHERE d.source = e.source AND d.uri = e.uri AND d.author_did = e.author_did)
ON CONFLICT DO NOTHING`,
			eSource, eLang, eStart, eEnd, eSubject, eKind, eTermLang, eKey, eOrd, eURI, eAuthor, eText, eAt); err != nil {
			return fmt.Errorf("store: write snapshots: insert examples: %w", err)
		}
	}
	return nil
}

func tsOf(t *timestamppb.Timestamp) pgtype.Timestamptz {
	if t == nil {
		return pgtype.Timestamptz{}
	}
	return pgtype.Timestamptz{Time: pgTime(t.AsTime()), Valid: true}
}

func exampleOf(uri, author, text string, at pgtype.Timestamptz) Example {
	return Example{URI: uri, URL: topics.PostURL(uri), AuthorDID: author, Text: text, ObservedAt: timePtr(at)}
}

// Topics returns the newest window of every ranking f selects (with f.At,
// the newest that ended at or before it) with its top f.Limit topics and
// their examples, ordered by source and language.
func (s *Store) Topics(ctx context.Context, f Filter) ([]TopicWindow, error) {
	tx, err := s.pool.BeginTx(ctx, pgx.TxOptions{IsoLevel: pgx.RepeatableRead, AccessMode: pgx.ReadOnly})
	if err != nil {
		return nil, fmt.Errorf("store: topics: %w", err)
	}
	defer tx.Rollback(ctx) //nolint:errcheck // read-only
	rows, err := tx.Query(ctx, `
SELECT w.source, w.lang, w.window_start, w.window_end, w.posts,
       t.id, t.rank, t.label, t.label_kind, t.term_lang, t.members, t.mentions, t.unique_authors, t.score, t.first_seen
  FROM rankings r
 CROSS JOIN LATERAL (
        SELECT * FROM windows w
         WHERE w.source = r.source AND w.lang = r.lang AND w.window_end <= $5
         ORDER BY w.window_end DESC, w.window_start DESC
         LIMIT 1) w
  LEFT JOIN LATERAL (
        SELECT * FROM topics t
         WHERE t.source = w.source AND t.lang = w.lang
           AND t.window_start = w.window_start AND t.window_end = w.window_end
         ORDER BY t.rank
         LIMIT $4) t ON true
 WHERE ($1 = '' OR r.source = $1) AND ($3 OR r.lang = $2)
 ORDER BY w.source, w.lang, t.rank`,
		f.Source, f.Lang, f.AllLangs, f.limit(), upper(f.At))
	if err != nil {
		return nil, fmt.Errorf("store: topics: %w", err)
	}
	var out []TopicWindow
	for rows.Next() {
		var (
			w                 TopicWindow
			id, label, lk, tl pgtype.Text
			rank              pgtype.Int4
			members           []byte
			mentions, authors pgtype.Int8
			score             pgtype.Float8
			first             pgtype.Timestamptz
		)
		if err := rows.Scan(&w.Source, &w.Lang, &w.Start, &w.End, &w.Posts,
			&id, &rank, &label, &lk, &tl, &members, &mentions, &authors, &score, &first); err != nil {
			rows.Close()
			return nil, fmt.Errorf("store: topics: %w", err)
		}
		if n := len(out); n == 0 || out[n-1].Source != w.Source || out[n-1].Lang != w.Lang {
			w.Start, w.End, w.Topics = w.Start.UTC(), w.End.UTC(), []Topic{}
			out = append(out, w)
		}
		if id.Valid {
			tp := Topic{ID: id.String, Rank: rank.Int32, Label: label.String, LabelKind: lk.String, TermLang: tl.String,
				Mentions: mentions.Int64, UniqueAuthors: authors.Int64, Score: score.Float64, FirstSeen: timePtr(first)}
			if err := json.Unmarshal(members, &tp.Members); err != nil {
				rows.Close()
				return nil, fmt.Errorf("store: topics: members of %s: %w", tp.ID, err)
			}
			cur := &out[len(out)-1]
			cur.Topics = append(cur.Topics, tp)
		}
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("store: topics: %w", err)
	}
	for i := range out {
		w := &out[i]
		for j := range w.Topics {
			ex, err := examples(ctx, tx, w.Source, w.Lang, w.Start, w.End, "topic", "", "", w.Topics[j].ID)
			if err != nil {
				return nil, err
			}
			w.Topics[j].Examples = ex
		}
	}
	return out, nil
}

// examples reads the examples of one subject in one window.
func examples(ctx context.Context, q interface {
	Query(context.Context, string, ...any) (pgx.Rows, error)
}, source, lang string, start, end time.Time, subject, kind, termLang, key string) ([]Example, error) {
	rows, err := q.Query(ctx, `
SELECT uri, author_did, text, observed_at FROM example_posts
 WHERE source = $1 AND lang = $2 AND window_start = $3 AND window_end = $4
   AND subject = $5 AND kind = $6 AND term_lang = $7 AND key = $8
 ORDER BY ord`, source, lang, start, end, subject, kind, termLang, key)
	if err != nil {
		return nil, fmt.Errorf("store: examples: %w", err)
	}
	defer rows.Close()
	var out []Example
	for rows.Next() {
		var uri, author, text string
		var at pgtype.Timestamptz
		if err := rows.Scan(&uri, &author, &text, &at); err != nil {
			return nil, fmt.Errorf("store: examples: %w", err)
		}
		out = append(out, exampleOf(uri, author, text, at))
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("store: examples: %w", err)
	}
	return out, nil
}

// TopicPage is a topic's history in one ranking and its newest examples.
type TopicPage struct {
	ID      string       `json:"id"`
	Lang    string       `json:"lang"`
	History []TopicPoint `json:"history"`
	// Examples are those of the newest window in History.
	Examples []Example `json:"examples"`
}

// TopicHistory returns the topic's values in the newest f.Windows windows
// of ranking f.Lang in which it was ranked (ending within [f.From,
// f.Until] when set), oldest first, with the newest window's examples; nil
// when it was never ranked there.
func (s *Store) TopicHistory(ctx context.Context, id string, f HistoryFilter) (*TopicPage, error) {
	tx, err := s.pool.BeginTx(ctx, pgx.TxOptions{IsoLevel: pgx.RepeatableRead, AccessMode: pgx.ReadOnly})
	if err != nil {
		return nil, fmt.Errorf("store: topic history: %w", err)
	}
	defer tx.Rollback(ctx) //nolint:errcheck // read-only
	rows, err := tx.Query(ctx, `
SELECT * FROM (
  SELECT t.source, t.window_start, t.window_end, w.posts, t.rank, t.label, t.members, t.mentions,
         t.unique_authors, t.score, t.first_seen
    FROM topics t
    JOIN windows w USING (source, lang, window_start, window_end)
   WHERE t.id = $1 AND ($2 = '' OR t.source = $2) AND t.lang = $3 AND t.window_end >= $5 AND t.window_end <= $6
   ORDER BY t.window_end DESC, t.window_start DESC, t.source
   LIMIT $4) p
 ORDER BY window_end, window_start, source`,
		id, f.Source, f.Lang, clamp(f.Windows, DefaultHistory, MaxHistory), lower(f.From), upper(f.Until))
	if err != nil {
		return nil, fmt.Errorf("store: topic history: %w", err)
	}
	page := &TopicPage{ID: id, Lang: f.Lang}
	for rows.Next() {
		var p TopicPoint
		var members []byte
		var first pgtype.Timestamptz
		if err := rows.Scan(&p.Source, &p.Start, &p.End, &p.Posts, &p.Rank, &p.Label, &members, &p.Mentions,
			&p.Authors, &p.Score, &first); err != nil {
			rows.Close()
			return nil, fmt.Errorf("store: topic history: %w", err)
		}
		p.Start, p.End, p.FirstSeen = p.Start.UTC(), p.End.UTC(), timePtr(first)
		if err := json.Unmarshal(members, &p.Members); err != nil {
			rows.Close()
			return nil, fmt.Errorf("store: topic history: members: %w", err)
		}
		page.History = append(page.History, p)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("store: topic history: %w", err)
	}
	if len(page.History) == 0 {
		return nil, nil
	}
	last := page.History[len(page.History)-1]
	if page.Examples, err = examples(ctx, tx, last.Source, f.Lang, last.Start, last.End, "topic", "", "", id); err != nil {
		return nil, err
	}
	return page, nil
}

// TermExamples returns the term's examples in the newest window of ranking
// f.Lang (ending within [f.From, f.Until] when set) that has any, with
// f.Kind and f.TermLang narrowing the term as in TermHistory.
func (s *Store) TermExamples(ctx context.Context, term string, f HistoryFilter) ([]Example, error) {
	rows, err := s.pool.Query(ctx, `
SELECT uri, author_did, text, observed_at FROM example_posts e
 WHERE (e.source, e.window_start, e.window_end, e.kind, e.term_lang) = (
        SELECT source, window_start, window_end, kind, term_lang FROM example_posts
         WHERE key = $1 AND subject = 'term' AND ($2 = '' OR source = $2) AND lang = $3
           AND ($4 = '' OR kind = $4) AND ($5 = '' OR term_lang = $5)
           AND window_end >= $6 AND window_end <= $7
         ORDER BY window_end DESC, window_start DESC, source, kind, term_lang
         LIMIT 1)
   AND e.key = $1 AND e.subject = 'term' AND e.lang = $3
 ORDER BY e.ord`, term, f.Source, f.Lang, f.Kind, f.TermLang, lower(f.From), upper(f.Until))
	if err != nil {
		return nil, fmt.Errorf("store: term examples: %w", err)
	}
	defer rows.Close()
	out := []Example{}
	for rows.Next() {
		var uri, author, text string
		var at pgtype.Timestamptz
		if err := rows.Scan(&uri, &author, &text, &at); err != nil {
			return nil, fmt.Errorf("store: term examples: %w", err)
		}
		out = append(out, exampleOf(uri, author, text, at))
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("store: term examples: %w", err)
	}
	return out, nil
}
