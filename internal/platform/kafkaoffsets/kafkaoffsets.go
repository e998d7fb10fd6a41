// Package kafkaoffsets asks Kafka where the partitions of a topic begin and
// end, where they stood at a point in time, and where a consumer group
// stands in them, and commits a group's position. Every trendstream
// component that needs an offset goes through it, so there is one error
// policy instead of one per call site.
//
// # Error policy
//
// Every call runs under internal/platform/kafkaretry's policy, with a budget of
// Budget (30 s) or ctx's end, whichever comes first: transient errors
// (coordinator loading or moved, leadership moving, the connection failing)
// are retried with backoff, a call still failing then returns an error that
// wraps ErrRetriesExhausted and the last broker error, and everything else
// is returned at once. A topic the cluster's metadata does not know fails
// at once too: sarama has already retried the metadata, and a misspelt
// topic must fail fast, not after the budget. Before each retry the
// client's metadata (partition errors) or the group's coordinator
// (coordinator errors other than "loading") is refreshed.
//
// "Nothing committed" is concluded only from an explicit answer: the
// coordinator reports offset -1 for the partition, or GROUP_ID_NOT_FOUND for
// the whole group. An error, or a response that leaves out the group or a
// partition, never reads as "nothing committed": restarting a pipeline from
// the earliest offset would silently re-read up to the topic's whole
// retention (kafkaex/kafka_ex#548, confluentinc/librdkafka#5586 describe
// the same trap in other clients).
//
// Requests themselves are bounded by the sarama client's Net timeouts, not
// by ctx: ctx is checked between attempts.
package kafkaoffsets

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/IBM/sarama"

	"github.com/trendstream/trendstream/internal/platform/kafkaretry"
)

// Budget is how long a call keeps retrying transient errors: half of
// Kafka's default.api.timeout.ms, long enough for a coordinator to load a
// typical offsets partition after a restart, short enough that a pipeline
// start fails while someone is still watching.
const Budget = 30 * time.Second

// ErrRetriesExhausted is wrapped by the error of a call whose transient
// errors persisted past Budget or ctx's end.
var ErrRetriesExhausted = kafkaretry.ErrRetriesExhausted

// End returns the high-water mark (the offset the next record will get) of
// every partition of topic.
func End(ctx context.Context, client sarama.Client, topic string) (map[int32]int64, error) {
	return listOffsets(ctx, client, topic, sarama.OffsetNewest, "end offsets")
}

// Earliest returns the log start offset (the oldest retained record) of every
// partition of topic.
func Earliest(ctx context.Context, client sarama.Client, topic string) (map[int32]int64, error) {
	return listOffsets(ctx, client, topic, sarama.OffsetOldest, "earliest offsets")
}

// AtTime returns, for every partition of topic, the offset of the first
// record whose timestamp is at or after t (Kafka ListOffsets by timestamp),
// or -1 where every record is older.
func AtTime(ctx context.Context, client sarama.Client, topic string, t time.Time) (map[int32]int64, error) {
	return listOffsets(ctx, client, topic, t.UnixMilli(), "offsets at "+t.UTC().Format(time.RFC3339Nano))
}

// Committed returns group's committed offsets (the next offset to read) for
// the given partitions of topic. A partition is absent from the result only
// when the coordinator said it has no commit (-1), and the result is empty
// when it said the group does not exist; any error is returned, never read
// as "nothing committed".
func Committed(ctx context.Context, client sarama.Client, group, topic string, partitions []int32) (map[int32]int64, error) {
	var out map[int32]int64
	err := retry(ctx, fmt.Sprintf("committed offsets of group %s in %s", group, topic), func() error {
		var err error
		out, err = committedOnce(client, group, topic, partitions)
		return err
	})
	return out, err
}

// Commit commits offsets (next offsets to read, by partition of topic) to
// group as an admin-style commit: no member id, generation -1, which brokers
// accept while the group has no active members. trendstream's readers never
// join their group, so a commit never fights a rebalance.
func Commit(ctx context.Context, client sarama.Client, group, topic string, offsets map[int32]int64) error {
	return retry(ctx, fmt.Sprintf("commit group %s in %s", group, topic), func() error {
		return commitOnce(client, group, topic, offsets)
	})
}

