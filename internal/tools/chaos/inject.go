package chaos

import (
	"context"
	"fmt"
	"log/slog"
	"time"

	"github.com/trendstream/trendstream/internal/services/kafkabroker"
)

// Injected is a fault as it happened.
type Injected struct {
	Fault
	// N numbers the faults from 1, in schedule order.
	N int `json:"n"`
	// Began is when the fault hit, Recovered when the component was back
	// (for the source's faults: when the ingest was connected again).
	Began     time.Time `json:"began"`
	Recovered time.Time `json:"recovered"`
	Detail    string    `json:"detail,omitempty"`
	// Err is set when the fault or the recovery could not be done.
	Err string `json:"error,omitempty"`
}

// Label names the fault in reports: "#3 broker-restart".
func (f Injected) Label() string { return fmt.Sprintf("#%d %s", f.N, f.Kind) }

// Overlaps reports whether the fault was under way at some instant of
// [from, to].
func (f Injected) Overlaps(from, to time.Time) bool {
	return f.Began.Before(to) && !f.Recovered.Before(from)
}

// Lead is how far before a fault the posts it affects may lie: a
// reconnecting or restarted ingest re-sends what it had read since its
// last committed cursor, and the Jetstream reader rewinds its cursor a few
// seconds on reconnect.
const Lead = 5 * time.Second

// Affects reports whether the fault may have touched a window [from, to]:
// it was under way during it, or began at most Lead after its end.
func (f Injected) Affects(from, to time.Time) bool {
	return f.Overlaps(from, to.Add(Lead))
}

// Target is the system the faults hit.
type Target struct {
	Proxy    *Proxy
	Broker   *kafkabroker.Broker
	Postgres *Postgres
	Ingest   *Proc
	Pipeline *Proc
	// StopTimeout bounds the pipeline's exit after its cancel;
	// StartTimeout a service's start.
	StopTimeout, StartTimeout time.Duration
	Log                       *slog.Logger
}

// RunSchedule injects the faults at their times after start, one after
// the other (a fault whose time came while the previous one was still
// under way waits for its recovery), and returns what happened. A
// cancelled ctx ends the schedule after the current fault's recovery.
func RunSchedule(ctx context.Context, t *Target, start time.Time, faults []Fault) []Injected {
	var out []Injected
	for i, f := range faults {
		if !sleepUntil(ctx, start.Add(f.At)) {
			break
		}
		inj := Injected{Fault: f, N: i + 1}
		t.Log.Info("chaos: fault", "n", inj.N, "kind", f.Kind, "outage", f.Outage)
		inj.Began = time.Now()
		detail, err := t.inject(ctx, f)
		inj.Recovered, inj.Detail = time.Now(), detail
		if err != nil {
			inj.Err = err.Error()
			t.Log.Error("chaos: fault", "n", inj.N, "kind", f.Kind, "err", err)
		} else {
			t.Log.Info("chaos: recovered", "n", inj.N, "kind", f.Kind, "after", inj.Recovered.Sub(inj.Began).Round(time.Millisecond), "detail", detail)
		}
		out = append(out, inj)
	}
	return out
}

// inject does one fault and its recovery. The recovery runs even when ctx
// ends during the outage: the run still drains and reports.
func (t *Target) inject(ctx context.Context, f Fault) (string, error) {
	rctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), t.StartTimeout)
	defer cancel()
	switch f.Kind {
	case RelayDrop:
		before := t.Proxy.Accepted()
		n := t.Proxy.Drop()
		return t.reconnected(rctx, before, fmt.Sprintf("dropped %d connection(s)", n))
	case RelayStall:
		t.Proxy.Stall()
		sleep(ctx, f.Outage)
		t.Proxy.Resume()
		return "backlog delivered", nil
	case IngestKill:
		before := t.Proxy.Accepted()
		if err := t.Ingest.Kill(); err != nil {
			return "", err
		}
		sleep(ctx, f.Outage)
		if err := t.Ingest.Start(); err != nil {
			return "", err
		}
		return t.reconnected(rctx, before, "SIGKILL, restarted")
	case BrokerRestart:
		if err := t.Broker.Stop(); err != nil {
			return "", fmt.Errorf("chaos: stop Kafka: %w", err)
		}
		sleep(ctx, f.Outage)
		if err := t.Broker.Start(rctx); err != nil {
			return "", fmt.Errorf("chaos: start Kafka: %w", err)
		}
		return "SIGTERM, restarted with its data", nil
	case PostgresRestart:
		if err := t.Postgres.Stop(); err != nil {
			return "", err
		}
		sleep(ctx, f.Outage)
		return "fast shutdown, restarted", t.Postgres.Start(rctx)
	case PipelineRestart:
		stopErr := t.Pipeline.Stop(t.StopTimeout)
		sleep(ctx, f.Outage)
		if err := t.Pipeline.Start(); err != nil {
			return "", err
		}
		if stopErr != nil {
			return "", stopErr
		}
		return "SIGINT, started again", nil
	}
	return "", fmt.Errorf("chaos: unknown fault kind %q", f.Kind)
}

// reconnected waits for the ingest's next connection to the source.
func (t *Target) reconnected(ctx context.Context, before int, detail string) (string, error) {
	if err := t.Proxy.WaitConnected(ctx, before); err != nil {
		return detail, err
	}
	return detail + "; the ingest reconnected", nil
}

// sleepUntil waits for at, or returns false when ctx ends first.
func sleepUntil(ctx context.Context, at time.Time) bool {
	return sleep(ctx, time.Until(at))
}

// sleep waits d, or returns false when ctx ends first.
func sleep(ctx context.Context, d time.Duration) bool {
	if d <= 0 {
		return ctx.Err() == nil
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return true
	case <-ctx.Done():
		return false
	}
}
