-- A ranked term's own language. The pipeline counts and scores every term
-- per language (the posts' primary language, "und" when undetermined), so
-- the overall ranking (lang '') can rank the same word once for each
-- language it trends in. The key (source, lang, window, kind, term) kept one
-- of them; term_lang joins the key so every entry survives.
--
-- Rows written before this migration: a language's ranking only holds terms
-- of that language, so term_lang = lang; the overall ranking never stored
-- it, and '' stays there as "unknown". The default keeps writers of the
-- previous schema working during a rolling upgrade.

ALTER TABLE trending_terms ADD COLUMN term_lang text NOT NULL DEFAULT '';

UPDATE trending_terms SET term_lang = lang WHERE lang <> '';

ALTER TABLE trending_terms
    DROP CONSTRAINT trending_terms_pkey,
    ADD PRIMARY KEY (source, lang, window_start, window_end, kind, term, term_lang);

CREATE OR REPLACE VIEW current_trends AS
SELECT t.source, t.lang, t.window_start, t.window_end, w.posts,
       t.rank, t.kind, t.term, t.count, t.unique_authors, t.baseline, t.score, t.first_seen,
       t.term_lang
  FROM current_windows w
  JOIN trending_terms t USING (source, lang, window_start, window_end);

CREATE OR REPLACE VIEW term_history AS
SELECT t.term, t.kind, t.source, t.lang, t.window_start, t.window_end, w.posts,
       t.rank, t.count, t.unique_authors, t.baseline, t.score,
       t.term_lang
  FROM trending_terms t
  JOIN windows w USING (source, lang, window_start, window_end);

---- create above / drop below ----

-- The old key holds one entry per (kind, term) of a window: keep the
-- best-ranked one.
DELETE FROM trending_terms t
 USING trending_terms b
 WHERE (t.source, t.lang, t.window_start, t.window_end, t.kind, t.term)
     = (b.source, b.lang, b.window_start, b.window_end, b.kind, b.term)
   AND (b.rank, b.term_lang) < (t.rank, t.term_lang);

DROP VIEW term_history;
DROP VIEW current_trends;

ALTER TABLE trending_terms
    DROP CONSTRAINT trending_terms_pkey,
    ADD PRIMARY KEY (source, lang, window_start, window_end, kind, term);

ALTER TABLE trending_terms DROP COLUMN term_lang;

CREATE VIEW current_trends AS
SELECT t.source, t.lang, t.window_start, t.window_end, w.posts,
       t.rank, t.kind, t.term, t.count, t.unique_authors, t.baseline, t.score, t.first_seen
  FROM current_windows w
  JOIN trending_terms t USING (source, lang, window_start, window_end);

CREATE VIEW term_history AS
SELECT t.term, t.kind, t.source, t.lang, t.window_start, t.window_end, w.posts,
       t.rank, t.count, t.unique_authors, t.baseline, t.score
  FROM trending_terms t
  JOIN windows w USING (source, lang, window_start, window_end);
