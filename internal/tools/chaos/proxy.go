package chaos

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"sync"
	"time"
)

// Proxy is a TCP proxy between the ingest and the source that plays a
// misbehaving relay: Drop closes every connection, Stall holds back what
// the source sends (still reading it, so the source itself never notices)
// until Resume delivers the backlog at once. It works below the websocket
// protocol, so the same proxy serves Jetstream and the relay firehose, and
// the ingest sees exactly what a stalled or vanished relay looks like.
type Proxy struct {
	ln       net.Listener
	upstream string
	log      *slog.Logger

	mu       sync.Mutex
	conns    map[*proxyConn]struct{}
	stalled  bool
	resumed  chan struct{} // closed when the current stall ends
	accepted int
	changed  chan struct{} // closed and replaced when a connection opens
	closed   bool
	wg       sync.WaitGroup
}

type proxyConn struct {
	client, server net.Conn
	once           sync.Once
	gone           chan struct{} // closed with the connection
}

func (c *proxyConn) close() {
	c.once.Do(func() {
		_ = c.client.Close()
		_ = c.server.Close()
		close(c.gone)
	})
}

// NewProxy listens on a free loopback port and forwards every connection
// to upstream (host:port).
func NewProxy(upstream string, log *slog.Logger) (*Proxy, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, fmt.Errorf("chaos: proxy listen: %w", err)
	}
	resumed := make(chan struct{})
	close(resumed)
	p := &Proxy{ln: ln, upstream: upstream, log: log, conns: map[*proxyConn]struct{}{},
		resumed: resumed, changed: make(chan struct{})}
	p.wg.Add(1)
	go p.accept()
	return p, nil
}

// Addr is the proxy's host:port.
func (p *Proxy) Addr() string { return p.ln.Addr().String() }

func (p *Proxy) accept() {
	defer p.wg.Done()
	for {
		c, err := p.ln.Accept()
		if err != nil {
			return
		}
		p.wg.Add(1)
		go p.serve(c)
	}
}

func (p *Proxy) serve(client net.Conn) {
	defer p.wg.Done()
	server, err := net.DialTimeout("tcp", p.upstream, 5*time.Second)
	if err != nil {
		p.log.Warn("chaos proxy: dial the source", "err", err)
		_ = client.Close()
		return
	}
	pc := &proxyConn{client: client, server: server, gone: make(chan struct{})}
	p.mu.Lock()
	if p.closed {
		p.mu.Unlock()
		pc.close()
		return
	}
	p.conns[pc] = struct{}{}
	p.accepted++
	close(p.changed)
	p.changed = make(chan struct{})
	p.mu.Unlock()
	defer func() {
		pc.close()
		p.mu.Lock()
		delete(p.conns, pc)
		p.mu.Unlock()
	}()

	// The client's requests and pings pass untouched; a stall holds only
	// the source's side, as a relay that stops sending does.
	go func() {
		_, _ = io.Copy(server, client)
		pc.close()
	}()
	done := pc.gone
	// The source's bytes are read as they come, stalled or not, so the
	// source never sees back-pressure: the backlog waits here.
	chunks := make(chan []byte, 1<<16)
	go func() {
		defer close(chunks)
		for {
			buf := make([]byte, 32<<10)
			n, err := server.Read(buf)
			if n > 0 {
				select {
				case chunks <- buf[:n]:
				case <-done:
					return
				}
			}
			if err != nil {
				return
			}
		}
	}()
	for b := range chunks {
		if !p.waitOpen(done) {
			return
		}
		if _, err := client.Write(b); err != nil {
			return
		}
	}
}

// waitOpen blocks while the proxy is stalled; false when the connection
// closes first.
func (p *Proxy) waitOpen(done <-chan struct{}) bool {
	for {
		p.mu.Lock()
		stalled, resumed := p.stalled, p.resumed
		p.mu.Unlock()
		if !stalled {
			return true
		}
		select {
		case <-resumed:
		case <-done:
			return false
		}
	}
}

// Drop closes every open connection and returns how many there were.
func (p *Proxy) Drop() int {
	p.mu.Lock()
	conns := make([]*proxyConn, 0, len(p.conns))
	for c := range p.conns {
		conns = append(conns, c)
	}
	p.mu.Unlock()
	for _, c := range conns {
		c.close()
	}
	return len(conns)
}

// Stall holds back everything the source sends until Resume.
func (p *Proxy) Stall() {
	p.mu.Lock()
	defer p.mu.Unlock()
	if !p.stalled {
		p.stalled = true
		p.resumed = make(chan struct{})
	}
}

// Resume ends a stall: the backlog goes out at once.
func (p *Proxy) Resume() {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.stalled {
		p.stalled = false
		close(p.resumed)
	}
}

// Open is the number of open connections.
func (p *Proxy) Open() int {
	p.mu.Lock()
	defer p.mu.Unlock()
	return len(p.conns)
}

// Accepted is the number of connections accepted so far.
func (p *Proxy) Accepted() int {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.accepted
}

// WaitConnected waits until a connection was accepted after the first
// `after` ones, e.g. the ingest's reconnect after a drop.
func (p *Proxy) WaitConnected(ctx context.Context, after int) error {
	for {
		p.mu.Lock()
		n, changed := p.accepted, p.changed
		p.mu.Unlock()
		if n > after {
			return nil
		}
		select {
		case <-changed:
		case <-ctx.Done():
			return fmt.Errorf("chaos: no new connection to the source: %w", ctx.Err())
		}
	}
}

// Close stops accepting, drops every connection and waits for them.
func (p *Proxy) Close() error {
	p.mu.Lock()
	p.closed = true
	p.mu.Unlock()
	err := p.ln.Close()
	p.Resume()
	p.Drop()
	p.wg.Wait()
	if errors.Is(err, net.ErrClosed) {
		return nil
	}
	return err
}
