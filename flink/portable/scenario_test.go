package portable

import (
	"context"
	"fmt"
	"maps"
	"math"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"google.golang.org/protobuf/proto"

	"github.com/trendstream/trendstream/internal/core/terms"
	grouping "github.com/trendstream/trendstream/internal/core/topics"
	"github.com/trendstream/trendstream/internal/core/trendcalc"
	"github.com/trendstream/trendstream/internal/core/trendscore"
	"github.com/trendstream/trendstream/internal/readside/store"
	"github.com/trendstream/trendstream/internal/testenv/replaytest"
	tsv1 "github.com/trendstream/trendstream/proto/trendstream/v1"
)

// t0 is the event time of the replay's first post.
var t0 = time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)

// scenarioConfig is the pipeline configuration the test passes as flags and
// the reference computes with.
type scenarioConfig struct {
	Size, Period time.Duration
	TopK         int
	Score        trendscore.Params
	// Lateness is the pipeline's allowed lateness.
	Lateness time.Duration
	// Topics configures the topic stages (#15); its zero value turns them
	// off.
	Topics grouping.Config
}

// flags are the pipeline flags for c. Every scoring knob is passed, so the
// pipeline cannot silently run with a default the reference does not use;
// term extraction runs with its defaults on both sides.
func (c scenarioConfig) flags() []string {
	f := func(v float64) string { return strconv.FormatFloat(v, 'g', -1, 64) }
	s := c.Score
	return []string{
		"-window-size=" + c.Size.String(),
		"-window-period=" + c.Period.String(),
		"-top-k=" + strconv.Itoa(c.TopK),
		"-score-half-life=" + f(s.HalfLife),
		"-score-noise-floor=" + f(s.NoiseFloor),
		"-score-min-authors=" + strconv.FormatInt(s.MinAuthors, 10),
		"-score-max-author-share=" + f(s.MaxAuthorShare),
		"-score-enter=" + f(s.Enter),
		"-score-exit=" + f(s.Exit),
		"-score-value=" + s.Value.String(),
		"-score-rank-by-volume=" + strconv.FormatBool(s.RankByVolume),
		"-score-warm-up=" + s.WarmUp.String(),
		"-allowed-lateness=" + c.Lateness.String(),
		"-retract-deletes=true",
		"-topic-sample=" + strconv.Itoa(c.Topics.SamplePosts),
		"-topic-examples=" + strconv.Itoa(c.Topics.Examples),
		"-topic-min-shared=" + strconv.Itoa(c.Topics.MinShared),
		"-topic-min-overlap=" + f(c.Topics.MinOverlap),
	}
}

// reference computes every ranking of posts in one process with
// internal/core/trendcalc, the warm-up counted from the first post, as the
// read model holds them.
func (c scenarioConfig) reference(posts []*tsv1.Post) map[windowKey]store.Window {
	out := map[windowKey]store.Window{}
	for _, s := range c.snapshots(posts) {
		add(out, store.FromSnapshot(s))
	}
	return out
}

// snapshots computes reference's rankings as the results topic holds them,
// with their topics and example posts, by record key.
func (c scenarioConfig) snapshots(posts []*tsv1.Post) map[string]*tsv1.WindowSnapshot {
	start := posts[0].GetObservedAt().AsTime()
	for _, p := range posts {
		if ts := p.GetObservedAt().AsTime(); ts.Before(start) {
			start = ts
		}
	}
	calc := trendcalc.New(trendcalc.Config{
		Size: c.Size, Period: c.Period, TopK: c.TopK,
		Terms: terms.DefaultOptions(), Score: c.Score.StartingAt(start), Source: tsv1.Source_SOURCE_BLUESKY,
		RetractDeletes: true, Topics: c.Topics,
	})
	for _, p := range posts {
		calc.Add(p)
	}
	out := map[string]*tsv1.WindowSnapshot{}
	for _, s := range calc.Snapshots() {
		out[recordKey(s)] = s
	}
	return out
}

// recordKey is the results topic's record key of s, as the contract
// prescribes: "<source>|<lang>|<window end, Unix ms>".
func recordKey(s *tsv1.WindowSnapshot) string {
	return strconv.Itoa(int(s.GetSource())) + "|" + s.GetLang() + "|" + strconv.FormatInt(s.GetWindowEnd().AsTime().UnixMilli(), 10)
}

