// Command marketweek replays recorded LEAN trade files through the
// single-process reference (internal/marketcalc) and prints a summary: how
// many trades decoded, how many windows ranked a symbol, and the strongest
// entries. It is how docs/market.md's figures for the recorded week were
// made:
//
//	go run ./internal/marketcalc/cmd/marketweek -dir /work/shared/data/stocks/lean-tick-trades
package main

import (
	"context"
	"flag"
	"fmt"
	"log/slog"
	"os"
	"sort"
	"time"

	"github.com/trendstream/trendstream/ingest/market"
	"github.com/trendstream/trendstream/ingest/market/lean"
	"github.com/trendstream/trendstream/internal/envflag"
	"github.com/trendstream/trendstream/internal/marketcalc"
	v1 "github.com/trendstream/trendstream/proto/trendstream/v1"
)

type collect struct {
	trades []marketcalc.Trade
	bad    int
}

func (c *collect) Trade(_ context.Context, ev *v1.MarketEvent) error {
	c.trades = append(c.trades, marketcalc.FromEvent(ev))
	return nil
}

func (c *collect) Bad(_ context.Context, b market.BadInput) error {
	c.bad++
	slog.Warn("bad input", "input", b.String())
	return nil
}

func main() {
	fs := flag.NewFlagSet("marketweek", flag.ExitOnError)
	dir := fs.String("dir", "ingest/market/lean/testdata", "LEAN trade zip, CSV, or directory of them")
	top := fs.Int("top", 12, "strongest entries to print")
	p := marketcalc.DefaultParams()
	fs.DurationVar(&p.WindowSize, "window-size", p.WindowSize, "sliding window length")
	fs.DurationVar(&p.WindowPeriod, "window-period", p.WindowPeriod, "sliding window period")
	fs.Float64Var(&p.MinScore, "min-score", p.MinScore, "z-score from which activity is unusual")
	fs.Usage = envflag.Usage(fs, "TRENDSTREAM", "usage: marketweek [flags]")
	if err := envflag.Parse(fs, "TRENDSTREAM", os.Args[1:]); err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(2)
	}
	if err := run(*dir, *top, p); err != nil {
		fmt.Fprintln(os.Stderr, "marketweek:", err)
		os.Exit(1)
	}
}

func run(dir string, top int, p marketcalc.Params) error {
	r, err := lean.New(lean.Config{Path: dir})
	if err != nil {
		return err
	}
	var c collect
	start := time.Now()
	if err := r.Run(context.Background(), &c); err != nil {
		return err
	}
	took := time.Since(start)
	fmt.Printf("replay: %d trades, %d bad inputs, %v (%.0f trades/s)\n", len(c.trades), c.bad, took.Round(time.Millisecond), float64(len(c.trades))/took.Seconds())
	start = time.Now()
	rk, err := marketcalc.Compute(p, c.trades)
	if err != nil {
		return err
	}
	took = time.Since(start)
	fmt.Printf("reference: %d windows, %v (%.0f trades/s)\n", len(rk), took.Round(time.Millisecond), float64(len(c.trades))/took.Seconds())
	type entry struct {
		start time.Time
		s     marketcalc.Score
	}
	var all []entry
	ranked := 0
	reasons := map[string]int{}
	for _, w := range rk {
		if len(w.Symbols) > 0 {
			ranked++
		}
		for _, s := range w.Symbols {
			all = append(all, entry{w.Start, s})
			reasons[s.Reason]++
		}
	}
	fmt.Printf("windows ranking a symbol: %d of %d; entries by reason: trades %d, volume %d, move %d\n",
		ranked, len(rk), reasons[marketcalc.FeatureTrades], reasons[marketcalc.FeatureVolume], reasons[marketcalc.FeatureMove])
	sort.Slice(all, func(i, j int) bool {
		if all[i].s.Score != all[j].s.Score {
			return all[i].s.Score > all[j].s.Score
		}
		return all[i].start.Before(all[j].start)
	})
	for _, e := range all[:min(top, len(all))] {
		fmt.Printf("  window from %s ET  %-4s score %7.1f (%s)  trades %5d  volume %7d  move %5.1f bps\n",
			e.start.In(lean.Eastern).Format("2006-01-02 15:04"), e.s.Symbol, e.s.Score, e.s.Reason, e.s.Stats.Trades, e.s.Stats.Volume, e.s.Stats.MoveBps())
	}
	return nil
}
