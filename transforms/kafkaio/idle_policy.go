package kafkaio

import (
	"fmt"
	"strings"
)

// IdlePolicy says how the watermark of a partition that has caught up with
// its log moves while no records arrive. The output watermark of Read is the
// minimum over partitions, so a partition that never moves holds every window
// of the pipeline open (apache/beam#31085), and one that moves too early makes
// records that are still on their way late.
type IdlePolicy int

const (
	// IdleSourceWatermark follows the source-watermark markers the ingest
	// writes into every partition (internal/core/watermark): a caught-up
	// partition advances only as far as the writer says it has delivered.
	// A stalled source, a reconnecting ingest or a broker outage therefore
	// stop the watermark instead of making the backlog late. Markers are
	// honoured under every policy; this one adds nothing else.
	IdleSourceWatermark IdlePolicy = iota
	// IdleWallClock advances a caught-up partition to the wall clock minus
	// the out-of-order bound. Use it for topics whose producers write no
	// markers; records delivered more than that bound late are late.
	IdleWallClock
	// IdleHold keeps a caught-up partition's watermark where its records
	// and markers left it.
	IdleHold
)

// String returns the policy's flag spelling.
func (p IdlePolicy) String() string {
	switch p {
	case IdleSourceWatermark:
		return "source"
	case IdleWallClock:
		return "wallclock"
	case IdleHold:
		return "hold"
	}
	return fmt.Sprintf("IdlePolicy(%d)", int(p))
}

// ParseIdlePolicy parses a policy's flag spelling.
func ParseIdlePolicy(s string) (IdlePolicy, error) {
	for _, p := range []IdlePolicy{IdleSourceWatermark, IdleWallClock, IdleHold} {
		if strings.EqualFold(s, p.String()) {
			return p, nil
		}
	}
	return 0, fmt.Errorf("kafkaio: unknown idle policy %q (want source, wallclock or hold)", s)
}

// Set implements flag.Value.
func (p *IdlePolicy) Set(s string) error {
	v, err := ParseIdlePolicy(s)
	if err != nil {
		return err
	}
	*p = v
	return nil
}
