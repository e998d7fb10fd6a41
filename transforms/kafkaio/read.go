package kafkaio

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math"
	"sync"
	"sync/atomic"
	"time"

	"github.com/IBM/sarama"
	"github.com/apache/beam/sdks/v2/go/pkg/beam"
	"github.com/apache/beam/sdks/v2/go/pkg/beam/core/sdf"
	"github.com/apache/beam/sdks/v2/go/pkg/beam/io/rtrackers/offsetrange"
	"github.com/apache/beam/sdks/v2/go/pkg/beam/register"

	"github.com/trendstream/trendstream/internal/platform/kafkaconf"
	"github.com/trendstream/trendstream/internal/platform/kafkaoffsets"
	"github.com/trendstream/trendstream/internal/platform/kafkaretry"
)

func init() {
	register.DoFn3x1[context.Context, []byte, func(partitionSpec), error](&listPartitionsFn{})
	register.Emitter1[partitionSpec]()
	register.DoFn5x2[context.Context, *watermarkEstimator, *sdf.LockRTracker, partitionSpec,
		func(beam.EventTime, Record), sdf.ProcessContinuation, error](&readFn{})
	register.Emitter2[beam.EventTime, Record]()
}

// Counters shown in the Prism and Flink UIs under the reading step.
var (
	recordsRead = beam.NewCounter("kafkaio", "records_read")
	bytesRead   = beam.NewCounter("kafkaio", "bytes_read")
	// lateRecords counts records whose timestamp was already behind their
	// partition's watermark when read: windows they belong to may have fired,
	// and the pipeline's allowed lateness decides whether they still count.
	lateRecords = beam.NewCounter("kafkaio", "late_records")
	// skippedOffsets counts offsets deleted by retention before they were read.
	skippedOffsets = beam.NewCounter("kafkaio", "skipped_offsets")
	// markersRead counts source-watermark markers (internal/core/watermark).
	markersRead = beam.NewCounter("kafkaio", "watermark_markers")
	// lateness is how far behind its partition's watermark each late
	// record was, in milliseconds.
	lateness = beam.NewDistribution("kafkaio", "late_record_ms")
	// topicFaultsSeen counts fetches that found the topic deleted,
	// re-created or truncated behind the read position.
	topicFaultsSeen = beam.NewCounter("kafkaio", "topic_faults")
)

// retryDelay is how long a partition backs off after a transient broker error.
const retryDelay = time.Second

// Read reads topic from the Kafka cluster at brokers and returns an unbounded
// PCollection<Record> whose elements carry the record timestamp as event time.
//
// Partitions are listed, and start (and, with ReadBounded, end) offsets
// resolved, once when the pipeline starts; partitions added later are not
// read. Each partition is read by a splittable DoFn that returns to the
// runner after ReadMaxRecords records or ReadMaxDuration, and whenever it is
// caught up. Read panics on invalid options, like other Beam transforms do
// at construction time.
func Read(s beam.Scope, brokers []string, topic string, opts ...ReadOption) beam.PCollection {
	s = s.Scope("kafkaio.Read")
	o := defaultReadOptions()
	for _, opt := range opts {
		opt(&o)
	}
	if len(brokers) == 0 {
		panic("kafkaio.Read: no brokers")
	}
	if topic == "" {
		panic("kafkaio.Read: no topic")
	}
	if err := o.validate(); err != nil {
		panic(fmt.Sprintf("kafkaio.Read: invalid options: %v", err))
	}
	parts := beam.ParDo(s, &listPartitionsFn{
		Brokers: brokers, Topic: topic, Group: o.Group, ClientID: o.ClientID,
		Start: o.Start, Bounded: o.Bounded, RetryFor: o.RetryFor,
	}, beam.Impulse(s))
	return beam.ParDo(s, &readFn{
		Brokers: brokers, Group: o.Group, ClientID: o.ClientID,
		MaxRecords: o.MaxRecords, MaxDuration: o.MaxDuration, PollWait: o.PollWait, PollInterval: o.PollInterval,
		FetchBytes: o.FetchBytes, OutOfOrder: o.OutOfOrder, CommitInterval: o.CommitInterval,
		Idle: o.Idle, FaultTimeout: o.FaultTimeout, RetryFor: o.RetryFor,
	}, parts)
}

