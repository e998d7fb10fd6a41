package ingest_test

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"testing"

	"github.com/trendstream/trendstream/ingest"
	"github.com/trendstream/trendstream/ingest/source"
	"github.com/trendstream/trendstream/ingest/source/firehose"
	"github.com/trendstream/trendstream/internal/testenv"
)

// childEnv marks the test binary re-executed as a real ingest process, so a
// test can SIGKILL it mid-stream like a crash in production.
const childEnv = "TRENDSTREAM_INGEST_TEST_CHILD"

func TestMain(m *testing.M) {
	if os.Getenv(childEnv) == "1" {
		os.Exit(runChild())
	}
	os.Exit(testenv.RunWithRealKafka(m.Run))
}

func runChild() int {
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, os.Interrupt)
	defer stop()
	slog.SetDefault(slog.New(slog.NewTextHandler(os.Stderr, nil)))
	err := ingest.Run(ctx, ingest.Config{
		Source:         &firehose.Source{Relay: os.Getenv("CHILD_RELAY"), WSOptions: source.WSOptions{StallTimeout: 20e9}},
		Brokers:        strings.Split(os.Getenv("CHILD_BROKERS"), ","),
		Cursor:         os.Getenv("CHILD_CURSOR"),
		Topic:          os.Getenv("CHILD_TOPIC"),        // "": the default
		CursorTopic:    os.Getenv("CHILD_CURSOR_TOPIC"), // "": the default
		MaxInFlight:    50,
		BackoffMin:     100e6,
		BackoffMax:     1e9,
		CursorInterval: 200e6,
	})
	if err != nil {
		fmt.Fprintln(os.Stderr, "child:", err)
		return 1
	}
	return 0
}
