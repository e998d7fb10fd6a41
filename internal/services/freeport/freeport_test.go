package freeport

import (
	"errors"
	"fmt"
	"net"
	"strconv"
	"testing"
)

func TestLoopback(t *testing.T) {
	ports, err := Loopback(5)
	if err != nil {
		t.Fatal(err)
	}
	seen := map[int]bool{}
	for _, p := range ports {
		if p <= 0 || seen[p] {
			t.Fatalf("ports %v: not distinct positive ports", ports)
		}
		seen[p] = true
		// Released: the caller can listen on it.
		l, err := net.Listen("tcp", "127.0.0.1:"+strconv.Itoa(p))
		if err != nil {
			t.Fatalf("port %d not usable: %v", p, err)
		}
		l.Close()
	}
}

// TestRetry: a start that finds its port taken gets other ports, up to the
// attempts; any other outcome ends the retries.
func TestRetry(t *testing.T) {
	other := errors.New("no java")
	for _, tc := range []struct {
		name      string
		results   []error // start's result per call
		wantCalls int
		wantErr   error
	}{
		{"first try", []error{nil}, 1, nil},
		{"taken, then started", []error{ErrTaken, nil}, 2, nil},
		{"taken every time", []error{ErrTaken, ErrTaken, ErrTaken, nil}, 3, ErrTaken},
		{"another error ends it", []error{fmt.Errorf("up: %w", other), nil}, 1, other},
		{"wrapped taken retries", []error{fmt.Errorf("cluster.sh: %w", ErrTaken), nil}, 2, nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var seen [][]int
			err := Retry(2, 3, func(ports []int) error {
				seen = append(seen, ports)
				return tc.results[len(seen)-1]
			})
			if len(seen) != tc.wantCalls || !errors.Is(err, tc.wantErr) || (tc.wantErr == nil && err != nil) {
				t.Fatalf("%d calls, %v; want %d calls, %v", len(seen), err, tc.wantCalls, tc.wantErr)
			}
			for _, p := range seen {
				if len(p) != 2 || p[0] == p[1] {
					t.Fatalf("ports %v: want 2 distinct", p)
				}
			}
		})
	}
}
