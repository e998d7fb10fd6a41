// Package market carries stock trades from a market-data source into Kafka
// as trendstream.v1.MarketEvent messages (issue #13, "More sources").
//
// A Source (one package per implementation: ingest/market/lean replays
// recorded LEAN tick files, ingest/market/alpaca reads the Alpaca market
// data v2 websocket) decodes its feed and hands every trade to a Handler,
// and every input it could not decode to the same Handler as a BadInput:
// a bad row or message is reported and dead-lettered, never silently
// dropped, and never stops the stream. KafkaSink is the Handler that
// production uses.
package market

import (
	"context"
	"fmt"
	"strings"
	"time"

	v1 "github.com/trendstream/trendstream/proto/trendstream/v1"
)

// Defaults, in one place, for the command and the sinks.
const (
	// DefaultTopic receives MarketEvent records keyed by symbol.
	DefaultTopic = "trendstream.market"
	// DefaultDeadLetterTopic receives inputs that did not decode.
	DefaultDeadLetterTopic = "trendstream.market.deadletter"
	// PriceScale is the decimal places of MarketEvent.price in this version.
	PriceScale = 4
	// PriceUnit is 10^PriceScale.
	PriceUnit = 10000
)

// Source is one market-data feed.
type Source interface {
	// Name identifies the source in logs and dead letters, e.g.
	// "lean:/data/aig_20131007_trade.zip" or "alpaca:wss://...".
	Name() string
	// Run delivers trades and bad inputs to h until the feed ends (a
	// replay: nil) or ctx is done (ctx.Err()). An error returned by h stops
	// Run with that error: the sink failed, and going on would lose data.
	Run(ctx context.Context, h Handler) error
}

// Handler takes what a Source reads.
type Handler interface {
	// Trade takes one decoded trade. The handler owns ev afterwards.
	Trade(ctx context.Context, ev *v1.MarketEvent) error
	// Bad takes one input that could not be decoded; the source goes on
	// with the next one.
	Bad(ctx context.Context, b BadInput) error
}

// BadInput is an input a source could not decode.
type BadInput struct {
	// Source is Source.Name().
	Source string
	// Position locates the input in the source: "file.zip:inner.csv:17"
	// for a LEAN row, "conn 3 msg 12" for a websocket message.
	Position string
	// Raw is the input as read (a CSV line, a websocket message or one
	// element of it).
	Raw []byte
	// Err says what is wrong with it.
	Err error
}

func (b BadInput) String() string {
	return fmt.Sprintf("%s %s: %v", b.Source, b.Position, b.Err)
}

// Validate checks the fields every consumer relies on, so a source bug
// cannot put an unusable event on the topic: it becomes a BadInput instead.
func Validate(ev *v1.MarketEvent) error {
	switch {
	case ev.GetSymbol() == "" || strings.TrimSpace(ev.GetSymbol()) != ev.GetSymbol() || strings.ToUpper(ev.GetSymbol()) != ev.GetSymbol():
		return fmt.Errorf("symbol %q: want a non-empty upper-case ticker", ev.GetSymbol())
	case ev.GetPrice() <= 0:
		return fmt.Errorf("price %d: want > 0", ev.GetPrice())
	case ev.GetPriceScale() != PriceScale:
		return fmt.Errorf("price_scale %d: want %d", ev.GetPriceScale(), PriceScale)
	case ev.GetSize() <= 0:
		return fmt.Errorf("size %d: want > 0", ev.GetSize())
	case ev.GetEventTime() == nil || !ev.GetEventTime().IsValid():
		return fmt.Errorf("event_time missing or invalid")
	case ev.GetCurrency() == "":
		return fmt.Errorf("currency missing")
	}
	return nil
}

// FormatPrice renders an exact price, e.g. 487000 as "48.7000".
func FormatPrice(price int64) string {
	sign := ""
	if price < 0 {
		sign, price = "-", -price
	}
	return fmt.Sprintf("%s%d.%04d", sign, price/PriceUnit, price%PriceUnit)
}

// EventTime is ev's event time (zero time if missing).
func EventTime(ev *v1.MarketEvent) time.Time {
	if ev.GetEventTime() == nil {
		return time.Time{}
	}
	return ev.GetEventTime().AsTime()
}
