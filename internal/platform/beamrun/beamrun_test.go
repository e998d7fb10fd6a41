package beamrun

import (
	"bytes"
	"context"
	"log/slog"
	"os"
	"os/exec"
	"strings"
	"testing"
)

// TestStartPrismKeepsLogger checks that the first StartPrism of a process,
// which runs Beam's init hooks, leaves the caller's default logger in
// place. It runs in a fresh process: Beam initializes once per process,
// and another test may have done it already.
func TestStartPrismKeepsLogger(t *testing.T) {
	if os.Getenv("BEAMRUN_LOGGER_CHILD") == "1" {
		var buf bytes.Buffer
		slog.SetDefault(slog.New(slog.NewTextHandler(&buf, &slog.HandlerOptions{Level: slog.LevelDebug})))
		if _, err := StartPrism(context.Background(), 0); err != nil {
			t.Fatal(err)
		}
		slog.Debug("after StartPrism")
		if !strings.Contains(buf.String(), "after StartPrism") {
			t.Fatalf("a debug line after StartPrism did not reach the caller's logger; it has:\n%s", buf.String())
		}
		return
	}
	cmd := exec.Command(os.Args[0], "-test.run=^TestStartPrismKeepsLogger$", "-test.count=1")
	cmd.Env = append(os.Environ(), "BEAMRUN_LOGGER_CHILD=1")
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("%v\n%s", err, out)
	}
}
