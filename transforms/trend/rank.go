package trend

import (
	"context"
	"reflect"
	"slices"
	"time"

	"github.com/apache/beam/sdks/v2/go/pkg/beam"
	"github.com/apache/beam/sdks/v2/go/pkg/beam/core/graph/mtime"
	"github.com/apache/beam/sdks/v2/go/pkg/beam/core/graph/window"
	"github.com/apache/beam/sdks/v2/go/pkg/beam/core/state"
	"github.com/apache/beam/sdks/v2/go/pkg/beam/core/timers"
	"github.com/apache/beam/sdks/v2/go/pkg/beam/register"
	"google.golang.org/protobuf/types/known/timestamppb"

	"github.com/trendstream/trendstream/internal/termwindow"
	"github.com/trendstream/trendstream/internal/trendscore"

	tsv1 "github.com/trendstream/trendstream/proto/trendstream/v1"
)

func init() {
	beam.RegisterType(reflect.TypeOf((*RankInput)(nil)).Elem())
	beam.RegisterType(reflect.TypeOf((*RankState)(nil)).Elem())
	register.Function3x2(postsInput)
	register.Function3x2(listInput)
	register.DoFn6x1[context.Context, state.Provider, timers.Provider, string, RankInput, func(*tsv1.WindowSnapshot), error](&rankFn{})
	register.Emitter1[*tsv1.WindowSnapshot]()
}

var (
	snapshotsEmitted = beam.NewCounter("trending", "snapshots_emitted")
	// snapshotsCorrected counts snapshots emitted again after late posts.
	snapshotsCorrected = beam.NewCounter("trending", "snapshots_corrected")
	// rankInputsDropped counts inputs for windows already forgotten.
	rankInputsDropped = beam.NewCounter("trending", "rank_inputs_dropped")
)

// RankInput is one input of a ranking's window: its post count or one
// shard's trending terms.
type RankInput struct {
	End     int64 // window end, Unix ms
	Posts   int64
	HasList bool
	List    TrendList
}

func postsInput(ts beam.EventTime, lang string, n int64) (string, RankInput) {
	return lang, RankInput{End: int64(ts) + 1, Posts: n}
}

func listInput(ts beam.EventTime, lang string, l TrendList) (string, RankInput) {
	return lang, RankInput{End: int64(ts) + 1, HasList: true, List: l}
}

// RankWindow is what a ranking has received for one window.
type RankWindow struct {
	End   int64
	Posts int64
	// Lists holds each shard's latest revision.
	Lists []TrendList
	Fired bool
	// Emits counts the window's snapshots (the low bits of the revision).
	Emits int64
}

// RankState is one ranking's windows still open to corrections.
type RankState struct {
	Windows []RankWindow
	// Forgotten is the end of the last window dropped: inputs for it or
	// earlier ones come beyond every correction horizon.
	Forgotten int64
	// Timer mirrors the fire timer: set, and when it fires.
	Timer bool
	Fire  int64
}

// rankFn builds one WindowSnapshot per (language, window) from the trending
// terms of that window and the window's post count. It is keyed by ranking
// and keeps each window's inputs in state: a timer emits the window once
// the watermark has passed its end (every shard's on-time lists are in by
// then), and each correction after late posts emits it again at once, with
// the shard's new lists replacing its old ones. Grouping in fixed windows
// with late panes did the same on paper, but Prism (v2.77) delivered late
// panes without the earlier inputs and out of order, so a window could end
// with a stale or partial snapshot.
type rankFn struct {
	TopK     int
	SizeMs   int64
	SourceID int32
	// RunEpoch is when the pipeline was built (Unix s), the high bits of
	// every snapshot's revision.
	RunEpoch int64
	// KeepMs is how long after a window was first emitted it still takes
	// corrections.
	KeepMs int64

	State state.Value[RankState]
	Fire  timers.EventTime
}

// revisionInputBits is how many low bits of a revision count a window's
// snapshots.
const revisionInputBits = 20

// revision orders the snapshots of a window (WindowSnapshot.revision): a
// later run's come after an earlier run's, and within a run each snapshot
// of a window after the one before.
func revision(runEpoch, emits int64) int64 {
	return runEpoch<<revisionInputBits | min(emits, 1<<revisionInputBits-1)
}

func (fn *rankFn) ProcessElement(ctx context.Context, sp state.Provider, tp timers.Provider, lang string, in RankInput, emit func(*tsv1.WindowSnapshot)) error {
	st, _, err := fn.State.Read(sp)
	if err != nil {
		return err
	}
	if in.End <= st.Forgotten {
		rankInputsDropped.Inc(ctx, 1)
		return nil
	}
	i := slices.IndexFunc(st.Windows, func(w RankWindow) bool { return w.End == in.End })
	if i < 0 {
		st.Windows = append(st.Windows, RankWindow{End: in.End})
		i = len(st.Windows) - 1
	}
	w := &st.Windows[i]
	w.add(in)
	if w.Fired {
		snapshotsCorrected.Inc(ctx, 1)
		emit(fn.snapshot(ctx, lang, w))
	} else if !st.Timer || in.End-1 < st.Fire {
		st.Timer, st.Fire = true, in.End-1
		fn.setFire(tp, st.Fire)
	}
	return fn.State.Write(sp, st)
}

