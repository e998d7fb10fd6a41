package kafkaio

import (
	"errors"
	"fmt"
	"time"

	"github.com/IBM/sarama"

	"github.com/trendstream/trendstream/internal/core/watermark"
	"github.com/trendstream/trendstream/internal/platform/kafkaretry"
)

// fetchResult is one partition's part of a fetch response.
type fetchResult struct {
	records []Record
	// marks are the source-watermark markers (internal/core/watermark) among
	// the records, in offset order; they are not data records.
	marks []mark
	// last is the highest offset the response covered, control batches and
	// compacted-away tails included; -1 if it covered nothing. Claiming it
	// lets the restriction move past offsets that hold no data records.
	last int64
	// hwm is the partition's high-water mark: the offset of the next record.
	hwm int64
	// logStart is the oldest retained offset.
	logStart int64
}

// mark is one source-watermark marker: at offset, its writer had
// delivered everything up to event time ms.
type mark struct {
	offset int64
	ms     int64
}

// errRetriable marks fetch failures that are expected to heal (leader moved,
// broker restarting, network blip): the reader backs off and resumes instead
// of failing the bundle.
var errRetriable = errors.New("retriable")

// fetcher issues raw Fetch requests for one partition at a time. It keeps no
// position of its own: every call states the offset, so DoFn instances,
// splits and retries never share hidden consumer state.
type fetcher struct {
	client   sarama.Client
	version  int16
	maxBytes int32
}

func newFetcher(client sarama.Client, maxBytes int32) *fetcher {
	return &fetcher{client: client, version: fetchVersion(client.Config().Version), maxBytes: maxBytes}
}

// fetch reads records of topic/partition from offset, waiting up to wait
// for the first byte when there is nothing to read.
func (f *fetcher) fetch(topic string, partition int32, offset int64, wait time.Duration) (fetchResult, error) {
	leader, err := f.client.Leader(topic, partition)
	if err != nil {
		_ = f.client.RefreshMetadata(topic)
		return fetchResult{}, fmt.Errorf("kafkaio: leader of %s/%d: %w: %w", topic, partition, err, errRetriable)
	}
	req := &sarama.FetchRequest{
		Version:     f.version,
		MinBytes:    1,
		MaxWaitTime: int32(wait / time.Millisecond),
		MaxBytes:    f.maxBytes,
		Isolation:   sarama.ReadUncommitted,
	}
	if req.Version >= 7 {
		// No incremental fetch sessions (KIP-227): every request is complete.
		req.SessionID, req.SessionEpoch = 0, -1
	}
	req.AddBlock(topic, partition, offset, f.maxBytes, -1)
	resp, err := leader.Fetch(req)
	if err != nil {
		_ = f.client.RefreshMetadata(topic)
		return fetchResult{}, fmt.Errorf("kafkaio: fetch %s/%d@%d: %w: %w", topic, partition, offset, err, errRetriable)
	}
	block := resp.GetBlock(topic, partition)
	if block == nil {
		return fetchResult{}, fmt.Errorf("kafkaio: fetch %s/%d: no data for partition: %w", topic, partition, errRetriable)
	}
	switch {
	case errors.Is(block.Err, sarama.ErrNoError):
	case errors.Is(block.Err, sarama.ErrOffsetOutOfRange):
		// Brokers do not reliably fill the offsets of an error block: ask.
		res := fetchResult{last: -1}
		if res.logStart, err = f.client.GetOffset(topic, partition, sarama.OffsetOldest); err != nil {
			return fetchResult{}, fmt.Errorf("kafkaio: earliest offset of %s/%d: %w: %w", topic, partition, err, errRetriable)
		}
		if res.hwm, err = f.client.GetOffset(topic, partition, sarama.OffsetNewest); err != nil {
			return fetchResult{}, fmt.Errorf("kafkaio: latest offset of %s/%d: %w: %w", topic, partition, err, errRetriable)
		}
		return res, errOutOfRange
	case kafkaretry.Transient(block.Err):
		_ = f.client.RefreshMetadata(topic)
		return fetchResult{}, fmt.Errorf("kafkaio: fetch %s/%d: %w: %w", topic, partition, block.Err, errRetriable)
	default:
		return fetchResult{}, fmt.Errorf("kafkaio: fetch %s/%d@%d: %w", topic, partition, offset, block.Err)
	}
	return decodeBlock(topic, partition, offset, block)
}

// errOutOfRange means the requested offset is no longer (or not yet) in the
// log; fetchResult.logStart and hwm say where the log is now.
var errOutOfRange = errors.New("kafkaio: offset out of range")

// decodeBlock turns one partition's fetch response into records at or after
// from. Control batches (transaction markers) produce no records but count
// toward last. Aborted transactional records are returned: the reader runs
// read_uncommitted because trendstream's producers are idempotent, not
// transactional.
func decodeBlock(topic string, partition int32, from int64, block *sarama.FetchResponseBlock) (fetchResult, error) {
	res := fetchResult{last: -1, hwm: block.HighWaterMarkOffset, logStart: block.LogStartOffset}
	for _, rs := range block.RecordsSet {
		if rs == nil {
			continue
		}
		b := rs.RecordBatch
		if b == nil {
			if rs.MsgSet != nil && len(rs.MsgSet.Messages) > 0 {
				return res, fmt.Errorf("kafkaio: %s/%d: legacy message format (before Kafka 0.11) is not supported", topic, partition)
			}
			continue
		}
		if b.PartialTrailingRecord && len(b.Records) == 0 {
			// The broker cut the response inside this batch; the next fetch
			// starts here again.
			break
		}
		if !b.Control {
			for _, r := range b.Records {
				off := b.FirstOffset + r.OffsetDelta
				if off < from {
					continue // batches are returned whole, from their first offset
				}
				ts := b.FirstTimestamp.Add(r.TimestampDelta)
				if b.LogAppendTime {
					ts = b.MaxTimestamp
				}
				res.last = max(res.last, off)
				if isMarker(r) {
					res.marks = append(res.marks, mark{offset: off, ms: ts.UnixMilli()})
					continue
				}
				res.records = append(res.records, Record{
					Topic: topic, Partition: partition, Offset: off,
					Key: r.Key, Value: r.Value, Timestamp: ts,
				})
			}
		}
		if !b.PartialTrailingRecord && b.LastOffset() >= from {
			res.last = max(res.last, b.LastOffset())
		}
	}
	return res, nil
}

// isMarker reports whether r is a source-watermark marker.
func isMarker(r *sarama.Record) bool {
	for _, h := range r.Headers {
		if h != nil && watermark.IsMarker(string(h.Key)) {
			return true
		}
	}
	return false
}

// fetchVersion picks the highest Fetch version sarama can encode for the
// configured protocol version (as sarama's own consumer does) that still
// addresses topics by name.
func fetchVersion(v sarama.KafkaVersion) int16 {
	switch {
	case v.IsAtLeast(sarama.V2_7_0_0):
		return 12
	case v.IsAtLeast(sarama.V2_3_0_0):
		return 11
	case v.IsAtLeast(sarama.V2_1_0_0):
		return 10
	case v.IsAtLeast(sarama.V2_0_0_0):
		return 8
	case v.IsAtLeast(sarama.V1_1_0_0):
		return 7
	case v.IsAtLeast(sarama.V1_0_0_0):
		return 6
	default:
		return 5 // record batches (message format v2) need Kafka 0.11
	}
}