// clientConfig is the reader's sarama config. Topics are not auto-created:
// reading a misspelt topic must fail, not create an empty one.
func clientConfig(clientID string) *sarama.Config {
	cfg := kafkaconf.Consumer(clientID)
	cfg.Metadata.AllowAutoTopicCreation = false
	return cfg
}

// listPartitionsFn runs once, after Impulse, at pipeline run time: it turns
// the topic into one element per partition with its start offset resolved,
// so every later step is independent of when and where it runs.
type listPartitionsFn struct {
	Brokers  []string
	Topic    string
	Group    string
	ClientID string
	Start    Start
	Bounded  bool
	RetryFor time.Duration
}

// ProcessElement lists the partitions and resolves their offset ranges.
func (fn *listPartitionsFn) ProcessElement(ctx context.Context, _ []byte, emit func(partitionSpec)) error {
	client, err := kafkaretry.Connect(ctx, fn.Brokers, clientConfig(fn.ClientID), fn.RetryFor)
	if err != nil {
		return fmt.Errorf("kafkaio: %w", err)
	}
	defer client.Close()
	var parts []int32
	err = kafkaretry.Do(ctx, fn.RetryFor, fmt.Sprintf("partitions of topic %q", fn.Topic), func() error {
		parts, err = client.Partitions(fn.Topic)
		if errors.Is(err, sarama.ErrUnknownTopicOrPartition) {
			// sarama has retried the metadata: a misspelt topic fails now.
			return kafkaretry.Permanent(err)
		}
		return err
	})
	if err != nil {
		return fmt.Errorf("kafkaio: %w", err)
	}
	id, err := topicID(client, fn.Topic)
	if err != nil {
		return err
	}
	offsets, err := fetchPartitionOffsets(ctx, client, fn.Topic, fn.Group, fn.Start, parts)
	if err != nil {
		return err
	}
	for _, p := range parts {
		o := offsets[p]
		spec := partitionSpec{Topic: fn.Topic, TopicID: id, Partition: p, Start: startOffset(fn.Start, o), End: math.MaxInt64}
		if fn.Bounded {
			spec.End = o.Latest
		}
		slog.InfoContext(ctx, "kafkaio: reading partition", "topic", fn.Topic, "partition", p,
			"start", fn.Start.String(), "from", spec.Start, "to", endString(spec.End),
			"earliest", o.Earliest, "latest", o.Latest, "committed", o.Committed)
		emit(spec)
	}
	return nil
}

func endString(end int64) string {
	if end == math.MaxInt64 {
		return "unbounded"
	}
	return fmt.Sprint(end)
}

// readFn is the splittable DoFn reading one partition per element. Its
// restriction is the offset range still to read; End is math.MaxInt64
// (growable) unless the read is bounded or the runner split it.
type readFn struct {
	Brokers        []string
	Group          string
	ClientID       string
	MaxRecords     int
	MaxDuration    time.Duration
	PollWait       time.Duration
	PollInterval   time.Duration
	FetchBytes     int32
	OutOfOrder     time.Duration
	CommitInterval time.Duration
	Idle           IdlePolicy
	FaultTimeout   time.Duration
	RetryFor       time.Duration

	// Per DoFn instance, never shared: the runner may process a partition's
	// residuals on any instance, so all position state lives in restrictions.
	client  sarama.Client
	fetcher *fetcher
	commits map[int32]commitMark
	faults  *topicFaults
	// The SDK creates a tracker and then processes its element on the same
	// instance; pending hands the tracker's end estimator over so fetches
	// can keep it current.
	mu         sync.Mutex
	pendingRT  *sdf.LockRTracker
	pendingEnd *endEstimator
}

type commitMark struct {
	offset int64
	at     time.Time
}

