package kafkaio

import (
	"errors"
	"time"
)

// Defaults of the read options.
const (
	DefaultMaxRecords     = 10000
	DefaultMaxDuration    = time.Second
	DefaultPollWait       = 250 * time.Millisecond
	DefaultPollInterval   = time.Second
	DefaultFetchBytes     = 1 << 20
	DefaultOutOfOrder     = 5 * time.Second
	DefaultCommitInterval = 5 * time.Second
	DefaultClientID       = "trendstream-kafkaio"
	// DefaultRetryFor is how long Read and Write ride out an unreachable
	// cluster (ReadRetryFor, WriteRetryFor): longer than a broker restart
	// (10 to 25 s for the local KRaft broker, RELIABILITY.md), short enough
	// that a cluster that is really gone fails the pipeline visibly.
	DefaultRetryFor = time.Minute
)

type readOptions struct {
	Start          Start
	Group          string
	Bounded        bool
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
	ClientID       string
}

func defaultReadOptions() readOptions {
	return readOptions{
		Start:          Start{Kind: StartEarliest},
		MaxRecords:     DefaultMaxRecords,
		MaxDuration:    DefaultMaxDuration,
		PollWait:       DefaultPollWait,
		PollInterval:   DefaultPollInterval,
		FetchBytes:     DefaultFetchBytes,
		OutOfOrder:     DefaultOutOfOrder,
		CommitInterval: DefaultCommitInterval,
		Idle:           IdleWallClock,
		FaultTimeout:   DefaultTopicFaultTimeout,
		RetryFor:       DefaultRetryFor,
		ClientID:       DefaultClientID,
	}
}

func (o *readOptions) validate() error {
	switch {
	case o.Start.Kind == StartCommitted && o.Group == "":
		return errors.New("start from committed offsets needs a consumer group (ReadGroup)")
	case o.Start.Kind == StartAtTime && o.Start.Time.IsZero():
		return errors.New("start at time needs a time")
	case o.Start.Kind < StartCommitted || o.Start.Kind > StartAtTime:
		return errors.New("unknown start kind")
	case o.MaxRecords <= 0:
		return errors.New("max records per call must be positive")
	case o.MaxDuration <= 0:
		return errors.New("max duration per call must be positive")
	case o.PollWait < 0:
		return errors.New("poll wait must not be negative")
	case o.PollInterval < 0:
		return errors.New("poll interval must not be negative")
	case o.FetchBytes <= 0:
		return errors.New("fetch bytes must be positive")
	case o.OutOfOrder < 0:
		return errors.New("out-of-order bound must not be negative")
	case o.Idle < IdleSourceWatermark || o.Idle > IdleHold:
		return errors.New("unknown idle policy")
	case o.FaultTimeout <= 0:
		return errors.New("topic fault timeout must be positive")
	case o.RetryFor <= 0:
		return errors.New("retry budget must be positive")
	}
	return nil
}

// ReadOption configures Read.
type ReadOption func(*readOptions)

// ReadStart sets where each partition starts (default StartEarliest).
// StartCommitted needs ReadGroup.
func ReadStart(s Start) ReadOption { return func(o *readOptions) { o.Start = s } }

// ReadGroup names the consumer group whose committed offsets StartCommitted
// resumes from. With a group, Read also commits its checkpointed position
// every ReadCommitInterval (for lag monitoring and cold restarts) and once
// more when a bounded read finishes. The group never joins or rebalances:
// partitions are assigned by the runner, not by Kafka.
func ReadGroup(group string) ReadOption { return func(o *readOptions) { o.Group = group } }

// ReadBounded stops each partition at the high-water mark seen when the
// pipeline started, so the pipeline finishes once it has read everything
// that existed at start. The output stays an unbounded PCollection (streaming
// semantics, triggers behave as in production). Used by tests and batch
// replay of the stored event log.
func ReadBounded() ReadOption { return func(o *readOptions) { o.Bounded = true } }

