package chaos

import (
	"bufio"
	"context"
	"fmt"
	"net"
	"strconv"
	"strings"
	"testing"
	"time"
)

// ticker is an upstream that writes a numbered line every 10 ms to each
// connection and echoes nothing.
func ticker(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go func() {
				defer c.Close()
				for i := 0; ; i++ {
					if _, err := fmt.Fprintf(c, "%d\n", i); err != nil {
						return
					}
					time.Sleep(10 * time.Millisecond)
				}
			}()
		}
	}()
	return ln.Addr().String()
}

func newProxy(t *testing.T) *Proxy {
	t.Helper()
	p, err := NewProxy(ticker(t), discard())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { p.Close() })
	return p
}

// lineReader reads numbered lines with a deadline.
type lineReader struct {
	c net.Conn
	r *bufio.Reader
}

func dial(t *testing.T, p *Proxy) *lineReader {
	t.Helper()
	c, err := net.Dial("tcp", p.Addr())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return &lineReader{c: c, r: bufio.NewReader(c)}
}

func (l *lineReader) next(within time.Duration) (int, error) {
	_ = l.c.SetReadDeadline(time.Now().Add(within))
	s, err := l.r.ReadString('\n')
	if err != nil {
		return 0, err
	}
	return strconv.Atoi(strings.TrimSpace(s))
}

func TestProxyStallDeliversBacklogInOrder(t *testing.T) {
	p := newProxy(t)
	l := dial(t, p)
	first, err := l.next(2 * time.Second)
	if err != nil {
		t.Fatal(err)
	}
	p.Stall()
	// Whatever was already on its way may still arrive; then nothing.
	deadline := time.Now().Add(300 * time.Millisecond)
	last := first
	for time.Now().Before(deadline) {
		n, err := l.next(100 * time.Millisecond)
		if err != nil {
			break
		}
		last = n
	}
	if _, err := l.next(300 * time.Millisecond); err == nil {
		t.Fatal("a line arrived during the stall")
	}
	p.Resume()
	// The backlog arrives at once, in order, with nothing skipped.
	for i := 0; i < 20; i++ {
		n, err := l.next(time.Second)
		if err != nil {
			t.Fatalf("after the stall: %v", err)
		}
		if n != last+1 {
			t.Fatalf("line %d after %d: the stall lost or reordered data", n, last)
		}
		last = n
	}
}

func TestProxyDropClosesAndReconnects(t *testing.T) {
	p := newProxy(t)
	l := dial(t, p)
	if _, err := l.next(2 * time.Second); err != nil {
		t.Fatal(err)
	}
	before := p.Accepted()
	if n := p.Drop(); n != 1 {
		t.Fatalf("dropped %d connections, want 1", n)
	}
	for {
		if _, err := l.next(2 * time.Second); err != nil {
			if ne, ok := err.(net.Error); ok && ne.Timeout() {
				t.Fatal("the dropped connection stayed open")
			}
			break // EOF or reset: dropped
		}
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	done := make(chan error, 1)
	go func() { done <- p.WaitConnected(ctx, before) }()
	l2 := dial(t, p)
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	if _, err := l2.next(2 * time.Second); err != nil {
		t.Fatalf("new connection: %v", err)
	}
}

func TestProxyDropDuringStall(t *testing.T) {
	p := newProxy(t)
	l := dial(t, p)
	if _, err := l.next(2 * time.Second); err != nil {
		t.Fatal(err)
	}
	p.Stall()
	p.Drop()
	// The stalled writer must not keep the dropped connection alive.
	deadline := time.Now().Add(3 * time.Second)
	for p.Open() > 0 {
		if time.Now().After(deadline) {
			t.Fatalf("%d connections still open after the drop", p.Open())
		}
		time.Sleep(10 * time.Millisecond)
	}
	p.Resume()
}
