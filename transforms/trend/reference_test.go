package trend

import (
	"cmp"
	"fmt"
	"math"
	"slices"
	"testing"
	"time"

	"github.com/apache/beam/sdks/v2/go/pkg/beam"
	"github.com/apache/beam/sdks/v2/go/pkg/beam/core/metrics"
	"github.com/apache/beam/sdks/v2/go/pkg/beam/register"
	"github.com/apache/beam/sdks/v2/go/pkg/beam/testing/ptest"
	"github.com/apache/beam/sdks/v2/go/pkg/beam/testing/teststream"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/timestamppb"

	"github.com/trendstream/trendstream/internal/core/terms"
	"github.com/trendstream/trendstream/internal/core/trendcalc"
	"github.com/trendstream/trendstream/internal/core/trendscore"
	"github.com/trendstream/trendstream/internal/testenv/corpus"
	tsv1 "github.com/trendstream/trendstream/proto/trendstream/v1"
)

// TestTrendsMatchReference runs the composite on real posts with bursts
// and a quiet gap longer than the window, on a few shards, and checks every
// ranking against internal/core/trendcalc. The posts come all at once (one
// firing scores every window) or as a stream whose watermark advances
// minute by minute (windows close one by one), each with the worker's
// state cache and without it, so the keyed-state path runs as a worker
// that never saw the shard would run it.
func TestTrendsMatchReference(t *testing.T) {
	posts, cfg := referenceCase(t)
	want := referenceSnapshots(t, cfg, posts)

	for _, tc := range []struct{ stream, cached bool }{{false, true}, {true, true}, {true, false}} {
		cached := tc.cached
		t.Run(fmt.Sprintf("stream=%v/cache=%v", tc.stream, tc.cached), func(t *testing.T) {
			input := func(s beam.Scope) beam.PCollection { return beam.ParDo(s, &emitPostsFn{Posts: posts}, beam.Impulse(s)) }
			if tc.stream {
				input = func(s beam.Scope) beam.PCollection { return streamPosts(t, s, posts, nil, 0) }
			}
			for _, d := range diffSnapshots(latestSnapshots(runTrends(t, cached, cfg, input).Snapshots), want) {
				t.Error(d)
			}
		})
	}
}

// referenceCase is the corpus and configuration TestTrendsMatchReference
// runs: real posts, bursts and a quiet gap, on a few shards.
func referenceCase(t *testing.T) ([]*tsv1.Post, Config) {
	t.Helper()
	all, err := corpus.Posts()
	if err != nil {
		t.Fatal(err)
	}
	t0 := time.Date(2026, 3, 1, 0, 0, 0, 0, time.UTC)
	posts := corpus.Retime(all[:1500], t0, 2) // 12.5 minutes
	// A quiet half hour, then more: windows must close on both sides of it.
	posts = append(posts, corpus.Retime(all[1500:3000], t0.Add(45*time.Minute), 2)...)
	for k := range 4 {
		text := all[100+k*37]
		at := t0.Add(time.Duration(6+k*12) * time.Minute)
		for i := range 40 {
			c := proto.Clone(text).(*tsv1.Post)
			c.AuthorDid = fmt.Sprintf("did:plc:burst%d-%d", k, i)
			c.ObservedAt = timestamppb.New(at.Add(time.Duration(i) * 1500 * time.Millisecond))
			posts = append(posts, c)
		}
	}
	params := trendscore.DefaultParams()
	params.WarmUp = 3 * time.Minute
	params.HalfLife = 30
	cfg := Config{
		Size: 5 * time.Minute, Period: time.Minute, TopK: 10, Shards: 3,
		Terms: terms.DefaultOptions(), Score: params.StartingAt(t0), Source: tsv1.Source_SOURCE_BLUESKY,
	}
	return posts, cfg
}

// trendsRun is what a run of the composite emitted, and its metrics.
type trendsRun struct {
	Snapshots []*tsv1.WindowSnapshot
	res       beam.PipelineResult
}

// counter sums the run's counter name of the namespace "trending".
func (r trendsRun) counter(name string) int64 {
	var sum int64
	for _, c := range r.res.Metrics().Query(func(m metrics.SingleResult) bool {
		return m.Namespace() == "trending" && m.Name() == name
	}).Counters() {
		sum += c.Result()
	}
	return sum
}

// runTrends runs the composite with cfg on Prism over the posts input
// makes, with the worker's state cache or without it (so the keyed-state
// path runs as on a worker that never saw the shard), and returns every
// snapshot it emitted.
func runTrends(t *testing.T, cached bool, cfg Config, input func(beam.Scope) beam.PCollection) trendsRun {
	t.Helper()
	stateCache.setOff(!cached)
	defer stateCache.setOff(false)
	p, s := beam.NewPipelineWithRoot()
	beam.ParDo0(s, &collectFn{Test: t.Name()}, Trends(s, input(s), cfg))
	res, err := ptest.RunWithMetrics(p)
	if err != nil {
		t.Fatal(err)
	}
	collectedMu.Lock()
	defer collectedMu.Unlock()
	return trendsRun{Snapshots: collected[t.Name()], res: res}
}

