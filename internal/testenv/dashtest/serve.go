package dashtest

import (
	"context"
	"net"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/trendstream/trendstream/internal/readside/api"
)

// Serve serves srv on a free loopback port and returns its base URL
// (http://host:port, no trailing slash). The server stops when the test
// ends, and a Serve that returns an error then fails the test: a clean
// shutdown returns nil, so an error means the server broke while the test
// ran.
func Serve(t testing.TB, ctx context.Context, srv *api.Server) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatalf("dashtest: listen: %v", err)
	}
	sctx, stop := context.WithCancel(ctx)
	served := make(chan error, 1)
	go func() { served <- srv.Serve(sctx, ln) }()
	t.Cleanup(func() {
		stop()
		if err := <-served; err != nil {
			t.Errorf("dashtest: Serve: %v", err)
		}
	})
	return "http://" + ln.Addr().String()
}

// Feed makes srv push the rankings of the Kafka results topic to open
// pages, as `trendstream serve` does, and returns once the consumer has
// its partitions: a ranking produced after Feed returns reaches the page.
func Feed(t testing.TB, ctx context.Context, srv *api.Server, brokers []string, topic string) {
	t.Helper()
	ready := make(chan struct{})
	go func() { _ = api.ConsumeTrends(ctx, brokers, topic, srv, api.OnReady(func() { close(ready) })) }()
	select {
	case <-ready:
	case <-ctx.Done():
		t.Fatal("dashtest: the trends feed never became ready")
	}
}

// Open loads url in the tab, failing the test if it cannot.
func Open(t testing.TB, bctx context.Context, url string) {
	t.Helper()
	if err := chromedp.Do(bctx, chromedp.Navigate(url)); err != nil {
		t.Fatalf("load %s: %v", url, err)
	}
}

// ISO writes a window's end as the page does in data-view (JavaScript's
// toISOString), so a test can wait for the window it asked for.
func ISO(at time.Time) string { return at.UTC().Format("2006-01-02T15:04:05.000Z") }

// WaitView waits until the dashboard has loaded the window ending at at.
func WaitView(t testing.TB, bctx context.Context, at time.Time) {
	t.Helper()
	WaitJS(t, bctx, `document.body.dataset.loaded === 'true' && document.body.dataset.view === '`+ISO(at)+`'`)
}
