// Package reportfile writes a harness's report (Markdown, JSON) to a file,
// creating its directory, so that the chaos and soak commands write their
// reports alike: a report is the evidence of a long run, and a write that
// fails must say which file it was.
package reportfile

import (
	"fmt"
	"io"
	"os"
	"path/filepath"
)

// Write creates (or truncates) the file at path, with its parent
// directories, and writes it with write. A failure of write or of the
// close is returned wrapped with the path.
func Write(path string, write func(io.Writer) error) error {
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return err
	}
	w, err := os.Create(path)
	if err != nil {
		return err
	}
	if err := write(w); err != nil {
		w.Close()
		return fmt.Errorf("write %s: %w", path, err)
	}
	if err := w.Close(); err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	return nil
}
