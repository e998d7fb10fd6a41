package testenv

import (
	"testing"
	"time"

	"github.com/IBM/sarama"

	"github.com/trendstream/trendstream/internal/platform/kafkaconf"
)

// ReadTopic reads every partition of topic from its start to the high-water
// mark seen when called, with sarama (an independent client of the code
// under test), and returns the records in partition, offset order. Every
// record is returned, the ingest's watermark markers included: tests that
// read the posts topic skip them as every consumer must.
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
		// A topic created a moment ago may not have its leader in the
		// metadata yet (NOT_LEADER_OR_FOLLOWER on the real broker).
		for try := 0; err != nil && try < 20; try++ {
			time.Sleep(100 * time.Millisecond)
			_ = client.RefreshMetadata(topic)
			hwm, err = client.GetOffset(topic, p, sarama.OffsetNewest)
		}
		if err != nil {
			t.Fatalf("testenv: end of %s/%d: %v", topic, p, err)
		}
		next, err := client.GetOffset(topic, p, sarama.OffsetOldest) // the log may not start at 0
		if err != nil {
			t.Fatalf("testenv: start of %s/%d: %v", topic, p, err)
		}
		resumed := 0
		for next < hwm {
			pc, err := cons.ConsumePartition(topic, p, next)
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
