package kafkaio

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/IBM/sarama"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kfake"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/trendstream/trendstream/internal/platform/kafkaconf"
	"github.com/trendstream/trendstream/internal/platform/kafkaoffsets"
	"github.com/trendstream/trendstream/internal/testenv"
)

// TestStreamStartFromCommits finds the stream start of a committed read
// (the scorer's warm-up origin: the first record the reader will deliver)
// while kfake's group coordinator answers errors. Transient ones are
// retried and the start is the committed records' time. A fatal one is an
// error: the lookup this replaced swallowed every error and counted the
// warm-up from the earliest record, as if nothing had been committed.
func TestStreamStartFromCommits(t *testing.T) {
	base := time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)
	tests := []struct {
		name    string
		commit  bool
		fault   *kfake.Fault    // on OffsetFetch of the group
		down    time.Duration   // the broker is down this long when the lookup begins
		commits map[int32]int64 // instead of {0: 3, 1: 5}
		want    time.Time
		// wantComplete is StreamPosition.Complete; zero: partition 1's record 5
		// with commits, none without.
		wantComplete time.Time
		wantErr      error // instead of want
	}{
		{name: "committed", commit: true, want: base.Add(3 * time.Second)},
		{name: "nothing committed starts at the earliest record", want: base},
		{name: "coordinator loading, 3 times", commit: true,
			fault: &kfake.Fault{Err: kerr.CoordinatorLoadInProgress, Count: 3}, want: base.Add(3 * time.Second)},
		{name: "coordinator moved, 3 times", commit: true,
			fault: &kfake.Fault{Err: kerr.NotCoordinator, Count: 3}, want: base.Add(3 * time.Second)},
		{name: "not authorized is an error, not the earliest record", commit: true,
			fault: &kfake.Fault{Err: kerr.GroupAuthorizationFailed, Count: -1}, wantErr: sarama.ErrGroupAuthorizationFailed},
		// A pipeline (re)started while the broker restarts waits for it;
		// it used to exit at once (RELIABILITY.md at 51350e9).
		{name: "broker restarting", commit: true, down: 3 * time.Second, want: base.Add(3 * time.Second)},
		// A partition read to the end holds posts up to its last record,
		// which the windows before it miss.
		{name: "one partition read to the end", commit: true, commits: map[int32]int64{0: 10, 1: 5},
			want: base.Add(5*time.Second + time.Millisecond), wantComplete: base.Add(9 * time.Second)},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			topic, group := testenv.Topic(t, "posts"), testenv.Topic(t, "group")
			k := testenv.FakeKafka(t, 2, topic)
			client, err := sarama.NewClient(k.Addrs(), kafkaconf.Consumer("trending-test"))
			if err != nil {
				t.Fatal(err)
			}
			defer client.Close()
			// Record i of partition p is stamped base + i s + p ms.
			cfg := kafkaconf.Producer("trending-test")
			cfg.Producer.Partitioner = sarama.NewManualPartitioner
			prod, err := sarama.NewSyncProducer(k.Addrs(), cfg)
			if err != nil {
				t.Fatal(err)
			}
			var msgs []*sarama.ProducerMessage
			for p := range int32(2) {
				for i := range 10 {
					msgs = append(msgs, &sarama.ProducerMessage{Topic: topic, Partition: p, Value: sarama.StringEncoder("x"),
						Timestamp: base.Add(time.Duration(i)*time.Second + time.Duration(p)*time.Millisecond)})
				}
			}
			if err := prod.SendMessages(msgs); err != nil {
				t.Fatal(err)
			}
			_ = prod.Close()
			if tt.commit {
				commits := tt.commits
				if commits == nil {
					commits = map[int32]int64{0: 3, 1: 5}
				}
				if err := kafkaoffsets.Commit(context.Background(), client, group, topic, commits); err != nil {
					t.Fatal(err)
				}
			}
			var h *kfake.FaultHandle
			if tt.fault != nil {
				f := *tt.fault
				f.Keys, f.Group = []kmsg.Key{kmsg.OffsetFetch}, group
				h = k.Kfake().Fault(f)
				defer h.Remove()
			}

			if tt.down > 0 {
				k.Stop()
				go func() {
					time.Sleep(tt.down)
					k.Start()
				}()
			}
			rs, err := StreamStart(k.Addrs(), topic, Start{Kind: StartCommitted}, group, time.Minute)
			got := rs.Stream
			if tt.wantErr != nil {
				if !errors.Is(err, tt.wantErr) {
					t.Fatalf("StreamStart = %v, %v; want error %v", got, err, tt.wantErr)
				}
				if h.Hits() != 1 {
					t.Errorf("a fatal error was asked %d times", h.Hits())
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if !got.Equal(tt.want) {
				t.Errorf("StreamStart = %v, want %v", got, tt.want)
			}
			// Commits past the earliest offsets resume inside the topic:
			// windows are whole from the later partition's first unread
			// record on (partition 1 resumes at record 5).
			wantComplete := tt.wantComplete
			if tt.commit && wantComplete.IsZero() {
				wantComplete = base.Add(5*time.Second + time.Millisecond)
			}
			if !rs.Complete.Equal(wantComplete) {
				t.Errorf("Complete = %v, want %v", rs.Complete, wantComplete)
			}
			if h != nil && h.Hits() != tt.fault.Count {
				t.Errorf("the fault answered %d requests, want %d", h.Hits(), tt.fault.Count)
			}
		})
	}
}
