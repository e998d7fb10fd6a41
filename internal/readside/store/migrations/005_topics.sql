-- Topics and example posts (#15). Each snapshot's ranked terms are grouped
-- into topics (WindowSnapshot.topics); terms and topics carry a few example
-- posts. Both hang off their window and go with it (ON DELETE CASCADE), so
-- retention still is one DELETE on windows; a re-written window replaces
-- them, as it replaces its terms.

CREATE TABLE topics (
    source         text        NOT NULL,
    lang           text        NOT NULL, -- the ranking's language ('' overall)
    window_start   timestamptz NOT NULL,
    window_end     timestamptz NOT NULL,
    id             text        NOT NULL, -- stable while the story lasts
    rank           integer     NOT NULL,
    label          text        NOT NULL,
    label_kind     text        NOT NULL,
    term_lang      text        NOT NULL, -- the members' language
    -- [{"term", "kind", "count", "unique_authors", "score", "rank"}] in rank order
    members        jsonb       NOT NULL,
    mentions       bigint      NOT NULL,
    unique_authors bigint      NOT NULL,
    score          double precision NOT NULL,
    first_seen     timestamptz,
    PRIMARY KEY (source, lang, window_start, window_end, id),
    FOREIGN KEY (source, lang, window_start, window_end)
        REFERENCES windows (source, lang, window_start, window_end) ON DELETE CASCADE
);

-- A topic's history across windows, newest first.
CREATE INDEX topics_id_idx ON topics (id, window_end DESC);

-- Example posts of a ranked term (subject 'term': key is the term, kind and
-- term_lang set) or of a topic (subject 'topic': key is its id, kind and
-- term_lang empty), in order.
CREATE TABLE example_posts (
    source       text        NOT NULL,
    lang         text        NOT NULL,
    window_start timestamptz NOT NULL,
    window_end   timestamptz NOT NULL,
    subject      text        NOT NULL CHECK (subject IN ('term', 'topic')),
    kind         text        NOT NULL,
    term_lang    text        NOT NULL,
    key          text        NOT NULL,
    ord          integer     NOT NULL,
    uri          text        NOT NULL,
    author_did   text        NOT NULL,
    text         text        NOT NULL,
    observed_at  timestamptz,
    PRIMARY KEY (source, lang, window_start, window_end, subject, kind, term_lang, key, ord),
    FOREIGN KEY (source, lang, window_start, window_end)
        REFERENCES windows (source, lang, window_start, window_end) ON DELETE CASCADE
);

-- A term's or topic's newest examples.
CREATE INDEX example_posts_key_idx ON example_posts (key, subject, window_end DESC);

---- create above / drop below ----

DROP TABLE IF EXISTS example_posts;
DROP TABLE IF EXISTS topics;
