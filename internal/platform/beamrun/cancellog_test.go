package beamrun

import (
	"bytes"
	"context"
	"errors"
	"log/slog"
	"strings"
	"testing"
)

func TestCancelLog(t *testing.T) {
	tests := []struct {
		name      string
		level     slog.Level
		msg       string
		err       error
		wantLevel string // "" : nothing logged
	}{
		{"cancelled bundle", slog.LevelError, "Bundle Failed.", errors.New("pipeline canceled"), "INFO"},
		{"wrapped cancellation", slog.LevelError, "Bundle Failed.", errors.New("stage 3: pipeline canceled"), "INFO"},
		{"real bundle failure", slog.LevelError, "Bundle Failed.", errors.New("worker died: EOF"), "ERROR"},
		{"other errors untouched", slog.LevelError, "job failed", errors.New("pipeline canceled"), "ERROR"},
		{"warnings untouched", slog.LevelWarn, "Bundle Failed.", errors.New("pipeline canceled"), "WARN"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var buf bytes.Buffer
			log := slog.New(cancelLog{slog.NewTextHandler(&buf, nil)}).With("job", "j1")
			log.Log(context.Background(), tt.level, tt.msg, slog.Any("error", tt.err))
			out := buf.String()
			if !strings.Contains(out, "level="+tt.wantLevel) {
				t.Fatalf("logged %q, want level %s", out, tt.wantLevel)
			}
			if !strings.Contains(out, "job=j1") || !strings.Contains(out, tt.err.Error()) {
				t.Errorf("attributes lost: %q", out)
			}
		})
	}
}
