-- One row per (source, lang) ranking ever written. current_windows used to
-- find each ranking's newest window with DISTINCT ON over all of windows,
-- which reads every retained window; looking up the newest window of each
-- known ranking through windows_ranking_end_idx reads one index entry each.

CREATE TABLE rankings (
    source text NOT NULL,
    lang   text NOT NULL,
    PRIMARY KEY (source, lang)
);

INSERT INTO rankings (source, lang)
SELECT DISTINCT source, lang FROM windows
ON CONFLICT DO NOTHING;

-- Ordered like every "newest windows of a ranking" query, so none sorts.
DROP INDEX windows_ranking_end_idx;
CREATE INDEX windows_ranking_end_idx ON windows (source, lang, window_end DESC, window_start DESC);

CREATE OR REPLACE VIEW current_windows AS
SELECT w.source, w.lang, w.window_start, w.window_end, w.posts, w.emitted_at
  FROM rankings r
 CROSS JOIN LATERAL (
        SELECT * FROM windows w
         WHERE w.source = r.source AND w.lang = r.lang
         ORDER BY w.window_end DESC, w.window_start DESC
         LIMIT 1) w;

---- create above / drop below ----

CREATE OR REPLACE VIEW current_windows AS
SELECT DISTINCT ON (source, lang)
       source, lang, window_start, window_end, posts, emitted_at
  FROM windows
 ORDER BY source, lang, window_end DESC, window_start DESC;

DROP INDEX windows_ranking_end_idx;
CREATE INDEX windows_ranking_end_idx ON windows (source, lang, window_end DESC);

DROP TABLE IF EXISTS rankings;
