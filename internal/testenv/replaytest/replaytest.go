// Package replaytest builds the replays that the pipeline's tests,
// benchmarks and the portable-runner test feed through Kafka: real posts
// with planted trends, produced the way the ingest produces them.
//
// It is shared by test code in several packages (test files cannot import
// each other across packages); it links no Beam.
package replaytest

import (
	"context"
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/IBM/sarama"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/timestamppb"

	"github.com/trendstream/trendstream/internal/core/recentposts"
	"github.com/trendstream/trendstream/internal/platform/kafkaconf"
	"github.com/trendstream/trendstream/internal/platform/kafkaoffsets"
	"github.com/trendstream/trendstream/internal/testenv/corpus"
	tsv1 "github.com/trendstream/trendstream/proto/trendstream/v1"
)

// Scenario is a 20-minute replay from t0 with known trends: 600 real posts
// as background, the hashtag #SolarEclipse by 15 distinct authors at minute
// 12, a one-author flood ("cheap followers buyfollowers now", 40 posts) at
// the same time, and one delete. Posts are in event-time order, so the first
// record of every partition is its earliest.
func Scenario(t0 time.Time) ([]*tsv1.Post, error) {
	all, err := corpus.Posts()
	if err != nil {
		return nil, err
	}
	posts := corpus.Retime(all[:600], t0, 0.5)
	at := func(min, sec int) *timestamppb.Timestamp {
		return timestamppb.New(t0.Add(time.Duration(min)*time.Minute + time.Duration(sec)*time.Second))
	}
	for i := range 15 {
		posts = append(posts, &tsv1.Post{
			Uri:        fmt.Sprintf("at://did:plc:burst%02d/app.bsky.feed.post/b%d", i, i),
			AuthorDid:  fmt.Sprintf("did:plc:burst%02d", i),
			Text:       "#SolarEclipse",
			Hashtags:   []string{"SolarEclipse"},
			Langs:      []string{"en"},
			ObservedAt: at(12, i*3),
			Source:     tsv1.Source_SOURCE_BLUESKY,
			Operation:  tsv1.Operation_OPERATION_CREATE,
		})
	}
	for i := range 40 {
		posts = append(posts, &tsv1.Post{
			Uri:        fmt.Sprintf("at://did:plc:spammer/app.bsky.feed.post/s%d", i),
			AuthorDid:  "did:plc:spammer",
			Text:       "cheap followers buyfollowers now",
			Langs:      []string{"en"},
			ObservedAt: at(12, i),
			Source:     tsv1.Source_SOURCE_BLUESKY,
			Operation:  tsv1.Operation_OPERATION_CREATE,
		})
	}
	// A delete is counted, never ranked.
	posts = append(posts, &tsv1.Post{
		Uri: "at://did:plc:burst00/app.bsky.feed.post/b0", AuthorDid: "did:plc:burst00",
		ObservedAt: at(13, 0), Operation: tsv1.Operation_OPERATION_DELETE, Source: tsv1.Source_SOURCE_BLUESKY,
	})
	SortByEventTime(posts)
	// As the ingest writes it, the delete carries its post.
	recentposts.Attach(posts)
	return posts, nil
}

// SortByEventTime orders posts by event time, stably, as a recording
// holds them and the ingest writes them: in a replay produced out of
// order, a post after later ones would be late and dropped.
func SortByEventTime(posts []*tsv1.Post) {
	slices.SortStableFunc(posts, func(a, b *tsv1.Post) int {
		return a.GetObservedAt().AsTime().Compare(b.GetObservedAt().AsTime())
	})
}

// Produce writes posts to topic as the ingest does: key = author DID,
// record timestamp = event time, in batches so large replays neither sit in
// memory whole nor go one by one.
func Produce(brokers []string, topic string, posts []*tsv1.Post) error {
	prod, err := sarama.NewSyncProducer(brokers, kafkaconf.Producer("replaytest"))
	if err != nil {
		return fmt.Errorf("replaytest: producer: %w", err)
	}
	defer prod.Close()
	const batch = 5000
	msgs := make([]*sarama.ProducerMessage, 0, min(batch, len(posts)))
	for i, p := range posts {
		b, err := proto.Marshal(p)
		if err != nil {
			return fmt.Errorf("replaytest: %w", err)
		}
		msgs = append(msgs, &sarama.ProducerMessage{
			Topic: topic, Key: sarama.StringEncoder(p.GetAuthorDid()), Value: sarama.ByteEncoder(b),
			Timestamp: p.GetObservedAt().AsTime(),
		})
		if len(msgs) == batch || i == len(posts)-1 {
			if err := prod.SendMessages(msgs); err != nil {
				return fmt.Errorf("replaytest: produce to %s: %w", topic, err)
			}
			msgs = msgs[:0]
		}
	}
	return nil
}

