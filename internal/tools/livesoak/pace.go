package livesoak

import "time"

// Pacer spaces events evenly: event n (0-based) is due Start + n/Rate. A
// producer that waits for each event's due time sends at Rate on average and
// never in bursts, unless it fell behind; then Step re-anchors the schedule
// rather than catching up with a burst larger than MaxBehind's worth.
type Pacer struct {
	Start time.Time
	// Rate is events per second; it must be positive.
	Rate float64
	// MaxBehind is how late an event may be before the schedule is moved
	// instead of caught up (0: never re-anchor).
	MaxBehind time.Duration
}

// Due is the time event n is due.
func (p Pacer) Due(n int64) time.Time {
	return p.Start.Add(time.Duration(float64(n) * float64(time.Second) / p.Rate))
}

// DueBy is how many events are due at now: events 0..DueBy(now)-1.
func (p Pacer) DueBy(now time.Time) int64 {
	if now.Before(p.Start) {
		return 0
	}
	n := int64(now.Sub(p.Start).Seconds()*p.Rate) + 1
	// Guard float rounding at the boundary: Due(n) must be after now.
	for n > 0 && p.Due(n-1).After(now) {
		n--
	}
	for !p.Due(n).After(now) {
		n++
	}
	return n
}

// Step says what to do about event n at now: wait that long first (0: send
// it now). When the event is more than MaxBehind late, the schedule is moved
// so that n is due now (reanchored is true, and p.Start changes): a stalled
// producer resumes at Rate instead of bursting out its backlog.
func (p *Pacer) Step(n int64, now time.Time) (wait time.Duration, reanchored bool) {
	due := p.Due(n)
	if d := due.Sub(now); d > 0 {
		return d, false
	}
	if p.MaxBehind > 0 && now.Sub(due) > p.MaxBehind {
		p.Start = now.Add(-time.Duration(float64(n) * float64(time.Second) / p.Rate))
		return 0, true
	}
	return 0, false
}
