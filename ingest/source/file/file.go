// Package file is the source for recordings: Jetstream JSONL or
// length-prefixed raw firehose frames, optionally zstd-compressed.
package file

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
	"github.com/trendstream/trendstream/ingest/source"
)

// Source replays a recording: Jetstream JSONL or length-prefixed raw frames,
// optionally zstd-compressed. Positions are 1-based record numbers, so a
// resumed replay skips what was already delivered.
type Source struct {
	Path string
	// MaxFrame bounds one record (default frame.DefaultMaxBytes).
	MaxFrame int
}

// Key implements source.Source.
func (f *Source) Key() string {
	p, err := filepath.Abs(f.Path)
	if err != nil {
		p = f.Path
	}
	return "file:" + p
}

// Run implements source.Source. It returns nil at the end of the file.
func (f *Source) Run(ctx context.Context, from int64, hasFrom bool, emit source.Emit) error {
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
			if err := emit(ctx, &source.Item{Pos: pos, Err: fmt.Errorf("%w: %v", frame.ErrOversized, err)}); err != nil {
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
		it := &source.Item{Pos: pos}
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

// Kind implements source.Source.
func (f *Source) Kind() string { return "file" }

// Bounded implements source.Source: a recording ends.
func (f *Source) Bounded() bool { return true }

var _ source.Source = (*Source)(nil)
