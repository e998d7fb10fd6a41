package topics

import (
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

func encodeJoinIn(v JoinIn) ([]byte, error)     { return gorow.Encode(v) }
func decodeJoinIn(b []byte) (JoinIn, error)     { return gorow.Decode[JoinIn](b) }
func encodeGatherIn(v GatherIn) ([]byte, error) { return gorow.Encode(v) }
func decodeGatherIn(b []byte) (GatherIn, error) { return gorow.Decode[GatherIn](b) }
