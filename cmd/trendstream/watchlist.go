package main

import (
	"context"
	"flag"
	"fmt"
	"log/slog"

	"github.com/trendstream/trendstream/internal/platform/beamrun"
	wlpipe "github.com/trendstream/trendstream/pipelines/watchlist"
)

func init() {
	register(command{
		name:    "watchlist",
		summary: "count posts matching watchlist entries in sliding windows and alert (Kafka, PostgreSQL, webhook) when an entry surges against its own baseline, on in-process Prism (docs/watchlists.md)",
		setup:   setupWatchlist,
	})
}

func setupWatchlist(fs *flag.FlagSet) func(context.Context) error {
	o := wlpipe.DefaultOptions()
	o.RegisterFlags(fs)
	return func(ctx context.Context) error {
		if err := o.Resolve(ctx); err != nil {
			return err
		}
		if err := o.Validate(); err != nil {
			return err
		}
		// What an earlier run stored but did not get through goes first, so
		// a stop or an outage loses no alert (docs/watchlists.md).
		n, err := wlpipe.DeliverPending(ctx, o)
		if err != nil {
			return fmt.Errorf("watchlist: pending alerts: %w", err)
		}
		if n > 0 {
			slog.Info("watchlist: sent alerts pending from an earlier run", "alerts", n)
		}
		p, err := wlpipe.Build(o)
		if err != nil {
			return err
		}
		pr, err := beamrun.StartPrism(ctx, 0)
		if err != nil {
			return err
		}
		slog.Info("watchlist: running", "entries", len(o.Entries), "posts_topic", o.Topic, "alerts_topic", o.AlertsTopic, "webhook", o.Webhook.URL != "")
		if err := pr.Run(ctx, p); err != nil {
			return fmt.Errorf("watchlist: %w", err)
		}
		slog.Info("watchlist: done")
		return nil
	}
}
