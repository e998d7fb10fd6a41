package kafkaio

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/IBM/sarama"

	"github.com/trendstream/trendstream/internal/platform/kafkaconf"
	"github.com/trendstream/trendstream/internal/platform/kafkaoffsets"
	"github.com/trendstream/trendstream/internal/platform/kafkaretry"
)

// StreamPosition says where in event time a read begins. Pipelines that
// keep a per-key baseline (pipelines/trending, pipelines/watchlist) use it
// to start their warm-up and to know which windows they see whole.
type StreamPosition struct {
	// Stream is the earliest timestamp among the first records each
	// partition will deliver. The scorer's warm-up counts from it, so a
	// replay of last week's log warms up on last week's data, not on the
	// wall clock. An empty topic starts now.
	Stream time.Time
	// Complete is where the windows the read sees whole begin; zero when
	// the read begins at the start of the topic. A read that begins inside
	// it (a time, latest, or a group's commits past the earliest offset)
	// misses, in every window that begins before Complete, the posts some
	// partition held before its start: the latest of the partitions' first
	// unread records, or of their last records for those already read to
	// the end.
	Complete time.Time
}

// StreamStart finds where a read of topic from start begins.
//
// Build has no context (Beam builds pipelines without one), so the offset
// lookups run under kafkaoffsets' own retry budget. A group whose commits
// cannot be read is an error, not "nothing committed": the reader would
// refuse to start anyway (kafkaio resolves the same commits under the same
// policy), and a warm-up counted from the earliest record would be wrong.
// An unreachable cluster is retried for retryFor: a pipeline restarted while
// a broker restarts waits for it instead of exiting.
func StreamStart(brokers []string, topic string, start Start, group string, retryFor time.Duration) (StreamPosition, error) {
	switch start.Kind {
	case StartAtTime:
		return StreamPosition{Stream: start.Time, Complete: start.Time}, nil
	case StartLatest:
		now := time.Now()
		return StreamPosition{Stream: now, Complete: now}, nil
	}
	ctx := context.Background()
	client, err := kafkaretry.Connect(ctx, brokers, kafkaconf.Consumer("trendstream-stream-start"), retryFor)
	if err != nil {
		return StreamPosition{}, fmt.Errorf("kafkaio: %w", err)
	}
	defer client.Close()
	parts, err := client.Partitions(topic)
	if err != nil {
		return StreamPosition{}, fmt.Errorf("kafkaio: list partitions of %s: %w", topic, err)
	}
	oldest, err := kafkaoffsets.Earliest(ctx, client, topic)
	if err != nil {
		return StreamPosition{}, fmt.Errorf("kafkaio: %w", err)
	}
	newest, err := kafkaoffsets.End(ctx, client, topic)
	if err != nil {
		return StreamPosition{}, fmt.Errorf("kafkaio: %w", err)
	}
	var committed map[int32]int64
	if start.Kind == StartCommitted && group != "" {
		if committed, err = kafkaoffsets.Committed(ctx, client, group, topic, parts); err != nil {
			return StreamPosition{}, fmt.Errorf("kafkaio: %w", err)
		}
	}
	consumer, err := sarama.NewConsumerFromClient(client)
	if err != nil {
		return StreamPosition{}, fmt.Errorf("kafkaio: %w", err)
	}
	defer consumer.Close()
	var rs StreamPosition
	midStream := false
	for _, p := range parts {
		off := oldest[p]
		if c, ok := committed[p]; ok && c > off {
			off, midStream = c, true
		}
		if off >= newest[p] {
			if off > oldest[p] {
				// Read to the end before: its last record bounds Complete.
				t, err := recordTime(consumer, topic, p, newest[p]-1)
				if err != nil {
					return StreamPosition{}, err
				}
				rs.Complete = later(rs.Complete, t)
			}
			continue
		}
		t, err := recordTime(consumer, topic, p, off)
		if err != nil {
			return StreamPosition{}, err
		}
		if rs.Stream.IsZero() || t.Before(rs.Stream) {
			rs.Stream = t
		}
		rs.Complete = later(rs.Complete, t)
	}
	if rs.Stream.IsZero() {
		rs.Stream = time.Now()
	}
	if !midStream {
		rs.Complete = time.Time{}
	}
	return rs, nil
}

func later(a, b time.Time) time.Time {
	if b.After(a) {
		return b
	}
	return a
}

func recordTime(consumer sarama.Consumer, topic string, p int32, off int64) (time.Time, error) {
	pc, err := consumer.ConsumePartition(topic, p, off)
	if err != nil {
		return time.Time{}, fmt.Errorf("kafkaio: read %s/%d@%d: %w", topic, p, off, err)
	}
	defer pc.AsyncClose()
	select {
	case m := <-pc.Messages():
		return m.Timestamp, nil
	case err := <-pc.Errors():
		return time.Time{}, fmt.Errorf("kafkaio: read %s/%d@%d: %w", topic, p, off, err)
	case <-time.After(10 * time.Second):
		return time.Time{}, errors.New("kafkaio: timed out reading the first record of " + topic)
	}
}
