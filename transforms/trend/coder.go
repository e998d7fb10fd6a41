package trend

import (
	"encoding/binary"
	"errors"
	"fmt"
	"maps"
	"math"
	"reflect"

	"github.com/apache/beam/sdks/v2/go/pkg/beam"
	"github.com/apache/beam/sdks/v2/go/pkg/beam/register"

	"github.com/trendstream/trendstream/internal/core/termwindow"
	grouping "github.com/trendstream/trendstream/internal/core/topics"
	"github.com/trendstream/trendstream/internal/core/trendscore"
	tsv1 "github.com/trendstream/trendstream/proto/trendstream/v1"
	"github.com/trendstream/trendstream/transforms/gorow"
)

// Buckets and baselines are the pipeline's two large values; Beam's
// reflective row coder spent more time on them than the computation did,
// so they have binary coders.
func init() {
	beam.RegisterCoder(reflect.TypeOf(termwindow.Bucket{}), encodeBucket, decodeBucket)
	beam.RegisterCoder(reflect.TypeOf(Baselines{}), encodeBaselines, decodeBaselines)
	beam.RegisterCoder(reflect.TypeOf(ShardEvent{}), encodeShardEvent, decodeShardEvent)
	// The other elements that cross stages carry the Go row encoding as
	// opaque bytes, so that a Java runner does not decode them
	// (transforms/gorow says why).
	beam.RegisterCoder(reflect.TypeOf(PeriodPosts{}), encodePeriodPosts, decodePeriodPosts)
	beam.RegisterCoder(reflect.TypeOf(RankInput{}), encodeRankInput, decodeRankInput)
	beam.RegisterCoder(reflect.TypeOf(TrendList{}), encodeTrendList, decodeTrendList)
	register.Function1x2(encodePeriodPosts)
	register.Function1x2(decodePeriodPosts)
	register.Function1x2(encodeRankInput)
	register.Function1x2(decodeRankInput)
	register.Function1x2(encodeTrendList)
	register.Function1x2(decodeTrendList)
	// Generated callers: the SDK calls coders by reflection otherwise.
	register.Function1x2(encodeBucket)
	register.Function1x2(decodeBucket)
	register.Function1x2(encodeBaselines)
	register.Function1x2(decodeBaselines)
	register.Function1x2(encodeShardEvent)
	register.Function1x2(decodeShardEvent)
	// The topic stages' post sample (bucketFn emits it) has its own
	// compact form (internal/core/topics).
	beam.RegisterCoder(reflect.TypeOf(grouping.Sample{}), encodeSample, decodeSample)
	register.Function1x2(encodeSample)
	register.Function1x2(decodeSample)
}

// encodeSample is the coder of internal/core/topics.Sample elements.
func encodeSample(s grouping.Sample) ([]byte, error) { return s.AppendBinary(nil), nil }

// decodeSample is encodeSample's inverse.
func decodeSample(b []byte) (grouping.Sample, error) {
	s, _, err := grouping.DecodeSample(b)
	return s, err
}

func encodePeriodPosts(v PeriodPosts) ([]byte, error) { return gorow.Encode(v) }
func decodePeriodPosts(b []byte) (PeriodPosts, error) { return gorow.Decode[PeriodPosts](b) }
func encodeRankInput(v RankInput) ([]byte, error)     { return gorow.Encode(v) }
func decodeRankInput(b []byte) (RankInput, error)     { return gorow.Decode[RankInput](b) }
func encodeTrendList(v TrendList) ([]byte, error)     { return gorow.Encode(v) }
func decodeTrendList(b []byte) (TrendList, error)     { return gorow.Decode[TrendList](b) }

func encodeBucket(b termwindow.Bucket) ([]byte, error) { return b.MarshalBinary() }

// decodeBucket keeps data: the SDK hands each element its own buffer.
func decodeBucket(data []byte) (termwindow.Bucket, error) { return termwindow.Decode(data) }

// A ShardEvent is the end (uint64, little-endian) and the bucket's
// encoding; one with retractions (ShardEvent.Retracted) puts between the
// two the byte retractionsMark, their count (uvarint) and each one's end
// (uint64, little-endian), encoding's length (uvarint) and encoding. The
// mark is not a bucket's version byte, so events in state from before
// retractions travelled with their delete's period still decode.
func encodeShardEvent(ev ShardEvent) ([]byte, error) {
	b, err := ev.Bucket.MarshalBinary()
	if err != nil {
		return nil, err
	}
	out := make([]byte, 0, 8+len(b))
	out = binary.LittleEndian.AppendUint64(out, uint64(ev.End))
	if len(ev.Retracted) > 0 {
		out = append(out, retractionsMark)
		out = binary.AppendUvarint(out, uint64(len(ev.Retracted)))
		for _, r := range ev.Retracted {
			rb, err := r.Bucket.MarshalBinary()
			if err != nil {
				return nil, err
			}
			out = binary.LittleEndian.AppendUint64(out, uint64(r.End))
			out = binary.AppendUvarint(out, uint64(len(rb)))
			out = append(out, rb...)
		}
	}
	return append(out, b...), nil
}

const retractionsMark = 0xff

func decodeShardEvent(data []byte) (ShardEvent, error) {
	ev, err := decodeShardEventParts(data)
	if err != nil {
		return ShardEvent{}, fmt.Errorf("trend: decode shard event: %w", err)
	}
	return ev, nil
}

