-- Watchlists (issue #13, part 3): the watched entries, each entry's counts
-- and scores per sliding window, and the alerts, which double as the
-- delivery record: an alert row is upserted on its idempotent id (entry and
-- window end), and the times it was published to the alerts topic and
-- delivered to the webhook are set once each, so a restart neither repeats
-- nor loses one. (Numbered 006: 005 belongs to another change; see
-- migrationsFS in migrations.go for a build that lacks it.)

CREATE TABLE watchlist_entries (
    id          text PRIMARY KEY,
    watchlist   text NOT NULL DEFAULT '',
    kind        text NOT NULL,
    text        text NOT NULL,
    aliases     text[] NOT NULL DEFAULT '{}',
    langs       text[] NOT NULL DEFAULT '{}',
    enter       double precision NOT NULL DEFAULT 0,
    exit        double precision NOT NULL DEFAULT 0,
    created_at  timestamptz NOT NULL DEFAULT now(),
    updated_at  timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE watchlist_windows (
    entry_id     text NOT NULL,
    window_start timestamptz NOT NULL,
    window_end   timestamptz NOT NULL,
    posts        bigint NOT NULL,
    authors      bigint NOT NULL,
    score        double precision NOT NULL,
    baseline     double precision NOT NULL,
    scored       boolean NOT NULL,
    active       boolean NOT NULL,
    PRIMARY KEY (entry_id, window_end)
);

CREATE TABLE watchlist_alerts (
    alert_id        text PRIMARY KEY,
    entry_id        text NOT NULL,
    window_start    timestamptz NOT NULL,
    window_end      timestamptz NOT NULL,
    posts           bigint NOT NULL,
    authors         bigint NOT NULL,
    score           double precision NOT NULL,
    baseline        double precision NOT NULL,
    enter_threshold double precision NOT NULL,
    created_at      timestamptz NOT NULL DEFAULT now(),
    published_at    timestamptz,
    delivered_at    timestamptz,
    webhook_attempts integer NOT NULL DEFAULT 0,
    webhook_error   text NOT NULL DEFAULT ''
);

CREATE INDEX watchlist_alerts_by_end ON watchlist_alerts (window_end DESC);
CREATE INDEX watchlist_alerts_undelivered ON watchlist_alerts (window_end) WHERE delivered_at IS NULL;

---- create above / drop below ----

DROP TABLE watchlist_alerts;
DROP TABLE watchlist_windows;
DROP TABLE watchlist_entries;
