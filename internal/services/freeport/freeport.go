// Package freeport finds free TCP ports on the loopback interface for the
// servers the project starts itself (Prism, PostgreSQL, Kafka, the
// reference PDS, soak runs).
package freeport

import (
	"errors"
	"fmt"
	"net"
)

// Loopback returns n distinct TCP ports on 127.0.0.1 that were free when
// asked. They are held open together while found, so they differ, and
// released before return: another process could still take one before it
// is used, so callers that can retry on "address in use" should.
func Loopback(n int) ([]int, error) {
	ls := make([]net.Listener, 0, n)
	defer func() {
		for _, l := range ls {
			l.Close()
		}
	}()
	ports := make([]int, 0, n)
	for range n {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			return nil, fmt.Errorf("freeport: %w", err)
		}
		ls = append(ls, l)
		ports = append(ports, l.Addr().(*net.TCPAddr).Port)
	}
	return ports, nil
}

// One returns one free port on 127.0.0.1 (see Loopback).
func One() (int, error) {
	p, err := Loopback(1)
	if err != nil {
		return 0, err
	}
	return p[0], nil
}

// ErrTaken marks a start that failed because a port it was given was
// taken: Retry then tries again on others.
var ErrTaken = errors.New("freeport: a port was taken before it was bound")

// Retry calls start with n ports from Loopback until it returns nil or an
// error that is not ErrTaken, at most attempts times, and returns its last
// error. It is for servers whose ports are chosen here and bound by another
// process: a port is free when Loopback finds it, and another process (a
// test package running beside, an outgoing connection's ephemeral port) can
// take it before the server binds it.
func Retry(n, attempts int, start func(ports []int) error) error {
	var err error
	for range attempts {
		var ports []int
		if ports, err = Loopback(n); err != nil {
			return err
		}
		if err = start(ports); !errors.Is(err, ErrTaken) {
			return err
		}
	}
	return err
}
