package topics

import (
	"context"
	"fmt"
	"reflect"
	"slices"

	"github.com/apache/beam/sdks/v2/go/pkg/beam"
	"github.com/apache/beam/sdks/v2/go/pkg/beam/core/graph/mtime"
	"github.com/apache/beam/sdks/v2/go/pkg/beam/core/state"
	"github.com/apache/beam/sdks/v2/go/pkg/beam/core/timers"
	"github.com/apache/beam/sdks/v2/go/pkg/beam/register"
	"google.golang.org/protobuf/proto"

	grouping "github.com/trendstream/trendstream/internal/core/topics"
	tsv1 "github.com/trendstream/trendstream/proto/trendstream/v1"
)

func init() {
	beam.RegisterType(reflect.TypeOf((*Gathered)(nil)).Elem())
	beam.RegisterType(reflect.TypeOf((*PartMsg)(nil)).Elem())
	register.DoFn6x1[context.Context, state.Provider, timers.Provider, string, GatherIn, func(*tsv1.WindowSnapshot), error](&gatherFn{})
	register.Emitter1[*tsv1.WindowSnapshot]()
}

var snapshotsEnriched = beam.NewCounter("topics", "snapshots_enriched")

// PartMsg is one language's part of a revision of a window's snapshot.
type PartMsg struct {
	Rev  int64
	Lang string
	Msg  []byte
}

// Gathered is what the gather holds for one ranking's window.
type Gathered struct {
	// Snap is the newest snapshot not yet emitted, of revision Rev.
	Snap []byte
	Rev  int64
	// Done says a snapshot was emitted, the newest of revision DoneRev.
	Done    bool
	DoneRev int64
	Parts   []PartMsg
	Timer   bool
}

// gatherFn emits each snapshot once the parts of all its term languages,
// of its revision, are in. Older revisions are dropped; a timer forgets the
// window once no correction can come (KeepMs after its end), as Rank does.
//
// The forget time comes from the key (the window's end), whichever message
// comes first: parts once carried no window end, so a part that came
// before its snapshot set the timer at KeepMs after 1970, and the window
// was forgotten, snapshot and all, at the next watermark step (a window
// missing from the results now and then, docs/eval.md).
type gatherFn struct {
	KeepMs int64
	State  state.Value[Gathered]
	Timer  timers.EventTime
}

func (fn *gatherFn) ProcessElement(ctx context.Context, sp state.Provider, tp timers.Provider, key string, in GatherIn, emit func(*tsv1.WindowSnapshot)) error {
	var m tsv1.WindowSnapshot
	if err := proto.Unmarshal(in.Msg, &m); err != nil {
		return fmt.Errorf("topics: gather: %w", err)
	}
	g, _, err := fn.State.Read(sp)
	if err != nil {
		return err
	}
	if !g.Timer {
		end, err := keyEnd(key)
		if err != nil {
			return err
		}
		g.Timer = true
		fn.Timer.Set(tp, mtime.FromMilliseconds(end+fn.KeepMs).ToTime())
	}
	rev := m.GetRevision()
	switch {
	case g.Done && rev <= g.DoneRev:
		// a part or snapshot superseded by what was emitted
	case in.Part:
		g.Parts = slices.DeleteFunc(g.Parts, func(p PartMsg) bool { return p.Rev == rev && p.Lang == m.GetLang() })
		g.Parts = append(g.Parts, PartMsg{Rev: rev, Lang: m.GetLang(), Msg: in.Msg})
	case g.Snap == nil || rev >= g.Rev:
		g.Snap, g.Rev = in.Msg, rev
	}
	if g.Snap != nil {
		done, err := g.complete()
		if err != nil {
			return err
		}
		if done != nil {
			snapshotsEnriched.Inc(ctx, 1)
			emit(done)
			g.Done, g.DoneRev, g.Snap = true, g.Rev, nil
			g.Parts = slices.DeleteFunc(g.Parts, func(p PartMsg) bool { return p.Rev <= g.DoneRev })
		}
	}
	return fn.State.Write(sp, g)
}

// complete returns the held snapshot assembled with its parts once every
// part of its revision is in, nil before.
func (g *Gathered) complete() (*tsv1.WindowSnapshot, error) {
	var snap tsv1.WindowSnapshot
	if err := proto.Unmarshal(g.Snap, &snap); err != nil {
		return nil, fmt.Errorf("topics: gather: %w", err)
	}
	var parts []*tsv1.WindowSnapshot
	for _, lang := range grouping.Langs(&snap) {
		i := slices.IndexFunc(g.Parts, func(p PartMsg) bool { return p.Rev == g.Rev && p.Lang == lang })
		if i < 0 {
			return nil, nil
		}
		var part tsv1.WindowSnapshot
		if err := proto.Unmarshal(g.Parts[i].Msg, &part); err != nil {
			return nil, fmt.Errorf("topics: gather: part: %w", err)
		}
		parts = append(parts, &part)
	}
	return grouping.Assemble(&snap, parts), nil
}

func (fn *gatherFn) OnTimer(_ context.Context, sp state.Provider, _ timers.Provider, _ string, _ timers.Context, _ func(*tsv1.WindowSnapshot)) error {
	return fn.State.Clear(sp)
}

func gather(s beam.Scope, ins beam.PCollection, c Config) beam.PCollection {
	return beam.ParDo(s.Scope("Gather"), &gatherFn{
		KeepMs: (2*c.Lateness + c.Size + c.Period).Milliseconds(),
		State:  state.MakeValueState[Gathered]("gathered"), Timer: timers.InEventTime("forget"),
	}, ins)
}
