package envflag

import (
	"bytes"
	"flag"
	"strings"
	"testing"
	"time"
)

func TestName(t *testing.T) {
	tests := []struct{ prefix, name, want string }{
		{"TRENDSTREAM", "kafka-brokers", "TRENDSTREAM_KAFKA_BROKERS"},
		{"TRENDSTREAM", "window.size", "TRENDSTREAM_WINDOW_SIZE"},
		{"", "topic", "TOPIC"},
	}
	for _, tt := range tests {
		if got := Name(tt.prefix, tt.name); got != tt.want {
			t.Errorf("Name(%q, %q) = %q, want %q", tt.prefix, tt.name, got, tt.want)
		}
	}
}

func TestParsePrecedence(t *testing.T) {
	env := map[string]string{
		"P_TOPIC":  "from-env",
		"P_WINDOW": "5m",
		"P_LIMIT":  "7",
	}
	lookup := func(k string) (string, bool) { v, ok := env[k]; return v, ok }
	tests := []struct {
		name       string
		args       []string
		wantTopic  string
		wantWindow time.Duration
		wantLimit  int
	}{
		{"env over default", nil, "from-env", 5 * time.Minute, 7},
		{"command line over env", []string{"-topic", "from-cli", "-limit", "3"}, "from-cli", 5 * time.Minute, 3},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			fs := flag.NewFlagSet("x", flag.ContinueOnError)
			topic := fs.String("topic", "default", "")
			window := fs.Duration("window", time.Minute, "")
			limit := fs.Int("limit", 10, "")
			if err := fs.Parse(tt.args); err != nil {
				t.Fatal(err)
			}
			if err := Apply(fs, "P", lookup); err != nil {
				t.Fatal(err)
			}
			if *topic != tt.wantTopic || *window != tt.wantWindow || *limit != tt.wantLimit {
				t.Errorf("got %q %v %d, want %q %v %d", *topic, *window, *limit, tt.wantTopic, tt.wantWindow, tt.wantLimit)
			}
		})
	}
}

func TestApplyBadValueNamesVariable(t *testing.T) {
	fs := flag.NewFlagSet("x", flag.ContinueOnError)
	fs.Duration("window", time.Minute, "")
	err := Apply(fs, "P", func(k string) (string, bool) { return "ten minutes", k == "P_WINDOW" })
	if err == nil || !strings.Contains(err.Error(), "P_WINDOW") {
		t.Fatalf("want error naming P_WINDOW, got %v", err)
	}
}

func TestUsageListsEnvTwin(t *testing.T) {
	fs := flag.NewFlagSet("x", flag.ContinueOnError)
	var buf bytes.Buffer
	fs.SetOutput(&buf)
	fs.String("kafka-brokers", "127.0.0.1:9092", "Kafka bootstrap `brokers`")
	Usage(fs, "TRENDSTREAM", "usage: x")()
	for _, want := range []string{"usage: x", "-kafka-brokers brokers", "$TRENDSTREAM_KAFKA_BROKERS", "127.0.0.1:9092"} {
		if !strings.Contains(buf.String(), want) {
			t.Errorf("usage lacks %q:\n%s", want, buf.String())
		}
	}
}
