package source

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"

	"github.com/trendstream/trendstream/ingest/frame"
	"github.com/trendstream/trendstream/ingest/jetstream"
	"github.com/trendstream/trendstream/ingest/replay"
)

// File replays a recording: Jetstream JSONL or length-prefixed raw frames,
// optionally zstd-compressed. Positions are 1-based record numbers, so a
// resumed replay skips what was already delivered.
type File struct {
	Path string
	// MaxFrame bounds one record (default frame.DefaultMaxBytes).
	MaxFrame int
}

// Key implements Source.
func (f *File) Key() string {
	p, err := filepath.Abs(f.Path)
	if err != nil {
		p = f.Path
	}
	return "file:" + p
}

// Run implements Source. It returns nil at the end of the file.
func (f *File) Run(ctx context.Context, from int64, hasFrom bool, emit Emit) error {
	max := f.MaxFrame
	if max <= 0 {
		max = frame.DefaultMaxBytes
	}
	fh, err := os.Open(f.Path)
	if err != nil {
		return fmt.Errorf("replay: %w", err)
	}
	defer fh.Close()
	r, err := replay.NewReader(fh, max)
	if err != nil {
		return fmt.Errorf("replay %s: %w", f.Path, err)
	}
	defer r.Close()
	for pos := int64(1); ; pos++ {
		if err := ctx.Err(); err != nil {
			return err
		}
		b, err := r.Next()
		if err == io.EOF {
			return nil
		}
		if errors.Is(err, replay.ErrTooLarge) {
			if err := emit(ctx, &Item{Pos: pos, Err: fmt.Errorf("%w: %v", frame.ErrOversized, err)}); err != nil {
				return err
			}
			continue
		}
		if err != nil {
			return fmt.Errorf("replay %s record %d: %w", f.Path, pos, err)
		}
		if hasFrom && pos <= from {
			continue
		}
		it := &Item{Pos: pos}
		if r.Format() == replay.Frames {
			it.Raw = b
			it.Event, it.Err = frame.Decode(b, frame.Options{MaxBytes: max})
		} else {
			it.Event, it.Err = jetstream.Decode(b)
		}
		if it.Err != nil {
			it.Event = nil
		}
		if err := emit(ctx, it); err != nil {
			return err
		}
	}
}
