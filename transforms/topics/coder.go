package topics

import (
	"errors"
	"fmt"
	"reflect"

	"github.com/apache/beam/sdks/v2/go/pkg/beam"
	"github.com/apache/beam/sdks/v2/go/pkg/beam/register"

	"github.com/trendstream/trendstream/transforms/gorow"
)

// The join's and the gather's inputs cross stages (through a Flatten)
// as opaque bytes, so that a Java runner does not decode them
// (transforms/gorow says why).
func init() {
	beam.RegisterCoder(reflect.TypeOf(JoinIn{}), encodeJoinIn, decodeJoinIn)
	beam.RegisterCoder(reflect.TypeOf(GatherIn{}), encodeGatherIn, decodeGatherIn)
	register.Function1x2(encodeJoinIn)
	register.Function1x2(decodeJoinIn)
	register.Function1x2(encodeGatherIn)
	register.Function1x2(decodeGatherIn)
}

// A JoinIn is a tag byte and the sample's or the request's bytes, as they
// are. It carries every sample to the join, and gorow's row encoding grew
// its buffer from empty for each one and its decoding copied the bytes
// once more: twice the sample allocated in 9 allocations, against once in
// one, and 3.6 times the time (BenchmarkJoinInCoder). The SDK hands a
// custom decoder a slice of its own (exec.customDecoder reads each element
// into a new one), so the decoded fields are sub-slices of it. The tags
// differ from the first byte of the row encoding (its field count, 2), so
// an element written by an older version still decodes.
const (
	joinSampleTag  = 's'
	joinRequestTag = 'r'
	joinRowTag     = 2 // gorow's encoding of JoinIn: two fields
)

var errJoinIn = errors.New("topics: join input: want exactly one of sample and request")

func encodeJoinIn(v JoinIn) ([]byte, error) {
	tag, body := byte(joinSampleTag), v.Sample
	switch {
	case (v.Sample == nil) == (v.Request == nil):
		return nil, errJoinIn
	case v.Request != nil:
		tag, body = joinRequestTag, v.Request
	}
	return append(append(make([]byte, 0, 1+len(body)), tag), body...), nil
}

func decodeJoinIn(b []byte) (JoinIn, error) {
	if len(b) == 0 {
		return JoinIn{}, fmt.Errorf("topics: join input: empty element")
	}
	switch b[0] {
	case joinSampleTag:
		return JoinIn{Sample: b[1:len(b):len(b)]}, nil
	case joinRequestTag:
		return JoinIn{Request: b[1:len(b):len(b)]}, nil
	case joinRowTag:
		return gorow.Decode[JoinIn](b)
	}
	return JoinIn{}, fmt.Errorf("topics: join input: unknown tag %#x", b[0])
}

func encodeGatherIn(v GatherIn) ([]byte, error) { return gorow.Encode(v) }
func decodeGatherIn(b []byte) (GatherIn, error) { return gorow.Decode[GatherIn](b) }
