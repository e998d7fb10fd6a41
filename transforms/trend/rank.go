package trend

import (
	"context"
	"time"

	"github.com/apache/beam/sdks/v2/go/pkg/beam"
	"github.com/apache/beam/sdks/v2/go/pkg/beam/core/graph/window"
	"github.com/apache/beam/sdks/v2/go/pkg/beam/register"
	"google.golang.org/protobuf/types/known/timestamppb"

	"github.com/trendstream/trendstream/internal/termwindow"
	"github.com/trendstream/trendstream/internal/trendscore"

	tsv1 "github.com/trendstream/trendstream/proto/trendstream/v1"
)

func init() {
	register.DoFn6x0[context.Context, beam.Window, string, func(*int64) bool, func(*TrendList) bool, func(*tsv1.WindowSnapshot)](&rankFn{})
	register.Emitter1[*tsv1.WindowSnapshot]()
}

var snapshotsEmitted = beam.NewCounter("trending", "snapshots_emitted")

// rankFn builds one WindowSnapshot per (language, window) from the trending
// terms of that window and the window's post count.
type rankFn struct {
	TopK     int
	SizeMs   int64
	SourceID int32
	// RunEpoch is when the pipeline was built (Unix s), the high bits of
	// every snapshot's revision.
	RunEpoch int64
}

// revisionInputBits is how many low bits of a revision count the inputs.
const revisionInputBits = 20

// revision orders the snapshots of a window (WindowSnapshot.revision): a
// pane accumulates every input the window received, so within a run a pane
// with more inputs is the more complete one, whatever order a runner
// delivers the panes in.
func revision(runEpoch int64, inputs int) int64 {
	return runEpoch<<revisionInputBits | int64(min(inputs, 1<<revisionInputBits-1))
}

func (fn *rankFn) ProcessElement(ctx context.Context, w beam.Window, lang string, postsIter func(*int64) bool, listIter func(*TrendList) bool, emit func(*tsv1.WindowSnapshot)) {
	// The fixed window [end-period, end) holds exactly the sliding window
	// that ends at end.
	end := int64(w.(window.IntervalWindow).End)
	snap := &tsv1.WindowSnapshot{
		Source:      tsv1.Source(fn.SourceID),
		Lang:        lang,
		WindowStart: timestamppb.New(time.UnixMilli(end - fn.SizeMs)),
		WindowEnd:   timestamppb.New(time.UnixMilli(end)),
		EmittedAt:   timestamppb.Now(),
	}
	var n int64
	inputs := 0
	for postsIter(&n) {
		snap.Posts = max(snap.Posts, n)
		inputs++
	}
	// Each term comes from one shard. A shard that corrected the window
	// after late posts sent its lists again under a higher revision: only
	// each shard's latest revision counts (the pane accumulates them all).
	latest := map[int]uint64{}
	var lists []TrendList
	var l TrendList
	for listIter(&l) {
		inputs++
		lists = append(lists, l)
		latest[l.Shard] = max(latest[l.Shard], l.Rev)
		l = TrendList{}
	}
	best := map[termwindow.Key]Scored{}
	for _, l := range lists {
		if l.Rev != latest[l.Shard] {
			continue
		}
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
	snap.Revision = revision(fn.RunEpoch, inputs)
	snapshotsEmitted.Inc(ctx, 1)
	emit(snap)
}

// Rank groups trending terms (KV<ranking language, TrendList>) and post
// counts by (ranking, window) and emits one WindowSnapshot each, with the
// topK trending terms ranked by score. Corrections of a window (late
// posts) fire it again with everything it has received, so the snapshot
// emitted last is complete; they can come up to the allowed lateness after
// the window's posts plus a window size of replayed baselines.
func Rank(s beam.Scope, trends, postCounts beam.PCollection, size, period, lateness time.Duration, topK int, source tsv1.Source) beam.PCollection {
	s = s.Scope("Rank")
	fixed := window.NewFixedWindows(period)
	opts := []beam.WindowIntoOption{}
	if lateness > 0 {
		opts = append(opts, beam.AllowedLateness(2*lateness+size+period), beam.PanesAccumulate())
	}
	lists := beam.WindowInto(s, fixed, trends, opts...)
	posts := beam.WindowInto(s, fixed, postCounts, opts...)
	grouped := beam.CoGroupByKey(s, posts, lists)
	return beam.ParDo(s, &rankFn{TopK: topK, SizeMs: size.Milliseconds(), SourceID: int32(source), RunEpoch: time.Now().Unix()}, grouped)
}