// listOffsets asks each partition's leader (one request per leader) for the
// offset at ts: a timestamp in ms, sarama.OffsetNewest or OffsetOldest.
// Partitions answered in an attempt are kept; a retry asks only the rest.
func listOffsets(ctx context.Context, client sarama.Client, topic string, ts int64, what string) (map[int32]int64, error) {
	out := map[int32]int64{}
	err := retry(ctx, what+" of "+topic, func() error {
		parts, err := client.Partitions(topic)
		if err != nil {
			err = fmt.Errorf("partitions of %s: %w", topic, err)
			if errors.Is(err, sarama.ErrUnknownTopicOrPartition) {
				return kafkaretry.Permanent(err)
			}
			return err
		}
		var errs []error
		byLeader := map[*sarama.Broker][]int32{}
		for _, p := range parts {
			if _, ok := out[p]; ok {
				continue
			}
			leader, err := client.Leader(topic, p)
			if err != nil {
				errs = append(errs, fmt.Errorf("leader of %s/%d: %w", topic, p, err))
				continue
			}
			byLeader[leader] = append(byLeader[leader], p)
		}
		for leader, ps := range byLeader {
			req := sarama.NewOffsetRequest(client.Config().Version)
			for _, p := range ps {
				req.AddBlock(topic, p, ts, 1)
			}
			resp, err := leader.GetAvailableOffsets(req)
			if err != nil {
				// The connection may be dead; sarama reopens it on next use.
				_ = leader.Close()
				errs = append(errs, fmt.Errorf("list offsets of %s on broker %d: %w", topic, leader.ID(), err))
				continue
			}
			for _, p := range ps {
				b := resp.GetBlock(topic, p)
				switch {
				case b == nil || len(b.Offsets) == 0:
					errs = append(errs, fmt.Errorf("%s/%d: %w", topic, p, sarama.ErrIncompleteResponse))
				case !errors.Is(b.Err, sarama.ErrNoError):
					errs = append(errs, fmt.Errorf("%s/%d: %w", topic, p, b.Err))
				default:
					out[p] = b.Offsets[0]
				}
			}
		}
		if len(errs) > 0 {
			_ = client.RefreshMetadata(topic)
			return errors.Join(errs...)
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	return out, nil
}

func committedOnce(client sarama.Client, group, topic string, parts []int32) (map[int32]int64, error) {
	coord, err := client.Coordinator(group)
	if err != nil {
		return nil, fmt.Errorf("coordinator of group %s: %w", group, err)
	}
	resp, err := coord.FetchOffset(sarama.NewOffsetFetchRequest(client.Config().Version, group, map[string][]int32{topic: parts}))
	if err != nil {
		_ = coord.Close()
		_ = client.RefreshCoordinator(group)
		return nil, err
	}
	groupErr := resp.Err // v2-7; v0-1 report errors per partition only
	if resp.Version >= 8 {
		g := resp.GetGroup(group)
		if g == nil {
			return nil, fmt.Errorf("no answer for group %s: %w", group, sarama.ErrIncompleteResponse)
		}
		groupErr = g.Err
	}
	switch {
	case errors.Is(groupErr, sarama.ErrNoError):
	case errors.Is(groupErr, sarama.ErrGroupIDNotFound):
		// An explicit "no such group" (kfake answers it; Kafka answers -1s).
		return map[int32]int64{}, nil
	default:
		refreshCoordinator(client, group, groupErr)
		return nil, groupErr
	}
	out := map[int32]int64{}
	for _, p := range parts {
		b := resp.GetBlock(topic, p)
		switch {
		case b == nil:
			return nil, fmt.Errorf("%s/%d: %w", topic, p, sarama.ErrIncompleteResponse)
		case !errors.Is(b.Err, sarama.ErrNoError):
			refreshCoordinator(client, group, b.Err)
			return nil, fmt.Errorf("%s/%d: %w", topic, p, b.Err)
		case b.Offset >= 0:
			out[p] = b.Offset
		case b.Offset != -1:
			return nil, kafkaretry.Permanent(fmt.Errorf("%s/%d: invalid committed offset %d", topic, p, b.Offset))
		}
	}
	return out, nil
}

func commitOnce(client sarama.Client, group, topic string, offsets map[int32]int64) error {
	coord, err := client.Coordinator(group)
	if err != nil {
		return fmt.Errorf("coordinator of group %s: %w", group, err)
	}
	req := &sarama.OffsetCommitRequest{
		Version:                 commitVersion(client.Config().Version),
		ConsumerGroup:           group,
		ConsumerGroupGeneration: sarama.GroupGenerationUndefined,
		RetentionTime:           -1,
	}
	for p, off := range offsets {
		req.AddBlockWithLeaderEpoch(topic, p, off, -1, -1, "")
	}
	resp, err := coord.CommitOffset(req)
	if err != nil {
		_ = coord.Close()
		_ = client.RefreshCoordinator(group)
		return err
	}
	for p := range offsets {
		kerr, ok := resp.Errors[topic][p]
		switch {
		case !ok:
			return fmt.Errorf("%s/%d: %w", topic, p, sarama.ErrIncompleteResponse)
		case !errors.Is(kerr, sarama.ErrNoError):
			refreshCoordinator(client, group, kerr)
			return fmt.Errorf("%s/%d: %w", topic, p, kerr)
		}
	}
	return nil
}

// refreshCoordinator looks the group's coordinator up again after an error
// saying it moved. A coordinator that is loading is the right one: asking
// again would only add a FindCoordinator round trip.
func refreshCoordinator(client sarama.Client, group string, err error) {
	if errors.Is(err, sarama.ErrNotCoordinatorForConsumer) || errors.Is(err, sarama.ErrConsumerCoordinatorNotAvailable) {
		_ = client.RefreshCoordinator(group)
	}
}

// commitVersion picks the OffsetCommit version for the configured protocol
// version (v8 is the last before KIP-848's member epochs).
func commitVersion(v sarama.KafkaVersion) int16 {
	switch {
	case v.IsAtLeast(sarama.V2_4_0_0):
		return 8
	case v.IsAtLeast(sarama.V2_3_0_0):
		return 7
	case v.IsAtLeast(sarama.V2_1_0_0):
		return 6
	case v.IsAtLeast(sarama.V2_0_0_0):
		return 4
	default:
		return 3
	}
}

// retry runs op under the error policy with the package's Budget.
func retry(ctx context.Context, what string, op func() error) error {
	return kafkaretry.Do(ctx, Budget, "kafkaoffsets: "+what, op)
}
