package chaos

import (
	"errors"
	"fmt"
	"math/rand/v2"
	"time"
)

// Kind is a kind of fault.
type Kind string

// The fault kinds, one per component of the system that can fail.
const (
	// RelayDrop closes every connection between the ingest and the source;
	// the ingest reconnects and resumes from its cursor.
	RelayDrop Kind = "relay-drop"
	// RelayStall stops the source's bytes for the outage and then delivers
	// the backlog at once, with the events' original times: the case that
	// puts posts behind the pipeline's watermark.
	RelayStall Kind = "relay-stall"
	// IngestKill SIGKILLs the ingest and starts it again after the outage.
	IngestKill Kind = "ingest-kill"
	// BrokerRestart stops the Kafka broker (SIGTERM) and starts it again
	// on the same port with its data after the outage.
	BrokerRestart Kind = "broker-restart"
	// PostgresRestart stops PostgreSQL (fast mode) and starts it again
	// after the outage.
	PostgresRestart Kind = "postgres-restart"
	// PipelineRestart cancels the pipeline (SIGINT) and starts it again
	// after the outage with the same flags (PipelineOptions' start).
	PipelineRestart Kind = "pipeline-restart"
)

// Kinds lists every fault kind, in the order reports show them.
var Kinds = []Kind{RelayDrop, RelayStall, IngestKill, BrokerRestart, PostgresRestart, PipelineRestart}

// hasOutage reports whether a kind keeps something down for a while; a
// drop is instantaneous (the ingest's own backoff is the outage).
func (k Kind) hasOutage() bool { return k != RelayDrop }

// Fault is one scheduled fault.
type Fault struct {
	Kind Kind `json:"kind"`
	// At is when it starts, after the stream's start.
	At time.Duration `json:"at"`
	// Outage is how long the component stays down or stalled (0 for a
	// drop).
	Outage time.Duration `json:"outage"`
}

// ScheduleOptions configure Schedule.
type ScheduleOptions struct {
	Seed uint64
	// From and To bound the start times, after the stream's start: faults
	// begin once the system has settled and end before the drain.
	From, To time.Duration
	// Count is how many faults; it must be at least len(Kinds), so that
	// every kind is injected.
	Count int
	// MinOutage and MaxOutage bound the drawn outages; MaxOutage is cut to
	// half a fault's slot so that the system recovers between faults.
	MinOutage, MaxOutage time.Duration
}

// Schedule draws the faults of a run: every kind once in a seeded order,
// then seeded random kinds up to Count, one per equal slot of [From, To)
// at a seeded offset in the slot's first quarter, with seeded outages. The
// same options always give the same schedule, so a failing run can be
// repeated with its -seed.
func Schedule(o ScheduleOptions) ([]Fault, error) {
	if o.Count < len(Kinds) {
		return nil, fmt.Errorf("chaos: %d faults cannot cover the %d kinds", o.Count, len(Kinds))
	}
	if o.To <= o.From || o.From < 0 {
		return nil, fmt.Errorf("chaos: fault span [%s, %s) is empty", o.From, o.To)
	}
	if o.MinOutage <= 0 || o.MaxOutage < o.MinOutage {
		return nil, fmt.Errorf("chaos: outage bounds [%s, %s] invalid", o.MinOutage, o.MaxOutage)
	}
	slot := (o.To - o.From) / time.Duration(o.Count)
	maxOutage := min(o.MaxOutage, slot/2)
	if maxOutage < o.MinOutage {
		return nil, errors.New("chaos: the faults do not fit: each slot of " + slot.String() +
			" leaves less than the minimum outage " + o.MinOutage.String() + " (lengthen -duration, lower -faults or -min-outage)")
	}
	rng := rand.New(rand.NewPCG(o.Seed, 0xc4a05))
	kinds := make([]Kind, 0, o.Count)
	for _, i := range rng.Perm(len(Kinds)) {
		kinds = append(kinds, Kinds[i])
	}
	for len(kinds) < o.Count {
		kinds = append(kinds, Kinds[rng.IntN(len(Kinds))])
	}
	out := make([]Fault, len(kinds))
	for i, k := range kinds {
		f := Fault{Kind: k, At: o.From + time.Duration(i)*slot + jitter(rng, slot/4)}
		if k.hasOutage() {
			f.Outage = (o.MinOutage + jitter(rng, maxOutage-o.MinOutage)).Round(100 * time.Millisecond)
		}
		out[i] = f
	}
	return out, nil
}

// jitter is a seeded duration in [0, d].
func jitter(rng *rand.Rand, d time.Duration) time.Duration {
	if d <= 0 {
		return 0
	}
	return time.Duration(rng.Int64N(int64(d) + 1))
}

// CountByKind counts faults per kind.
func CountByKind[T interface{ kind() Kind }](fs []T) map[Kind]int {
	out := map[Kind]int{}
	for _, f := range fs {
		out[f.kind()]++
	}
	return out
}

func (f Fault) kind() Kind { return f.Kind }
