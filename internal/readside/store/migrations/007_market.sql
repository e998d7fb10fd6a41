-- Read model of the market pipeline (issue #13, stock tickers): one row per
-- sliding window in market_windows, and one row per symbol that traded in
-- that window in market_activity. A symbol the window ranks as unusual has
-- its rank and score; the others carry their activity only (rank and score
-- NULL), so a symbol's history has every window it traded in, not just the
-- unusual ones. Rows of a window are replaced as a whole by a newer revision.

CREATE TABLE market_windows (
    window_start timestamptz NOT NULL,
    window_end   timestamptz NOT NULL,
    -- Symbols that traded in the window (ranked or not).
    symbols      integer     NOT NULL,
    -- Writer's revision of the window: a higher one replaces a lower one,
    -- an equal one is a retry and replaces it too (the content is equal).
    revision     bigint      NOT NULL DEFAULT 0,
    written_at   timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (window_start, window_end),
    CHECK (window_end > window_start)
);

CREATE INDEX market_windows_end_idx ON market_windows (window_end DESC);

CREATE TABLE market_activity (
    window_start     timestamptz      NOT NULL,
    window_end       timestamptz      NOT NULL,
    symbol           text             NOT NULL,
    -- 1-based rank among the window's unusual symbols; NULL when not ranked.
    rank             integer,
    score            double precision,
    reason           text,
    z_trades         double precision,
    z_volume         double precision,
    z_move           double precision,
    trades           bigint           NOT NULL,
    volume           bigint           NOT NULL,
    -- Prices in 1/10000 USD, as MarketEvent.price.
    open_price       bigint           NOT NULL,
    close_price      bigint           NOT NULL,
    high_price       bigint           NOT NULL,
    low_price        bigint           NOT NULL,
    move_bps         double precision NOT NULL,
    baseline_windows integer,
    PRIMARY KEY (window_start, window_end, symbol),
    FOREIGN KEY (window_start, window_end) REFERENCES market_windows ON DELETE CASCADE
);

-- A symbol's history, newest first.
CREATE INDEX market_activity_symbol_idx ON market_activity (symbol, window_end DESC);

---- create above / drop below ----

DROP TABLE market_activity;
DROP TABLE market_windows;
