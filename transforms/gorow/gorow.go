// Package gorow encodes pipeline elements with the Go SDK's own row
// encoding, behind a custom coder that runners treat as opaque bytes.
//
// Why: the Go SDK gives a struct element the standard row coder
// (beam:coder:row:v1) by default, and a Java runner that knows that coder
// decodes and re-encodes every element that crosses a stage boundary. On
// Flink's portable runner (Beam 2.62's job server, the newest served to
// these machines; docs/local-cluster.md) Java's RowCoder misread the Go SDK
// 2.77 encoding of nested rows: a task spun in BitSetCoder.decode on a
// RankInput whose TrendList holds a list of rows, and a Flatten's consumer
// failed with "java.io.IOException: Corrupt stream, found tag: -128". A
// custom coder (beam:go:coder:custom:v1, unknown to Java) makes the runner
// carry the bytes length-prefixed and untouched, so only the SDK that wrote
// them reads them. The bytes inside are the same row encoding as before,
// so the cost is a length prefix per element.
//
// Every struct type that travels between stages as a PCollection element
// (not only as state) registers its coder with these helpers, through a
// pair of named functions per type: the SDK finds custom coders' functions
// by symbol name, which generic instantiations do not have.
package gorow

import (
	"bytes"
	"fmt"
	"io"
	"reflect"
	"sync"

	"github.com/apache/beam/sdks/v2/go/pkg/beam/core/graph/coder"
)

type codec struct {
	enc func(any, io.Writer) error
	dec func(io.Reader) (any, error)
}

var codecs sync.Map // reflect.Type -> *codec

func codecOf(t reflect.Type) (*codec, error) {
	if c, ok := codecs.Load(t); ok {
		return c.(*codec), nil
	}
	enc, err := coder.RowEncoderForStruct(t)
	if err != nil {
		return nil, fmt.Errorf("gorow: encoder for %v: %w", t, err)
	}
	dec, err := coder.RowDecoderForStruct(t)
	if err != nil {
		return nil, fmt.Errorf("gorow: decoder for %v: %w", t, err)
	}
	c, _ := codecs.LoadOrStore(t, &codec{enc: enc, dec: dec})
	return c.(*codec), nil
}

// Encode returns v's row encoding.
func Encode[T any](v T) ([]byte, error) {
	c, err := codecOf(reflect.TypeOf(v))
	if err != nil {
		return nil, err
	}
	var buf bytes.Buffer
	if err := c.enc(v, &buf); err != nil {
		return nil, fmt.Errorf("gorow: encode %T: %w", v, err)
	}
	return buf.Bytes(), nil
}

// Decode reads a T from its row encoding.
func Decode[T any](data []byte) (T, error) {
	var zero T
	c, err := codecOf(reflect.TypeOf(zero))
	if err != nil {
		return zero, err
	}
	v, err := c.dec(bytes.NewReader(data))
	if err != nil {
		return zero, fmt.Errorf("gorow: decode %T: %w", zero, err)
	}
	return v.(T), nil
}