// referenceSnapshots computes the rankings internal/core/trendcalc makes of
// posts, by snapKey.
func referenceSnapshots(t *testing.T, cfg Config, posts []*tsv1.Post) map[string]*tsv1.WindowSnapshot {
	t.Helper()
	calc := trendcalc.New(cfg.Reference())
	for _, p := range posts {
		calc.Add(p)
	}
	want := map[string]*tsv1.WindowSnapshot{}
	ranked := 0
	for _, s := range calc.Snapshots() {
		want[snapKey(s)] = s
		ranked += len(s.GetTerms())
	}
	if ranked == 0 {
		t.Fatal("nothing trends in the reference: the test would prove nothing")
	}
	return want
}

// latestSnapshots keeps the latest snapshot of each ranking as readers do
// (highest revision, then emitted last): a window corrected after late
// posts is emitted again, and its panes may arrive in any order.
func latestSnapshots(snaps []*tsv1.WindowSnapshot) map[string]*tsv1.WindowSnapshot {
	got := map[string]*tsv1.WindowSnapshot{}
	for _, s := range snaps {
		k := snapKey(s)
		if g := got[k]; g == nil || s.GetRevision() > g.GetRevision() ||
			(s.GetRevision() == g.GetRevision() && !s.GetEmittedAt().AsTime().Before(g.GetEmittedAt().AsTime())) {
			got[k] = s
		}
	}
	return got
}

// diffSnapshots describes every way got differs from want.
func diffSnapshots(got, want map[string]*tsv1.WindowSnapshot) []string {
	var out []string
	if len(got) != len(want) {
		out = append(out, fmt.Sprintf("%d rankings, reference %d", len(got), len(want)))
	}
	for k, w := range want {
		g := got[k]
		if g == nil {
			out = append(out, fmt.Sprintf("ranking %s missing", k))
			continue
		}
		if g.GetPosts() != w.GetPosts() || len(g.GetTerms()) != len(w.GetTerms()) {
			out = append(out, fmt.Sprintf("ranking %s: %d posts, %d terms; reference %d, %d", k, g.GetPosts(), len(g.GetTerms()), w.GetPosts(), len(w.GetTerms())))
			continue
		}
		for i, wt := range w.GetTerms() {
			gt := g.GetTerms()[i]
			if gt.GetTerm() != wt.GetTerm() || gt.GetCount() != wt.GetCount() || gt.GetUniqueAuthors() != wt.GetUniqueAuthors() ||
				math.Abs(gt.GetScore()-wt.GetScore()) > 1e-9 || !gt.GetFirstSeen().AsTime().Equal(wt.GetFirstSeen().AsTime()) {
				out = append(out, fmt.Sprintf("ranking %s, rank %d: %q %d/%d %.4f, reference %q %d/%d %.4f", k, i+1,
					gt.GetTerm(), gt.GetCount(), gt.GetUniqueAuthors(), gt.GetScore(), wt.GetTerm(), wt.GetCount(), wt.GetUniqueAuthors(), wt.GetScore()))
			}
		}
	}
	return out
}

func snapKey(s *tsv1.WindowSnapshot) string {
	return s.GetLang() + "|" + s.GetWindowEnd().AsTime().Format(time.RFC3339)
}

// streamPosts replays posts as a test stream whose watermark advances at
// every minute boundary. The posts late says are late arrive delay after
// their event time, behind the watermark; the others in event-time order.
func streamPosts(t *testing.T, s beam.Scope, posts []*tsv1.Post, late func(i int) bool, delay time.Duration) beam.PCollection {
	t.Helper()
	type arrival struct {
		at int64
		p  *tsv1.Post
	}
	sorted := make([]arrival, len(posts))
	for i, p := range posts {
		sorted[i] = arrival{p.GetObservedAt().AsTime().UnixMilli(), p}
		if late != nil && late(i) {
			sorted[i].at += delay.Milliseconds()
		}
	}
	slices.SortStableFunc(sorted, func(a, b arrival) int { return cmp.Compare(a.at, b.at) })
	cfg := teststream.NewConfig()
	var mark int64
	for _, a := range sorted {
		p := a.p
		ts := p.GetObservedAt().AsTime().UnixMilli()
		if minute := a.at - a.at%60000; minute > mark {
			if err := cfg.AdvanceWatermark(minute); err != nil {
				t.Fatal(err)
			}
			mark = minute
		}
		b, err := proto.Marshal(p)
		if err != nil {
			t.Fatal(err)
		}
		if err := cfg.AddElements(ts, b); err != nil {
			t.Fatal(err)
		}
	}
	if err := cfg.AdvanceWatermarkToInfinity(); err != nil {
		t.Fatal(err)
	}
	return beam.ParDo(s, &decodePostFn{}, teststream.Create(s, cfg))
}

type decodePostFn struct{}

func (decodePostFn) ProcessElement(b []byte, emit func(*tsv1.Post)) error {
	var p tsv1.Post
	if err := proto.Unmarshal(b, &p); err != nil {
		return err
	}
	emit(&p)
	return nil
}

func init() {
	register.DoFn2x1[[]byte, func(*tsv1.Post), error](&decodePostFn{})
	register.Emitter1[*tsv1.Post]()
}