// Setup connects this instance's client. A broker that is restarting must
// not fail the bundle (Prism fails the whole job on a failed bundle, found
// by the chaos test): the connect retries for up to RetryFor.
func (fn *readFn) Setup() error {
	client, err := kafkaretry.Connect(context.Background(), fn.Brokers, clientConfig(fn.ClientID), fn.RetryFor)
	if err != nil {
		return fmt.Errorf("kafkaio: %w", err)
	}
	fn.client = client
	fn.fetcher = newFetcher(client, fn.FetchBytes)
	fn.commits = map[int32]commitMark{}
	fn.faults = newTopicFaults()
	return nil
}

// Teardown closes the client.
func (fn *readFn) Teardown() error {
	if fn.client == nil {
		return nil
	}
	return fn.client.Close()
}

// CreateInitialRestriction returns the range resolved at start.
func (fn *readFn) CreateInitialRestriction(p partitionSpec) offsetrange.Restriction {
	return offsetrange.Restriction{Start: p.Start, End: p.End}
}

// SplitRestriction keeps one restriction per partition: a partition is read
// in order by one reader at a time.
func (fn *readFn) SplitRestriction(_ partitionSpec, r offsetrange.Restriction) []offsetrange.Restriction {
	return []offsetrange.Restriction{r}
}

// RestrictionSize is the number of offsets left for bounded ranges. An
// unbounded range reports 1: its true backlog needs a broker round trip,
// and runners only use the size to weigh splits.
func (fn *readFn) RestrictionSize(_ partitionSpec, r offsetrange.Restriction) float64 {
	if r.End == math.MaxInt64 {
		return 1
	}
	return float64(max(0, r.End-r.Start))
}

// CreateTracker returns a plain offset tracker for bounded ranges and a
// growable one, whose end is the partition's high-water mark, otherwise.
func (fn *readFn) CreateTracker(r offsetrange.Restriction) (*sdf.LockRTracker, error) {
	if r.End != math.MaxInt64 {
		return sdf.NewLockRTracker(offsetrange.NewTracker(r)), nil
	}
	est := &endEstimator{}
	est.hwm.Store(r.Start)
	t, err := offsetrange.NewGrowableTracker(r, est)
	if err != nil {
		return nil, fmt.Errorf("kafkaio: tracker for %v: %w", r, err)
	}
	lt := sdf.NewLockRTracker(t)
	fn.mu.Lock()
	fn.pendingRT, fn.pendingEnd = lt, est
	fn.mu.Unlock()
	return lt, nil
}

// TruncateRestriction ends the read on drain (not offered for Go on Prism or
// Flink today, but the runner contract asks for it).
func (fn *readFn) TruncateRestriction(rt *sdf.LockRTracker, _ partitionSpec) offsetrange.Restriction {
	start := rt.GetRestriction().(offsetrange.Restriction).Start
	return offsetrange.Restriction{Start: start, End: start}
}

// InitialWatermarkEstimatorState starts every partition at the beginning of
// time: nothing is known about its records yet.
func (fn *readFn) InitialWatermarkEstimatorState(_ beam.EventTime, _ offsetrange.Restriction, _ partitionSpec) int64 {
	return initialWatermark
}

// CreateWatermarkEstimator restores a partition's estimator from its state.
func (fn *readFn) CreateWatermarkEstimator(state int64) *watermarkEstimator {
	return &watermarkEstimator{state: state, outOfOrder: fn.OutOfOrder.Milliseconds()}
}

// WatermarkEstimatorState saves the estimator with the residual.
func (fn *readFn) WatermarkEstimatorState(e *watermarkEstimator) int64 {
	return e.state
}

