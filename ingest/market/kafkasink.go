package market

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"github.com/IBM/sarama"
	"google.golang.org/protobuf/proto"

	"github.com/trendstream/trendstream/internal/platform/kafkaconf"
	v1 "github.com/trendstream/trendstream/proto/trendstream/v1"
)

// Dead-letter record headers. The value is the raw input, the key the
// source name, the timestamp the time it was dead-lettered.
const (
	HeaderError    = "trendstream-dlq-error"
	HeaderSource   = "trendstream-dlq-source"
	HeaderPosition = "trendstream-dlq-position"
	HeaderValue    = "trendstream-dlq-value" // always "market-raw" here
)

// SinkConfig configures a KafkaSink.
type SinkConfig struct {
	Brokers []string
	// Topic receives MarketEvent records keyed by symbol.
	Topic string
	// DeadLetterTopic receives BadInputs; "-" disables dead letters (bad
	// inputs are then only logged and counted).
	DeadLetterTopic string
	// ClientID names the producer to the broker.
	ClientID string
	Logger   *slog.Logger
}

func (c SinkConfig) withDefaults() SinkConfig {
	if c.Topic == "" {
		c.Topic = DefaultTopic
	}
	if c.DeadLetterTopic == "" {
		c.DeadLetterTopic = DefaultDeadLetterTopic
	}
	if c.ClientID == "" {
		c.ClientID = "trendstream-market-ingest"
	}
	if c.Logger == nil {
		c.Logger = slog.Default()
	}
	return c
}

func (c SinkConfig) validate() error {
	if len(c.Brokers) == 0 {
		return errors.New("market: no Kafka brokers")
	}
	if c.Topic == "-" {
		return errors.New("market: -topic must name a topic")
	}
	return nil
}

// SinkStats counts what a KafkaSink did.
type SinkStats struct {
	// Trades were acknowledged by the broker (acks=all).
	Trades int64
	// BadInputs were reported; DeadLettered of them acknowledged on the
	// dead-letter topic.
	BadInputs    int64
	DeadLettered int64
}

// KafkaSink is the Handler that writes trades to Kafka with the shared
// idempotent, acks=all producer configuration (internal/platform/kafkaconf), keyed
// by symbol so one symbol's trades stay in order. It is asynchronous for
// throughput; a delivery failure is returned by the next Trade or Bad call
// and by Close, so a source stops instead of reading on into the void.
type KafkaSink struct {
	cfg      SinkConfig
	producer sarama.AsyncProducer
	drained  sync.WaitGroup
	// pending counts records queued and not yet answered: Close waits for
	// them before shutting the producer down, because sarama fails a retry
	// that comes after AsyncClose (ErrShuttingDown) instead of sending it.
	pending sync.WaitGroup

	failMu sync.Mutex
	fail   error

	trades, bad, dead atomic.Int64
}

// NewKafkaSink connects the producer.
func NewKafkaSink(cfg SinkConfig) (*KafkaSink, error) {
	cfg = cfg.withDefaults()
	if err := cfg.validate(); err != nil {
		return nil, err
	}
	p, err := sarama.NewAsyncProducer(cfg.Brokers, kafkaconf.Producer(cfg.ClientID))
	if err != nil {
		return nil, fmt.Errorf("market: kafka producer: %w", err)
	}
	s := &KafkaSink{cfg: cfg, producer: p}
	s.drained.Add(2)
	go func() {
		defer s.drained.Done()
		for m := range p.Successes() {
			s.pending.Done()
			if m.Topic == cfg.Topic {
				s.trades.Add(1)
			} else {
				s.dead.Add(1)
			}
		}
	}()
	go func() {
		defer s.drained.Done()
		for pe := range p.Errors() {
			s.pending.Done()
			s.setFail(fmt.Errorf("market: deliver to %s: %w", pe.Msg.Topic, pe.Err))
		}
	}()
	return s, nil
}

func (s *KafkaSink) setFail(err error) {
	s.failMu.Lock()
	defer s.failMu.Unlock()
	if s.fail == nil {
		s.fail = err
		s.cfg.Logger.Error("market: kafka delivery failed; stopping", "err", err)
	}
}

