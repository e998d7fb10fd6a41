// Package kafkaio is a native Go Kafka source and sink for Apache Beam.
//
// Beam's own io/xlang/kafkaio is a cross-language wrapper that needs a Java
// expansion service and a Java SDK harness, which rules it out for a Go-only
// deployment (and it is reported broken for Go on Flink, apache/beam#36539).
// This package talks to Kafka directly with sarama from Go DoFns, in the
// style of Beam's io/natsio:
//
//   - Read is an unbounded splittable DoFn over (topic, partition) with an
//     offset-range restriction, a checkpoint-safe watermark estimator driven by
//     the Kafka record timestamps, idle-partition watermark advance, and
//     self-checkpointing so windows fire and Flink can checkpoint while it
//     reads. ReadBounded stops at the end offsets seen at start, for tests and
//     for batch replay of the stored event log.
//   - Write produces a PCollection of Message (or KV<[]byte, []byte>) with an
//     idempotent producer, flushing synchronously in FinishBundle so a
//     committed bundle means durably written records.
//
// Decoding record values is left to the pipeline.
package kafkaio

import (
	"reflect"
	"time"

	"github.com/apache/beam/sdks/v2/go/pkg/beam"
)

func init() {
	beam.RegisterType(reflect.TypeOf((*Record)(nil)).Elem())
	beam.RegisterType(reflect.TypeOf((*Message)(nil)).Elem())
	beam.RegisterType(reflect.TypeOf((*partitionSpec)(nil)).Elem())
}

// Record is one Kafka record as emitted by Read. Its Beam event time is
// Timestamp, the record timestamp the producer set (CreateTime) or the broker
// assigned (LogAppendTime topics).
type Record struct {
	Topic     string
	Partition int32
	Offset    int64
	Key       []byte
	Value     []byte
	Timestamp time.Time
}

// Message is one record for Write. A zero Timestamp lets the producer stamp
// the send time; a nil Key spreads messages over partitions.
type Message struct {
	Key       []byte
	Value     []byte
	Timestamp time.Time
}

// partitionSpec is the element the reading SDF works on: one partition of a
// topic with the offset range resolved when the pipeline started. End is
// math.MaxInt64 for an unbounded read.
type partitionSpec struct {
	Topic     string
	Partition int32
	Start     int64
	End       int64
	// TopicID is the topic's id when the read started ("" if the broker
	// has none): a topic deleted and created again under the same name has
	// another id, and offsets that mean nothing in it.
	TopicID string
}
