package main

import (
	"bytes"
	"strings"
	"testing"
)

func TestUsageAndUnknownCommand(t *testing.T) {
	tests := []struct {
		args     []string
		wantCode int
		wantErr  string
	}{
		{nil, 2, "usage: trendstream <command>"},
		{[]string{"--help"}, 0, "Commands:"},
		{[]string{"nope"}, 2, `unknown command "nope"`},
		{[]string{"version", "-h"}, 0, "$TRENDSTREAM_LOG_LEVEL"},
		{[]string{"version", "-log-level", "loud"}, 2, "-log-level"},
	}
	for _, tt := range tests {
		var out, errb bytes.Buffer
		if code := run(tt.args, &out, &errb); code != tt.wantCode {
			t.Errorf("run(%q) = %d, want %d; stderr:\n%s", tt.args, code, tt.wantCode, errb.String())
		}
		if !strings.Contains(errb.String(), tt.wantErr) {
			t.Errorf("run(%q) stderr lacks %q:\n%s", tt.args, tt.wantErr, errb.String())
		}
	}
}
