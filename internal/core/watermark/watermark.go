// Package watermark defines the in-band source watermark that the ingest
// writes into the posts topic and that the pipeline's Kafka reader follows.
//
// Why: a reader that has caught up with its partition cannot tell a quiet
// source from a stalled one. Advancing its watermark with the wall clock
// (apache/beam#31085's usual remedy) runs ahead of posts the ingest is still
// going to deliver — after a relay stall, a reconnect or a broker outage the
// backlog arrives behind the watermark and is dropped as late. The ingest
// knows how far the source has been delivered, so it says so, in order, in
// every partition: a marker record with timestamp T, written after every
// event up to T was acknowledged, means "this writer has delivered every
// event of its source up to event time T".
//
// A marker is a Kafka record with an empty key and value, its timestamp
// the watermark, and the header Header (value: the writer's name, for
// operators reading the topic with kcat). Every consumer of the posts topic
// skips records for which IsMarker is true.
package watermark

// Header marks a source-watermark record.
const Header = "trendstream-watermark"

// IsMarker reports whether a record with these header keys is a marker. It
// takes keys only so that neither sarama nor franz-go types leak in here.
func IsMarker(headerKeys ...string) bool {
	for _, k := range headerKeys {
		if k == Header {
			return true
		}
	}
	return false
}