// windowKey identifies one ranking of one window.
type windowKey struct {
	Source, Lang string
	End          time.Time
}

func (k windowKey) String() string {
	return fmt.Sprintf("%s|%s|%s", k.Source, k.Lang, k.End.Format(time.RFC3339))
}

// add stores w under its key without the processing-time emitted_at, which
// no reference can predict.
func add(m map[windowKey]store.Window, w store.Window) {
	w.EmittedAt, w.Revision = nil, 0
	m[windowKey{w.Source, w.Lang, w.End}] = w
}

// readDB reads the whole read model straight from its tables.
func readDB(ctx context.Context, t testing.TB, url string) map[windowKey]store.Window {
	t.Helper()
	conn, err := pgx.Connect(ctx, url)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(ctx)
	out := map[windowKey]store.Window{}
	rows, err := conn.Query(ctx, `SELECT source, lang, window_start, window_end, posts FROM windows`)
	if err != nil {
		t.Fatal(err)
	}
	for rows.Next() {
		var w store.Window
		if err := rows.Scan(&w.Source, &w.Lang, &w.Start, &w.End, &w.Posts); err != nil {
			t.Fatal(err)
		}
		w.Start, w.End = w.Start.UTC(), w.End.UTC()
		add(out, w)
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	rows, err = conn.Query(ctx, `
SELECT source, lang, window_start, window_end, rank, kind, term, count, unique_authors, baseline, score, first_seen
  FROM trending_terms ORDER BY source, lang, window_end, rank, kind, term`)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	for rows.Next() {
		var k windowKey
		var start time.Time
		var tm store.Term
		if err := rows.Scan(&k.Source, &k.Lang, &start, &k.End, &tm.Rank, &tm.Kind, &tm.Term, &tm.Count,
			&tm.UniqueAuthors, &tm.Baseline, &tm.Score, &tm.FirstSeen); err != nil {
			t.Fatal(err)
		}
		k.End = k.End.UTC()
		if tm.FirstSeen != nil {
			u := tm.FirstSeen.UTC()
			tm.FirstSeen = &u
		}
		w, ok := out[k]
		if !ok {
			t.Fatalf("trending_terms row for %v has no windows row", k)
		}
		w.Terms = append(w.Terms, tm)
		out[k] = w
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	return out
}

// readTopic reads the whole results topic, keeping the last snapshot per
// record key as a compacted topic would, and checks each key is the one
// the contract prescribes: "<source>|<lang>|<window end, Unix ms>".
func readTopic(t testing.TB, brokers []string, topic string) map[windowKey]store.Window {
	t.Helper()
	latest, err := replaytest.ReadSnapshots(brokers, topic, 30*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	out := map[windowKey]store.Window{}
	for key, s := range latest {
		if want := recordKey(s); key != want {
			t.Errorf("results record key %q, want %q", key, want)
		}
		add(out, store.FromSnapshot(s))
	}
	return out
}

// diffWindows describes how got differs from want, or returns "". Scores
// and baselines are compared to a relative tolerance: the pipeline sums the
// same terms in another order.
func diffWindows(got, want map[windowKey]store.Window) string {
	var b strings.Builder
	n := 0
	report := func(format string, args ...any) {
		if n < 30 {
			fmt.Fprintf(&b, format+"\n", args...)
		}
		n++
	}
	keys := make([]windowKey, 0, len(want))
	for k := range want {
		keys = append(keys, k)
	}
	slices.SortFunc(keys, func(a, b windowKey) int { return strings.Compare(a.String(), b.String()) })
	for _, k := range keys {
		w := want[k]
		g, ok := got[k]
		if !ok {
			report("missing window %v", k)
			continue
		}
		if !g.Start.Equal(w.Start) || g.Posts != w.Posts {
			report("window %v: start %v posts %d, want start %v posts %d", k, g.Start, g.Posts, w.Start, w.Posts)
		}
		if len(g.Terms) != len(w.Terms) {
			report("window %v: %d terms, want %d:\n  got  %v\n  want %v", k, len(g.Terms), len(w.Terms), g.Terms, w.Terms)
			continue
		}
		for i := range w.Terms {
			if !termEqual(g.Terms[i], w.Terms[i]) {
				report("window %v rank %d:\n  got  %+v\n  want %+v", k, w.Terms[i].Rank, fmtTerm(g.Terms[i]), fmtTerm(w.Terms[i]))
			}
		}
	}
	for k := range got {
		if _, ok := want[k]; !ok {
			report("unexpected window %v", k)
		}
	}
	if n > 30 {
		fmt.Fprintf(&b, "… %d differences in all\n", n)
	}
	return b.String()
}

// closeEnough compares scores and baselines, which the pipeline sums in
// another order than the reference, to a relative tolerance.
func closeEnough(x, y float64) bool { return math.Abs(x-y) <= 1e-9*max(1, math.Abs(x), math.Abs(y)) }

func termEqual(a, b store.Term) bool {
	sameTime := func(x, y *time.Time) bool { return (x == nil) == (y == nil) && (x == nil || x.Equal(*y)) }
	return a.Rank == b.Rank && a.Kind == b.Kind && a.Term == b.Term && a.Count == b.Count &&
		a.UniqueAuthors == b.UniqueAuthors && closeEnough(a.Baseline, b.Baseline) && closeEnough(a.Score, b.Score) &&
		sameTime(a.FirstSeen, b.FirstSeen)
}

func fmtTerm(t store.Term) string {
	fs := "nil"
	if t.FirstSeen != nil {
		fs = t.FirstSeen.Format(time.RFC3339Nano)
	}
	return fmt.Sprintf("{rank %d %s %q count %d authors %d baseline %g score %g first_seen %s}",
		t.Rank, t.Kind, t.Term, t.Count, t.UniqueAuthors, t.Baseline, t.Score, fs)
}

// readSnapshots reads the whole results topic as snapshots, the last per
// record key.
func readSnapshots(t testing.TB, brokers []string, topic string) map[string]*tsv1.WindowSnapshot {
	t.Helper()
	latest, err := replaytest.ReadSnapshots(brokers, topic, 30*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	return latest
}

// diffTopics describes how the topics of got's windows and the example
// posts of their terms differ from want's, or returns "" (windows missing
// from got, and the terms themselves, are diffWindows' to report). Scores
// are compared to diffWindows' tolerance. It also fails when want has no
// topic at all, so that a scenario that groups nothing tests nothing.
func diffTopics(got, want map[string]*tsv1.WindowSnapshot) string {
	var b strings.Builder
	n, topics := 0, 0
	report := func(format string, args ...any) {
		if n < 30 {
			fmt.Fprintf(&b, format+"\n", args...)
		}
		n++
	}
	for _, k := range slices.Sorted(maps.Keys(want)) {
		w, g := want[k], got[k]
		topics += len(w.GetTopics())
		if g == nil {
			continue
		}
		if gt := withScoresOf(g.GetTopics(), w.GetTopics()); !slices.EqualFunc(gt, w.GetTopics(), func(x, y *tsv1.Topic) bool { return proto.Equal(x, y) }) {
			report("window %s: topics\n  got  %v\n  want %v", k, g.GetTopics(), w.GetTopics())
		}
		for i, wt := range w.GetTerms() {
			if i >= len(g.GetTerms()) {
				break
			}
			if ge := g.GetTerms()[i].GetExamples(); !slices.EqualFunc(ge, wt.GetExamples(), func(x, y *tsv1.ExamplePost) bool { return proto.Equal(x, y) }) {
				report("window %s, term %q: examples\n  got  %v\n  want %v", k, wt.GetTerm(), ge, wt.GetExamples())
			}
		}
	}
	if topics == 0 {
		report("the reference has no topic in any window: the scenario tests no grouping")
	}
	if n > 30 {
		fmt.Fprintf(&b, "… %d differences in all\n", n)
	}
	return b.String()
}

// withScoresOf returns copies of got with each topic's and member's score
// replaced by want's where the two are closeEnough.
func withScoresOf(got, want []*tsv1.Topic) []*tsv1.Topic {
	out := make([]*tsv1.Topic, len(got))
	for i, g := range got {
		out[i] = proto.Clone(g).(*tsv1.Topic)
		if i >= len(want) {
			continue
		}
		w := want[i]
		if closeEnough(out[i].Score, w.GetScore()) {
			out[i].Score = w.GetScore()
		}
		for j, m := range out[i].Members {
			if j < len(w.GetMembers()) && closeEnough(m.Score, w.GetMembers()[j].GetScore()) {
				m.Score = w.GetMembers()[j].GetScore()
			}
		}
	}
	return out
}
