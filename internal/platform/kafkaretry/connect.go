package kafkaretry

import (
	"context"
	"fmt"
	"time"

	"github.com/IBM/sarama"
)

// Connect creates a sarama client, retrying for up to budget while the
// cluster cannot be reached, e.g. while a broker restarts. Before this, a
// pipeline (re)started during a broker restart exited at once, and a Kafka
// reader's failed connect failed its bundle and with it the whole Prism job
// (RELIABILITY.md, the 15-minute chaos run at 51350e9: 20 unplanned exits).
func Connect(ctx context.Context, brokers []string, cfg *sarama.Config, budget time.Duration) (sarama.Client, error) {
	var client sarama.Client
	err := Do(ctx, budget, fmt.Sprintf("connect to Kafka %v", brokers), func() error {
		c, err := sarama.NewClient(brokers, cfg)
		if err != nil {
			return err
		}
		client = c
		return nil
	})
	return client, err
}
