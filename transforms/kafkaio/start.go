package kafkaio

import (
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/IBM/sarama"

	"github.com/trendstream/trendstream/internal/platform/kafkaoffsets"
)

// StartKind says where a read begins in each partition.
type StartKind int

// Start kinds, in the order ParseStart accepts their names.
const (
	// StartCommitted resumes from the consumer group's committed offsets,
	// falling back to the earliest offset for partitions without one (or whose
	// commit is out of range), like auto.offset.reset=earliest.
	StartCommitted StartKind = iota
	// StartEarliest reads from the oldest retained offset.
	StartEarliest
	// StartLatest reads only records produced after the pipeline started.
	StartLatest
	// StartAtTime replays from the first record whose timestamp is at or
	// after Start.Time (Kafka ListOffsets by timestamp).
	StartAtTime
)

// Start is a start position. The zero value is StartCommitted. It implements
// flag.Value, so a command can bind it directly to its -start flag.
type Start struct {
	Kind StartKind
	// Time is the replay point for StartAtTime and ignored otherwise.
	Time time.Time
}

// StartAt returns a Start that replays from t.
func StartAt(t time.Time) Start { return Start{Kind: StartAtTime, Time: t} }

// ParseStart parses "committed", "earliest", "latest" or an RFC 3339 time.
func ParseStart(s string) (Start, error) {
	switch strings.ToLower(strings.TrimSpace(s)) {
	case "committed", "":
		return Start{Kind: StartCommitted}, nil
	case "earliest":
		return Start{Kind: StartEarliest}, nil
	case "latest":
		return Start{Kind: StartLatest}, nil
	}
	t, err := time.Parse(time.RFC3339Nano, strings.TrimSpace(s))
	if err != nil {
		return Start{}, fmt.Errorf("kafkaio: start %q: want committed, earliest, latest or an RFC 3339 time: %w", s, err)
	}
	return StartAt(t), nil
}

// String returns the form ParseStart accepts.
func (s Start) String() string {
	switch s.Kind {
	case StartCommitted:
		return "committed"
	case StartEarliest:
		return "earliest"
	case StartLatest:
		return "latest"
	case StartAtTime:
		return s.Time.UTC().Format(time.RFC3339Nano)
	}
	return fmt.Sprintf("StartKind(%d)", int(s.Kind))
}

// Set parses v into s, for flag.Value.
func (s *Start) Set(v string) error {
	p, err := ParseStart(v)
	if err != nil {
		return err
	}
	*s = p
	return nil
}

// partitionOffsets is what the broker told us about one partition when the
// pipeline started. Committed and AtTime are -1 when unknown or absent.
type partitionOffsets struct {
	Earliest  int64 // log start offset
	Latest    int64 // high-water mark: the offset the next record will get
	Committed int64 // the group's committed offset (next to read)
	AtTime    int64 // first offset with timestamp >= Start.Time
}

// fetchPartitionOffsets asks the broker for what startOffset needs for each
// of parts: earliest and latest always, the group's commits for
// StartCommitted, the offsets at the replay time for StartAtTime. Errors
// follow kafkaoffsets' policy: a coordinator that is loading or has moved is
// retried, and one that stays unable to answer fails the start instead of
// reading as "nothing committed", which would silently restart the group
// from the earliest offsets.
func fetchPartitionOffsets(ctx context.Context, client sarama.Client, topic, group string, s Start, parts []int32) (map[int32]partitionOffsets, error) {
	earliest, err := kafkaoffsets.Earliest(ctx, client, topic)
	if err != nil {
		return nil, fmt.Errorf("kafkaio: %w", err)
	}
	latest, err := kafkaoffsets.End(ctx, client, topic)
	if err != nil {
		return nil, fmt.Errorf("kafkaio: %w", err)
	}
	var committed, atTime map[int32]int64
	switch s.Kind {
	case StartCommitted:
		if committed, err = kafkaoffsets.Committed(ctx, client, group, topic, parts); err != nil {
			return nil, fmt.Errorf("kafkaio: %w", err)
		}
	case StartAtTime:
		if atTime, err = kafkaoffsets.AtTime(ctx, client, topic, s.Time); err != nil {
			return nil, fmt.Errorf("kafkaio: %w", err)
		}
	}
	out := make(map[int32]partitionOffsets, len(parts))
	for _, p := range parts {
		o := partitionOffsets{Committed: -1, AtTime: -1}
		var ok1, ok2 bool
		o.Earliest, ok1 = earliest[p]
		o.Latest, ok2 = latest[p]
		if !ok1 || !ok2 {
			// The topic gained partitions between the two lookups.
			return nil, fmt.Errorf("kafkaio: no offsets for %s/%d: the topic's partitions changed while the read started", topic, p)
		}
		if c, ok := committed[p]; ok {
			o.Committed = c
		}
		if t, ok := atTime[p]; ok {
			o.AtTime = t
		}
		out[p] = o
	}
	return out, nil
}

// startOffset picks the first offset to read. Out-of-range commits (the
// records were deleted by retention, or the topic was recreated) fall back
// to the earliest offset, as Kafka's auto.offset.reset=earliest does, because
// losing data silently is worse than re-reading it into idempotent sinks.
func startOffset(s Start, o partitionOffsets) int64 {
	switch s.Kind {
	case StartEarliest:
		return o.Earliest
	case StartLatest:
		return o.Latest
	case StartAtTime:
		if o.AtTime < 0 {
			// Every retained record is older than the replay point.
			return o.Latest
		}
		return clamp(o.AtTime, o.Earliest, o.Latest)
	default: // StartCommitted
		if o.Committed < o.Earliest || o.Committed > o.Latest {
			return o.Earliest
		}
		return o.Committed
	}
}

func clamp(v, lo, hi int64) int64 {
	return max(lo, min(v, hi))
}