// add takes in: the post count only grows with late posts, and a shard's
// lists of a higher revision replace its earlier ones.
func (w *RankWindow) add(in RankInput) {
	if !in.HasList {
		w.Posts = max(w.Posts, in.Posts)
		return
	}
	rev := in.List.Rev
	for _, l := range w.Lists {
		if l.Shard == in.List.Shard && l.Rev > rev {
			return // an older revision arriving late
		}
	}
	w.Lists = slices.DeleteFunc(w.Lists, func(l TrendList) bool { return l.Shard == in.List.Shard && l.Rev < rev })
	w.Lists = append(w.Lists, in.List)
}

func (fn *rankFn) setFire(tp timers.Provider, at int64) {
	t := mtime.FromMilliseconds(at).ToTime()
	fn.Fire.Set(tp, t, timers.WithOutputTimestamp(t))
}

// OnTimer emits every window the watermark has passed, forgets the windows
// beyond the correction horizon and sets the timer for the next window.
func (fn *rankFn) OnTimer(ctx context.Context, sp state.Provider, tp timers.Provider, lang string, tc timers.Context, emit func(*tsv1.WindowSnapshot)) error {
	st, _, err := fn.State.Read(sp)
	if err != nil {
		return err
	}
	now := st.Fire
	st.Timer = false
	slices.SortFunc(st.Windows, func(a, b RankWindow) int { return cmpInt64(a.End, b.End) })
	for i := range st.Windows {
		w := &st.Windows[i]
		if !w.Fired && w.End-1 <= now {
			w.Fired = true
			emit(fn.snapshot(ctx, lang, w))
		}
	}
	st.Windows = slices.DeleteFunc(st.Windows, func(w RankWindow) bool {
		if w.Fired && w.End+fn.KeepMs <= now {
			st.Forgotten = max(st.Forgotten, w.End)
			return true
		}
		return false
	})
	for _, w := range st.Windows {
		if !w.Fired {
			st.Timer, st.Fire = true, w.End-1
			fn.setFire(tp, st.Fire)
			break
		}
	}
	return fn.State.Write(sp, st)
}

func cmpInt64(a, b int64) int {
	switch {
	case a < b:
		return -1
	case a > b:
		return 1
	}
	return 0
}

// snapshot builds the ranking's WindowSnapshot of window w.
func (fn *rankFn) snapshot(ctx context.Context, lang string, w *RankWindow) *tsv1.WindowSnapshot {
	end := w.End
	snap := &tsv1.WindowSnapshot{
		Source:      tsv1.Source(fn.SourceID),
		Lang:        lang,
		WindowStart: timestamppb.New(time.UnixMilli(end - fn.SizeMs)),
		WindowEnd:   timestamppb.New(time.UnixMilli(end)),
		Posts:       w.Posts,
		EmittedAt:   timestamppb.Now(),
	}
	// Each term comes from one shard.
	best := map[termwindow.Key]Scored{}
	for _, l := range w.Lists {
		for _, sc := range l.Terms {
			if b, ok := best[sc.Key]; !ok || sc.Count > b.Count {
				best[sc.Key] = sc
			}
		}
	}
	items := make([]trendscore.Ranked, 0, len(best))
	for _, sc := range best {
		items = append(items, trendscore.Ranked{
			Term: sc.Key.Term, Kind: sc.Key.Kind, Lang: sc.Key.Lang, Score: sc.RankBy,
			Count: sc.Count, Authors: sc.Authors, Baseline: sc.Baseline,
			StartedAt: time.UnixMilli(sc.StartedAt),
		})
	}
	for i, r := range trendscore.TopK(items, fn.TopK) {
		sc := best[termwindow.Key{Lang: r.Lang, Kind: r.Kind, Term: r.Term}]
		snap.Terms = append(snap.Terms, &tsv1.TrendingTerm{
			Term: r.Term, Kind: r.Kind, Lang: r.Lang,
			WindowStart: snap.WindowStart, WindowEnd: snap.WindowEnd,
			Count: r.Count, UniqueAuthors: r.Authors,
			Baseline: r.Baseline, Score: sc.Score, Rank: int32(i + 1),
			FirstSeen: timestamppb.New(r.StartedAt),
			Source:    snap.Source,
		})
	}
	w.Emits++
	snap.Revision = revision(fn.RunEpoch, w.Emits)
	snapshotsEmitted.Inc(ctx, 1)
	return snap
}

// Rank groups trending terms (KV<ranking language, TrendList>) and post
// counts by (ranking, window) and emits one WindowSnapshot each, with the
// topK trending terms ranked by score, and again whenever late posts
// correct the window (see rankFn).
func Rank(s beam.Scope, trends, postCounts beam.PCollection, size, period, lateness time.Duration, topK int, source tsv1.Source) beam.PCollection {
	s = s.Scope("Rank")
	global := window.NewGlobalWindows()
	ins := beam.Flatten(s,
		beam.ParDo(s, postsInput, beam.WindowInto(s, global, postCounts)),
		beam.ParDo(s, listInput, beam.WindowInto(s, global, trends)))
	return beam.ParDo(s, &rankFn{
		TopK: topK, SizeMs: size.Milliseconds(), SourceID: int32(source), RunEpoch: time.Now().Unix(),
		KeepMs: (2*lateness + size + period).Milliseconds(),
		State:  state.MakeValueState[RankState]("windows"), Fire: timers.InEventTime("fire"),
	}, ins)
}