// ReadSnapshots reads a results topic from the start to the end offsets it
// has now, keeping the last WindowSnapshot per record key as a compacted
// topic would. A record that is not a WindowSnapshot is an error.
func ReadSnapshots(brokers []string, topic string, timeout time.Duration) (map[string]*tsv1.WindowSnapshot, error) {
	client, err := sarama.NewClient(brokers, kafkaconf.Consumer("replaytest-reader"))
	if err != nil {
		return nil, fmt.Errorf("replaytest: %w", err)
	}
	defer client.Close()
	consumer, err := sarama.NewConsumerFromClient(client)
	if err != nil {
		return nil, fmt.Errorf("replaytest: %w", err)
	}
	defer consumer.Close()
	parts, err := client.Partitions(topic)
	if err != nil {
		return nil, fmt.Errorf("replaytest: partitions of %s: %w", topic, err)
	}
	out := map[string]*tsv1.WindowSnapshot{}
	deadline := time.After(timeout)
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	ends, err := kafkaoffsets.End(ctx, client, topic)
	if err != nil {
		return nil, fmt.Errorf("replaytest: %w", err)
	}
	for _, p := range parts {
		newest := ends[p]
		if newest == 0 {
			continue
		}
		pc, err := consumer.ConsumePartition(topic, p, sarama.OffsetOldest)
		if err != nil {
			return nil, fmt.Errorf("replaytest: %w", err)
		}
		for done := false; !done; {
			select {
			case m := <-pc.Messages():
				var s tsv1.WindowSnapshot
				if err := proto.Unmarshal(m.Value, &s); err != nil {
					pc.Close()
					return nil, fmt.Errorf("replaytest: record %s/%d@%d is not a WindowSnapshot: %w", topic, p, m.Offset, err)
				}
				out[string(m.Key)] = &s
				done = m.Offset+1 >= newest
			case <-deadline:
				pc.Close()
				return nil, fmt.Errorf("replaytest: %s/%d not read to offset %d within %v", topic, p, newest, timeout)
			}
		}
		pc.Close()
	}
	return out, nil
}

// MustCorpus returns the bundled corpus of real posts (corpus.Posts); an
// unreadable corpus fails the test.
func MustCorpus(tb testing.TB) []*tsv1.Post {
	tb.Helper()
	all, err := corpus.Posts()
	if err != nil {
		tb.Fatalf("replaytest: %v", err)
	}
	return all
}

// MustScenario is Scenario for tests: an error fails tb.
func MustScenario(tb testing.TB, t0 time.Time) []*tsv1.Post {
	tb.Helper()
	posts, err := Scenario(t0)
	if err != nil {
		tb.Fatal(err)
	}
	return posts
}

// MustProduce is Produce for tests: an error fails tb.
func MustProduce(tb testing.TB, brokers []string, topic string, posts []*tsv1.Post) {
	tb.Helper()
	if err := Produce(brokers, topic, posts); err != nil {
		tb.Fatal(err)
	}
}

// ProduceLive writes posts to topic one at a time, each when the wall clock
// reaches its observed time (posts in that order), as a live ingest would,
// and calls sent(i) after post i is acknowledged. It returns when all are
// written or ctx ends.
func ProduceLive(ctx context.Context, brokers []string, topic string, posts []*tsv1.Post, sent func(i int)) error {
	prod, err := sarama.NewSyncProducer(brokers, kafkaconf.Producer("replaytest-live"))
	if err != nil {
		return fmt.Errorf("replaytest: producer: %w", err)
	}
	defer prod.Close()
	for i, p := range posts {
		at := p.GetObservedAt().AsTime()
		if d := time.Until(at); d > 0 {
			select {
			case <-ctx.Done():
				return ctx.Err()
			case <-time.After(d):
			}
		}
		b, err := proto.Marshal(p)
		if err != nil {
			return fmt.Errorf("replaytest: %w", err)
		}
		if _, _, err := prod.SendMessage(&sarama.ProducerMessage{
			Topic: topic, Key: sarama.StringEncoder(p.GetAuthorDid()), Value: sarama.ByteEncoder(b), Timestamp: at,
		}); err != nil {
			return fmt.Errorf("replaytest: produce post %d to %s: %w", i, topic, err)
		}
		if sent != nil {
			sent(i)
		}
	}
	return nil
}