func decodeShardEventParts(data []byte) (ShardEvent, error) {
	if len(data) < 9 {
		return ShardEvent{}, fmt.Errorf("malformed (%d bytes)", len(data))
	}
	ev := ShardEvent{End: int64(binary.LittleEndian.Uint64(data))}
	p := data[8:]
	if p[0] == retractionsMark {
		n, k := binary.Uvarint(p[1:])
		if k <= 0 || n > uint64(len(p)) {
			return ShardEvent{}, errors.New("malformed retraction count")
		}
		p = p[1+k:]
		ev.Retracted = make([]Retraction, 0, n)
		for range n {
			if len(p) < 8 {
				return ShardEvent{}, errors.New("truncated retraction")
			}
			end := int64(binary.LittleEndian.Uint64(p))
			size, k := binary.Uvarint(p[8:])
			if k <= 0 || size > uint64(len(p)-8-k) {
				return ShardEvent{}, errors.New("truncated retraction")
			}
			p = p[8+k:]
			b, err := termwindow.Decode(p[:size])
			if err != nil {
				return ShardEvent{}, err
			}
			ev.Retracted = append(ev.Retracted, Retraction{End: end, Bucket: b})
			p = p[size:]
		}
	}
	b, err := termwindow.Decode(p)
	ev.Bucket = b
	return ev, err
}

// Baselines is one shard's scorer state: every live term's baseline.
type Baselines struct {
	Terms map[termwindow.Key]trendscore.State
}

const baselinesVersion = 2 // 2: lagged baselines (FoldedEnd, Pending)

// clone returns a copy of bl that can change without changing bl.
func (bl Baselines) clone() Baselines {
	return Baselines{Terms: maps.Clone(bl.Terms)}
}

// stateSize is the encoded size of one trendscore.State's fixed part: two
// float64s, six int64s and a flags byte; the pending windows follow as a
// uvarint length and their bytes.
const stateSize = 2*8 + 6*8 + 1

func encodeBaselines(bl Baselines) ([]byte, error) {
	buf := make([]byte, 0, 1+binary.MaxVarintLen64+len(bl.Terms)*(stateSize+24))
	buf = append(buf, baselinesVersion)
	buf = binary.AppendUvarint(buf, uint64(len(bl.Terms)))
	for k, st := range bl.Terms {
		buf = binary.AppendUvarint(buf, uint64(len(k.Lang)))
		buf = append(buf, k.Lang...)
		buf = binary.AppendUvarint(buf, uint64(k.Kind))
		buf = binary.AppendUvarint(buf, uint64(len(k.Term)))
		buf = append(buf, k.Term...)
		for _, f := range []float64{st.EWMA, st.EWMVar} {
			buf = binary.LittleEndian.AppendUint64(buf, math.Float64bits(f))
		}
		for _, n := range []int64{st.FoldedEnd, st.PendingFrom, st.LastWindowEnd, st.Windows, st.StartedAt, st.PrevStartedAt} {
			buf = binary.LittleEndian.AppendUint64(buf, uint64(n))
		}
		var flags byte
		if st.Trending {
			flags |= 1
		}
		if st.PrevTrending {
			flags |= 2
		}
		buf = append(buf, flags)
		buf = binary.AppendUvarint(buf, uint64(len(st.Pending)))
		buf = append(buf, st.Pending...)
	}
	return buf, nil
}

var errTruncated = errors.New("truncated")

func decodeBaselines(data []byte) (Baselines, error) {
	fail := func(err error) (Baselines, error) {
		return Baselines{}, fmt.Errorf("trend: decode baselines: %w", err)
	}
	if len(data) < 1 {
		return fail(errTruncated)
	}
	if data[0] != baselinesVersion {
		return fail(fmt.Errorf("unknown version %d", data[0]))
	}
	data = data[1:]
	uvarint := func() (uint64, bool) {
		v, n := binary.Uvarint(data)
		if n <= 0 {
			return 0, false
		}
		data = data[n:]
		return v, true
	}
	str := func() (string, bool) {
		n, ok := uvarint()
		if !ok || n > uint64(len(data)) {
			return "", false
		}
		s := string(data[:n])
		data = data[n:]
		return s, true
	}
	n, ok := uvarint()
	if !ok || n > uint64(len(data)/(stateSize+4)) {
		return fail(errTruncated)
	}
	bl := Baselines{Terms: make(map[termwindow.Key]trendscore.State, n)}
	for range n {
		var k termwindow.Key
		var kind uint64
		var ok1, ok2, ok3 bool
		k.Lang, ok1 = str()
		kind, ok2 = uvarint()
		k.Term, ok3 = str()
		if !ok1 || !ok2 || !ok3 || len(data) < stateSize {
			return fail(errTruncated)
		}
		k.Kind = tsv1.TermKind(kind)
		u := func(i int) uint64 { return binary.LittleEndian.Uint64(data[8*i:]) }
		st := trendscore.State{
			EWMA: math.Float64frombits(u(0)), EWMVar: math.Float64frombits(u(1)),
			FoldedEnd: int64(u(2)), PendingFrom: int64(u(3)), LastWindowEnd: int64(u(4)),
			Windows: int64(u(5)), StartedAt: int64(u(6)), PrevStartedAt: int64(u(7)),
			Trending: data[64]&1 != 0, PrevTrending: data[64]&2 != 0,
		}
		data = data[stateSize:]
		var ok4 bool
		if st.Pending, ok4 = str(); !ok4 {
			return fail(errTruncated)
		}
		bl.Terms[k] = st
	}
	if len(data) > 0 {
		return fail(fmt.Errorf("%d trailing bytes", len(data)))
	}
	return bl, nil
}
