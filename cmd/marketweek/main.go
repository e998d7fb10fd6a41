// Command marketweek replays recorded LEAN trade files through the
// single-process reference (internal/core/marketcalc) and prints a summary: how
// many trades decoded, how many windows ranked a symbol, and the strongest
// entries. It is how docs/market.md's figures for the recorded week were
// made:
//
//	go run ./cmd/marketweek -dir /work/shared/data/stocks/lean-tick-trades
//
// With -pipeline it also puts the trades on an in-process Kafka-protocol
// cluster (kfake) through the real ingest sink, runs pipelines/market on
// in-process Prism, checks that every window ranking equals the
// reference, and prints the pipeline's throughput. -shape picks the
// pipeline's bounded shape (default), its streaming one (over a bounded
// read of the same topic) or both, one after the other, for a side-by-side
// throughput figure.
package main

import (
	"context"
	"flag"
	"fmt"
	"log/slog"
	"os"
	"sort"
	"strings"
	"time"

	"github.com/IBM/sarama"
	"github.com/apache/beam/sdks/v2/go/pkg/beam"
	"google.golang.org/protobuf/proto"

	"github.com/trendstream/trendstream/ingest/market"
	"github.com/trendstream/trendstream/ingest/market/lean"
	"github.com/trendstream/trendstream/internal/core/marketcalc"
	"github.com/trendstream/trendstream/internal/platform/beamrun"
	"github.com/trendstream/trendstream/internal/platform/envflag"
	"github.com/trendstream/trendstream/internal/platform/kafkaconf"
	"github.com/trendstream/trendstream/internal/services/kafkalocal"
	marketpipe "github.com/trendstream/trendstream/pipelines/market"
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
	pipeline := fs.Bool("pipeline", false, "also run the trades through Kafka (in-process kfake) and pipelines/market on Prism, and compare with the reference")
	p := marketcalc.DefaultParams()
	fs.DurationVar(&p.WindowSize, "window-size", p.WindowSize, "sliding window length")
	fs.DurationVar(&p.WindowPeriod, "window-period", p.WindowPeriod, "sliding window period")
	fs.Float64Var(&p.MinScore, "min-score", p.MinScore, "z-score from which activity is unusual")
	shape := fs.String("shape", "bounded", "with -pipeline: the pipeline shape to run, bounded, streaming (over a bounded read) or both")
	fs.Usage = envflag.Usage(fs, "TRENDSTREAM", "usage: marketweek [flags]")
	if err := envflag.Parse(fs, "TRENDSTREAM", os.Args[1:]); err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(2)
	}
	var builds []namedBuild
	switch *shape {
	case "bounded":
		builds = []namedBuild{{"bounded", marketpipe.BuildBounded}}
	case "streaming":
		builds = []namedBuild{{"streaming", marketpipe.BuildStreaming}}
	case "both":
		builds = []namedBuild{{"bounded", marketpipe.BuildBounded}, {"streaming", marketpipe.BuildStreaming}}
	default:
		fmt.Fprintf(os.Stderr, "marketweek: -shape %q: want bounded, streaming or both\n", *shape)
		os.Exit(2)
	}
	if !*pipeline {
		builds = nil
	}
	if err := run(*dir, *top, p, builds); err != nil {
		fmt.Fprintln(os.Stderr, "marketweek:", err)
		os.Exit(1)
	}
}

// namedBuild is a pipeline shape.
type namedBuild struct {
	name  string
	build func(marketpipe.Options) (*beam.Pipeline, error)
}

func run(dir string, top int, p marketcalc.Params, builds []namedBuild) error {
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
	if len(builds) > 0 {
		return runPipeline(r, p, rk, builds)
	}
	return nil
}

