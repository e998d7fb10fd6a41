package chaos

import (
	"context"
	"fmt"
	"github.com/trendstream/trendstream/internal/platform/kafkatopics"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"sync"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/trendstream/trendstream/internal/readside/store"
	"github.com/trendstream/trendstream/internal/services/kafkabroker"
	"github.com/trendstream/trendstream/internal/services/pglocal"
)

// Topic names of a run; the broker is the run's own, so they need not be
// unique.
const (
	PostsTopic   = "chaos.posts"
	TrendsTopic  = "chaos.trends"
	CursorsTopic = "chaos.cursors"
	Group        = "chaos-trending"
	Database     = "trendstream"
)

// startKafka starts the run's own real Kafka broker (deploy/kafka/broker.sh)
// with its state under dir, and creates the topics: the fault that restarts
// it must not disturb anybody else's broker.
func startKafka(ctx context.Context, dir string, partitions int32, timeout time.Duration, log *slog.Logger) (*kafkabroker.Broker, error) {
	b, err := kafkabroker.Start(ctx, kafkabroker.Options{Dir: dir, StartTimeout: timeout, Logger: log})
	if err != nil {
		return nil, fmt.Errorf("chaos: start Kafka: %w", err)
	}
	tctx, cancel := context.WithTimeout(ctx, time.Minute)
	defer cancel()
	err = b.CreateTopics(tctx,
		kafkatopics.DataTopic(PostsTopic, partitions, kafkatopics.PostsRetention),
		kafkatopics.DataTopic(TrendsTopic, 2, kafkatopics.TrendsRetention),
		kafkatopics.CursorTopic(CursorsTopic))
	if err != nil {
		_ = b.Close()
		return nil, fmt.Errorf("chaos: create topics: %w", err)
	}
	return b, nil
}

// Postgres is the run's PostgreSQL server, which a fault stops and starts
// again on the same port with the same data (pglocal.Start reuses a
// cluster directory it finds initialised).
type Postgres struct {
	dir  string
	mu   sync.Mutex
	c    *pglocal.Cluster
	port int
	// url holds the cluster's password, which stays the same across the
	// fault's restarts (it is kept in dir).
	url string
}

// startPostgres starts a private server under dir and creates the read
// model's database with its schema.
func startPostgres(ctx context.Context, dir string) (*Postgres, error) {
	c, err := pglocal.Start(ctx, pglocal.Options{Dir: dir})
	if err != nil {
		return nil, fmt.Errorf("chaos: start PostgreSQL: %w", err)
	}
	p := &Postgres{dir: dir, c: c, port: c.Port, url: c.URL(Database)}
	if err := p.createDatabase(ctx); err != nil {
		_ = c.Stop()
		return nil, err
	}
	return p, nil
}

func (p *Postgres) createDatabase(ctx context.Context) error {
	conn, err := pgx.Connect(ctx, p.c.URL("postgres"))
	if err != nil {
		return fmt.Errorf("chaos: connect to PostgreSQL: %w", err)
	}
	defer conn.Close(ctx)
	if _, err := conn.Exec(ctx, "CREATE DATABASE "+Database); err != nil {
		return fmt.Errorf("chaos: create database: %w", err)
	}
	// The schema before the pipeline starts, so the harness can read the
	// read model at any time.
	st, err := store.Open(ctx, p.URL())
	if err != nil {
		return fmt.Errorf("chaos: migrate the read model: %w", err)
	}
	st.Close()
	return nil
}

// URL is the read model's database URL.
func (p *Postgres) URL() string {
	return p.url
}

// Stop shuts the server down (fast mode: open transactions roll back).
func (p *Postgres) Stop() error {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.c == nil {
		return nil
	}
	err := p.c.Stop()
	p.c = nil
	return err
}

// Start starts the stopped server again.
func (p *Postgres) Start(ctx context.Context) error {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.c != nil {
		return nil
	}
	c, err := pglocal.Start(ctx, pglocal.Options{Dir: p.dir, Port: p.port})
	if err != nil {
		return fmt.Errorf("chaos: restart PostgreSQL: %w", err)
	}
	p.c = c
	return nil
}

// LogFile is the server's log.
func (p *Postgres) LogFile() string { return filepath.Join(p.dir, "postgres.log") }

// workDir makes the run's directory: under /tmp, traversable by the
// postgres user PostgreSQL runs as when the harness is root.
func workDir(dir string) (string, bool, error) {
	if dir != "" {
		if err := os.MkdirAll(dir, 0o755); err != nil {
			return "", false, fmt.Errorf("chaos: %w", err)
		}
		abs, err := filepath.Abs(dir)
		return abs, false, err
	}
	d, err := os.MkdirTemp("", "trendchaos-")
	if err != nil {
		return "", false, fmt.Errorf("chaos: %w", err)
	}
	if err := os.Chmod(d, 0o755); err != nil {
		return "", false, fmt.Errorf("chaos: %w", err)
	}
	return d, true, nil
}

// discard is a logger for libraries whose INFO chatter would bury the
// run's own log.
func discard() *slog.Logger { return slog.New(slog.NewTextHandler(io.Discard, nil)) }
