package api_test

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/trendstream/trendstream/internal/readside/api"
	tsv1 "github.com/trendstream/trendstream/proto/trendstream/v1"
)

// smallBuffers makes every accepted connection's send buffer small, so a
// client that stops reading blocks the server's writes after a few KB
// instead of after the megabytes the kernel would otherwise buffer.
type smallBuffers struct{ net.Listener }

func (l smallBuffers) Accept() (net.Conn, error) {
	c, err := l.Listener.Accept()
	if tc, ok := c.(*net.TCPConn); ok {
		_ = tc.SetWriteBuffer(4096)
	}
	return c, err
}

// serveStreams runs srv on a loopback listener with small send buffers and
// returns its address; it stops when the test ends.
func serveStreams(t *testing.T, srv *api.Server) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- srv.Serve(ctx, smallBuffers{ln}) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("Serve: %v", err)
		}
	})
	return ln.Addr().String()
}

// rawStream opens /api/stream on a bare TCP connection with a small receive
// buffer. The caller decides whether it ever reads.
func rawStream(t *testing.T, addr, query string) net.Conn {
	t.Helper()
	d := net.Dialer{Control: func(_, _ string, rc syscall.RawConn) error {
		var serr error
		if err := rc.Control(func(fd uintptr) {
			serr = syscall.SetsockoptInt(int(fd), syscall.SOL_SOCKET, syscall.SO_RCVBUF, 4096)
		}); err != nil {
			return err
		}
		return serr
	}}
	c, err := d.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	if _, err := fmt.Fprintf(c, "GET /api/stream%s HTTP/1.1\r\nHost: %s\r\n\r\n", query, addr); err != nil {
		t.Fatal(err)
	}
	return c
}

// bigSnapshot is a ranking of about 150 KB of JSON: one is more than the
// small socket buffers hold.
func bigSnapshot(end time.Time) *tsv1.WindowSnapshot {
	terms := make([]string, 500)
	for i := range terms {
		terms[i] = fmt.Sprintf("%03d-%s", i, strings.Repeat("x", 250))
	}
	return snap("", end, terms...)
}

// metric returns the value of an unlabelled metric as served on /metrics.
func metric(t *testing.T, base, name string) string {
	t.Helper()
	_, _, body := get(t, base, "/metrics")
	for _, l := range strings.Split(string(body), "\n") {
		if v, ok := strings.CutPrefix(l, name+" "); ok {
			return v
		}
	}
	t.Fatalf("no metric %s", name)
	return ""
}

// waitGauge waits up to within for the stream gauge (and /healthz) to read
// n, and returns how long that took.
func waitGauge(t *testing.T, base string, n int, within time.Duration) time.Duration {
	t.Helper()
	start := time.Now()
	for time.Since(start) < within {
		if metric(t, base, "trendstream_api_stream_clients") == fmt.Sprint(n) {
			waitStreams(t, base, n)
			return time.Since(start)
		}
		time.Sleep(10 * time.Millisecond)
	}
	t.Fatalf("stream gauge is %s after %v, want %d", metric(t, base, "trendstream_api_stream_clients"), within, n)
	return 0
}

// closedByServer reports whether the server closed c: reading what it
// buffered ends in EOF or a reset, not in silence.
func closedByServer(t *testing.T, c net.Conn) bool {
	t.Helper()
	if err := c.SetReadDeadline(time.Now().Add(5 * time.Second)); err != nil {
		t.Fatal(err)
	}
	_, err := io.Copy(io.Discard, c)
	if errors.Is(err, os.ErrDeadlineExceeded) {
		return false
	}
	return true // EOF (nil) or a reset
}

