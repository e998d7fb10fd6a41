package main

import (
	"context"
	"flag"
	"fmt"
	"log/slog"
	"strings"
	"time"

	"github.com/trendstream/trendstream/ingest/market"
	"github.com/trendstream/trendstream/ingest/market/alpaca"
	"github.com/trendstream/trendstream/ingest/market/lean"
	"github.com/trendstream/trendstream/internal/platform/beamrun"
	"github.com/trendstream/trendstream/internal/platform/kafkaconf"
	marketpipe "github.com/trendstream/trendstream/pipelines/market"
)

func init() {
	register(command{
		name:    "market-ingest",
		summary: "read stock trades (a LEAN tick-file replay, or the Alpaca live stream) and write MarketEvent messages to Kafka",
		setup:   setupMarketIngest,
	})
}

// marketIngestConfig is what the market-ingest flags set.
type marketIngestConfig struct {
	Source          string
	Brokers         string
	Topic           string
	DeadLetterTopic string
	Symbols         string
	Speed           float64
	AlpacaKey       string
	AlpacaSecret    string
	BackoffMin      time.Duration
	BackoffMax      time.Duration
	StallTimeout    time.Duration
	MetricsAddr     string
}

// defaultMarketIngestConfig holds every default in one place.
func defaultMarketIngestConfig() marketIngestConfig {
	return marketIngestConfig{
		Brokers:         kafkaconf.DefaultBrokers,
		Topic:           market.DefaultTopic,
		DeadLetterTopic: market.DefaultDeadLetterTopic,
		Speed:           lean.DefaultSpeed,
		BackoffMin:      alpaca.DefaultBackoffMin,
		BackoffMax:      alpaca.DefaultBackoffMax,
		StallTimeout:    alpaca.DefaultStallTimeout,
		MetricsAddr:     market.DefaultMetricsAddr,
	}
}

func (c marketIngestConfig) validate() error {
	kind, _, _ := strings.Cut(c.Source, ":")
	switch {
	case kind != "lean" && kind != "alpaca":
		return fmt.Errorf("-source %q: want lean:PATH or alpaca[:URL]", c.Source)
	case c.Topic == "":
		return fmt.Errorf("-topic is empty")
	case c.Speed < 0:
		return fmt.Errorf("-speed %v: want >= 0", c.Speed)
	}
	return nil
}

func splitSymbols(s string) []string {
	var out []string
	for _, p := range strings.Split(s, ",") {
		if p = strings.TrimSpace(p); p != "" {
			out = append(out, strings.ToUpper(p))
		}
	}
	return out
}

// source builds the market.Source -source names.
func (c marketIngestConfig) source() (market.Source, error) {
	kind, arg, _ := strings.Cut(c.Source, ":")
	switch kind {
	case "lean":
		return lean.New(lean.Config{Path: arg, Symbols: splitSymbols(c.Symbols), Speed: c.Speed})
	default: // alpaca, checked by validate
		return alpaca.New(alpaca.Config{URL: arg, Key: c.AlpacaKey, Secret: c.AlpacaSecret, Symbols: splitSymbols(c.Symbols),
			BackoffMin: c.BackoffMin, BackoffMax: c.BackoffMax, StallTimeout: c.StallTimeout})
	}
}

