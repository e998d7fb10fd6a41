package market

import (
	"context"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/apache/beam/sdks/v2/go/pkg/beam"
	"google.golang.org/protobuf/proto"

	ingestmarket "github.com/trendstream/trendstream/ingest/market"
	"github.com/trendstream/trendstream/ingest/market/lean"
	"github.com/trendstream/trendstream/internal/marketcalc"
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

func runPipeline(t testing.TB, o Options) time.Duration {
	t.Helper()
	p, err := Build(o)
	if err != nil {
		t.Fatal(err)
	}
	return testenv.RunOnPrism(t, p)
}

// TestPipelineEqualsReference replays a real trading day through Kafka and
// the pipeline on Prism: every window's ranking on the results topic
// equals the single-process reference's, field for field.
func TestPipelineEqualsReference(t *testing.T) {
	testenv.ForEachKafka(t, func(t *testing.T, kind testenv.KafkaKind) {
		in, out := testenv.Topic(t, "trendstream.market"), testenv.Topic(t, "trendstream.market.trends")
		k := kind.New(t, 3, in, out)
		trades := replay(t, k.Addrs(), in)
		o := DefaultOptions()
		o.Brokers = strings.Join(k.Addrs(), ",")
		o.Topic, o.ResultsTopic = in, out
		took := runPipeline(t, o)
		t.Logf("%d trades in %v: %.0f trades/s", len(trades), took, float64(len(trades))/took.Seconds())

		ref, err := marketcalc.Compute(o.Score, trades)
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
		got := map[string]*v1.MarketWindowSnapshot{}
		for _, r := range testenv.ReadTopic(t, k.Addrs(), out) {
			var s v1.MarketWindowSnapshot
			if err := proto.Unmarshal(r.Value, &s); err != nil {
				t.Fatal(err)
			}
			if string(r.Key) != SnapshotKey(&s) {
				t.Fatalf("key %q for window ending %v", r.Key, s.GetWindowEnd().AsTime())
			}
			if _, dup := got[string(r.Key)]; dup {
				t.Fatalf("window %s emitted twice", r.Key)
			}
			got[string(r.Key)] = &s
		}
		if len(want) < 700 || unusual < 100 {
			t.Fatalf("reference has %d windows, %d unusual entries: too few to compare meaningfully", len(want), unusual)
		}
		diffs := 0
		for key, w := range want {
			if g, ok := got[key]; !ok {
				t.Errorf("window %s missing", key)
				diffs++
			} else if !proto.Equal(g, w) {
				t.Errorf("window %s:\n got  %v\n want %v", key, g, w)
				diffs++
			}
			if diffs > 5 {
				t.Fatal("too many differences")
			}
		}
		for key := range got {
			if _, ok := want[key]; !ok {
				t.Errorf("window %s not in the reference", key)
			}
		}
	})
}

func TestOptionsValidate(t *testing.T) {
	for name, mut := range map[string]func(*Options){
		"no brokers":  func(o *Options) { o.Brokers = " , " },
		"no topic":    func(o *Options) { o.Topic = "" },
		"read batch":  func(o *Options) { o.ReadBatch = 0 },
		"retry":       func(o *Options) { o.KafkaRetryFor = 0 },
		"bad windows": func(o *Options) { o.Score.WindowSize = 90 * time.Second },
		"no results":  func(o *Options) { o.ResultsTopic = "" },
	} {
		o := DefaultOptions()
		mut(&o)
		if _, err := Build(o); err == nil {
			t.Errorf("%s: no error", name)
		}
	}
}
