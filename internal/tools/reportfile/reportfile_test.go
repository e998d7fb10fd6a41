package reportfile

import (
	"errors"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestWrite(t *testing.T) {
	errWrite := errors.New("disk full")
	tests := []struct {
		name    string
		path    string // under a temporary directory
		write   func(io.Writer) error
		want    string
		wantErr error
	}{
		{
			name:  "creates the missing directories",
			path:  "a/b/report.md",
			write: func(w io.Writer) error { _, err := io.WriteString(w, "# report\n"); return err },
			want:  "# report\n",
		},
		{
			name:  "in an existing directory",
			path:  "report.json",
			write: func(w io.Writer) error { _, err := io.WriteString(w, "{}"); return err },
			want:  "{}",
		},
		{
			name:    "a failed write names the file",
			path:    "bad.md",
			write:   func(io.Writer) error { return errWrite },
			wantErr: errWrite,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), tt.path)
			err := Write(path, tt.write)
			if tt.wantErr != nil {
				if !errors.Is(err, tt.wantErr) || !strings.Contains(err.Error(), path) {
					t.Fatalf("Write = %v, want %v naming %s", err, tt.wantErr, path)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			got, err := os.ReadFile(path)
			if err != nil {
				t.Fatal(err)
			}
			if string(got) != tt.want {
				t.Errorf("file holds %q, want %q", got, tt.want)
			}
		})
	}
}
