package trending

import (
	"errors"
	"fmt"
	"time"

	"github.com/IBM/sarama"

	"github.com/trendstream/trendstream/internal/kafkaconf"
	"github.com/trendstream/trendstream/transforms/kafkaio"
)

// streamStart finds the event time at which a read from start begins: the
// earliest timestamp among the first records each partition will deliver.
// The scorer's warm-up counts from it, so a replay of last week's log warms
// up on last week's data, not on the wall clock. An empty topic starts now.
func streamStart(brokers []string, topic string, start kafkaio.Start, group string) (time.Time, error) {
	switch start.Kind {
	case kafkaio.StartAtTime:
		return start.Time, nil
	case kafkaio.StartLatest:
		return time.Now(), nil
	}
	client, err := sarama.NewClient(brokers, kafkaconf.Consumer("trendstream-trending-start"))
	if err != nil {
		return time.Time{}, fmt.Errorf("trending: connect to Kafka %v: %w", brokers, err)
	}
	defer client.Close()
	parts, err := client.Partitions(topic)
	if err != nil {
		return time.Time{}, fmt.Errorf("trending: list partitions of %s: %w", topic, err)
	}
	var offsets map[int32]int64
	if start.Kind == kafkaio.StartCommitted && group != "" {
		offsets = committed(client, group, topic, parts)
	}
	consumer, err := sarama.NewConsumerFromClient(client)
	if err != nil {
		return time.Time{}, fmt.Errorf("trending: %w", err)
	}
	defer consumer.Close()
	var first time.Time
	for _, p := range parts {
		oldest, err := client.GetOffset(topic, p, sarama.OffsetOldest)
		if err != nil {
			return time.Time{}, fmt.Errorf("trending: oldest offset of %s/%d: %w", topic, p, err)
		}
		newest, err := client.GetOffset(topic, p, sarama.OffsetNewest)
		if err != nil {
			return time.Time{}, fmt.Errorf("trending: newest offset of %s/%d: %w", topic, p, err)
		}
		off := oldest
		if c, ok := offsets[p]; ok && c > oldest {
			off = c
		}
		if off >= newest {
			continue
		}
		t, err := recordTime(consumer, topic, p, off)
		if err != nil {
			return time.Time{}, err
		}
		if first.IsZero() || t.Before(first) {
			first = t
		}
	}
	if first.IsZero() {
		return time.Now(), nil
	}
	return first, nil
}

func committed(client sarama.Client, group, topic string, parts []int32) map[int32]int64 {
	om, err := sarama.NewOffsetManagerFromClient(group, client)
	if err != nil {
		return nil
	}
	defer om.Close()
	out := map[int32]int64{}
	for _, p := range parts {
		pom, err := om.ManagePartition(topic, p)
		if err != nil {
			continue
		}
		if off, _ := pom.NextOffset(); off >= 0 {
			out[p] = off
		}
		pom.AsyncClose()
	}
	return out
}

func recordTime(consumer sarama.Consumer, topic string, p int32, off int64) (time.Time, error) {
	pc, err := consumer.ConsumePartition(topic, p, off)
	if err != nil {
		return time.Time{}, fmt.Errorf("trending: read %s/%d@%d: %w", topic, p, off, err)
	}
	defer pc.AsyncClose()
	select {
	case m := <-pc.Messages():
		return m.Timestamp, nil
	case err := <-pc.Errors():
		return time.Time{}, fmt.Errorf("trending: read %s/%d@%d: %w", topic, p, off, err)
	case <-time.After(10 * time.Second):
		return time.Time{}, errors.New("trending: timed out reading the first record of " + topic)
	}
}
