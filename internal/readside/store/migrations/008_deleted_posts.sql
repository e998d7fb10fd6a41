-- Posts their authors deleted. A deleted post is never shown as an example
-- post (005_topics): a delete removes its examples, and an example of a
-- post already deleted is not written (store.WriteDeletes and writeTopics,
-- which take an advisory lock so that neither can miss the other). This
-- holds whether or not the pipeline retracts deletes from the counts
-- (-retract-deletes), and for deletes that come long after their windows
-- closed. A tombstone is kept, like a window, for the retention after its
-- source's newest window (PruneRetention): an example of a post can be
-- written only while a window holding the post still takes corrections,
-- and a delete comes after its post.

CREATE TABLE deleted_posts (
    source     text        NOT NULL,
    uri        text        NOT NULL,
    -- The delete's author: only the post's own author deletes it (a
    -- delete of someone else's post hides nothing, as in the pipeline).
    author_did text        NOT NULL,
    deleted_at timestamptz NOT NULL, -- event time of the delete
    PRIMARY KEY (source, uri, author_did)
);

CREATE INDEX deleted_posts_deleted_at_idx ON deleted_posts (source, deleted_at);

-- A delete finds its post's examples.
CREATE INDEX example_posts_uri_idx ON example_posts (uri);

---- create above / drop below ----

DROP INDEX IF EXISTS example_posts_uri_idx;
DROP TABLE IF EXISTS deleted_posts;
