package chaos

import (
	"fmt"
	"time"

	"github.com/IBM/sarama"
	"google.golang.org/protobuf/proto"

	"github.com/trendstream/trendstream/internal/core/watermark"
	"github.com/trendstream/trendstream/internal/platform/kafkaconf"
	tsv1 "github.com/trendstream/trendstream/proto/trendstream/v1"
)

// TopicPosts is what the posts topic holds.
type TopicPosts struct {
	// Records is every record read, markers included; Markers the source
	// watermark markers among them (internal/core/watermark), which are not
	// posts.
	Records, Markers int
	// Posts are the decoded posts in partition, offset order, duplicates
	// included.
	Posts []*tsv1.Post
	// Malformed are records that are neither a marker nor a Post.
	Malformed []string
}

// readPosts reads every partition of topic from its start to the end
// offset it has when called, with sarama: a client independent of the
// ingest's producer and of the pipeline's reader.
func readPosts(brokers []string, topic string, timeout time.Duration) (*TopicPosts, error) {
	cfg := kafkaconf.Consumer("trendchaos-audit")
	cfg.Consumer.MaxWaitTime = 50 * time.Millisecond
	client, err := sarama.NewClient(brokers, cfg)
	if err != nil {
		return nil, fmt.Errorf("chaos: Kafka client: %w", err)
	}
	defer client.Close()
	cons, err := sarama.NewConsumerFromClient(client)
	if err != nil {
		return nil, fmt.Errorf("chaos: Kafka consumer: %w", err)
	}
	defer cons.Close()
	parts, err := client.Partitions(topic)
	if err != nil {
		return nil, fmt.Errorf("chaos: partitions of %s: %w", topic, err)
	}
	out := &TopicPosts{}
	deadline := time.Now().Add(timeout)
	for _, p := range parts {
		hwm, err := client.GetOffset(topic, p, sarama.OffsetNewest)
		if err != nil {
			return nil, fmt.Errorf("chaos: end offset of %s/%d: %w", topic, p, err)
		}
		if err := readPartition(cons, topic, p, hwm, deadline, out); err != nil {
			return nil, err
		}
	}
	return out, nil
}

// readPartition reads one partition up to hwm. sarama closes a partition
// consumer on some broker answers; the read then resumes where it stopped.
func readPartition(cons sarama.Consumer, topic string, p int32, hwm int64, deadline time.Time, out *TopicPosts) error {
	next := int64(0)
	for next < hwm {
		from := next
		if from == 0 {
			from = sarama.OffsetOldest // the log may not start at 0
		}
		pc, err := cons.ConsumePartition(topic, p, from)
		if err != nil {
			return fmt.Errorf("chaos: read %s/%d@%d: %w", topic, p, from, err)
		}
		timer := time.NewTimer(time.Until(deadline))
	read:
		for next < hwm {
			select {
			case m, ok := <-pc.Messages():
				if !ok {
					break read
				}
				out.add(m)
				next = m.Offset + 1
			case <-timer.C:
				timer.Stop()
				_ = pc.Close()
				return fmt.Errorf("chaos: %s/%d read to offset %d of %d by the deadline", topic, p, next, hwm)
			}
		}
		timer.Stop()
		_ = pc.Close()
	}
	return nil
}

func (t *TopicPosts) add(m *sarama.ConsumerMessage) {
	t.Records++
	keys := make([]string, len(m.Headers))
	for i, h := range m.Headers {
		keys[i] = string(h.Key)
	}
	if watermark.IsMarker(keys...) {
		t.Markers++
		return
	}
	var post tsv1.Post
	if err := proto.Unmarshal(m.Value, &post); err != nil {
		if len(t.Malformed) < 10 {
			t.Malformed = append(t.Malformed, fmt.Sprintf("%s/%d@%d: %v", m.Topic, m.Partition, m.Offset, err))
		}
		return
	}
	t.Posts = append(t.Posts, &post)
}

// Distinct returns the posts with duplicates of an (uri, cid) removed,
// keeping the first, and the duplicates' count per post.
func Distinct(posts []*tsv1.Post) (distinct []*tsv1.Post, dups map[PostID]int) {
	seen := make(map[PostID]bool, len(posts))
	dups = map[PostID]int{}
	for _, p := range posts {
		id := PostID{URI: p.GetUri(), CID: p.GetCid()}
		if p.GetOperation() == tsv1.Operation_OPERATION_DELETE {
			// A delete has no CID; its identity is its URI and time.
			id.CID = "delete@" + p.GetObservedAt().AsTime().Format(time.RFC3339Nano)
		}
		if seen[id] {
			dups[id]++
			continue
		}
		seen[id] = true
		distinct = append(distinct, p)
	}
	return distinct, dups
}
