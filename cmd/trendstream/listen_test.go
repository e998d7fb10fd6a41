package main

import (
	"flag"
	"net"
	"strings"
	"testing"
)

// TestListenDefaultsAreLoopback: the API, the dashboard and the metrics
// listened on every interface by default, handing the data and /metrics to
// anyone on the network. By default they listen on 127.0.0.1 now; exposing
// them takes an explicit -addr or -metrics-addr (docs/api.md).
func TestListenDefaultsAreLoopback(t *testing.T) {
	tests := []struct {
		command string
		flags   []string
		// explains: the usage text says how to listen on every interface.
		explains bool
	}{
		{"serve", []string{"addr"}, true},
		{"run", []string{"addr", "metrics-addr"}, true},
		{"ingest", []string{"metrics-addr"}, false}, // docs/ingest.md says it
	}
	for _, tt := range tests {
		fs := flag.NewFlagSet(tt.command, flag.ContinueOnError)
		commands[tt.command].setup(fs)
		for _, name := range tt.flags {
			f := fs.Lookup(name)
			if f == nil {
				t.Errorf("%s has no -%s flag", tt.command, name)
				continue
			}
			host, _, err := net.SplitHostPort(f.DefValue)
			ip := net.ParseIP(host)
			if err != nil || ip == nil || !ip.IsLoopback() {
				t.Errorf("%s -%s defaults to %q, want a loopback address", tt.command, name, f.DefValue)
			}
			if tt.explains && !strings.Contains(f.Usage, "every interface") {
				t.Errorf("%s -%s: usage %q does not say how to listen on every interface", tt.command, name, f.Usage)
			}
		}
	}
}
