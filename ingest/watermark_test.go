package ingest_test

import (
	"context"
	"testing"
	"time"

	"github.com/IBM/sarama"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/trendstream/trendstream/ingest"
	"github.com/trendstream/trendstream/ingest/frame"
	"github.com/trendstream/trendstream/ingest/internal/relaytest"
	"github.com/trendstream/trendstream/ingest/source/file"
	"github.com/trendstream/trendstream/internal/testenv"
)

// TestWatermarkMarkers replays the real recording into a 4-partition topic
// (kfake and a real broker) with one message in flight at a time, so that
// marker rounds fall between posts, and reads the topic back with sarama.
// The recording's relay times are out of order (they come from the PDSes),
// so what a marker promises is checked in source order: a marker with time
// T stands behind every post, in its partition, of every event up to the
// first event with time T. Markers never go back, every partition has
// them, and the last record of every partition is the final marker the
// end of the recording writes, with the wall clock's time.
func TestWatermarkMarkers(t *testing.T) {
	testenv.ForEachKafka(t, testWatermarkMarkers)
}

func testWatermarkMarkers(t *testing.T, kind testenv.KafkaKind) {
	frames, err := relaytest.LoadFrames(corpus)
	if err != nil {
		t.Fatal(err)
	}
	// Source order: the index of each event, the first event with each
	// (millisecond) time, and the event of each post.
	firstAt := map[int64]int{}
	eventOf := map[string]int{}
	for i, b := range frames {
		ev, err := frame.Decode(b, frame.Options{})
		if err != nil {
			continue
		}
		ms := ev.Time.UnixMilli()
		if _, ok := firstAt[ms]; !ok {
			firstAt[ms] = i
		}
		for _, p := range ev.Posts {
			eventOf[postID(p)] = i
		}
	}

	const parts = 4
	topic := testenv.Topic(t, "posts")
	k := kind.New(t, parts, topic)
	reg := prometheus.NewRegistry()
	began := time.Now().Truncate(time.Millisecond)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	err = ingest.Run(ctx, ingest.Config{
		Source: &file.Source{Path: corpus}, Brokers: k.Addrs(), Topic: topic, CursorTopic: testenv.Topic(t, "cursors"),
		MaxInFlight: 1, WatermarkInterval: 2 * time.Millisecond,
		Registry: reg, Logger: testLogger(t),
	})
	if err != nil {
		t.Fatal(err)
	}

	recs := readRecords(t, k.Addrs(), topic)
	// Where each post landed.
	partOf := map[string]int32{}
	inPart := map[int32]int{}
	for _, m := range recs {
		if !isMarker(m) {
			partOf[postID(decodePosts(t, []*sarama.ConsumerMessage{m})[0])] = m.Partition
			inPart[m.Partition]++
		}
	}
	if len(partOf) != len(eventOf) {
		t.Fatalf("%d distinct posts in the topic, the recording has %d", len(partOf), len(eventOf))
	}

	type state struct {
		seen    map[string]bool
		last    time.Time
		markers int
		middle  int // markers before the final one
		lastRec *sarama.ConsumerMessage
	}
	st := map[int32]*state{}
	for p := range int32(parts) {
		st[p] = &state{seen: map[string]bool{}}
	}
	for _, m := range recs {
		s := st[m.Partition]
		s.lastRec = m
		if !isMarker(m) {
			p := decodePosts(t, []*sarama.ConsumerMessage{m})[0]
			s.seen[postID(p)] = true
			continue
		}
		if len(m.Key) != 0 || len(m.Value) != 0 || len(m.Headers) != 1 || string(m.Headers[0].Value) != "file" {
			t.Errorf("partition %d offset %d: marker with key %q, value %q, %d headers; want empty key and value and one header naming the writer (file)",
				m.Partition, m.Offset, m.Key, m.Value, len(m.Headers))
		}
		T := m.Timestamp
		s.markers++
		if T.Before(s.last) {
			t.Errorf("partition %d offset %d: marker %v goes back from %v", m.Partition, m.Offset, T, s.last)
		}
		s.last = T
		if !T.Before(began) {
			continue // the final marker, checked below
		}
		s.middle++
		first, ok := firstAt[T.UnixMilli()]
		if !ok {
			t.Errorf("partition %d offset %d: marker time %v is no event's time", m.Partition, m.Offset, T)
			continue
		}
		for id, ev := range eventOf {
			if ev <= first && partOf[id] == m.Partition && !s.seen[id] {
				t.Errorf("partition %d offset %d: marker %v (event %d) is ahead of post %s of event %d", m.Partition, m.Offset, T, first, id, ev)
			}
		}
	}
	middle := 0
	for p, s := range st {
		middle += s.middle
		if s.markers == 0 {
			t.Errorf("partition %d has no marker", p)
			continue
		}
		if s.lastRec == nil || !isMarker(s.lastRec) || s.lastRec.Timestamp.Before(began) {
			t.Errorf("partition %d does not end with the final marker (a marker at or after %v)", p, began)
		}
		if len(s.seen) != inPart[p] {
			t.Errorf("partition %d holds %d post records for %d distinct posts", p, inPart[p], len(s.seen))
		}
	}
	if middle == 0 {
		t.Error("no marker was written while the recording was being delivered, only the final one")
	}
	if wm := metricValue(t, reg, "trendstream_ingest_watermark_seconds", nil); wm < float64(began.Unix()) {
		t.Errorf("trendstream_ingest_watermark_seconds = %v, want the final marker's time (≥ %d)", wm, began.Unix())
	}
	if n := metricValue(t, reg, "trendstream_ingest_posts_total", nil); n != float64(len(eventOf)) {
		t.Errorf("posts_total = %v, want %d: markers are not posts", n, len(eventOf))
	}
	t.Logf("%d records, %d posts, %d markers before the final one", len(recs), len(partOf), middle)
}