func (s *KafkaSink) failed() error {
	s.failMu.Lock()
	defer s.failMu.Unlock()
	return s.fail
}

// send queues m, blocking (backpressure) while the producer's buffers are
// full, until ctx is done.
func (s *KafkaSink) send(ctx context.Context, m *sarama.ProducerMessage) error {
	if err := s.failed(); err != nil {
		return err
	}
	s.pending.Add(1)
	select {
	case s.producer.Input() <- m:
		return nil
	case <-ctx.Done():
		s.pending.Done()
		return ctx.Err()
	}
}

// Trade implements Handler.
func (s *KafkaSink) Trade(ctx context.Context, ev *v1.MarketEvent) error {
	if err := Validate(ev); err != nil {
		// A source bug, not a feed problem; still never lost.
		raw, _ := proto.Marshal(ev)
		return s.Bad(ctx, BadInput{Source: ev.GetSource().String(), Position: fmt.Sprint("sequence ", ev.GetSequence()), Raw: raw, Err: fmt.Errorf("invalid event: %w", err)})
	}
	b, err := proto.Marshal(ev)
	if err != nil {
		return fmt.Errorf("market: marshal %s trade: %w", ev.GetSymbol(), err)
	}
	return s.send(ctx, &sarama.ProducerMessage{
		Topic:     s.cfg.Topic,
		Key:       sarama.StringEncoder(ev.GetSymbol()),
		Value:     sarama.ByteEncoder(b),
		Timestamp: EventTime(ev),
	})
}

// Bad implements Handler: it logs b and writes it to the dead-letter topic.
func (s *KafkaSink) Bad(ctx context.Context, b BadInput) error {
	s.bad.Add(1)
	s.cfg.Logger.Warn("market: bad input skipped", "source", b.Source, "position", b.Position, "err", b.Err, "raw", truncate(b.Raw, 200))
	if s.cfg.DeadLetterTopic == "-" {
		return s.failed()
	}
	return s.send(ctx, &sarama.ProducerMessage{
		Topic:     s.cfg.DeadLetterTopic,
		Key:       sarama.StringEncoder(b.Source),
		Value:     sarama.ByteEncoder(b.Raw),
		Timestamp: time.Now(),
		Headers: []sarama.RecordHeader{
			{Key: []byte(HeaderError), Value: []byte(b.Err.Error())},
			{Key: []byte(HeaderSource), Value: []byte(b.Source)},
			{Key: []byte(HeaderPosition), Value: []byte(b.Position)},
			{Key: []byte(HeaderValue), Value: []byte("market-raw")},
		},
	})
}

// Close flushes every queued record, waits for the broker's answers and
// closes the producer. It returns the first delivery failure, if any.
// Call it once the source has stopped calling Trade and Bad.
func (s *KafkaSink) Close() error {
	s.pending.Wait()
	s.producer.AsyncClose()
	s.drained.Wait()
	return s.failed()
}

// Stats returns the counts so far (final after Close).
func (s *KafkaSink) Stats() SinkStats {
	return SinkStats{Trades: s.trades.Load(), BadInputs: s.bad.Load(), DeadLettered: s.dead.Load()}
}

func truncate(b []byte, n int) string {
	if len(b) > n {
		return string(b[:n]) + "…"
	}
	return string(b)
}

// Run reads src into sink until src ends or ctx is done, then flushes the
// sink. A canceled ctx is a clean stop: what was read is delivered first.
func Run(ctx context.Context, src Source, sink *KafkaSink) error {
	runErr := src.Run(ctx, sink)
	closeErr := sink.Close()
	st := sink.Stats()
	sink.cfg.Logger.Info("market: ingest stopped", "source", src.Name(), "trades", st.Trades, "bad_inputs", st.BadInputs, "dead_lettered", st.DeadLettered, "err", runErr)
	if closeErr != nil {
		return closeErr
	}
	if runErr != nil && !errors.Is(runErr, context.Canceled) {
		return fmt.Errorf("market: %s: %w", src.Name(), runErr)
	}
	return nil
}
