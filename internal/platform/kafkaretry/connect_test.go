package kafkaretry_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/trendstream/trendstream/internal/platform/kafkaconf"
	"github.com/trendstream/trendstream/internal/platform/kafkaretry"
	"github.com/trendstream/trendstream/internal/testenv"
)

func TestMain(m *testing.M) { testenv.Main(m) }

// TestConnectRidesOutARestart stops the broker, starts connecting, and
// brings the broker back: the connect must succeed and the client work. A
// broker that stays away fails the connect once the budget is spent, with
// an error saying so.
func TestConnectRidesOutARestart(t *testing.T) {
	testenv.ForEachKafka(t, func(t *testing.T, kind testenv.KafkaKind) {
		topic := testenv.Topic(t, "posts")
		k := kind.New(t, 2, topic)
		k.Stop()

		t.Run("comes back", func(t *testing.T) {
			type result struct {
				parts []int32
				err   error
			}
			done := make(chan result, 1)
			go func() {
				client, err := kafkaretry.Connect(context.Background(), k.Addrs(), kafkaconf.Consumer("kafkaretry-test"), 2*time.Minute)
				if err != nil {
					done <- result{err: err}
					return
				}
				defer client.Close()
				parts, err := client.Partitions(topic)
				done <- result{parts, err}
			}()
			time.Sleep(2 * time.Second)
			select {
			case r := <-done:
				t.Fatalf("connected while the broker was down: %+v", r)
			default:
			}
			k.Start()
			r := <-done
			if r.err != nil {
				t.Fatal(r.err)
			}
			if len(r.parts) != 2 {
				t.Errorf("partitions %v, want 2", r.parts)
			}
		})

		t.Run("stays away", func(t *testing.T) {
			k.Stop()
			defer k.Start()
			began := time.Now()
			_, err := kafkaretry.Connect(context.Background(), k.Addrs(), kafkaconf.Consumer("kafkaretry-test"), 3*time.Second)
			if !errors.Is(err, kafkaretry.ErrRetriesExhausted) {
				t.Fatalf("error %v, want one wrapping ErrRetriesExhausted", err)
			}
			if d := time.Since(began); d > 30*time.Second {
				t.Errorf("gave up after %v, budget 3s", d)
			}
		})
	})
}
