package pgsink

import (
	"context"
	"io"
	"net"
	"net/url"
	"testing"
	"time"

	"google.golang.org/protobuf/types/known/timestamppb"

	"github.com/trendstream/trendstream/internal/readside/store"
	"github.com/trendstream/trendstream/internal/testenv"
	tsv1 "github.com/trendstream/trendstream/proto/trendstream/v1"
)

func TestMain(m *testing.M) { testenv.Main(m) }

// gate is a TCP forwarder to a PostgreSQL server that refuses connections
// until opened: a database that is restarting.
type gate struct {
	ln     net.Listener
	target string
	open   chan struct{}
}

func newGate(t *testing.T, target string) *gate {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	g := &gate{ln: ln, target: target, open: make(chan struct{})}
	t.Cleanup(func() { ln.Close() })
	go g.serve()
	return g
}

func (g *gate) serve() {
	for {
		c, err := g.ln.Accept()
		if err != nil {
			return
		}
		select {
		case <-g.open:
		default:
			c.Close() // down: the client sees its connection dropped
			continue
		}
		go func() {
			defer c.Close()
			up, err := net.Dial("tcp", g.target)
			if err != nil {
				return
			}
			defer up.Close()
			go io.Copy(up, c) //nolint:errcheck // ends with the connection
			io.Copy(c, up)    //nolint:errcheck
		}()
	}
}

// TestWriteWaitsForPostgres: a PostgreSQL that is down when the sink
// starts and writes (a restart) delays the bundle instead of failing it —
// Prism fails the whole job on a failed bundle, losing its state — and the
// snapshot is written once the database is back. One that stays down past
// the retry bound fails loudly.
func TestWriteWaitsForPostgres(t *testing.T) {
	dbURL := testenv.Postgres(t)
	u, err := url.Parse(dbURL)
	if err != nil {
		t.Fatal(err)
	}
	g := newGate(t, u.Host)
	u.Host = g.ln.Addr().String()
	ctx := context.Background()

	fn := &writeFn{DatabaseURL: u.String(), RetryFor: time.Minute}
	go func() { time.Sleep(1500 * time.Millisecond); close(g.open) }()
	began := time.Now()
	if err := fn.Setup(ctx); err != nil {
		t.Fatalf("setup while the database restarts: %v", err)
	}
	defer fn.Teardown()
	if took := time.Since(began); took < time.Second {
		t.Fatalf("setup took %v: the gate was not closed", took)
	}
	end := time.Date(2026, 12, 1, 12, 0, 0, 0, time.UTC)
	snap := &tsv1.WindowSnapshot{Source: tsv1.Source_SOURCE_BLUESKY, WindowStart: timestamppb.New(end.Add(-time.Minute)),
		WindowEnd: timestamppb.New(end), Posts: 42, EmittedAt: timestamppb.Now()}
	fn.StartBundle(ctx)
	if err := fn.ProcessElement(ctx, snap); err != nil {
		t.Fatal(err)
	}
	if err := fn.FinishBundle(ctx); err != nil {
		t.Fatal(err)
	}
	st, err := store.Open(ctx, dbURL)
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	ws, err := st.Windows(ctx, store.WindowFilter{})
	if err != nil || len(ws) != 1 || ws[0].Posts != 42 {
		t.Fatalf("windows after the restart: %+v, %v", ws, err)
	}

	down := &writeFn{DatabaseURL: "postgres://postgres@127.0.0.1:1/none?sslmode=disable", RetryFor: 800 * time.Millisecond}
	if err := down.Setup(ctx); err == nil {
		t.Fatal("setup against a database that never comes back succeeded")
	} else {
		t.Logf("fails loudly: %v", err)
	}
}
