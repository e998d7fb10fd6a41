package replay

import (
	"bytes"
	"encoding/binary"
	"errors"
	"io"
	"testing"

	"github.com/klauspost/compress/zstd"
)

func zstdOf(t *testing.T, b []byte) []byte {
	t.Helper()
	var out bytes.Buffer
	w, err := zstd.NewWriter(&out)
	if err != nil {
		t.Fatal(err)
	}
	w.Write(b)
	w.Close()
	return out.Bytes()
}

func framesOf(recs ...[]byte) []byte {
	var b bytes.Buffer
	for _, r := range recs {
		binary.Write(&b, binary.LittleEndian, uint32(len(r)))
		b.Write(r)
	}
	return b.Bytes()
}

func TestReader(t *testing.T) {
	jsonl := []byte("{\"a\":1}\n\n{\"b\":2}\r\n{\"c\":3}")
	// A frame whose length's low byte is '{' (123) must still be frames.
	f123 := append([]byte{0xa2}, bytes.Repeat([]byte{1}, 122)...)
	frames := framesOf([]byte{0xa2, 1, 2}, f123)
	tests := []struct {
		name   string
		in     []byte
		max    int
		format Format
		want   []string
		errs   []error
	}{
		{"jsonl", jsonl, 1 << 10, JSONL, []string{`{"a":1}`, `{"b":2}`, `{"c":3}`}, nil},
		{"jsonl zstd", zstdOf(t, jsonl), 1 << 10, JSONL, []string{`{"a":1}`, `{"b":2}`, `{"c":3}`}, nil},
		{"frames", frames, 1 << 10, Frames, []string{"\xa2\x01\x02", string(f123)}, nil},
		{"frames zstd", zstdOf(t, frames), 1 << 10, Frames, []string{"\xa2\x01\x02", string(f123)}, nil},
		{"oversized frame is skipped", frames, 10, Frames, []string{"\xa2\x01\x02", ""}, []error{nil, ErrTooLarge}},
		{"oversized line is skipped", []byte("{\"a\":1}\n{\"long\":\"xxxxxxxxxxxxxxxxxxxx\"}\n{\"c\":3}\n"), 8, JSONL, []string{`{"a":1}`, "", `{"c":3}`}, []error{nil, ErrTooLarge, nil}},
		{"truncated frame", frames[:len(frames)-1], 1 << 10, Frames, []string{"\xa2\x01\x02", ""}, []error{nil, io.ErrUnexpectedEOF}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r, err := NewReader(bytes.NewReader(tt.in), tt.max)
			if err != nil {
				t.Fatal(err)
			}
			defer r.Close()
			if r.Format() != tt.format {
				t.Fatalf("format %v, want %v", r.Format(), tt.format)
			}
			for i, w := range tt.want {
				b, err := r.Next()
				var we error
				if tt.errs != nil {
					we = tt.errs[i]
				}
				if !errors.Is(err, we) {
					t.Fatalf("record %d: err %v, want %v", i, err, we)
				}
				if err == nil && string(b) != w {
					t.Fatalf("record %d = %q, want %q", i, b, w)
				}
			}
			if tt.errs == nil {
				if _, err := r.Next(); err != io.EOF {
					t.Fatalf("after the last record: %v, want EOF", err)
				}
			}
		})
	}
	if _, err := NewReader(bytes.NewReader(nil), 10); err == nil {
		t.Error("empty recording accepted")
	}
}
