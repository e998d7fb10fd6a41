-- Read model of the trending pipeline's output (the CQRS read side).
--
-- One row in windows per (source, lang, sliding window); the ranked terms of
-- that window hang off it and are deleted with it, so retention is a single
-- DELETE on windows. lang '' is the overall ranking across all languages.

CREATE TABLE windows (
    source       text        NOT NULL,
    lang         text        NOT NULL,
    window_start timestamptz NOT NULL,
    window_end   timestamptz NOT NULL,
    posts        bigint      NOT NULL,
    -- Processing time at which the pipeline emitted this pane; an older pane
    -- arriving late never overwrites a newer one.
    emitted_at   timestamptz,
    PRIMARY KEY (source, lang, window_start, window_end),
    CHECK (window_end > window_start)
);

-- "Latest window per (source, lang)" and "recent windows of one ranking".
CREATE INDEX windows_ranking_end_idx ON windows (source, lang, window_end DESC);
-- Retention deletes by end time across all rankings.
CREATE INDEX windows_end_idx ON windows (window_end);

CREATE TABLE trending_terms (
    source         text        NOT NULL,
    lang           text        NOT NULL,
    window_start   timestamptz NOT NULL,
    window_end     timestamptz NOT NULL,
    kind           text        NOT NULL,
    term           text        NOT NULL,
    rank           integer     NOT NULL,
    count          bigint      NOT NULL,
    unique_authors bigint      NOT NULL,
    baseline       double precision NOT NULL,
    score          double precision NOT NULL,
    first_seen     timestamptz,
    PRIMARY KEY (source, lang, window_start, window_end, kind, term),
    FOREIGN KEY (source, lang, window_start, window_end)
        REFERENCES windows (source, lang, window_start, window_end) ON DELETE CASCADE
);

-- A term's history across windows, newest first.
CREATE INDEX trending_terms_term_idx ON trending_terms (term, lang, window_end DESC);

-- The newest window of every (source, lang) ranking.
CREATE VIEW current_windows AS
SELECT DISTINCT ON (source, lang)
       source, lang, window_start, window_end, posts, emitted_at
  FROM windows
 ORDER BY source, lang, window_end DESC, window_start DESC;

-- The ranked terms of every ranking's newest window.
CREATE VIEW current_trends AS
SELECT t.source, t.lang, t.window_start, t.window_end, w.posts,
       t.rank, t.kind, t.term, t.count, t.unique_authors, t.baseline, t.score, t.first_seen
  FROM current_windows w
  JOIN trending_terms t USING (source, lang, window_start, window_end);

-- Every window in which a term was ranked, with that window's post volume.
CREATE VIEW term_history AS
SELECT t.term, t.kind, t.source, t.lang, t.window_start, t.window_end, w.posts,
       t.rank, t.count, t.unique_authors, t.baseline, t.score
  FROM trending_terms t
  JOIN windows w USING (source, lang, window_start, window_end);

---- create above / drop below ----

DROP VIEW IF EXISTS term_history;
DROP VIEW IF EXISTS current_trends;
DROP VIEW IF EXISTS current_windows;
DROP TABLE IF EXISTS trending_terms;
DROP TABLE IF EXISTS windows;