// ReadMaxRecords bounds the records one ProcessElement call emits before it
// self-checkpoints (default DefaultMaxRecords). Runners never split the
// reader themselves (apache/beam#20979), so this and ReadMaxDuration are what
// let windows fire and Flink checkpoints pass while a backlog is read.
func ReadMaxRecords(n int) ReadOption { return func(o *readOptions) { o.MaxRecords = n } }

// ReadMaxDuration bounds the wall time of one ProcessElement call (default
// DefaultMaxDuration); a call may overrun by one fetch.
func ReadMaxDuration(d time.Duration) ReadOption { return func(o *readOptions) { o.MaxDuration = d } }

// ReadPollWait is how long the broker holds a fetch open waiting for new
// records when a partition is caught up (default DefaultPollWait). It bounds
// the added latency for new records and the poll rate of idle partitions.
func ReadPollWait(d time.Duration) ReadOption { return func(o *readOptions) { o.PollWait = d } }

// ReadPollInterval is how long a caught-up partition's reader waits before
// it polls again (default DefaultPollInterval): the delay of its
// ResumeProcessingIn. It adds at most that much latency to a new record.
//
// On Flink keep it at 1 s or more. Beam's Flink runner (2.62) resumes a
// self-checkpointed reader with a processing-time timer whose delay it
// counts in whole seconds (BundleCheckpointHandlers drops the nanoseconds),
// and it only moves the reader stage's output watermark when no bundle is
// in progress (DoFnOperator.maybeEmitWatermark). A reader resumed "in 0 s"
// starts its next bundle before the watermark callback runs, so the
// watermark never left the reader and a live job emitted no window at all
// (flink/portable TestPipelinesOnFlink, docs/local-cluster.md).
func ReadPollInterval(d time.Duration) ReadOption { return func(o *readOptions) { o.PollInterval = d } }

// ReadFetchBytes is the maximum bytes fetched per request (default 1 MiB).
// A single larger record batch is still returned whole by the broker.
func ReadFetchBytes(n int32) ReadOption { return func(o *readOptions) { o.FetchBytes = n } }

// ReadOutOfOrder is how far a record's timestamp may be behind the newest
// timestamp seen in its partition and still be on time: the watermark trails
// the newest timestamp by this much (default DefaultOutOfOrder). Idle
// partitions advance to wall-clock time minus the same bound.
func ReadOutOfOrder(d time.Duration) ReadOption { return func(o *readOptions) { o.OutOfOrder = d } }

// ReadCommitInterval sets how often a partition's position is committed to
// the group (default DefaultCommitInterval); 0 disables commits.
func ReadCommitInterval(d time.Duration) ReadOption {
	return func(o *readOptions) { o.CommitInterval = d }
}

// ReadIdle sets how a caught-up partition's watermark moves while no
// records arrive (default IdleWallClock, right for topics nobody writes
// source-watermark markers into; trendstream's posts topic has them, and its
// pipelines use IdleSourceWatermark). See IdlePolicy.
func ReadIdle(p IdlePolicy) ReadOption { return func(o *readOptions) { o.Idle = p } }

// ReadTopicFaultTimeout is how long a partition may find its topic deleted,
// re-created (another topic id) or truncated behind its read position before
// Read fails the pipeline (default DefaultTopicFaultTimeout). Until then it
// retries, counts kafkaio/topic_faults and logs an error: a topic that comes
// back (a broker restoring it) heals, anything else needs the operator, who
// restarts the pipeline on the new topic. Restrictions only move forward, so
// Read cannot rewind to a new topic's start by itself.
func ReadTopicFaultTimeout(d time.Duration) ReadOption {
	return func(o *readOptions) { o.FaultTimeout = d }
}

// ReadRetryFor is how long Read keeps retrying while the cluster cannot be
// reached, e.g. during a broker restart, before it fails the pipeline
// (default DefaultRetryFor): when it resolves the partitions at start and
// when a worker connects. A caught-up partition whose broker goes away
// meanwhile keeps polling, and its watermark holds (see IdlePolicy).
func ReadRetryFor(d time.Duration) ReadOption { return func(o *readOptions) { o.RetryFor = d } }

// ReadClientID sets the Kafka client id (default DefaultClientID).
func ReadClientID(id string) ReadOption { return func(o *readOptions) { o.ClientID = id } }
