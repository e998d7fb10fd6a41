package kafkaretry

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"syscall"
	"testing"

	"github.com/IBM/sarama"
	"github.com/eapache/go-resiliency/breaker"
)

// TestTransient pins the error policy's classification, including how
// wrapped and per-partition (joined) errors are judged.
func TestTransient(t *testing.T) {
	wrap := func(err error) error { return fmt.Errorf("posts/1: %w", err) }
	tests := []struct {
		name string
		err  error
		want bool
	}{
		{"coordinator loading", sarama.ErrOffsetsLoadInProgress, true},
		{"coordinator moved", wrap(sarama.ErrNotCoordinatorForConsumer), true},
		{"coordinator not available", sarama.ErrConsumerCoordinatorNotAvailable, true},
		{"leader moved", wrap(sarama.ErrNotLeaderForPartition), true},
		{"offset not available", sarama.ErrOffsetNotAvailable, true},
		{"unstable offset commit", sarama.ErrUnstableOffsetCommit, true},
		{"incomplete response", wrap(sarama.ErrIncompleteResponse), true},
		{"out of brokers", sarama.ErrOutOfBrokers, true},
		{"connection refused", &net.OpError{Op: "dial", Net: "tcp", Err: syscall.ECONNREFUSED}, true},
		{"connection closed", wrap(io.EOF), true},
		{"every partition transient", errors.Join(wrap(sarama.ErrNotLeaderForPartition), wrap(sarama.ErrLeaderNotAvailable)), true},
		{"one partition fatal", errors.Join(wrap(sarama.ErrNotLeaderForPartition), wrap(sarama.ErrTopicAuthorizationFailed)), false},
		{"group not authorized", sarama.ErrGroupAuthorizationFailed, false},
		{"invalid group id", sarama.ErrInvalidGroupId, false},
		{"unknown member on commit", sarama.ErrUnknownMemberId, false},
		{"unknown topic in metadata", permanent{wrap(sarama.ErrUnknownTopicOrPartition)}, false},
		{"unknown topic at a leader", wrap(sarama.ErrUnknownTopicOrPartition), true},
		{"closed client", sarama.ErrClosedClient, false},
		{"caller's deadline", wrap(context.DeadlineExceeded), false},
		{"caller cancelled", context.Canceled, false},
		{"decoding", sarama.PacketDecodingError{Info: "bad"}, false},
		{"a batch the broker refused while restarting", sarama.ProducerErrors{{Err: sarama.ErrOutOfBrokers}, {Err: sarama.ErrNotLeaderForPartition}}, true},
		{"the producer's circuit breaker open during a restart", sarama.ProducerErrors{{Err: sarama.ErrOutOfBrokers}, {Err: breaker.ErrBreakerOpen}}, true},
		{"a batch with a message too large", sarama.ProducerErrors{{Err: sarama.ErrOutOfBrokers}, {Err: sarama.ErrMessageSizeTooLarge}}, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := Transient(tt.err); got != tt.want {
				t.Errorf("Transient(%v) = %v, want %v", tt.err, got, tt.want)
			}
		})
	}
}
