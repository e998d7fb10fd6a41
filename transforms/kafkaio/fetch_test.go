package kafkaio

import (
	"errors"
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/IBM/sarama"
	"github.com/apache/beam/sdks/v2/go/pkg/beam/io/rtrackers/offsetrange"

	"github.com/trendstream/trendstream/internal/platform/kafkaconf"
	"github.com/trendstream/trendstream/internal/testenv"
)

var offsetrangeZero = offsetrange.Restriction{}

func TestDecodeBlock(t *testing.T) {
	t0 := time.UnixMilli(1_700_000_000_000)
	type rec struct {
		off int64
		ts  time.Time
	}
	tests := []struct {
		name     string
		build    func(r *sarama.FetchResponse)
		from     int64
		want     []rec
		wantLast int64
	}{
		{
			name: "records from the requested offset on",
			build: func(r *sarama.FetchResponse) {
				for i := int64(0); i < 4; i++ {
					r.AddRecordBatchWithTimestamp("t", 0, nil, sarama.StringEncoder("v"), 10+i, 0, false, t0.Add(time.Duration(i)*time.Second))
				}
			},
			from:     12,
			want:     []rec{{12, t0.Add(2 * time.Second)}, {13, t0.Add(3 * time.Second)}},
			wantLast: 13,
		},
		{
			name: "control batch yields no record but moves last",
			build: func(r *sarama.FetchResponse) {
				r.AddRecordBatchWithTimestamp("t", 0, nil, sarama.StringEncoder("v"), 5, 1, true, t0)
				r.AddControlRecordWithTimestamp("t", 0, 6, 1, sarama.ControlRecordCommit, t0)
			},
			from:     5,
			want:     []rec{{5, t0}},
			wantLast: 6,
		},
		{
			name: "only a control batch",
			build: func(r *sarama.FetchResponse) {
				r.AddControlRecordWithTimestamp("t", 0, 6, 1, sarama.ControlRecordAbort, t0)
			},
			from:     6,
			wantLast: 6,
		},
		{
			name:     "empty response",
			build:    func(r *sarama.FetchResponse) { r.AddError("t", 0, sarama.ErrNoError) },
			from:     3,
			wantLast: -1,
		},
		{
			name: "log append time uses the batch max timestamp",
			build: func(r *sarama.FetchResponse) {
				r.LogAppendTime, r.Timestamp = true, t0.Add(time.Hour)
				r.AddRecordBatchWithTimestamp("t", 0, nil, sarama.StringEncoder("v"), 0, 0, false, t0)
			},
			want:     []rec{{0, t0.Add(time.Hour)}},
			wantLast: 0,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			resp := &sarama.FetchResponse{}
			tt.build(resp)
			res, err := decodeBlock("t", 0, tt.from, resp.GetBlock("t", 0))
			if err != nil {
				t.Fatal(err)
			}
			if len(res.records) != len(tt.want) {
				t.Fatalf("got %d records %+v, want %d", len(res.records), res.records, len(tt.want))
			}
			for i, w := range tt.want {
				g := res.records[i]
				if g.Offset != w.off || !g.Timestamp.Equal(w.ts) || g.Topic != "t" || string(g.Value) != "v" {
					t.Errorf("record %d = %+v, want offset %d ts %v", i, g, w.off, w.ts)
				}
			}
			if res.last != tt.wantLast {
				t.Errorf("last = %d, want %d", res.last, tt.wantLast)
			}
		})
	}
}

func TestDecodeBlockRejectsLegacyFormat(t *testing.T) {
	resp := &sarama.FetchResponse{}
	resp.AddMessage("t", 0, nil, sarama.StringEncoder("v"), 0)
	if _, err := decodeBlock("t", 0, 0, resp.GetBlock("t", 0)); err == nil {
		t.Fatal("legacy message set accepted")
	}
}

