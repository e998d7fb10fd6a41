package kafkaio

import (
	"testing"
	"time"

	"github.com/IBM/sarama"
	"github.com/apache/beam/sdks/v2/go/pkg/beam/io/rtrackers/offsetrange"
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
