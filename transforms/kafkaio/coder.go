package kafkaio

import (
	"reflect"

	"github.com/apache/beam/sdks/v2/go/pkg/beam"
	"github.com/apache/beam/sdks/v2/go/pkg/beam/register"

	"github.com/trendstream/trendstream/transforms/gorow"
)

// The records carry the Go row encoding as opaque bytes, so that a Java
// runner does not decode them (transforms/gorow says why). partitionSpec,
// the SDF's element, keeps the standard row coder: it is flat, which Java
// reads correctly, and with a custom coder Prism no longer held the
// watermark for a partition that never advanced
// (TestReadUnboundedFiresWindowsWhileReading/kafka failed).
func init() {
	beam.RegisterCoder(reflect.TypeOf(Record{}), encodeRecord, decodeRecord)
	beam.RegisterCoder(reflect.TypeOf(Message{}), encodeMessage, decodeMessage)
	register.Function1x2(encodeRecord)
	register.Function1x2(decodeRecord)
	register.Function1x2(encodeMessage)
	register.Function1x2(decodeMessage)
}

func encodeRecord(v Record) ([]byte, error)   { return gorow.Encode(v) }
func decodeRecord(b []byte) (Record, error)   { return gorow.Decode[Record](b) }
func encodeMessage(v Message) ([]byte, error) { return gorow.Encode(v) }
func decodeMessage(b []byte) (Message, error) { return gorow.Decode[Message](b) }
