package main

import (
	"bytes"
	"io"
	"os"
	"strings"
	"testing"
)

// captureStdout runs f with os.Stdout redirected, since the ingest's
// stdout sink writes to the process's stdout.
func captureStdout(t *testing.T, f func()) string {
	t.Helper()
	r, w, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	old := os.Stdout
	os.Stdout = w
	out := make(chan string)
	go func() { b, _ := io.ReadAll(r); out <- string(b) }()
	defer func() { os.Stdout = old }()
	f()
	w.Close()
	return <-out
}

func TestIngestCommand(t *testing.T) {
	const rec = "file:../../ingest/frame/testdata/frames.bin.zst"
	tests := []struct {
		name      string
		args      []string
		env       map[string]string
		wantCode  int
		wantLines int
		wantErr   string
	}{
		{name: "help lists flags with env twins", args: []string{"ingest", "-h"}, wantErr: "$TRENDSTREAM_JETSTREAM_URL"},
		{name: "help lists the watermark interval", args: []string{"ingest", "-h"}, wantErr: "-watermark-interval duration\n    \thow often a source-watermark marker"},
		{name: "help lists the dead-letter topic", args: []string{"ingest", "-h"}, wantErr: "(default trendstream.deadletter)\n    \t[$TRENDSTREAM_DEAD_LETTER_TOPIC]"},
		{name: "help lists the byte bound", args: []string{"ingest", "-h"}, wantErr: "(default 67108864)\n    \t[$TRENDSTREAM_MAX_IN_FLIGHT_BYTES]"},
		{name: "replay to stdout by flags", args: []string{"ingest", "-source", rec, "-sink", "stdout", "-metrics-addr", ""}, wantLines: 18},
		{name: "replay to stdout by environment", args: []string{"ingest"}, env: map[string]string{
			"TRENDSTREAM_SOURCE": rec, "TRENDSTREAM_SINK": "stdout", "TRENDSTREAM_METRICS_ADDR": "",
		}, wantLines: 18},
		{name: "unknown sink", args: []string{"ingest", "-sink", "nowhere", "-metrics-addr", ""}, wantCode: 1, wantErr: "unknown sink"},
		{name: "bad cursor", args: []string{"ingest", "-source", rec, "-sink", "stdout", "-cursor", "soon", "-metrics-addr", ""}, wantCode: 1, wantErr: "want a number"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			for k, v := range tt.env {
				t.Setenv(k, v)
			}
			var errb bytes.Buffer
			var code int
			out := captureStdout(t, func() { code = run(tt.args, io.Discard, &errb) })
			if code != tt.wantCode {
				t.Fatalf("exit %d, want %d; stderr:\n%s", code, tt.wantCode, errb.String())
			}
			if !strings.Contains(errb.String(), tt.wantErr) {
				t.Errorf("stderr lacks %q:\n%s", tt.wantErr, errb.String())
			}
			if n := strings.Count(out, "\n"); n != tt.wantLines {
				t.Errorf("%d stdout lines, want %d", n, tt.wantLines)
			}
			for _, l := range strings.Split(strings.TrimSpace(out), "\n") {
				if l != "" && !strings.HasPrefix(l, `{"uri":"at://did:`) {
					t.Errorf("not a protojson Post line: %.80s", l)
				}
			}
		})
	}
}
