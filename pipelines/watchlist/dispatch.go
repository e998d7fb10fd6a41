package watchlist

import (
	"context"
	"fmt"
	"log/slog"
	"time"

	"github.com/IBM/sarama"
	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/proto"

	"github.com/trendstream/trendstream/internal/core/watchlist"
	"github.com/trendstream/trendstream/internal/platform/kafkaconf"
	"github.com/trendstream/trendstream/internal/platform/kafkaretry"
	"github.com/trendstream/trendstream/internal/platform/webhook"
	"github.com/trendstream/trendstream/internal/readside/store"
	"github.com/trendstream/trendstream/transforms/pgsink"
)

// DispatchConfig says where alerts go.
type DispatchConfig struct {
	// DatabaseURL is the read model; with it, each alert is stored once
	// and published and delivered once (store.Once). Without it an alert
	// is published and delivered every time it is derived: a re-run
	// repeats it (same key, same Idempotency-Key).
	DatabaseURL   string
	Brokers       string
	AlertsTopic   string // empty: not published
	KafkaRetryFor time.Duration
	SinkRetryFor  time.Duration
	Webhook       webhook.Config // URL empty: no webhook
	Entries       string         // watchlist.EncodeEntries
}

// Dispatcher sends alerts to PostgreSQL, the alerts topic and the webhook.
type Dispatcher struct {
	cfg      DispatchConfig
	entries  map[string]watchlist.Entry
	st       *store.Store
	producer sarama.SyncProducer
	hook     *webhook.Client
}

// NewDispatcher connects to what cfg names.
func NewDispatcher(ctx context.Context, cfg DispatchConfig) (*Dispatcher, error) {
	es, err := watchlist.DecodeEntries(cfg.Entries)
	if err != nil {
		return nil, err
	}
	d := &Dispatcher{cfg: cfg, entries: map[string]watchlist.Entry{}}
	for _, e := range es {
		d.entries[e.ID] = e
	}
	if cfg.DatabaseURL != "" {
		if d.st, err = pgsink.Connect(ctx, cfg.DatabaseURL, cfg.SinkRetryFor); err != nil {
			return nil, fmt.Errorf("watchlist: alerts: %w", err)
		}
	}
	if cfg.AlertsTopic != "" {
		brokers, err := kafkaconf.SplitBrokers(cfg.Brokers)
		if err != nil {
			d.Close()
			return nil, err
		}
		if err := kafkaretry.Do(ctx, cfg.KafkaRetryFor, "connect alerts producer", func() error {
			p, err := sarama.NewSyncProducer(brokers, kafkaconf.Producer("trendstream-watchlist-alerts"))
			d.producer = p
			return err
		}); err != nil {
			d.Close()
			return nil, fmt.Errorf("watchlist: alerts: %w", err)
		}
	}
	if cfg.Webhook.URL != "" {
		if d.hook, err = webhook.New(cfg.Webhook); err != nil {
			d.Close()
			return nil, err
		}
	}
	return d, nil
}

// Close releases the connections.
func (d *Dispatcher) Close() {
	if d.producer != nil {
		_ = d.producer.Close()
	}
	if d.st != nil {
		d.st.Close()
	}
}

// Dispatch records a and sends it on. With a database, an alert recorded
// before (an earlier run, a restart, a retried bundle) is sent only where
// it has not been yet. A webhook that keeps failing is recorded and not
// fatal: DeliverPending tries again on the next start.
func (d *Dispatcher) Dispatch(ctx context.Context, a watchlist.Alert) error {
	msg := a.Proto(d.entries[a.EntryID])
	if d.st == nil {
		if err := d.publish(ctx, a.ID, msg); err != nil {
			return err
		}
		if d.hook != nil {
			if _, err := d.deliver(ctx, a.ID, msg); err != nil {
				slog.WarnContext(ctx, "watchlist: webhook delivery failed", "alert", a.ID, "err", err)
			}
		}
		return nil
	}
	if err := pgsink.Retry(ctx, d.cfg.SinkRetryFor, "store alert", func() error {
		_, err := d.st.UpsertAlert(ctx, a)
		return err
	}); err != nil {
		return fmt.Errorf("watchlist: store alert: %w", err)
	}
	if d.producer != nil {
		if _, err := d.st.Once(ctx, a.ID, store.StepPublish, func(ctx context.Context) (int, error) {
			return 1, d.publish(ctx, a.ID, msg)
		}); err != nil {
			return err
		}
	}
	if d.hook != nil {
		if _, err := d.st.Once(ctx, a.ID, store.StepDeliver, func(ctx context.Context) (int, error) {
			return d.deliver(ctx, a.ID, msg)
		}); err != nil {
			slog.WarnContext(ctx, "watchlist: webhook delivery failed; recorded, retried on the next start", "alert", a.ID, "err", err)
		}
	}
	return nil
}

func (d *Dispatcher) publish(ctx context.Context, id string, msg proto.Message) error {
	if d.producer == nil {
		return nil
	}
	b, err := proto.Marshal(msg)
	if err != nil {
		return fmt.Errorf("watchlist: encode alert: %w", err)
	}
	m := &sarama.ProducerMessage{Topic: d.cfg.AlertsTopic, Key: sarama.StringEncoder(id), Value: sarama.ByteEncoder(b)}
	return kafkaretry.Do(ctx, d.cfg.KafkaRetryFor, "publish alert "+id, func() error {
		_, _, err := d.producer.SendMessage(m)
		return err
	})
}

func (d *Dispatcher) deliver(ctx context.Context, id string, msg proto.Message) (int, error) {
	b, err := protojson.Marshal(msg)
	if err != nil {
		return 0, fmt.Errorf("watchlist: encode alert: %w", err)
	}
	return d.hook.Post(ctx, id, b)
}

// DeliverPending publishes and delivers the stored alerts an earlier run
// recorded but did not get through (the broker or the webhook was down, or
// the run stopped in between). Without a database there is no record and
// nothing to do.
func (d *Dispatcher) DeliverPending(ctx context.Context) (int, error) {
	if d.st == nil || (d.hook == nil && d.producer == nil) {
		return 0, nil
	}
	recs, err := d.st.PendingAlerts(ctx, d.producer != nil, d.hook != nil, 10000)
	if err != nil {
		return 0, err
	}
	for _, r := range recs {
		if err := d.Dispatch(ctx, r.Alert); err != nil {
			return 0, err
		}
	}
	return len(recs), nil
}

// DeliverPending runs Dispatcher.DeliverPending for o: what the watchlist
// command does before it starts the pipeline.
func DeliverPending(ctx context.Context, o Options) (int, error) {
	if o.DatabaseURL == "" || (o.AlertsTopic == "" && o.Webhook.URL == "") {
		return 0, nil // no record of what is pending, or nowhere to send it
	}
	entries, err := watchlist.EncodeEntries(o.Entries)
	if err != nil {
		return 0, err
	}
	d, err := NewDispatcher(ctx, o.dispatchConfig(entries))
	if err != nil {
		return 0, err
	}
	defer d.Close()
	return d.DeliverPending(ctx)
}
