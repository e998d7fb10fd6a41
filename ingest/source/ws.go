package source

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"strconv"
	"time"

	"github.com/gorilla/websocket"

	"github.com/trendstream/trendstream/ingest/frame"
)

// DefaultStallTimeout is the websocket watchdog's default.
const DefaultStallTimeout = time.Minute

// WSOptions are shared by the websocket sources.
type WSOptions struct {
	// MaxFrame bounds one frame; larger frames are read off the socket,
	// discarded and reported as oversized items.
	MaxFrame int
	// StallTimeout is the watchdog: a connection that delivers nothing for
	// this long while we are ready to read is dropped and redialed.
	StallTimeout time.Duration
	// OnConnect is called after each successful dial.
	OnConnect func(url string)
}

// SetOnConnect sets OnConnect; the runner uses it to track connection
// state for the health check.
func (o *WSOptions) SetOnConnect(fn func(url string)) { o.OnConnect = fn }

// Defaults fills zero fields: frame.DefaultMaxBytes, a one-minute watchdog.
func (o *WSOptions) Defaults() {
	if o.MaxFrame <= 0 {
		o.MaxFrame = frame.DefaultMaxBytes
	}
	if o.StallTimeout <= 0 {
		o.StallTimeout = DefaultStallTimeout
	}
}

// ErrWrongMessageType marks a text frame on a binary stream or vice versa.
var ErrWrongMessageType = errors.New("unexpected websocket message type")

// RunWS dials u and calls handle for every message until an error.
// handle gets each message, or a per-message defect (bad != nil) that
// must be reported without stopping the stream.
func RunWS(ctx context.Context, u string, o WSOptions, wantType int, handle func(ctx context.Context, b []byte, bad error) error) error {
	d := websocket.Dialer{HandshakeTimeout: 30 * time.Second, Proxy: http.ProxyFromEnvironment}
	conn, resp, err := d.DialContext(ctx, u, http.Header{"User-Agent": {"trendstream-ingest"}})
	if err != nil {
		if ctx.Err() != nil {
			return ctx.Err()
		}
		if resp != nil {
			err = fmt.Errorf("%w (HTTP %s)", err, resp.Status)
		}
		return &Disconnect{Reason: "dial", Err: err}
	}
	defer conn.Close()
	if o.OnConnect != nil {
		o.OnConnect(u)
	}
	stop := context.AfterFunc(ctx, func() { _ = conn.Close() })
	defer stop()
	// Keep the connection alive through idle NATs; answers are read by the
	// read loop's control-frame handling.
	pingDone := make(chan struct{})
	defer close(pingDone)
	go func() {
		t := time.NewTicker(o.StallTimeout / 2)
		defer t.Stop()
		for {
			select {
			case <-t.C:
				_ = conn.WriteControl(websocket.PingMessage, nil, time.Now().Add(10*time.Second))
			case <-pingDone:
				return
			}
		}
	}()
	buf := make([]byte, 0, 64<<10)
	for {
		// The deadline covers waiting for data only; time spent blocked in
		// handle (backpressure) does not count as a stall.
		_ = conn.SetReadDeadline(time.Now().Add(o.StallTimeout))
		mt, r, err := conn.NextReader()
		if err != nil {
			return classify(ctx, err)
		}
		buf = buf[:0]
		n, err := readLimited(r, &buf, o.MaxFrame)
		if err != nil {
			return classify(ctx, err)
		}
		switch {
		case n > o.MaxFrame:
			err = handle(ctx, nil, fmt.Errorf("%w: %d bytes > %d", frame.ErrOversized, n, o.MaxFrame))
		case mt != wantType:
			err = handle(ctx, nil, fmt.Errorf("%w: %d", ErrWrongMessageType, mt))
		default:
			err = handle(ctx, buf, nil)
		}
		if err != nil {
			return err
		}
		// Do not let one huge frame pin a huge buffer for the connection's
		// life.
		if cap(buf) > 1<<20 {
			buf = make([]byte, 0, 64<<10)
		}
	}
}

// readLimited reads r into buf up to max bytes; beyond that it discards
// the rest and returns the total length.
func readLimited(r io.Reader, buf *[]byte, max int) (int, error) {
	lr := io.LimitReader(r, int64(max)+1)
	for {
		if len(*buf) == cap(*buf) {
			*buf = append(*buf, 0)[:len(*buf)]
		}
		m, err := lr.Read((*buf)[len(*buf):cap(*buf)])
		*buf = (*buf)[:len(*buf)+m]
		if err == io.EOF {
			break
		}
		if err != nil {
			return len(*buf), err
		}
	}
	if len(*buf) <= max {
		return len(*buf), nil
	}
	rest, err := io.Copy(io.Discard, r)
	return len(*buf) + int(rest), err
}

func classify(ctx context.Context, err error) error {
	if ctx.Err() != nil {
		return ctx.Err()
	}
	var ce *websocket.CloseError
	if errors.As(err, &ce) {
		return &Disconnect{Reason: "close_" + strconv.Itoa(ce.Code), Code: ce.Code, Err: err}
	}
	var ne net.Error
	if errors.As(err, &ne) && ne.Timeout() {
		return &Disconnect{Reason: "stall", Err: fmt.Errorf("no data for the watchdog period: %w", err)}
	}
	return &Disconnect{Reason: "read", Err: err}
}