// TestFetchFromBroker runs the fetcher against a broker (kfake and a real
// one) whose log holds what synthetic responses can only imitate: a
// committed and an aborted transaction with their control markers, then
// records deleted from the log start. Aborted records are returned (the
// reader is read_uncommitted), markers yield no records but are claimed,
// and offsets outside the log report where the log is.
func TestFetchFromBroker(t *testing.T) {
	testenv.ForEachKafka(t, func(t *testing.T, kind testenv.KafkaKind) {
		topic := testenv.Topic(t, "txn")
		kafka := kind.New(t, 1, topic)
		brokers := kafka.Addrs()
		t0 := time.Date(2025, 3, 1, 12, 0, 0, 0, time.UTC)

		cfg := kafkaconf.Producer("kafkaio-test")
		cfg.Producer.Transaction.ID = testenv.Topic(t, "txn-id")
		cfg.Producer.Partitioner = sarama.NewManualPartitioner
		prod, err := sarama.NewSyncProducer(brokers, cfg)
		if err != nil {
			t.Fatal(err)
		}
		defer prod.Close()
		txn := func(n int, commit bool) {
			t.Helper()
			if err := prod.BeginTxn(); err != nil {
				t.Fatal(err)
			}
			for i := range n {
				msg := &sarama.ProducerMessage{Topic: topic, Value: sarama.StringEncoder(fmt.Sprintf("v%d", i)), Timestamp: t0.Add(time.Duration(i) * time.Second)}
				if _, _, err := prod.SendMessage(msg); err != nil {
					t.Fatal(err)
				}
			}
			end := prod.CommitTxn
			if !commit {
				end = prod.AbortTxn
			}
			if err := end(); err != nil {
				t.Fatal(err)
			}
		}
		txn(3, true)  // offsets 0-2, commit marker at 3
		txn(2, false) // offsets 4-5, abort marker at 6

		client, err := sarama.NewClient(brokers, clientConfig("kafkaio-test"))
		if err != nil {
			t.Fatal(err)
		}
		defer client.Close()
		f := newFetcher(client, 1<<20)
		offsets := func(res fetchResult) []int64 {
			var out []int64
			for _, r := range res.records {
				out = append(out, r.Offset)
			}
			return out
		}

		// A fetch response never spans log segments, and a real broker rolls
		// a segment when the commit marker arrives: the marker carries the
		// broker's clock, more than log.roll.ms after the records' old
		// timestamps. So read as the reader does, from last+1 until the end.
		var recs []Record
		var res fetchResult
		last := int64(-1)
		for i := 0; last < 6 && i < 10; i++ {
			if res, err = f.fetch(topic, 0, last+1, 100*time.Millisecond); err != nil {
				t.Fatal(err)
			}
			recs = append(recs, res.records...)
			last = max(last, res.last)
		}
		if got := offsets(fetchResult{records: recs}); !slices.Equal(got, []int64{0, 1, 2, 4, 5}) || last != 6 || res.hwm != 7 {
			t.Fatalf("fetching from 0 to the end: records %v last %d hwm %d; want [0 1 2 4 5], 6, 7", got, last, res.hwm)
		}
		if r := recs[1]; string(r.Value) != "v1" || !r.Timestamp.Equal(t0.Add(time.Second)) {
			t.Errorf("record 1 = %q at %v, want v1 at %v", r.Value, r.Timestamp, t0.Add(time.Second))
		}
		res, err = f.fetch(topic, 0, 6, 100*time.Millisecond)
		if err != nil || len(res.records) != 0 || res.last != 6 {
			t.Fatalf("fetch of the abort marker: %v records %v last %d; want none, 6", err, offsets(res), res.last)
		}
		res, err = f.fetch(topic, 0, 7, 100*time.Millisecond)
		if err != nil || len(res.records) != 0 || res.last != -1 || res.hwm != 7 {
			t.Fatalf("fetch at the end: %v records %v last %d hwm %d; want none, -1, 7", err, offsets(res), res.last, res.hwm)
		}
		res, err = f.fetch(topic, 0, 50, 100*time.Millisecond)
		if !errors.Is(err, errOutOfRange) || res.hwm != 7 || res.logStart != 0 {
			t.Fatalf("fetch beyond the end: %v hwm %d log start %d; want out of range, 7, 0", err, res.hwm, res.logStart)
		}

		admin, err := sarama.NewClusterAdmin(brokers, kafkaconf.Consumer("kafkaio-test"))
		if err != nil {
			t.Fatal(err)
		}
		defer admin.Close()
		if err := admin.DeleteRecords(topic, map[int32]int64{0: 2}); err != nil {
			t.Fatal(err)
		}
		res, err = f.fetch(topic, 0, 0, 100*time.Millisecond)
		if !errors.Is(err, errOutOfRange) || res.logStart != 2 || res.hwm != 7 {
			t.Fatalf("fetch of deleted records: %v log start %d hwm %d; want out of range, 2, 7", err, res.logStart, res.hwm)
		}
	})
}
