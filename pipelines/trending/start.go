package trending

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/IBM/sarama"

	"github.com/trendstream/trendstream/internal/kafkaconf"
	"github.com/trendstream/trendstream/internal/kafkaoffsets"
	"github.com/trendstream/trendstream/internal/kafkaretry"
	"github.com/trendstream/trendstream/transforms/kafkaio"
)

// readStart says where in event time a read begins.
type readStart struct {
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

// streamStart finds where a read from start begins.
//
// Build has no context (Beam builds pipelines without one), so the offset
// lookups run under kafkaoffsets' own retry budget. A group whose commits
// cannot be read is an error, not "nothing committed": the reader would
// refuse to start anyway (kafkaio resolves the same commits under the same
// policy), and a warm-up counted from the earliest record would be wrong.
// An unreachable cluster is retried for retryFor: a pipeline restarted while
// a broker restarts waits for it instead of exiting.
func streamStart(brokers []string, topic string, start kafkaio.Start, group string, retryFor time.Duration) (readStart, error) {
	switch start.Kind {
	case kafkaio.StartAtTime:
		return readStart{Stream: start.Time, Complete: start.Time}, nil
	case kafkaio.StartLatest:
		now := time.Now()
		return readStart{Stream: now, Complete: now}, nil
	}
	ctx := context.Background()
	client, err := kafkaretry.Connect(ctx, brokers, kafkaconf.Consumer("trendstream-trending-start"), retryFor)
	if err != nil {
		return readStart{}, fmt.Errorf("trending: %w", err)
	}
	defer client.Close()
	parts, err := client.Partitions(topic)
	if err != nil {
		return readStart{}, fmt.Errorf("trending: list partitions of %s: %w", topic, err)
	}
	oldest, err := kafkaoffsets.Earliest(ctx, client, topic)
	if err != nil {
		return readStart{}, fmt.Errorf("trending: %w", err)
	}
	newest, err := kafkaoffsets.End(ctx, client, topic)
	if err != nil {
		return readStart{}, fmt.Errorf("trending: %w", err)
	}
	var committed map[int32]int64
	if start.Kind == kafkaio.StartCommitted && group != "" {
		if committed, err = kafkaoffsets.Committed(ctx, client, group, topic, parts); err != nil {
			return readStart{}, fmt.Errorf("trending: %w", err)
		}
	}
	consumer, err := sarama.NewConsumerFromClient(client)
	if err != nil {
		return readStart{}, fmt.Errorf("trending: %w", err)
	}
	defer consumer.Close()
	var rs readStart
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
					return readStart{}, err
				}
				rs.Complete = latest(rs.Complete, t)
			}
			continue
		}
		t, err := recordTime(consumer, topic, p, off)
		if err != nil {
			return readStart{}, err
		}
		if rs.Stream.IsZero() || t.Before(rs.Stream) {
			rs.Stream = t
		}
		rs.Complete = latest(rs.Complete, t)
	}
	if rs.Stream.IsZero() {
		rs.Stream = time.Now()
	}
	if !midStream {
		rs.Complete = time.Time{}
	}
	return rs, nil
}

func latest(a, b time.Time) time.Time {
	if b.After(a) {
		return b
	}
	return a
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

// StreamStart tells another pipeline over the posts topic
// (pipelines/watchlist) where a read from start begins in event time, which
// starts its warm-up as it starts this one's, and where the windows it sees
// whole begin (zero from the start of the topic).
func StreamStart(brokers []string, topic string, start kafkaio.Start, group string, retryFor time.Duration) (stream, complete time.Time, err error) {
	rs, err := streamStart(brokers, topic, start, group, retryFor)
	return rs.Stream, rs.Complete, err
}
