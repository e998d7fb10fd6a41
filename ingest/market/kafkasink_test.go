package market_test

import (
	"context"
	"log/slog"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/IBM/sarama"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/timestamppb"

	"github.com/trendstream/trendstream/ingest/market"
	"github.com/trendstream/trendstream/ingest/market/lean"
	"github.com/trendstream/trendstream/internal/testenv"
	v1 "github.com/trendstream/trendstream/proto/trendstream/v1"
)

func TestMain(m *testing.M) { testenv.Main(m) }

func header(m *sarama.ConsumerMessage, key string) string {
	for _, h := range m.Headers {
		if string(h.Key) == key {
			return string(h.Value)
		}
	}
	return ""
}

// TestReplayToKafka replays a real recorded day plus a file of bad rows
// into Kafka: every good trade is on the topic once, keyed by symbol, with
// its event time as the record time and in order per symbol; every bad row
// is on the dead-letter topic with its error and position.
func TestReplayToKafka(t *testing.T) {
	dir := t.TempDir()
	for _, f := range []string{"aig_20131007_trade.zip", "20131103_xyz_Trade_Tick.csv"} {
		b, err := os.ReadFile("lean/testdata/" + f)
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(dir+"/"+f, b, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	testenv.ForEachKafka(t, func(t *testing.T, kind testenv.KafkaKind) {
		topic, dlq := testenv.Topic(t, "trendstream.market"), testenv.Topic(t, "trendstream.market.deadletter")
		k := kind.New(t, 3, topic, dlq)
		src, err := lean.New(lean.Config{Path: dir})
		if err != nil {
			t.Fatal(err)
		}
		sink, err := market.NewKafkaSink(market.SinkConfig{Brokers: k.Addrs(), Topic: topic, DeadLetterTopic: dlq, Logger: slog.New(slog.DiscardHandler)})
		if err != nil {
			t.Fatal(err)
		}
		if err := market.Run(context.Background(), src, sink); err != nil {
			t.Fatal(err)
		}
		if st := sink.Stats(); st != (market.SinkStats{Trades: 25351 + 3, BadInputs: 6, DeadLettered: 6}) {
			t.Fatalf("stats %+v", st)
		}
		recs := testenv.ReadTopic(t, k.Addrs(), topic)
		if len(recs) != 25354 {
			t.Fatalf("%d records on %s, want 25354", len(recs), topic)
		}
		lastSeq := map[string]int64{}
		count := map[string]int{}
		for _, r := range recs {
			var ev v1.MarketEvent
			if err := proto.Unmarshal(r.Value, &ev); err != nil {
				t.Fatal(err)
			}
			if string(r.Key) != ev.GetSymbol() {
				t.Fatalf("key %q for %s", r.Key, ev.GetSymbol())
			}
			if !r.Timestamp.Equal(ev.GetEventTime().AsTime().Truncate(time.Millisecond)) {
				t.Fatalf("record time %v, event time %v", r.Timestamp, ev.GetEventTime().AsTime())
			}
			if ev.GetSequence() <= lastSeq[ev.GetSymbol()] {
				t.Fatalf("%s: sequence %d after %d: order per symbol lost", ev.GetSymbol(), ev.GetSequence(), lastSeq[ev.GetSymbol()])
			}
			lastSeq[ev.GetSymbol()] = ev.GetSequence()
			count[ev.GetSymbol()]++
		}
		if count["AIG"] != 25351 || count["XYZ"] != 3 {
			t.Fatalf("counts %v", count)
		}
		dead := testenv.ReadTopic(t, k.Addrs(), dlq)
		if len(dead) != 6 {
			t.Fatalf("%d dead letters, want 6", len(dead))
		}
		for _, d := range dead {
			if !strings.HasPrefix(header(d, market.HeaderSource), "lean:") || !strings.Contains(header(d, market.HeaderPosition), "20131103_xyz_Trade_Tick.csv:") || header(d, market.HeaderError) == "" || len(d.Value) == 0 {
				t.Errorf("dead letter %q headers %v", d.Value, d.Headers)
			}
		}
		if string(dead[0].Value) != "not,a,row" || !strings.Contains(header(dead[0], market.HeaderError), "want 6 comma-separated fields") {
			t.Errorf("first dead letter %q: %s", dead[0].Value, header(dead[0], market.HeaderError))
		}
	})
}

// TestSinkRejectsInvalidEvent: an event a source got wrong is
// dead-lettered, not put on the market topic.
func TestSinkRejectsInvalidEvent(t *testing.T) {
	topic, dlq := testenv.Topic(t, "trendstream.market"), testenv.Topic(t, "trendstream.market.deadletter")
	k := testenv.FakeKafka(t, 1, topic, dlq)
	sink, err := market.NewKafkaSink(market.SinkConfig{Brokers: k.Addrs(), Topic: topic, DeadLetterTopic: dlq, Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		t.Fatal(err)
	}
	good := &v1.MarketEvent{Symbol: "AIG", Price: 487000, PriceScale: 4, Currency: "USD", Size: 1, EventTime: timestamppb.Now()}
	bad := proto.Clone(good).(*v1.MarketEvent)
	bad.Symbol = "aig"
	ctx := context.Background()
	if err := sink.Trade(ctx, good); err != nil {
		t.Fatal(err)
	}
	if err := sink.Trade(ctx, bad); err != nil {
		t.Fatal(err)
	}
	if err := sink.Close(); err != nil {
		t.Fatal(err)
	}
	if st := sink.Stats(); st != (market.SinkStats{Trades: 1, BadInputs: 1, DeadLettered: 1}) {
		t.Fatalf("stats %+v", st)
	}
	d := testenv.ReadTopic(t, k.Addrs(), dlq)
	if len(d) != 1 || !strings.Contains(header(d[0], market.HeaderError), `symbol "aig"`) {
		t.Fatalf("dead letters %v", d)
	}
}

func TestValidate(t *testing.T) {
	ok := func() *v1.MarketEvent {
		return &v1.MarketEvent{Symbol: "BRK.B", Price: 1, PriceScale: 4, Currency: "USD", Size: 1, EventTime: timestamppb.Now()}
	}
	tests := []struct {
		name   string
		mutate func(*v1.MarketEvent)
		want   string
	}{
		{"valid", func(*v1.MarketEvent) {}, ""},
		{"empty symbol", func(e *v1.MarketEvent) { e.Symbol = "" }, "symbol"},
		{"padded symbol", func(e *v1.MarketEvent) { e.Symbol = " AIG" }, "symbol"},
		{"zero price", func(e *v1.MarketEvent) { e.Price = 0 }, "price 0"},
		{"other scale", func(e *v1.MarketEvent) { e.PriceScale = 2 }, "price_scale"},
		{"zero size", func(e *v1.MarketEvent) { e.Size = 0 }, "size"},
		{"no time", func(e *v1.MarketEvent) { e.EventTime = nil }, "event_time"},
		{"no currency", func(e *v1.MarketEvent) { e.Currency = "" }, "currency"},
	}
	for _, tt := range tests {
		ev := ok()
		tt.mutate(ev)
		err := market.Validate(ev)
		if (tt.want == "") != (err == nil) || (err != nil && !strings.Contains(err.Error(), tt.want)) {
			t.Errorf("%s: %v, want %q", tt.name, err, tt.want)
		}
	}
}

func TestFormatPrice(t *testing.T) {
	for in, want := range map[int64]string{487000: "48.7000", 1: "0.0001", 1862300: "186.2300", -5: "-0.0005"} {
		if got := market.FormatPrice(in); got != want {
			t.Errorf("FormatPrice(%d) = %s, want %s", in, got, want)
		}
	}
}