// TestStreamClientThatStopsReading: a client that stops reading used to
// pin a goroutine and a socket forever, and the gauge stopped counting it.
// Its write now times out: the server frees it within the write timeout,
// closes the socket, and the gauge goes back down, while a healthy client
// that reads, idle between events, stays connected through keep-alives.
func TestStreamClientThatStopsReading(t *testing.T) {
	const writeTimeout = 300 * time.Millisecond
	srv := api.New(openStore(t), api.Options{KeepAlive: 50 * time.Millisecond, WriteTimeout: writeTimeout})
	addr := serveStreams(t, srv)
	base := "http://" + addr

	// The healthy client reads every line.
	healthy := rawStream(t, addr, "?lang=*")
	lines := make(chan string, 1024)
	go func() {
		defer close(lines)
		sc := bufio.NewScanner(healthy)
		sc.Buffer(make([]byte, 1<<20), 1<<20)
		for sc.Scan() {
			select {
			case lines <- sc.Text():
			default: // the test only looks at the first lines and the end
			}
		}
	}()
	stuck := rawStream(t, addr, "?lang=*")
	waitGauge(t, base, 2, 5*time.Second)

	for i := range 3 {
		srv.Publish(bigSnapshot(t0.Add(time.Duration(i) * time.Minute)))
	}
	took := waitGauge(t, base, 1, 5*time.Second)
	t.Logf("the stuck client was freed %v after the publish (write timeout %v)", took, writeTimeout)
	if !closedByServer(t, stuck) {
		t.Error("the server never closed the connection of the client that stopped reading")
	}
	if got := metric(t, base, "trendstream_api_stream_write_timeouts_total"); got != "1" {
		t.Errorf("write timeouts %s, want 1", got)
	}

	// Idle for many write timeouts: keep-alives go out and are read, and
	// the healthy client is never cut.
	time.Sleep(5 * writeTimeout)
	if metric(t, base, "trendstream_api_stream_clients") != "1" {
		t.Error("the healthy, idle client was disconnected")
	}
	var events, keepAlives int
	for len(lines) > 0 {
		switch l := <-lines; {
		case l == "event: snapshot":
			events++
		case l == ": keep-alive":
			keepAlives++
		}
	}
	if events != 3 || keepAlives < 3 {
		t.Errorf("the healthy client read %d snapshots and %d keep-alives; want 3 and several", events, keepAlives)
	}
}

// TestStreamClientDroppedWhenBehind: a client that falls more than the
// stream buffer behind is dropped, and its blocked write is cut off at
// once rather than after the (here long) write timeout.
func TestStreamClientDroppedWhenBehind(t *testing.T) {
	srv := api.New(openStore(t), api.Options{StreamBuffer: 2, WriteTimeout: time.Minute})
	addr := serveStreams(t, srv)
	base := "http://" + addr
	stuck := rawStream(t, addr, "")
	waitGauge(t, base, 1, 5*time.Second)
	for i := range 5 {
		srv.Publish(bigSnapshot(t0.Add(time.Duration(i) * time.Minute)))
	}
	took := waitGauge(t, base, 0, 5*time.Second)
	t.Logf("the client was freed %v after falling behind", took)
	if !closedByServer(t, stuck) {
		t.Error("the server never closed the connection of the dropped client")
	}
	if got := metric(t, base, "trendstream_api_stream_clients_dropped_total"); got != "1" {
		t.Errorf("dropped clients %s, want 1", got)
	}
}

// TestStreamClientCap: beyond -max-streams, /api/stream answers 503 with
// Retry-After, and a place frees up when a client leaves.
func TestStreamClientCap(t *testing.T) {
	srv := api.New(openStore(t), api.Options{MaxStreams: 2})
	addr := serveStreams(t, srv)
	base := "http://" + addr
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	first, cancelFirst := context.WithCancel(ctx)
	openStream(t, first, base, "")
	openStream(t, ctx, base, "?lang=en")
	waitGauge(t, base, 2, 5*time.Second)

	resp, err := http.Get(base + "/api/stream")
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusServiceUnavailable || resp.Header.Get("Retry-After") == "" {
		t.Errorf("third stream: %d, Retry-After %q: %s; want 503 with Retry-After", resp.StatusCode, resp.Header.Get("Retry-After"), body)
	}
	if got := metric(t, base, "trendstream_api_stream_clients_rejected_total"); got != "1" {
		t.Errorf("rejected %s, want 1", got)
	}
	waitGauge(t, base, 2, time.Second) // the refused request is not counted

	cancelFirst()
	waitGauge(t, base, 1, 5*time.Second)
	openStream(t, ctx, base, "")
	waitGauge(t, base, 2, 5*time.Second)
}
