package kafkaio

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/apache/beam/sdks/v2/go/pkg/beam"
	"github.com/apache/beam/sdks/v2/go/pkg/beam/testing/ptest"

	"github.com/trendstream/trendstream/internal/testenv"
)

// TestWriteRidesOutBrokerRestart sends a batch, takes the broker down,
// and sends the next batch while it restarts: the send must wait for the
// broker and then deliver every message, each once. Before, the failed send
// failed the bundle, and on Prism the whole job (RELIABILITY.md at 51350e9).
func TestWriteRidesOutBrokerRestart(t *testing.T) {
	testenv.ForEachKafka(t, func(t *testing.T, kind testenv.KafkaKind) {
		topic := testenv.Topic(t, "trends")
		k := kind.New(t, 2, topic)
		fn := &writeFn{Brokers: k.Addrs(), Topic: topic, ClientID: "restart-test", MaxBatch: 1000, RetryFor: 2 * time.Minute}
		defer fn.Teardown()
		ctx := context.Background()
		send := func(from, to int) error {
			fn.StartBundle(ctx)
			for i := from; i < to; i++ {
				if err := fn.ProcessElement(ctx, Message{Key: fmt.Appendf(nil, "k%d", i), Value: []byte("v")}); err != nil {
					return err
				}
			}
			return fn.FinishBundle(ctx)
		}
		if err := send(0, 10); err != nil {
			t.Fatal(err)
		}
		k.Stop()
		restarted := make(chan struct{})
		go func() {
			defer close(restarted)
			time.Sleep(3 * time.Second)
			k.Start()
		}()
		if err := send(10, 30); err != nil {
			t.Fatalf("send during the restart: %v", err)
		}
		<-restarted
		seen := map[string]int{}
		for _, m := range testenv.ReadTopic(t, k.Addrs(), topic) {
			seen[string(m.Key)]++
		}
		for i := range 30 {
			if n := seen[fmt.Sprintf("k%d", i)]; n != 1 {
				t.Errorf("k%d written %d times, want once", i, n)
			}
		}
	})
}

// TestReadCopiesAcrossBrokerRestart starts a bounded read and write pipeline
// while the broker is down and brings the broker back a few seconds later:
// resolving the partitions, the readers' connects and the writer's sends
// must wait for it, and every record arrive. Before, the pipeline failed at
// its first connect.
func TestReadCopiesAcrossBrokerRestart(t *testing.T) {
	testenv.ForEachKafka(t, func(t *testing.T, kind testenv.KafkaKind) {
		in, out := testenv.Topic(t, "posts"), testenv.Topic(t, "copy")
		k := kind.New(t, 2, in, out)
		const n = 40
		produce(t, k.Addrs(), in, []int32{0, 1}, n/2, time.Now().Add(-time.Hour))
		k.Stop()
		go func() {
			time.Sleep(3 * time.Second)
			k.Start()
		}()

		p, s := beam.NewPipelineWithRoot()
		recs := Read(s, k.Addrs(), in, ReadBounded(), ReadRetryFor(2*time.Minute))
		Write(s, k.Addrs(), out, beam.ParDo(s, recordToMessage, recs), WriteRetryFor(2*time.Minute))
		if err := ptest.Run(p); err != nil {
			t.Fatalf("pipeline across a broker restart: %v", err)
		}
		got := map[string]int{}
		for _, m := range testenv.ReadTopic(t, k.Addrs(), out) {
			got[string(m.Key)]++
		}
		if len(got) != n {
			t.Errorf("copied %d distinct records, want %d", len(got), n)
		}
	})
}

func recordToMessage(r Record) Message {
	return Message{Key: r.Key, Value: r.Value, Timestamp: r.Timestamp}
}

func init() { beam.RegisterFunction(recordToMessage) }
