package kafkaio

import (
	"bytes"
	"fmt"
	"testing"
	"time"

	"github.com/IBM/sarama"
	"github.com/apache/beam/sdks/v2/go/pkg/beam"
	"github.com/apache/beam/sdks/v2/go/pkg/beam/register"
	"github.com/apache/beam/sdks/v2/go/pkg/beam/testing/passert"
	"github.com/apache/beam/sdks/v2/go/pkg/beam/testing/ptest"

	"github.com/trendstream/trendstream/internal/platform/kafkaconf"
	"github.com/trendstream/trendstream/internal/testenv"
)

func init() {
	register.Function2x0(benchMessages)
	register.Function2x0(benchRecordsInMemory)
	register.Emitter2[beam.EventTime, Record]()
	register.Emitter1[Message]()
}

const (
	benchRecords    = 40000
	benchValueBytes = 300 // about a serialized Post
)

// fillTopic writes benchRecords records of benchValueBytes, spread by key
// over the topic's partitions.
func fillTopic(b *testing.B, brokers []string, topic string) {
	b.Helper()
	prod, err := sarama.NewSyncProducer(brokers, kafkaconf.Producer("kafkaio-bench"))
	if err != nil {
		b.Fatal(err)
	}
	defer prod.Close()
	val := bytes.Repeat([]byte("x"), benchValueBytes)
	ts := time.Now().Add(-time.Hour)
	var msgs []*sarama.ProducerMessage
	for i := range benchRecords {
		msgs = append(msgs, &sarama.ProducerMessage{Topic: topic, Key: sarama.StringEncoder(fmt.Sprint("did:plc:", i%997)),
			Value: sarama.ByteEncoder(val), Timestamp: ts.Add(time.Duration(i) * time.Millisecond)})
		if len(msgs) == 5000 {
			if err := prod.SendMessages(msgs); err != nil {
				b.Fatal(err)
			}
			msgs = msgs[:0]
		}
	}
	if err := prod.SendMessages(msgs); err != nil {
		b.Fatal(err)
	}
}

// BenchmarkFetchDecode measures the reader's Kafka path alone (fetch +
// decode of one partition), without Beam.
func BenchmarkFetchDecode(b *testing.B) {
	const topic = "bench"
	kafka := testenv.Kafka(b, 1, topic)
	fillTopic(b, kafka.Addrs(), topic)
	client, err := sarama.NewClient(kafka.Addrs(), clientConfig("kafkaio-bench"))
	if err != nil {
		b.Fatal(err)
	}
	defer client.Close()
	f := newFetcher(client, DefaultFetchBytes)
	b.ResetTimer()
	for b.Loop() {
		n := 0
		for next := int64(0); next < benchRecords; {
			res, err := f.fetch(topic, 0, next, 0)
			if err != nil {
				b.Fatal(err)
			}
			n += len(res.records)
			next = res.last + 1
		}
		if n != benchRecords {
			b.Fatalf("read %d records, want %d", n, benchRecords)
		}
	}
	b.ReportMetric(float64(benchRecords*b.N)/b.Elapsed().Seconds(), "records/s")
}

// BenchmarkReadPipeline measures a bounded Read of four partitions on Prism,
// end to end: pipeline start, partition listing, reading, and a count.
func BenchmarkReadPipeline(b *testing.B) {
	const topic = "bench"
	kafka := testenv.Kafka(b, 4, topic)
	fillTopic(b, kafka.Addrs(), topic)
	b.ResetTimer()
	for b.Loop() {
		p, s := beam.NewPipelineWithRoot()
		recs := Read(s, kafka.Addrs(), topic, ReadBounded())
		passert.Count(s, recs, "records", benchRecords)
		if err := ptest.Run(p); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(benchRecords*b.N)/b.Elapsed().Seconds(), "records/s")
}

func benchMessages(_ []byte, emit func(Message)) {
	val := bytes.Repeat([]byte("x"), benchValueBytes)
	for i := range benchRecords {
		emit(Message{Key: fmt.Appendf(nil, "k%d", i), Value: val})
	}
}

// BenchmarkWritePipeline measures Write on Prism: benchRecords messages
// produced with the idempotent acks=all producer.
func BenchmarkWritePipeline(b *testing.B) {
	const topic = "bench"
	kafka := testenv.Kafka(b, 4, topic)
	b.ResetTimer()
	for b.Loop() {
		p, s := beam.NewPipelineWithRoot()
		Write(s, kafka.Addrs(), topic, beam.ParDo(s, benchMessages, beam.Impulse(s)))
		if err := ptest.Run(p); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(benchRecords*b.N)/b.Elapsed().Seconds(), "records/s")
}

func benchRecordsInMemory(_ []byte, emit func(beam.EventTime, Record)) {
	val := bytes.Repeat([]byte("x"), benchValueBytes)
	ts := time.Now().Add(-time.Hour)
	for i := range benchRecords {
		t := ts.Add(time.Duration(i) * time.Millisecond)
		emit(beam.EventTime(t.UnixMilli()), Record{Topic: "bench", Offset: int64(i), Key: fmt.Appendf(nil, "k%d", i), Value: val, Timestamp: t})
	}
}

// BenchmarkPrismBaseline is BenchmarkReadPipeline with the records made in
// memory instead of read from Kafka: the cost of Prism itself, to compare.
func BenchmarkPrismBaseline(b *testing.B) {
	for b.Loop() {
		p, s := beam.NewPipelineWithRoot()
		recs := beam.ParDo(s, benchRecordsInMemory, beam.Impulse(s))
		passert.Count(s, recs, "records", benchRecords)
		if err := ptest.Run(p); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(benchRecords*b.N)/b.Elapsed().Seconds(), "records/s")
}
