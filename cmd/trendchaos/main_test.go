package main

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/trendstream/trendstream/internal/testenv/flagtest"
	"github.com/trendstream/trendstream/internal/tools/livesoak"
)

func TestParse(t *testing.T) {
	flagtest.Parse(t, parse, []flagtest.Case[options]{
		{Name: "defaults are make chaos", WantOK: true, Check: func(t *testing.T, o options) {
			if o.cfg.Duration != 15*time.Minute || o.out != "RELIABILITY.md" || o.js != "" || o.cfg.Mode != livesoak.ModeJetstream {
				t.Errorf("defaults: duration %s, out %s, json %s, mode %s", o.cfg.Duration, o.out, o.js, o.cfg.Mode)
			}
			if o.cfg.Partitions != 4 || !o.check {
				t.Errorf("defaults: partitions %d, check %v", o.cfg.Partitions, o.check)
			}
		}},
		{Name: "flags", Args: []string{"-duration", "3m", "-seed", "7", "-out", "/tmp/x/chaos.md", "-json", "/tmp/x/chaos.json", "-partitions", "2", "-mode", "relay"}, WantOK: true,
			Check: func(t *testing.T, o options) {
				if o.cfg.Duration != 3*time.Minute || o.cfg.Seed != 7 || o.js != "/tmp/x/chaos.json" || o.cfg.Partitions != 2 || o.cfg.Mode != livesoak.ModeRelay {
					t.Errorf("got duration %s, seed %d, json %s, partitions %d, mode %s", o.cfg.Duration, o.cfg.Seed, o.js, o.cfg.Partitions, o.cfg.Mode)
				}
				if o.cfg.Command != "go run ./cmd/trendchaos -duration 3m -seed 7 -out /tmp/x/chaos.md -json /tmp/x/chaos.json -partitions 2 -mode relay" {
					t.Errorf("command %q", o.cfg.Command)
				}
			}},
		{Name: "environment twins", Env: map[string]string{"TRENDSTREAM_SEED": "9", "TRENDSTREAM_WINDOW_SIZE": "30s"}, Args: []string{"-seed", "8"}, WantOK: true,
			Check: func(t *testing.T, o options) {
				if o.cfg.Seed != 8 || o.cfg.WindowSize != 30*time.Second {
					t.Errorf("seed %d (the flag wins), window %s (from the environment)", o.cfg.Seed, o.cfg.WindowSize)
				}
			}},
		{Name: "bad mode", Args: []string{"-mode", "pds"}, WantCode: 2},
		{Name: "bad environment", Env: map[string]string{"TRENDSTREAM_RATE": "fast"}, WantCode: 2},
		{Name: "stray argument", Args: []string{"now"}, WantCode: 2},
		{Name: "help", Args: []string{"-h"}, WantCode: 0},
	})
}

func TestCommandQuotes(t *testing.T) {
	got := command([]string{"-dir", "/tmp/a b", "-seed", "1"})
	if want := "go run ./cmd/trendchaos -dir '/tmp/a b' -seed 1"; got != want {
		t.Errorf("command %q, want %q", got, want)
	}
}

// TestChaosShort is the short chaos run of `make test`: 150 s of stream at
// 30 posts/s with one fault of each kind, 30-second windows every 5 s. It
// fails when any check fails, with the evidence in the log and the report
// (its work directory is kept then; the path is logged).
func TestChaosShort(t *testing.T) {
	out := filepath.Join(t.TempDir(), "RELIABILITY.md")
	args := []string{"-duration", "150s", "-settle", "15s", "-faults", "6", "-min-outage", "6s", "-max-outage", "10s",
		"-window-size", "30s", "-window-period", "5s", "-drain-timeout", "90s", "-seed", "1", "-out", out}
	ctx, cancel := context.WithTimeout(context.Background(), 9*time.Minute)
	defer cancel()
	var stdout, stderr bytes.Buffer
	began := time.Now()
	rep, code := run(ctx, args, &stdout, &stderr)
	t.Logf("took %s; stdout:\n%s", time.Since(began).Round(time.Second), stdout.String())
	if rep == nil || len(rep.Checks) == 0 {
		t.Fatalf("no report (exit %d); log:\n%s", code, tail(stderr.String(), 60))
	}
	md, err := os.ReadFile(out)
	if err != nil {
		t.Fatalf("the report was not written: %v", err)
	}
	if !strings.Contains(string(md), "go run ./cmd/trendchaos -duration 150s") {
		t.Errorf("the report does not state the command:\n%s", md)
	}
	for _, c := range rep.Failed() {
		t.Errorf("FAIL %s: %s\n  %s", c.Name, c.Figure, strings.Join(c.Details, "\n  "))
	}
	if code != 0 && len(rep.Failed()) == 0 {
		t.Errorf("exit %d with every check passing; log:\n%s", code, tail(stderr.String(), 60))
	}
	if t.Failed() {
		t.Logf("report and logs kept in %s", rep.Dir)
	}
}

func tail(s string, n int) string {
	lines := strings.Split(strings.TrimRight(s, "\n"), "\n")
	return strings.Join(lines[max(0, len(lines)-n):], "\n")
}
