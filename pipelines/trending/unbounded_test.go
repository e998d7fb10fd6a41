package trending

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/IBM/sarama"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/timestamppb"

	"github.com/trendstream/trendstream/internal/platform/beamrun"
	"github.com/trendstream/trendstream/internal/platform/kafkaconf"
	"github.com/trendstream/trendstream/internal/testenv"
	tsv1 "github.com/trendstream/trendstream/proto/trendstream/v1"
	"github.com/trendstream/trendstream/transforms/kafkaio"
)

// TestUnboundedEmitsWhileReading runs the pipeline unbounded against a
// live-fed posts topic: rankings must arrive on the results topic while
// posts are still being produced, and cancelling must stop the job.
func TestUnboundedEmitsWhileReading(t *testing.T) {
	const postsTopic, trendsTopic = "live.posts", "live.trends"
	kc := testenv.Kafka(t, 2, postsTopic, trendsTopic)
	brokers := kc.Addrs()

	o := DefaultOptions()
	o.Brokers = strings.Join(brokers, ",")
	o.Topic, o.TrendsTopic = postsTopic, trendsTopic
	o.WindowSize, o.WindowPeriod = 2*time.Second, time.Second
	o.Start = kafkaio.Start{Kind: kafkaio.StartEarliest}
	o.MaxOutOfOrder = 500 * time.Millisecond
	o.Score.WarmUp = 0
	o.Score.MinAuthors = 2
	o.Score.NoiseFloor = 1
	p, err := Build(o)
	if err != nil {
		t.Fatal(err)
	}

	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	pr, err := beamrun.StartPrism(ctx, 0)
	if err != nil {
		t.Fatal(err)
	}
	runDone := make(chan error, 1)
	go func() { runDone <- pr.Run(ctx, p) }()

	// Produce for 20 s: each 100 ms a post by a rotating author, at the
	// current time.
	var producing atomic.Bool
	producing.Store(true)
	prodDone := make(chan error, 1)
	go func() {
		defer producing.Store(false)
		prod, err := sarama.NewSyncProducer(brokers, kafkaconf.Producer("live-test"))
		if err != nil {
			prodDone <- err
			return
		}
		defer prod.Close()
		for i := 0; i < 200 && ctx.Err() == nil; i++ {
			now := time.Now()
			b, _ := proto.Marshal(&tsv1.Post{
				AuthorDid: fmt.Sprintf("did:plc:live%d", i%7), Text: "#LiveTest", Hashtags: []string{"LiveTest"},
				Langs: []string{"en"}, ObservedAt: timestamppb.New(now), Operation: tsv1.Operation_OPERATION_CREATE,
			})
			if _, _, err := prod.SendMessage(&sarama.ProducerMessage{Topic: postsTopic, Key: sarama.StringEncoder(fmt.Sprint(i % 7)), Value: sarama.ByteEncoder(b), Timestamp: now}); err != nil {
				prodDone <- err
				return
			}
			time.Sleep(100 * time.Millisecond)
		}
		prodDone <- nil
	}()

	// Watch the results topic.
	consumer, err := sarama.NewConsumer(brokers, kafkaconf.Consumer("live-test-reader"))
	if err != nil {
		t.Fatal(err)
	}
	defer consumer.Close()
	seen := make(chan *tsv1.WindowSnapshot, 1000)
	for _, part := range []int32{0, 1, 2, 3} {
		pc, err := consumer.ConsumePartition(trendsTopic, part, sarama.OffsetOldest)
		if err != nil {
			continue // fewer partitions
		}
		defer pc.Close()
		go func() {
			for m := range pc.Messages() {
				var s tsv1.WindowSnapshot
				if proto.Unmarshal(m.Value, &s) == nil {
					seen <- &s
				}
			}
		}()
	}
	var whileProducing, withTerm int
	deadline := time.After(60 * time.Second)
wait:
	for {
		select {
		case s := <-seen:
			if producing.Load() {
				whileProducing++
				if len(s.Terms) > 0 && s.Terms[0].Term == "livetest" {
					withTerm++
				}
			}
			if whileProducing >= 5 && withTerm >= 1 {
				break wait
			}
		case err := <-runDone:
			t.Fatalf("pipeline ended on its own while unbounded: %v", err)
		case <-deadline:
			t.Fatalf("after 60 s: %d snapshots while producing (%d ranking the live term); want windows to fire during the read", whileProducing, withTerm)
		}
	}
	if !producing.Load() {
		t.Fatal("producer finished before the checks; the test proves nothing")
	}

	cancel()
	select {
	case err := <-runDone:
		if err != nil && !errors.Is(err, context.Canceled) {
			t.Fatalf("pipeline did not stop cleanly: %v", err)
		}
	case <-time.After(45 * time.Second):
		t.Fatal("pipeline did not stop within 45 s of cancellation")
	}
	<-prodDone
}
