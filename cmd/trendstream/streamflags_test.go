package main

import (
	"flag"
	"testing"
	"time"

	"github.com/trendstream/trendstream/internal/platform/envflag"
	"github.com/trendstream/trendstream/internal/readside/api"
)

// TestStreamFlags: the stream limits are flags with environment twins,
// handed to the API server; serve and run both have them.
func TestStreamFlags(t *testing.T) {
	tests := []struct {
		name string
		args []string
		env  map[string]string
		want api.Options
	}{
		{"defaults", nil, nil,
			api.Options{MaxStreams: api.DefaultMaxStreams, WriteTimeout: api.DefaultWriteTimeout, KeepAlive: api.DefaultKeepAlive}},
		{"flags and environment", []string{"-max-streams", "5", "-stream-write-timeout", "2s"},
			map[string]string{"TRENDSTREAM_STREAM_KEEP_ALIVE": "3s", "TRENDSTREAM_MAX_STREAMS": "7"},
			api.Options{MaxStreams: 5, WriteTimeout: 2 * time.Second, KeepAlive: 3 * time.Second}},
		{"no cap", []string{"-max-streams", "0"}, nil,
			api.Options{MaxStreams: -1, WriteTimeout: api.DefaultWriteTimeout, KeepAlive: api.DefaultKeepAlive}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			fs := flag.NewFlagSet("serve", flag.ContinueOnError)
			so := streamFlags(fs)
			if err := fs.Parse(tt.args); err != nil {
				t.Fatal(err)
			}
			lookup := func(k string) (string, bool) { v, ok := tt.env[k]; return v, ok }
			if err := envflag.Apply(fs, EnvPrefix, lookup); err != nil {
				t.Fatal(err)
			}
			if got := so.options(nil); got != tt.want {
				t.Errorf("options %+v, want %+v", got, tt.want)
			}
		})
	}
	for _, command := range []string{"serve", "run"} {
		fs := flag.NewFlagSet(command, flag.ContinueOnError)
		commands[command].setup(fs)
		for _, name := range []string{"max-streams", "stream-write-timeout", "stream-keep-alive"} {
			if fs.Lookup(name) == nil {
				t.Errorf("%s has no -%s", command, name)
			}
		}
	}
}