// runPipeline replays r into kfake, runs each pipeline shape over it and
// compares its rankings with want.
func runPipeline(r *lean.Replay, p marketcalc.Params, want []marketcalc.Ranking, builds []namedBuild) error {
	const in, partitions = "trendstream.market", 3
	outs := make([]string, len(builds))
	for i, b := range builds {
		outs[i] = "trendstream.market.trends." + b.name
	}
	// One partition count for all topics (kafkalocal takes one).
	kc, err := kafkalocal.Start(kafkalocal.Topics(partitions, append([]string{in}, outs...)...))
	if err != nil {
		return err
	}
	defer kc.Close()
	sink, err := market.NewKafkaSink(market.SinkConfig{Brokers: kc.Addrs(), Topic: in, DeadLetterTopic: "-", Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		return err
	}
	start := time.Now()
	if err := market.Run(context.Background(), r, sink); err != nil {
		return err
	}
	n := sink.Stats().Trades
	took := time.Since(start)
	fmt.Printf("ingest to kfake: %d trades, %v (%.0f trades/s)\n", n, took.Round(time.Millisecond), float64(n)/took.Seconds())
	ctx := context.Background()
	pr, err := beamrun.StartPrism(ctx, 0)
	if err != nil {
		return err
	}
	for i, b := range builds {
		o := marketpipe.DefaultOptions()
		o.Brokers = strings.Join(kc.Addrs(), ",")
		o.Topic, o.ResultsTopic, o.Score, o.Bounded = in, outs[i], p, true
		pl, err := b.build(o)
		if err != nil {
			return err
		}
		start = time.Now()
		if err := pr.Run(ctx, pl); err != nil {
			return err
		}
		took = time.Since(start)
		fmt.Printf("pipeline (%s) on Prism: %v (%.0f trades/s)\n", b.name, took.Round(time.Millisecond), float64(n)/took.Seconds())
		got, err := readSnapshots(kc.Addrs(), outs[i])
		if err != nil {
			return err
		}
		diff := 0
		for _, w := range want {
			ws := marketcalc.Snapshot(w)
			if g, ok := got[marketpipe.SnapshotKey(ws)]; !ok || !proto.Equal(g, ws) {
				diff++
			}
		}
		fmt.Printf("pipeline (%s) vs reference: %d windows from the pipeline, %d from the reference, %d differ or are missing\n", b.name, len(got), len(want), diff)
		if diff > 0 || len(got) != len(want) {
			return fmt.Errorf("pipeline (%s) rankings differ from the reference", b.name)
		}
	}
	return nil
}

// readSnapshots reads every partition of the results topic from start to
// end, keeping each window's highest revision (cleared, as the reference
// has none).
func readSnapshots(brokers []string, topic string) (map[string]*v1.MarketWindowSnapshot, error) {
	client, err := sarama.NewClient(brokers, kafkaconf.Consumer("marketweek"))
	if err != nil {
		return nil, err
	}
	defer client.Close()
	cons, err := sarama.NewConsumerFromClient(client)
	if err != nil {
		return nil, err
	}
	defer cons.Close()
	parts, err := client.Partitions(topic)
	if err != nil {
		return nil, err
	}
	out := map[string]*v1.MarketWindowSnapshot{}
	rev := map[string]int64{}
	for _, part := range parts {
		end, err := client.GetOffset(topic, part, sarama.OffsetNewest)
		if err != nil {
			return nil, err
		}
		if end == 0 {
			continue
		}
		pc, err := cons.ConsumePartition(topic, part, sarama.OffsetOldest)
		if err != nil {
			return nil, err
		}
		for done := false; !done; {
			select {
			case m := <-pc.Messages():
				var s v1.MarketWindowSnapshot
				if err := proto.Unmarshal(m.Value, &s); err != nil {
					pc.Close()
					return nil, err
				}
				if r, seen := rev[string(m.Key)]; !seen || s.GetRevision() > r {
					rev[string(m.Key)] = s.GetRevision()
					s.Revision = 0
					out[string(m.Key)] = &s
				}
				done = m.Offset+1 >= end
			case err := <-pc.Errors():
				pc.Close()
				return nil, err
			case <-time.After(30 * time.Second):
				pc.Close()
				return nil, fmt.Errorf("reading %s/%d: stalled", topic, part)
			}
		}
		pc.Close()
	}
	return out, nil
}
