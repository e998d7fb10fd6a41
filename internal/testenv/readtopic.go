package testenv

import (
	"testing"
	"time"

	"github.com/IBM/sarama"

	"github.com/trendstream/trendstream/internal/kafkaconf"
)

// ReadTopic reads every partition of topic from its start to the high-water
// mark seen when called, with sarama (an independent client of the code
// under test), and returns the records in partition, offset order.
//
// sarama stops a partition consumer on some broker answers, closing its
// channel, and has been seen to wait past any reasonable bound on a real
// broker under load: either way the read resumes where it stopped, a few
// times, and the reason is logged.
func ReadTopic(t testing.TB, brokers []string, topic string) []*sarama.ConsumerMessage {
	t.Helper()
	cfg := kafkaconf.Consumer("testenv-read")
	cfg.Consumer.MaxWaitTime = 20 * time.Millisecond
	client, err := sarama.NewClient(brokers, cfg)
	if err != nil {
		t.Fatal(err)
	}
	defer client.Close()
	cons, err := sarama.NewConsumerFromClient(client)
	if err != nil {
		t.Fatal(err)
	}
	defer cons.Close()
	parts, err := client.Partitions(topic)
	if err != nil {
		t.Fatal(err)
	}
	var out []*sarama.ConsumerMessage
	for _, p := range parts {
		hwm, err := client.GetOffset(topic, p, sarama.OffsetNewest)
		if err != nil {
			t.Fatal(err)
		}
		next, resumed := int64(0), 0
		for next < hwm {
			from := next
			if from == 0 {
				from = sarama.OffsetOldest // the log may not start at 0
			}
			pc, err := cons.ConsumePartition(topic, p, from)
			if err != nil {
				t.Fatal(err)
			}
			timeout := time.After(10 * time.Second)
		read:
			for next < hwm {
				select {
				case m, ok := <-pc.Messages():
					if !ok {
						break read
					}
					out = append(out, m)
					next = m.Offset + 1
				case <-timeout:
					break read
				}
			}
			if cerr := pc.Close(); next < hwm {
				if resumed++; resumed > 3 {
					t.Fatalf("testenv: %s partition %d: read stopped at offset %d of %d, %d times (last: %v)", topic, p, next, hwm, resumed, cerr)
				}
				t.Logf("testenv: %s partition %d: read stopped at offset %d of %d (%v); resuming", topic, p, next, hwm, cerr)
			}
		}
	}
	return out
}
