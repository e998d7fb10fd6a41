package market

import (
	"context"
	"fmt"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/apache/beam/sdks/v2/go/pkg/beam"
	"google.golang.org/protobuf/proto"

	ingestmarket "github.com/trendstream/trendstream/ingest/market"
	"github.com/trendstream/trendstream/ingest/market/lean"
	"github.com/trendstream/trendstream/internal/core/marketcalc"
	"github.com/trendstream/trendstream/internal/testenv"
	v1 "github.com/trendstream/trendstream/proto/trendstream/v1"
)

func TestMain(m *testing.M) {
	beam.Init()
	testenv.Main(m)
}

const excerpt = "../../ingest/market/lean/testdata"

// replay puts the recorded AIG and IBM day on topic with the real ingest
// path (LEAN replay → Kafka sink) and returns the trades the reference sees.
func replay(t testing.TB, brokers []string, topic string) []marketcalc.Trade {
	t.Helper()
	src, err := lean.New(lean.Config{Path: excerpt, Symbols: []string{"AIG", "IBM"}})
	if err != nil {
		t.Fatal(err)
	}
	sink, err := ingestmarket.NewKafkaSink(ingestmarket.SinkConfig{Brokers: brokers, Topic: topic, DeadLetterTopic: "-", Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		t.Fatal(err)
	}
	if err := ingestmarket.Run(context.Background(), src, sink); err != nil {
		t.Fatal(err)
	}
	var trades []marketcalc.Trade
	for _, r := range testenv.ReadTopic(t, brokers, topic) {
		var ev v1.MarketEvent
		if err := proto.Unmarshal(r.Value, &ev); err != nil {
			t.Fatal(err)
		}
		trades = append(trades, marketcalc.FromEvent(&ev))
	}
	if len(trades) != 25351+24293 {
		t.Fatalf("%d trades on the topic, want %d", len(trades), 25351+24293)
	}
	return trades
}

// TestPipelineEqualsReference replays a real trading day through Kafka and
// both shapes of the pipeline on Prism (the streaming one over a bounded
// read): every window's ranking on the results topic equals the
// single-process reference's, field for field.
func TestPipelineEqualsReference(t *testing.T) {
	for _, shape := range shapes {
		t.Run(shape.name, func(t *testing.T) {
			testenv.ForEachKafka(t, func(t *testing.T, kind testenv.KafkaKind) {
				in, out := testenv.Topic(t, "trendstream.market"), testenv.Topic(t, "trendstream.market.trends")
				k := kind.New(t, 3, in, out)
				trades := replay(t, k.Addrs(), in)
				o := DefaultOptions()
				o.Brokers = strings.Join(k.Addrs(), ",")
				o.Topic, o.ResultsTopic, o.Bounded = in, out, true
				took := runShape(t, shape.build, o)
				t.Logf("%d trades in %v: %.0f trades/s", len(trades), took, float64(len(trades))/took.Seconds())

				want := referenceSnapshots(t, o.Score, trades)
				got := resultSnapshots(t, k.Addrs(), out, shape.revisions)
				if d := diffSnapshots(got, want); d != "" {
					t.Error(d)
				}
			})
		})
	}
}

// shapes are the two ways Build can make the pipeline; revisions says
// whether its snapshots carry one (and may come more than once).
var shapes = []struct {
	name      string
	build     func(Options) (*beam.Pipeline, error)
	revisions bool
}{
	{"bounded", BuildBounded, false},
	{"streaming", BuildStreaming, true},
}

func runShape(t testing.TB, build func(Options) (*beam.Pipeline, error), o Options) time.Duration {
	t.Helper()
	p, err := build(o)
	if err != nil {
		t.Fatal(err)
	}
	return testenv.RunOnPrism(t, p)
}

// referenceSnapshots is the reference's ranking of every window with
// trades, by results-topic key.
func referenceSnapshots(t testing.TB, p marketcalc.Params, trades []marketcalc.Trade) map[string]*v1.MarketWindowSnapshot {
	t.Helper()
	ref, err := marketcalc.Compute(p, trades)
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]*v1.MarketWindowSnapshot{}
	unusual := 0
	for _, r := range ref {
		s := marketcalc.Snapshot(r)
		want[SnapshotKey(s)] = s
		unusual += len(s.GetSymbols())
	}
	if len(want) < 300 || unusual < 50 {
		t.Fatalf("reference has %d windows, %d unusual entries: too few to compare meaningfully", len(want), unusual)
	}
	return want
}

// resultSnapshots reads the results topic. With revisions, a window may
// come several times and the highest revision counts (its revision is
// cleared for the comparison); without, each window must come once with
// none.
func resultSnapshots(t testing.TB, brokers []string, topic string, revisions bool) map[string]*v1.MarketWindowSnapshot {
	t.Helper()
	got := map[string]*v1.MarketWindowSnapshot{}
	rev := map[string]int64{}
	for _, r := range testenv.ReadTopic(t, brokers, topic) {
		var s v1.MarketWindowSnapshot
		if err := proto.Unmarshal(r.Value, &s); err != nil {
			t.Fatal(err)
		}
		key := string(r.Key)
		if key != SnapshotKey(&s) {
			t.Fatalf("key %q for window ending %v", r.Key, s.GetWindowEnd().AsTime())
		}
		_, dup := got[key]
		switch {
		case !revisions && (dup || s.GetRevision() != 0):
			t.Fatalf("window %s emitted twice or with a revision (%d)", key, s.GetRevision())
		case revisions && s.GetRevision() == 0:
			t.Fatalf("window %s without a revision", key)
		case dup && rev[key] >= s.GetRevision():
			continue
		}
		rev[key] = s.GetRevision()
		s.Revision = 0
		got[key] = &s
	}
	return got
}

// diffSnapshots describes how got differs from want ("" if not at all).
func diffSnapshots(got, want map[string]*v1.MarketWindowSnapshot) string {
	var b strings.Builder
	diffs := 0
	for key, w := range want {
		if g, ok := got[key]; !ok {
			fmt.Fprintf(&b, "window %s missing\n", key)
			diffs++
		} else if !proto.Equal(g, w) {
			fmt.Fprintf(&b, "window %s:\n got  %v\n want %v\n", key, g, w)
			diffs++
		}
		if diffs > 5 {
			return b.String() + "too many differences"
		}
	}
	for key := range got {
		if _, ok := want[key]; !ok {
			fmt.Fprintf(&b, "window %s not in the reference\n", key)
		}
	}
	return b.String()
}

func TestOptionsValidate(t *testing.T) {
	for name, mut := range map[string]func(*Options){
		"no brokers":  func(o *Options) { o.Brokers = " , " },
		"no topic":    func(o *Options) { o.Topic = "" },
		"read batch":  func(o *Options) { o.ReadBatch = 0 },
		"retry":       func(o *Options) { o.KafkaRetryFor = 0 },
		"bad windows": func(o *Options) { o.Score.WindowSize = 90 * time.Second },
		"no results":  func(o *Options) { o.ResultsTopic = "" },
		"lateness":    func(o *Options) { o.AllowedLateness = -time.Second },
		"sub-ms":      func(o *Options) { o.Score.WindowPeriod, o.Score.WindowSize = time.Microsecond, 10*time.Microsecond },
	} {
		o := DefaultOptions()
		mut(&o)
		if _, err := Build(o); err == nil {
			t.Errorf("%s: no error", name)
		}
	}
}
