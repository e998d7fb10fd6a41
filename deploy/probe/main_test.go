package main

import (
	"bytes"
	"context"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"
)

func TestCheck(t *testing.T) {
	healthy := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != "/healthz" {
			http.NotFound(w, r)
			return
		}
		w.Write([]byte("ok"))
	}))
	defer healthy.Close()
	failing := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		http.Error(w, "starting", http.StatusServiceUnavailable)
	}))
	defer failing.Close()

	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			c.Close()
		}
	}()
	// A port that was free a moment ago: nothing listens there now.
	closed, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	closedAddr := closed.Addr().String()
	closed.Close()

	tests := []struct {
		name    string
		target  string
		wantErr string
	}{
		{"http 2xx", healthy.URL + "/healthz", ""},
		{"http 404", healthy.URL + "/nope", "404"},
		{"http 503", failing.URL + "/healthz", "503"},
		{"tcp open", "tcp://" + ln.Addr().String(), ""},
		{"tcp closed", "tcp://" + closedAddr, "refused"},
		{"tcp without host", "tcp:///x", "want tcp://host:port"},
		{"unknown scheme", "udp://127.0.0.1:1", "scheme must be"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
			defer cancel()
			err := Check(ctx, tt.target)
			switch {
			case tt.wantErr == "" && err != nil:
				t.Fatalf("Check(%q) = %v, want nil", tt.target, err)
			case tt.wantErr != "" && (err == nil || !strings.Contains(err.Error(), tt.wantErr)):
				t.Fatalf("Check(%q) = %v, want error containing %q", tt.target, err, tt.wantErr)
			}
		})
	}

	runs := []struct {
		args []string
		want int
	}{
		{[]string{healthy.URL + "/healthz", "tcp://" + ln.Addr().String()}, 0},
		{[]string{healthy.URL + "/healthz", failing.URL}, 1},
		{nil, 2},
		{[]string{"-h"}, 0},
	}
	for _, r := range runs {
		var stderr bytes.Buffer
		if got := run(context.Background(), r.args, &stderr); got != r.want {
			t.Errorf("run(%q) = %d, want %d; stderr: %s", r.args, got, r.want, stderr.String())
		}
	}
}