// ProcessElement reads the partition from the restriction's start until it
// has emitted MaxRecords records, spent MaxDuration, caught up, or reached
// the end of a bounded range, and then hands control back to the runner.
func (fn *readFn) ProcessElement(ctx context.Context, we *watermarkEstimator, rt *sdf.LockRTracker,
	p partitionSpec, emit func(beam.EventTime, Record)) (sdf.ProcessContinuation, error) {
	var est *endEstimator
	fn.mu.Lock()
	if fn.pendingRT == rt {
		est = fn.pendingEnd
	}
	fn.pendingRT, fn.pendingEnd = nil, nil
	fn.mu.Unlock()

	r := rt.GetRestriction().(offsetrange.Restriction)
	bounded := r.End != math.MaxInt64
	next := r.Start
	if bounded && next >= r.End {
		return fn.finish(ctx, rt, p, r.End)
	}
	fn.maybeCommit(ctx, p, next, false)

	deadline := time.Now().Add(fn.MaxDuration)
	n, size := 0, int64(0)
	defer func() {
		recordsRead.Inc(ctx, int64(n))
		bytesRead.Inc(ctx, size)
	}()
	for {
		wait := fn.PollWait
		if n > 0 {
			wait = 0 // we already have something to hand back: do not linger
		}
		began := time.Now()
		res, err := fn.fetcher.fetch(p.Topic, p.Partition, next, wait)
		switch {
		case errors.Is(err, errOutOfRange):
			if res.logStart > next {
				// Retention deleted records before we read them. Claim the gap
				// so the restriction moves on; the data is gone either way.
				slog.WarnContext(ctx, "kafkaio: offsets deleted before they were read",
					"topic", p.Topic, "partition", p.Partition, "from", next, "to", res.logStart)
				if !rt.TryClaim(res.logStart - 1) {
					return sdf.StopProcessing(), rt.GetError()
				}
				skippedOffsets.Inc(ctx, res.logStart-next)
				next = res.logStart
				continue
			}
			// Ahead of the log: the topic was re-created or truncated.
			// Restrictions cannot move back, so this needs the operator.
			return fn.topicFault(ctx, p, fmt.Errorf("kafkaio: read position %d of %s/%d is beyond the end of the partition (%d): %w",
				next, p.Topic, p.Partition, res.hwm, errTopicGone))
		case errors.Is(err, errRetriable):
			if cerr := checkTopic(fn.client, p); errors.Is(cerr, errTopicGone) {
				return fn.topicFault(ctx, p, cerr)
			}
			slog.WarnContext(ctx, "kafkaio: fetch failed, retrying", "err", err)
			return sdf.ResumeProcessingIn(retryDelay), nil
		case err != nil:
			return nil, err
		}
		fn.faults.healed(p.Partition)
		if est != nil {
			est.hwm.Store(res.hwm)
		}
		// One response can hold far more than MaxRecords: cut it, the rest is
		// fetched again by the next call.
		take, cut := res.records, false
		if room := fn.MaxRecords - n; len(take) > room {
			take, cut = take[:room], true
		}
		for _, rec := range take {
			if !rt.TryClaim(rec.Offset) {
				return sdf.StopProcessing(), rt.GetError()
			}
			if behind := we.behind(rec.Timestamp); behind > 0 {
				lateRecords.Inc(ctx, 1)
				lateness.Update(ctx, behind)
			}
			emit(beam.EventTime(rec.Timestamp.UnixMilli()), rec)
			next = rec.Offset + 1
			n++
			size += int64(len(rec.Key) + len(rec.Value))
		}
		if cut {
			fn.observeMarks(ctx, we, res.marks, next)
			return sdf.ResumeProcessingIn(0), nil
		}
		if res.last >= next {
			// Offsets without data records (transaction markers, compacted
			// tails): claim them so no later call fetches them again.
			if !rt.TryClaim(res.last) {
				return sdf.StopProcessing(), rt.GetError()
			}
			next = res.last + 1
		}
		fn.observeMarks(ctx, we, res.marks, next)
		// The end check comes before the caught-up check, or a bounded read
		// that reached its end would poll forever.
		if bounded && next >= r.End {
			return fn.finish(ctx, rt, p, r.End)
		}
		if next >= res.hwm {
			if !bounded && fn.Idle == IdleWallClock {
				we.Idle(time.Now())
			}
			if !bounded && fn.faults.due(p.Partition, time.Now()) {
				if err := checkTopic(fn.client, p); errors.Is(err, errTopicGone) {
					return fn.topicFault(ctx, p, err)
				}
			}
			// Caught up: poll again after PollInterval (see ReadPollInterval
			// for why Flink needs a whole second). With no interval, a broker
			// that ignores MaxWaitTime must still not make this a busy loop.
			delay := fn.PollInterval
			if len(res.records) == 0 && res.last < 0 {
				delay = max(delay, fn.PollWait-time.Since(began))
			}
			return sdf.ResumeProcessingIn(delay), nil
		}
		if n >= fn.MaxRecords || time.Now().After(deadline) {
			return sdf.ResumeProcessingIn(0), nil
		}
		if len(res.records) == 0 && res.last < 0 {
			// Behind the high-water mark yet nothing returned: the rest is
			// not readable yet (e.g. an open transaction). Back off.
			return sdf.ResumeProcessingIn(fn.PollWait), nil
		}
	}
}

