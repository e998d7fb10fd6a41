// Command probe is the container healthcheck of the trendstream images.
//
// The runtime images have no shell, curl or wget, so Docker healthchecks
// call this static binary instead:
//
//	probe http://127.0.0.1:8080/healthz   # any 2xx status is healthy
//	probe tcp://127.0.0.1:50000           # an accepted connection is healthy
//
// Every target must pass; the exit status is 0 when all do, 1 otherwise.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"time"

	"github.com/trendstream/trendstream/internal/platform/envflag"
)

func main() {
	os.Exit(run(context.Background(), os.Args[1:], os.Stderr))
}

func run(ctx context.Context, args []string, stderr io.Writer) int {
	fs := flag.NewFlagSet("probe", flag.ContinueOnError)
	fs.SetOutput(stderr)
	timeout := fs.Duration("timeout", 3*time.Second, "deadline for all targets together")
	fs.Usage = envflag.Usage(fs, "TRENDSTREAM_PROBE", "usage: probe [flags] http://host:port/path | tcp://host:port ...\n\nExits 0 when every target answers.")
	if err := envflag.Parse(fs, "TRENDSTREAM_PROBE", args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return 0
		}
		return 2
	}
	if fs.NArg() == 0 {
		fs.Usage()
		return 2
	}
	ctx, cancel := context.WithTimeout(ctx, *timeout)
	defer cancel()
	status := 0
	for _, target := range fs.Args() {
		if err := Check(ctx, target); err != nil {
			fmt.Fprintf(stderr, "probe: %v\n", err)
			status = 1
		}
	}
	return status
}

// Check reports whether target is healthy: an http(s) URL must answer GET
// with a 2xx status, a tcp://host:port target must accept a connection.
func Check(ctx context.Context, target string) error {
	u, err := url.Parse(target)
	if err != nil {
		return fmt.Errorf("target %q: %w", target, err)
	}
	switch u.Scheme {
	case "http", "https":
		return checkHTTP(ctx, target)
	case "tcp":
		if u.Host == "" {
			return fmt.Errorf("target %q: want tcp://host:port", target)
		}
		var d net.Dialer
		conn, err := d.DialContext(ctx, "tcp", u.Host)
		if err != nil {
			return fmt.Errorf("%s: %w", target, err)
		}
		return conn.Close()
	default:
		return fmt.Errorf("target %q: scheme must be http, https or tcp", target)
	}
}

func checkHTTP(ctx context.Context, target string) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, target, nil)
	if err != nil {
		return fmt.Errorf("%s: %w", target, err)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return fmt.Errorf("%s: %w", target, err)
	}
	defer resp.Body.Close()
	// Drain a little so the connection closes cleanly; the body is not used.
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 64<<10))
	if resp.StatusCode < 200 || resp.StatusCode > 299 {
		return fmt.Errorf("%s: status %s", target, resp.Status)
	}
	return nil
}
