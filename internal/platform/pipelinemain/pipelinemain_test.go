package pipelinemain

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"testing"
)

func TestRunOutcome(t *testing.T) {
	cancelled, cancel := context.WithCancel(context.Background())
	cancel()
	failed := errors.New("job failed")
	for _, tc := range []struct {
		name    string
		ctx     context.Context
		runErr  error
		code    int
		logged  string // "" for nothing
		level   string
		notLogs string
	}{
		{name: "finished", ctx: context.Background(), code: 0},
		{name: "failed", ctx: context.Background(), runErr: failed, code: 1, logged: "trending: pipeline failed", level: "ERROR"},
		// The runner reports a cancelled job as an error; after a signal
		// that is a clean stop.
		{name: "signal, runner error", ctx: cancelled, runErr: errors.New("failed to get metrics: context canceled"), code: 0, logged: "trending: stopped on signal", level: "INFO", notLogs: "pipeline failed"},
		{name: "signal, no runner error", ctx: cancelled, code: 0, logged: "trending: stopped on signal", level: "INFO"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var buf bytes.Buffer
			log := slog.New(slog.NewTextHandler(&buf, nil))
			if got := runOutcome(tc.ctx, log, "trending", tc.runErr); got != tc.code {
				t.Errorf("exit code %d, want %d", got, tc.code)
			}
			out := buf.String()
			switch {
			case tc.logged == "" && out != "":
				t.Errorf("logged %q, want nothing", out)
			case tc.logged != "" && (!strings.Contains(out, `msg="`+tc.logged+`"`) || !strings.Contains(out, "level="+tc.level)):
				t.Errorf("logged %q, want %s %q", out, tc.level, tc.logged)
			case tc.notLogs != "" && strings.Contains(out, tc.notLogs):
				t.Errorf("logged %q, which says %q", out, tc.notLogs)
			}
		})
	}
}

func TestSetupFailure(t *testing.T) {
	for _, tc := range []struct {
		name string
		err  error
		what string
		code int
	}{
		{name: "plain", err: errors.New("bad flag"), what: "build pipeline", code: 2},
		{name: "Fail", err: Fail(1, "pending alerts", errors.New("db down")), what: "pending alerts", code: 1},
		{name: "wrapped Fail", err: fmt.Errorf("setup: %w", Fail(2, "entries", errors.New("no file"))), what: "entries", code: 2},
	} {
		t.Run(tc.name, func(t *testing.T) {
			what, code := setupFailure(tc.err)
			if what != tc.what || code != tc.code {
				t.Errorf("setupFailure(%v) = %q, %d; want %q, %d", tc.err, what, code, tc.what, tc.code)
			}
		})
	}
	inner := errors.New("no file")
	if err := Fail(2, "entries", inner); !errors.Is(err, inner) || err.Error() != "entries: no file" {
		t.Errorf("Fail: %v does not wrap %v as %q", err, inner, "entries: no file")
	}
}
