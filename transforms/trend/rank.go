package trend

import (
	"context"
	"reflect"
	"slices"
	"strconv"
	"time"

	"github.com/apache/beam/sdks/v2/go/pkg/beam"
	"github.com/apache/beam/sdks/v2/go/pkg/beam/core/graph/mtime"
	"github.com/apache/beam/sdks/v2/go/pkg/beam/core/graph/window"
	"github.com/apache/beam/sdks/v2/go/pkg/beam/core/state"
	"github.com/apache/beam/sdks/v2/go/pkg/beam/core/timers"
	"github.com/apache/beam/sdks/v2/go/pkg/beam/register"
	"google.golang.org/protobuf/types/known/timestamppb"

	"github.com/trendstream/trendstream/internal/core/termwindow"
	"github.com/trendstream/trendstream/internal/core/trendscore"

	tsv1 "github.com/trendstream/trendstream/proto/trendstream/v1"
)

func init() {
	beam.RegisterType(reflect.TypeOf((*RankInput)(nil)).Elem())
	beam.RegisterType(reflect.TypeOf((*RankWindow)(nil)).Elem())
	register.Function3x2(postsInput)
	register.Function3x2(listInput)
	register.DoFn6x1[context.Context, state.Provider, timers.Provider, string, RankInput, func(*tsv1.WindowSnapshot), error](&rankFn{})
	register.Emitter1[*tsv1.WindowSnapshot]()
}

var (
	snapshotsEmitted = beam.NewCounter("trending", "snapshots_emitted")
	// snapshotsCorrected counts snapshots emitted again after late posts.
	snapshotsCorrected = beam.NewCounter("trending", "snapshots_corrected")
)

// RankInput is one input of a ranking's window: its post count or one
// shard's trending terms.
type RankInput struct {
	Lang  string
	End   int64 // window end, Unix ms
	Posts int64
	// PostsRev orders post counts (WindowPosts.Rev).
	PostsRev int64
	HasList  bool
	List     TrendList
}

// rankKey keys Rank by (ranking, window): each key's state is one window.
func rankKey(lang string, end int64) string { return lang + "|" + strconv.FormatInt(end, 10) }

func postsInput(ts beam.EventTime, lang string, n WindowPosts) (string, RankInput) {
	end := int64(ts) + 1
	return rankKey(lang, end), RankInput{Lang: lang, End: end, Posts: n.Posts, PostsRev: n.Rev}
}

func listInput(ts beam.EventTime, lang string, l TrendList) (string, RankInput) {
	end := int64(ts) + 1
	return rankKey(lang, end), RankInput{Lang: lang, End: end, HasList: true, List: l}
}

// RankWindow is what a ranking has received for one window.
type RankWindow struct {
	Lang     string
	End      int64
	Posts    int64
	PostsRev int64
	// Lists holds each shard's latest revision.
	Lists []TrendList
	// Timers says the fire and forget timers are set; Fired that the
	// window was emitted.
	Timers, Fired bool
	// Emits counts the window's snapshots (the low bits of the revision).
	Emits int64
}

// rankFn builds one WindowSnapshot per (language, window) from the trending
// terms of that window and the window's post count. It is keyed by ranking
// and window, and keeps the window's inputs in state: a timer emits the
// window once the watermark has passed its end (every shard's on-time lists
// are in by then), and each correction after late posts emits it again at
// once, the shard's new lists replacing its old ones.
//
// Coalescing a correction's inputs (every shard's lists and the post count)
// into one snapshot by setting the fire timer again, behind the watermark,
// was tried: on Flink such a timer fires only with the next watermark, and
// its hold stalls the stage's output watermark until then, so live windows
// reached PostgreSQL 2 s later (TestPipelinesOnFlink/live, p50 10.7 s
// against 8.5–9.0 s), with no throughput gained on Prism. The scorer sends
// fewer corrections instead (scoreFn.correct). Grouping in fixed
// windows with late panes did the same on paper, but Prism (v2.77) delivered
// late panes without the earlier inputs and out of order, so a window could
// end with a stale or partial snapshot. A second timer forgets the window
// once no correction can come (KeepMs after its end).
type rankFn struct {
	TopK     int
	SizeMs   int64
	SourceID int32
	// RunEpoch is when the pipeline was built (Unix s), the high bits of
	// every snapshot's revision.
	RunEpoch int64
	// KeepMs is how long after its end a window still takes corrections.
	KeepMs int64

	State state.Value[RankWindow]
	// Timer has two tags: fireTag emits the window, forgetTag clears it.
	// (One family: Prism v2.77 stalls a DoFn with a second timer family
	// that is not set.)
	Timer timers.EventTime
}