func setupMarketIngest(fs *flag.FlagSet) func(context.Context) error {
	c := defaultMarketIngestConfig()
	fs.StringVar(&c.Source, "source", c.Source, "where trades come from: lean:PATH (a LEAN <ticker>_<yyyymmdd>_trade.zip, a <yyyymmdd>_<ticker>_Trade_Tick.csv, or a directory of them, merged by time; ends at the end) or alpaca[:URL] (the Alpaca market data v2 stream, default URL "+alpaca.DefaultURL+"; runs until stopped)")
	fs.StringVar(&c.Brokers, "brokers", c.Brokers, "Kafka bootstrap brokers, comma-separated")
	fs.StringVar(&c.Topic, "topic", c.Topic, "Kafka topic for MarketEvent messages (key = symbol)")
	fs.StringVar(&c.DeadLetterTopic, "dead-letter-topic", c.DeadLetterTopic, "topic for rows and messages that do not decode, with headers saying why and where; - only logs them")
	fs.StringVar(&c.Symbols, "symbols", c.Symbols, "comma-separated tickers: for lean, only these (empty = all files); for alpaca, the trade subscription (required; * = all)")
	fs.Float64Var(&c.Speed, "speed", c.Speed, "lean: replay pace against the recorded times (1 = real time, 60 = a minute per second, 0 = as fast as Kafka takes it)")
	fs.StringVar(&c.AlpacaKey, "alpaca-key", c.AlpacaKey, "alpaca: API key id (prefer the environment twin to a command-line flag)")
	fs.StringVar(&c.AlpacaSecret, "alpaca-secret", c.AlpacaSecret, "alpaca: API secret key (prefer the environment twin)")
	fs.DurationVar(&c.BackoffMin, "backoff-min", c.BackoffMin, "alpaca: first redial delay (doubles, with jitter)")
	fs.DurationVar(&c.BackoffMax, "backoff-max", c.BackoffMax, "alpaca: largest redial delay")
	fs.DurationVar(&c.StallTimeout, "stall-timeout", c.StallTimeout, "alpaca: redial when the socket delivers nothing, not even a pong, for this long")
	fs.StringVar(&c.MetricsAddr, "metrics-addr", c.MetricsAddr, "serve /metrics (trades, bad inputs, dead letters) and /healthz here; empty disables")
	return func(ctx context.Context) error {
		if err := c.validate(); err != nil {
			return err
		}
		brokers, err := kafkaconf.SplitBrokers(c.Brokers)
		if err != nil {
			return err
		}
		src, err := c.source()
		if err != nil {
			return err
		}
		sink, err := market.NewKafkaSink(market.SinkConfig{Brokers: brokers, Topic: c.Topic, DeadLetterTopic: c.DeadLetterTopic, Logger: slog.Default()})
		if err != nil {
			return err
		}
		if c.MetricsAddr != "" {
			mctx, stop := context.WithCancel(context.WithoutCancel(ctx))
			// Serve until the ingest has flushed, so the final counts can
			// still be scraped during shutdown.
			defer stop()
			if err := market.ServeMetrics(mctx, c.MetricsAddr, market.Registry(src.Name(), sink), slog.Default()); err != nil {
				_ = sink.Close()
				return err
			}
		}
		// On SIGINT ctx ends the source; Run still flushes what was read.
		return market.Run(ctx, src, sink)
	}
}

func init() {
	register(command{
		name:    "market-trends",
		summary: "rank unusual trading per symbol (trades, volume, price move against the symbol's own baseline) on in-process Prism, into the results topic and, with -database-url, the read model: streaming by default (each window once the watermark passes it, until interrupted); -bounded ranks the topic as it is now and exits",
		setup:   setupMarketTrends,
	})
}

func setupMarketTrends(fs *flag.FlagSet) func(context.Context) error {
	o := marketpipe.DefaultOptions()
	o.RegisterFlags(fs)
	return func(ctx context.Context) error {
		p, err := marketpipe.Build(o)
		if err != nil {
			return err
		}
		pr, err := beamrun.StartPrism(ctx, 0)
		if err != nil {
			return err
		}
		mode := "streaming"
		if o.Bounded {
			mode = "bounded"
		}
		slog.Info("market-trends: running", "mode", mode, "market_topic", o.Topic, "start", o.Start.String(), "results_topic", o.ResultsTopic, "read_model", o.DatabaseURL != "")
		if err := pr.Run(ctx, p); err != nil {
			if ctx.Err() != nil {
				// Interrupted: the windows emitted so far are written;
				// a restart scores the topic again from -start.
				slog.Info("market-trends: stopped", "mode", mode)
				return nil
			}
			return fmt.Errorf("market-trends: %w", err)
		}
		slog.Info("market-trends: done", "results_topic", o.ResultsTopic)
		return nil
	}
}
