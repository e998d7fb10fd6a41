package ingest_test

import (
	"flag"
	"io"
	"slices"
	"testing"
	"time"

	"github.com/trendstream/trendstream/ingest"
	"github.com/trendstream/trendstream/ingest/source/file"
)

// TestRegisterFlags: the flags start from DefaultConfig and set the
// Config's fields; -watermark-interval 0 disables the markers, which the
// Config spells as negative.
func TestRegisterFlags(t *testing.T) {
	tests := []struct {
		args  []string
		check func(t *testing.T, c ingest.Config)
	}{
		{nil, func(t *testing.T, c ingest.Config) {
			d := ingest.DefaultConfig()
			if !slices.Equal(c.Brokers, d.Brokers) || c.Topic != d.Topic || c.WatermarkInterval != time.Second || c.MaxInFlight != d.MaxInFlight {
				t.Errorf("no flags gave %+v, want the defaults %+v", c, d)
			}
		}},
		{[]string{"-brokers", "a:1, b:2", "-topic", "t", "-watermark-interval", "0", "-max-in-flight", "7"}, func(t *testing.T, c ingest.Config) {
			if !slices.Equal(c.Brokers, []string{"a:1", "b:2"}) || c.Topic != "t" || c.WatermarkInterval >= 0 || c.MaxInFlight != 7 {
				t.Errorf("got brokers %q topic %q watermark %v in-flight %d", c.Brokers, c.Topic, c.WatermarkInterval, c.MaxInFlight)
			}
		}},
		{[]string{"-watermark-interval", "250ms"}, func(t *testing.T, c ingest.Config) {
			if c.WatermarkInterval != 250*time.Millisecond {
				t.Errorf("watermark interval %v", c.WatermarkInterval)
			}
		}},
	}
	for _, tt := range tests {
		c := ingest.DefaultConfig()
		fs := flag.NewFlagSet("ingest", flag.ContinueOnError)
		c.RegisterFlags(fs)
		if err := fs.Parse(tt.args); err != nil {
			t.Fatalf("%q: %v", tt.args, err)
		}
		tt.check(t, c)
	}
	fs := flag.NewFlagSet("ingest", flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	c := ingest.DefaultConfig()
	c.RegisterFlags(fs)
	if err := fs.Parse([]string{"-brokers", " , "}); err == nil {
		t.Error("an empty broker list was accepted")
	}
}

func TestValidate(t *testing.T) {
	src := &file.Source{Path: "x"}
	tests := []struct {
		name string
		c    ingest.Config
		ok   bool
	}{
		{"defaults with a source", func() ingest.Config { c := ingest.DefaultConfig(); c.Source = src; return c }(), true},
		{"zero but a source", ingest.Config{Source: src}, true},
		{"no source", ingest.DefaultConfig(), false},
		{"backoff upside down", ingest.Config{Source: src, BackoffMin: time.Minute, BackoffMax: time.Second}, false},
	}
	for _, tt := range tests {
		if err := tt.c.Validate(); (err == nil) != tt.ok {
			t.Errorf("%s: Validate() = %v, want ok=%v", tt.name, err, tt.ok)
		}
	}
}
