package beamrun

import (
	"bytes"
	"context"
	"log"
	"log/slog"
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"
)

// TestStartPrismLogger checks what the first StartPrism of a process,
// which runs Beam's init hooks, does to the default logger: a caller's
// stays in place, and a process that set none logs without hanging (a
// restored initial logger deadlocked the log package). Each case runs in a
// fresh process: Beam initializes once per process, and another test may
// have done it already.
func TestStartPrismLogger(t *testing.T) {
	switch os.Getenv("BEAMRUN_LOGGER_CHILD") {
	case "caller":
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
	case "none":
		if _, err := StartPrism(context.Background(), 0); err != nil {
			t.Fatal(err)
		}
		slog.Info("after StartPrism")
		log.Print("log package after StartPrism")
		return
	}
	for _, child := range []string{"caller", "none"} {
		t.Run(child, func(t *testing.T) {
			ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
			defer cancel()
			cmd := exec.CommandContext(ctx, os.Args[0], "-test.run=^TestStartPrismLogger$", "-test.count=1")
			cmd.Env = append(os.Environ(), "BEAMRUN_LOGGER_CHILD="+child)
			out, err := cmd.CombinedOutput()
			if ctx.Err() != nil {
				t.Fatalf("the process hung:\n%s", out)
			}
			if err != nil {
				t.Fatalf("%v\n%s", err, out)
			}
		})
	}
}
