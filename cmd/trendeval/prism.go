package main

import (
	"context"
	"fmt"
	"strings"

	"github.com/IBM/sarama"
	"google.golang.org/protobuf/proto"

	"github.com/trendstream/trendstream/internal/platform/beamrun"
	"github.com/trendstream/trendstream/internal/platform/kafkaconf"
	"github.com/trendstream/trendstream/internal/platform/kafkaoffsets"
	"github.com/trendstream/trendstream/internal/services/kafkalocal"
	"github.com/trendstream/trendstream/pipelines/trending"
	tsv1 "github.com/trendstream/trendstream/proto/trendstream/v1"
	"github.com/trendstream/trendstream/transforms/kafkaio"
)

// runPrism replays posts through the real pipeline: it produces them to an
// in-process Kafka-protocol cluster, runs the pipeline bounded on Prism and
// reads the results topic back (per key, the snapshot a reader keeps:
// newest). o's brokers, topics, bounds and database are overridden.
func runPrism(ctx context.Context, posts []*tsv1.Post, o trending.Options) ([]*tsv1.WindowSnapshot, error) {
	const postsTopic, trendsTopic = "trendstream.posts", "trendstream.trends"
	kc, err := kafkalocal.Start(kafkalocal.Topics(4, postsTopic, trendsTopic))
	if err != nil {
		return nil, err
	}
	defer kc.Close()
	if err := produce(kc.Addrs(), postsTopic, posts); err != nil {
		return nil, err
	}
	o.Brokers = strings.Join(kc.Addrs(), ",")
	o.Topic, o.TrendsTopic, o.DatabaseURL = postsTopic, trendsTopic, ""
	o.Bounded = true
	o.Start = kafkaio.Start{Kind: kafkaio.StartEarliest}
	p, err := trending.Build(o)
	if err != nil {
		return nil, fmt.Errorf("trendeval: build pipeline: %w", err)
	}
	pr, err := beamrun.StartPrism(ctx, 0)
	if err != nil {
		return nil, err
	}
	if err := pr.Run(ctx, p); err != nil {
		return nil, fmt.Errorf("trendeval: pipeline: %w", err)
	}
	return readSnapshots(ctx, kc.Addrs(), trendsTopic)
}

func produce(brokers []string, topic string, posts []*tsv1.Post) error {
	prod, err := sarama.NewSyncProducer(brokers, kafkaconf.Producer("trendeval"))
	if err != nil {
		return fmt.Errorf("trendeval: producer: %w", err)
	}
	defer prod.Close()
	const batch = 1000
	for i := 0; i < len(posts); i += batch {
		var msgs []*sarama.ProducerMessage
		for _, p := range posts[i:min(i+batch, len(posts))] {
			b, err := proto.Marshal(p)
			if err != nil {
				return fmt.Errorf("trendeval: encode post: %w", err)
			}
			msgs = append(msgs, &sarama.ProducerMessage{
				Topic: topic, Key: sarama.StringEncoder(p.GetAuthorDid()), Value: sarama.ByteEncoder(b),
				Timestamp: p.GetObservedAt().AsTime(),
			})
		}
		if err := prod.SendMessages(msgs); err != nil {
			return fmt.Errorf("trendeval: produce: %w", err)
		}
	}
	return nil
}

// readSnapshots reads the whole results topic, keeping per key the
// snapshot with the highest revision, then the latest emitted_at, as
// WindowSnapshot.revision tells readers to: a corrected window (late posts,
// retracted deletes) is emitted again, and the runner may deliver its
// panes out of order, so the last record of a key need not be the newest.
func readSnapshots(ctx context.Context, brokers []string, topic string) ([]*tsv1.WindowSnapshot, error) {
	client, err := sarama.NewClient(brokers, kafkaconf.Consumer("trendeval-reader"))
	if err != nil {
		return nil, fmt.Errorf("trendeval: client: %w", err)
	}
	defer client.Close()
	consumer, err := sarama.NewConsumerFromClient(client)
	if err != nil {
		return nil, fmt.Errorf("trendeval: consumer: %w", err)
	}
	defer consumer.Close()
	parts, err := client.Partitions(topic)
	if err != nil {
		return nil, fmt.Errorf("trendeval: partitions: %w", err)
	}
	ends, err := kafkaoffsets.End(ctx, client, topic)
	if err != nil {
		return nil, fmt.Errorf("trendeval: %w", err)
	}
	byKey := map[string]*tsv1.WindowSnapshot{}
	for _, part := range parts {
		newest := ends[part]
		if newest == 0 {
			continue
		}
		pc, err := consumer.ConsumePartition(topic, part, sarama.OffsetOldest)
		if err != nil {
			return nil, fmt.Errorf("trendeval: consume: %w", err)
		}
		for m := range pc.Messages() {
			var s tsv1.WindowSnapshot
			if err := proto.Unmarshal(m.Value, &s); err != nil {
				pc.Close()
				return nil, fmt.Errorf("trendeval: results record %d/%d: %w", part, m.Offset, err)
			}
			if old := byKey[string(m.Key)]; old == nil || newer(&s, old) {
				byKey[string(m.Key)] = &s
			}
			if m.Offset+1 >= newest {
				break
			}
		}
		pc.Close()
	}
	out := make([]*tsv1.WindowSnapshot, 0, len(byKey))
	for _, s := range byKey {
		out = append(out, s)
	}
	return out, nil
}

// newer reports whether a supersedes b (WindowSnapshot.revision).
func newer(a, b *tsv1.WindowSnapshot) bool {
	if a.GetRevision() != b.GetRevision() {
		return a.GetRevision() > b.GetRevision()
	}
	return !a.GetEmittedAt().AsTime().Before(b.GetEmittedAt().AsTime())
}
