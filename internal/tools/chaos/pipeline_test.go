package chaos

import (
	"flag"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/trendstream/trendstream/pipelines/trending"
)

// TestPipelineArgsRoundTrip: the flags the pipeline process gets parse back
// into exactly the options the reference is computed with.
func TestPipelineArgsRoundTrip(t *testing.T) {
	c := DefaultConfig()
	c.WindowSize, c.WindowPeriod, c.MaxOutOfOrder, c.TopK, c.Score.WarmUp = 30*time.Second, 5*time.Second, 3*time.Second, 7, time.Minute
	o := PipelineOptions(c, []string{"127.0.0.1:9092", "127.0.0.1:9093"}, "postgres://x@127.0.0.1:5432/db")
	args := pipelineArgs(o)

	got := trending.Options{}
	fs := flag.NewFlagSet("trending", flag.ContinueOnError)
	got.RegisterFlags(fs)
	if err := fs.Parse(args); err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(got, o) {
		t.Fatalf("the pipeline would run with\n%+v\nnot\n%+v", got, o)
	}
	joined := strings.Join(args, " ")
	for _, want := range []string{"-start=earliest", "-group=" + Group, "-posts-topic=" + PostsTopic, "-window-size=30s", "-score-warm-up=1m0s", "-score-noise-floor=1", "-score-enter=2"} {
		if !strings.Contains(joined, want) {
			t.Errorf("args lack %s: %s", want, joined)
		}
	}
}

func TestParseMetrics(t *testing.T) {
	text := `# HELP trendstream_ingest_cursor Committed cursor.
# TYPE trendstream_ingest_cursor gauge
trendstream_ingest_cursor 1.764633600123456e+15
trendstream_ingest_reconnects_total{reason="dial"} 3
trendstream_ingest_reconnects_total{reason="close_1006"} 1
broken line
`
	m, err := parseMetrics(strings.NewReader(text))
	if err != nil {
		t.Fatal(err)
	}
	if got := m["trendstream_ingest_cursor"]; got != 1764633600123456 {
		t.Errorf("cursor %v", got)
	}
	got := pick(m, "trendstream_ingest_reconnects_total")
	want := []string{`trendstream_ingest_reconnects_total{reason="close_1006"} 1`, `trendstream_ingest_reconnects_total{reason="dial"} 3`}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("pick = %q, want %q", got, want)
	}
}

func TestRedactArgs(t *testing.T) {
	tests := []struct{ in, want string }{
		{"-database-url=postgres://postgres:s3cret@127.0.0.1:5432/trendstream?sslmode=disable", "-database-url=postgres://postgres:REDACTED@127.0.0.1:5432/trendstream?sslmode=disable"},
		{"-database-url=postgres://postgres@127.0.0.1:5432/db", "-database-url=postgres://postgres@127.0.0.1:5432/db"},
		{"-window-size=30s", "-window-size=30s"},
		{"-brokers=127.0.0.1:9092", "-brokers=127.0.0.1:9092"},
	}
	for _, tc := range tests {
		if got := redactArgs([]string{tc.in})[0]; got != tc.want {
			t.Errorf("redactArgs(%q) = %q, want %q", tc.in, got, tc.want)
		}
	}
}