const (
	fireTag   = "fire"
	forgetTag = "forget"
)

// revisionInputBits is how many low bits of a revision count a window's
// snapshots.
const revisionInputBits = 20

// revision orders the snapshots of a window (WindowSnapshot.revision): a
// later run's come after an earlier run's, and within a run each snapshot
// of a window after the one before.
func revision(runEpoch, emits int64) int64 {
	return runEpoch<<revisionInputBits | min(emits, 1<<revisionInputBits-1)
}

func (fn *rankFn) ProcessElement(ctx context.Context, sp state.Provider, tp timers.Provider, _ string, in RankInput, emit func(*tsv1.WindowSnapshot)) error {
	w, _, err := fn.State.Read(sp)
	if err != nil {
		return err
	}
	w.Lang, w.End = in.Lang, in.End
	w.add(in)
	switch {
	case w.Fired:
		snapshotsCorrected.Inc(ctx, 1)
		emit(fn.snapshot(ctx, &w))
	case !w.Timers:
		w.Timers = true
		// Fire at the end, hold at end-1 (the window's timestamp): a
		// timer at end-1 fired as soon as the watermark reached end-1,
		// which a scorer holding its release at end-1 allows before it
		// has emitted the window, so the window went out without its
		// lists (and was corrected just after).
		fn.Timer.Set(tp, mtime.FromMilliseconds(in.End).ToTime(), timers.WithTag(fireTag),
			timers.WithOutputTimestamp(mtime.FromMilliseconds(in.End-1).ToTime()))
		fn.Timer.Set(tp, mtime.FromMilliseconds(in.End+fn.KeepMs).ToTime(), timers.WithTag(forgetTag))
	}
	return fn.State.Write(sp, w)
}

// add takes in: a post count of a higher revision replaces the count (late
// posts raise it, retractions lower it), and a shard's lists of a higher
// revision replace its earlier ones.
func (w *RankWindow) add(in RankInput) {
	if !in.HasList {
		if in.PostsRev >= w.PostsRev {
			w.Posts, w.PostsRev = in.Posts, in.PostsRev
		}
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

// OnTimer emits the window (fireTag) or forgets it (forgetTag). Should an
// input still come after that, the window starts over, and its snapshot's
// revision is lower than what the store keeps.
func (fn *rankFn) OnTimer(ctx context.Context, sp state.Provider, tp timers.Provider, _ string, tc timers.Context, emit func(*tsv1.WindowSnapshot)) error {
	if tc.Tag == forgetTag {
		return fn.State.Clear(sp)
	}
	w, _, err := fn.State.Read(sp)
	if err != nil {
		return err
	}
	w.Fired = true
	emit(fn.snapshot(ctx, &w))
	return fn.State.Write(sp, w)
}

// snapshot builds the ranking's WindowSnapshot of window w.
func (fn *rankFn) snapshot(ctx context.Context, w *RankWindow) *tsv1.WindowSnapshot {
	end := w.End
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
			Term: sc.Key.Term, Kind: sc.Key.Kind, Lang: sc.Key.Lang, Score: sc.RankBy, Shown: sc.Score,
			Count: sc.Count, Authors: sc.Authors, Baseline: sc.Baseline,
			StartedAt: time.UnixMilli(sc.StartedAt),
		})
	}
	snap := trendscore.Window{
		Source: tsv1.Source(fn.SourceID), Lang: w.Lang,
		Start: time.UnixMilli(end - fn.SizeMs), End: time.UnixMilli(end), Posts: w.Posts,
	}.Snapshot(trendscore.TopK(items, fn.TopK))
	snap.EmittedAt = timestamppb.Now()
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
		State:  state.MakeValueState[RankWindow]("window"), Timer: timers.InEventTime("rank"),
	}, ins)
}
