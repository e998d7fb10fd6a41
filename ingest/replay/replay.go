// Package replay reads recorded streams: Jetstream JSON lines, or raw
// firehose frames stored as [u32 little-endian length][frame] records, either
// optionally zstd-compressed. The format is recognised from the content, not
// the file name.
package replay

import (
	"bufio"
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"io"

	"github.com/klauspost/compress/zstd"
)

// Format is the kind of records a recording holds.
type Format int

// Recognised formats.
const (
	// Frames are raw com.atproto.sync.subscribeRepos websocket frames.
	Frames Format = iota + 1
	// JSONL are Jetstream v1 events, one JSON object per line.
	JSONL
)

func (f Format) String() string {
	switch f {
	case Frames:
		return "frames"
	case JSONL:
		return "jetstream-jsonl"
	}
	return "unknown"
}

// ErrTooLarge marks a record longer than the reader's limit. The reader
// skips past it, so the caller may count it and continue.
var ErrTooLarge = errors.New("record too large")

var zstdMagic = []byte{0x28, 0xb5, 0x2f, 0xfd}

// Reader yields a recording's records one by one.
type Reader struct {
	format Format
	br     *bufio.Reader
	zr     *zstd.Decoder
	max    int
	buf    []byte
}

// NewReader detects compression and format from the first bytes of r.
// maxRecord bounds one record's size (a larger one yields ErrTooLarge and is
// skipped).
func NewReader(r io.Reader, maxRecord int) (*Reader, error) {
	br := bufio.NewReaderSize(r, 1<<16)
	rd := &Reader{max: maxRecord}
	if head, _ := br.Peek(4); bytes.Equal(head, zstdMagic) {
		zr, err := zstd.NewReader(br, zstd.WithDecoderConcurrency(1), zstd.WithDecoderLowmem(true))
		if err != nil {
			return nil, fmt.Errorf("replay: zstd: %w", err)
		}
		rd.zr = zr
		br = bufio.NewReaderSize(zr, 1<<16)
	}
	rd.br = br
	head, err := br.Peek(1)
	if err != nil {
		if err == io.EOF {
			return nil, errors.New("replay: empty recording")
		}
		return nil, fmt.Errorf("replay: %w", err)
	}
	// A JSON line starts with '{' or whitespace. A frame record starts with
	// a little-endian length and then a CBOR map header (0xa2: {op, t}), so a
	// frame whose length's low byte happens to be '{' is still told apart.
	rd.format = Frames
	switch head[0] {
	case '{', ' ', '\n', '\r', '\t':
		rd.format = JSONL
		if h, _ := br.Peek(5); len(h) == 5 && h[4] == 0xa2 {
			rd.format = Frames
		}
	}
	return rd, nil
}

// Format reports the detected format.
func (r *Reader) Format() Format { return r.format }

// Next returns the next record, valid until the following call. It returns
// io.EOF at the end; a truncated last record is io.ErrUnexpectedEOF.
func (r *Reader) Next() ([]byte, error) {
	if r.format == JSONL {
		return r.nextLine()
	}
	var lb [4]byte
	if _, err := io.ReadFull(r.br, lb[:]); err != nil {
		if err == io.EOF {
			return nil, io.EOF
		}
		return nil, io.ErrUnexpectedEOF
	}
	n := int(binary.LittleEndian.Uint32(lb[:]))
	if n > r.max {
		if _, err := io.CopyN(io.Discard, r.br, int64(n)); err != nil {
			return nil, io.ErrUnexpectedEOF
		}
		return nil, fmt.Errorf("%w: %d bytes", ErrTooLarge, n)
	}
	if cap(r.buf) < n {
		r.buf = make([]byte, n)
	}
	r.buf = r.buf[:n]
	if _, err := io.ReadFull(r.br, r.buf); err != nil {
		return nil, io.ErrUnexpectedEOF
	}
	return r.buf, nil
}

func (r *Reader) nextLine() ([]byte, error) {
	for {
		r.buf = r.buf[:0]
		tooLarge := false
		for {
			chunk, err := r.br.ReadSlice('\n')
			if !tooLarge {
				// +1: the limit is on the content, not its newline.
				if len(r.buf)+len(chunk) > r.max+1 {
					tooLarge = true
				} else {
					r.buf = append(r.buf, chunk...)
				}
			}
			if err == bufio.ErrBufferFull {
				continue
			}
			if err == io.EOF {
				if len(bytes.TrimSpace(r.buf)) == 0 && !tooLarge {
					return nil, io.EOF
				}
				break
			}
			if err != nil {
				return nil, err
			}
			break
		}
		if tooLarge {
			return nil, fmt.Errorf("%w: line over %d bytes", ErrTooLarge, r.max)
		}
		line := bytes.TrimSpace(r.buf)
		if len(line) == 0 {
			continue
		}
		return line, nil
	}
}

// Close releases the decompressor.
func (r *Reader) Close() {
	if r.zr != nil {
		r.zr.Close()
	}
}
