package kafkasink

import (
	"context"
	"fmt"
	"time"

	"github.com/IBM/sarama"
)

// scanChunk is how many offsets ScanBack reads at a time.
const scanChunk = 2000

// ScanBack reads every partition of topic backwards from its end, in
// chunks of records in offset order, newest chunk first, and hands each
// chunk to visit until visit returns false, the start of the log is
// reached, or max records of the partition were read. It reads what the
// broker has committed (below the high-water mark) when called.
func (k *Producer) ScanBack(ctx context.Context, topic string, max int, visit func(partition int32, recs []*sarama.ConsumerMessage) bool) error {
	parts, err := k.client.Partitions(topic)
	if err != nil {
		return fmt.Errorf("sink: partitions of %s: %w", topic, err)
	}
	cons, err := sarama.NewConsumerFromClient(k.client)
	if err != nil {
		return fmt.Errorf("sink: consumer: %w", err)
	}
	defer cons.Close()
	for _, p := range parts {
		hwm, err := k.client.GetOffset(topic, p, sarama.OffsetNewest)
		if err != nil {
			return fmt.Errorf("sink: end of %s/%d: %w", topic, p, err)
		}
		low, err := k.client.GetOffset(topic, p, sarama.OffsetOldest)
		if err != nil {
			return fmt.Errorf("sink: start of %s/%d: %w", topic, p, err)
		}
		for end, read := hwm, 0; end > low && read < max; {
			start := end - scanChunk
			if start < low {
				start = low
			}
			recs, err := readRange(ctx, cons, topic, p, start, end)
			if err != nil {
				return err
			}
			read += len(recs)
			if !visit(p, recs) {
				break
			}
			end = start
		}
	}
	return nil
}

// readRange reads the records of [start, end) of one partition.
func readRange(ctx context.Context, cons sarama.Consumer, topic string, p int32, start, end int64) ([]*sarama.ConsumerMessage, error) {
	pc, err := cons.ConsumePartition(topic, p, start)
	if err != nil {
		return nil, fmt.Errorf("sink: read %s/%d from %d: %w", topic, p, start, err)
	}
	defer func() { _ = pc.Close() }()
	var out []*sarama.ConsumerMessage
	timeout := time.NewTimer(10 * time.Second)
	defer timeout.Stop()
	for {
		select {
		case m, ok := <-pc.Messages():
			if !ok {
				return nil, fmt.Errorf("sink: read %s/%d: consumer stopped at %d of [%d, %d)", topic, p, len(out), start, end)
			}
			if m.Offset >= end {
				return out, nil
			}
			out = append(out, m)
			if m.Offset >= end-1 {
				return out, nil
			}
		case err := <-pc.Errors():
			return nil, fmt.Errorf("sink: read %s/%d: %w", topic, p, err)
		case <-timeout.C:
			return nil, fmt.Errorf("sink: read %s/%d: [%d, %d) not read within 10 s", topic, p, start, end)
		case <-ctx.Done():
			return nil, ctx.Err()
		}
	}
}