// observeMarks advances the watermark to the source-watermark markers
// below next, the first offset not yet handed on: a marker beyond a cut
// response would make the records before it, emitted by the next call, late.
func (fn *readFn) observeMarks(ctx context.Context, we *watermarkEstimator, marks []mark, next int64) {
	n := 0
	for _, m := range marks {
		if m.offset >= next {
			break
		}
		we.advance(m.ms)
		n++
	}
	markersRead.Inc(ctx, int64(n))
}

// topicFault handles a partition whose topic is gone, re-created or
// truncated behind the read position: retry (it may be a broker restoring
// the topic) while counting and logging it, and fail the pipeline once it
// has lasted FaultTimeout. Failing is the visible outcome: the watermark of
// the whole pipeline stands still meanwhile, so every window would wait
// forever, which looks like a quiet stream.
func (fn *readFn) topicFault(ctx context.Context, p partitionSpec, cause error) (sdf.ProcessContinuation, error) {
	topicFaultsSeen.Inc(ctx, 1)
	lasted, first := fn.faults.fault(p.Partition, time.Now())
	if lasted >= fn.FaultTimeout {
		return nil, fmt.Errorf("%w (for %s; restart the pipeline to read the topic as it is now)", cause, lasted.Round(time.Second))
	}
	if first {
		slog.ErrorContext(ctx, "kafkaio: topic deleted, re-created or truncated; failing the pipeline unless it heals",
			"topic", p.Topic, "partition", p.Partition, "within", fn.FaultTimeout, "err", cause)
	}
	return sdf.ResumeProcessingIn(retryDelay), nil
}

// finish completes a bounded range: claiming End marks the tracker done, and
// StopProcessing releases the partition's watermark hold, so a finished
// partition never holds back the others' windows.
func (fn *readFn) finish(ctx context.Context, rt *sdf.LockRTracker, p partitionSpec, end int64) (sdf.ProcessContinuation, error) {
	rt.TryClaim(end)
	fn.maybeCommit(ctx, p, end, true)
	return sdf.StopProcessing(), rt.GetError()
}

// maybeCommit commits offset as the group's position of the partition when
// the last commit from this instance is older than CommitInterval (or force).
// The restriction start is what the runner has checkpointed, so it is a safe
// restart point; commit failures are logged, never fatal, because the
// runner's own state, not the group, drives the running pipeline.
func (fn *readFn) maybeCommit(ctx context.Context, p partitionSpec, offset int64, force bool) {
	if fn.Group == "" || fn.CommitInterval <= 0 {
		return
	}
	last, ok := fn.commits[p.Partition]
	if ok && (last.offset == offset || (!force && time.Since(last.at) < fn.CommitInterval)) {
		return
	}
	// A commit that cannot finish within one interval is superseded by the
	// next one: it must not hold up the partition's reading any longer.
	cctx, cancel := context.WithTimeout(ctx, fn.CommitInterval)
	defer cancel()
	if err := kafkaoffsets.Commit(cctx, fn.client, fn.Group, p.Topic, map[int32]int64{p.Partition: offset}); err != nil {
		slog.WarnContext(ctx, "kafkaio: commit failed", "group", fn.Group, "topic", p.Topic, "partition", p.Partition, "err", err)
		return
	}
	fn.commits[p.Partition] = commitMark{offset: offset, at: time.Now()}
}

// endEstimator tells a growable tracker how far the partition currently
// extends. ProcessElement updates it from every fetch response, so progress
// reports and runner splits never need a broker round trip.
type endEstimator struct {
	hwm atomic.Int64
}

// Estimate implements offsetrange.RangeEndEstimator.
func (e *endEstimator) Estimate() int64 { return e.hwm.Load() }
