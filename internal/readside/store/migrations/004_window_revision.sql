-- A window's snapshot revision (WindowSnapshot.revision). A window corrected
-- after late posts is written again, and a runner may deliver a window's
-- panes out of order: the upsert keeps the highest revision, then the latest
-- emitted_at. 0 is "unknown", what rows written before this migration have.

ALTER TABLE windows ADD COLUMN revision bigint NOT NULL DEFAULT 0;

---- create above / drop below ----

ALTER TABLE windows DROP COLUMN revision;
