package trending

import (
	"context"
	"fmt"
	"math"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/apache/beam/sdks/v2/go/pkg/beam"
	"google.golang.org/protobuf/proto"

	"github.com/trendstream/trendstream/internal/core/trendcalc"
	"github.com/trendstream/trendstream/internal/core/trendscore"
	"github.com/trendstream/trendstream/internal/readside/store"
	"github.com/trendstream/trendstream/internal/testenv"
	"github.com/trendstream/trendstream/internal/testenv/replaytest"
	tsv1 "github.com/trendstream/trendstream/proto/trendstream/v1"
	"github.com/trendstream/trendstream/transforms/kafkaio"
)

func TestMain(m *testing.M) {
	beam.Init()
	testenv.Main(m)
}

var t0 = time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)

func testOptions(brokers []string, dbURL string) Options {
	o := DefaultOptions()
	o.Brokers = strings.Join(brokers, ",")
	o.DatabaseURL = dbURL
	o.WindowSize = 5 * time.Minute
	o.WindowPeriod = time.Minute
	o.TopK = 5
	o.Bounded = true
	o.Start = kafkaio.Start{Kind: kafkaio.StartEarliest}
	o.Score = trendscore.DefaultParams()
	o.Score.MinAuthors = 3
	o.Score.NoiseFloor = 2
	o.Score.HalfLife = 10
	o.Score.WarmUp = 0
	return o
}

// expected computes the rankings of posts with the single-process
// reference, as the pipeline configured by o would (stream start: o's, or
// t0 where Build would find it in Kafka).
func expected(t testing.TB, posts []*tsv1.Post, o Options) map[string]*tsv1.WindowSnapshot {
	if o.StreamStart.IsZero() {
		o.StreamStart = t0
	}
	c := trendcalc.New(o.Reference())
	for _, p := range posts {
		c.Add(p)
	}
	out := map[string]*tsv1.WindowSnapshot{}
	for _, s := range c.Snapshots() {
		out[SnapshotKey(s)] = s
	}
	return out
}

// TestBoundedReplayMatchesReference runs the pipeline on Prism over a
// bounded replay and checks, window by window, that the results topic and
// Postgres hold exactly the rankings the single-process reference computes,
// and that the planted burst and spam behave as trends should.
func TestBoundedReplayMatchesReference(t *testing.T) {
	db := testenv.Postgres(t)
	posts := replaytest.MustScenario(t, t0)
	o := testOptions(nil, db)
	got := rankOnPrism(t, posts, &o)
	want := expected(t, posts, o)
	compareSnapshots(t, got, want)

	// The planted burst leads the overall ranking in the first window that
	// holds it and, by hysteresis, the next; the spam flood never ranks.
	// Of its 15 posts one is deleted at minute 13 (the scenario's delete,
	// which carries its post as the ingest writes it): the window ending
	// then closed before it and counts 15; the next holds the delete's
	// period, and the post is retracted there: 14 count.
	for end, want := range map[int]int64{13: 15, 14: 14} {
		key := fmt.Sprintf("1||%d", t0.Add(time.Duration(end)*time.Minute).UnixMilli())
		s := got[key]
		if s == nil || len(s.Terms) == 0 {
			t.Fatalf("window ending at minute %d: no ranking", end)
		}
		top := s.Terms[0]
		if top.Term != "solareclipse" || top.Kind != tsv1.TermKind_TERM_KIND_HASHTAG || top.Count != want || top.UniqueAuthors != want {
			t.Errorf("window ending at minute %d: top term %v, want hashtag solareclipse %d/%d", end, top, want, want)
		}
	}
	for k, s := range got {
		for _, term := range s.Terms {
			if strings.Contains(term.Term, "buyfollowers") || strings.Contains(term.Term, "followers") {
				t.Errorf("%s: single-author spam term %q ranked", k, term.Term)
			}
		}
	}

	gotDB := dumpDB(t, db)
	wantDB := rowsOf(want)
	if d := diffRows(gotDB, wantDB); d != "" {
		t.Errorf("Postgres differs from the reference:\n%s", d)
	}

	// Idempotence: the same bounded job again leaves the read model as it
	// was (emitted_at, the processing time of the write, aside).
	run(t, o)
	if d := diffRows(dumpDB(t, db), gotDB); d != "" {
		t.Errorf("second run changed Postgres:\n%s", d)
	}
}

func run(t testing.TB, o Options) {
	t.Helper()
	p, err := Build(o)
	if err != nil {
		t.Fatal(err)
	}
	testenv.RunOnPrism(t, p)
}

// runRecording runs the pipeline as `trendstream run -source file:` runs a
// recording (production windows, scoring and topics, a bounded job from
// the earliest offsets) over posts, replayed through a fresh Kafka, into a
// fresh database, and returns that read model.
func runRecording(t testing.TB, ctx context.Context, posts []*tsv1.Post) *store.Store {
	t.Helper()
	db := testenv.Postgres(t)
	kc := testenv.Replay(t, 2, posts)
	o := DefaultOptions()
	o.Brokers, o.DatabaseURL = strings.Join(kc.Addrs(), ","), db
	o.Bounded, o.Start = true, kafkaio.Start{Kind: kafkaio.StartEarliest}
	started := time.Now()
	run(t, o)
	t.Logf("pipeline over %d posts: %v", len(posts), time.Since(started).Round(time.Second))
	return openStore(t, ctx, db)
}

// openStore opens the read model at db, closed when the test ends.
func openStore(t testing.TB, ctx context.Context, db string) *store.Store {
	t.Helper()
	st, err := store.Open(ctx, db)
	if err != nil {
		t.Fatalf("open the read model: %v", err)
	}
	t.Cleanup(st.Close)
	return st
}

// rankOnPrism replays posts through a fresh Kafka (testenv.Replay), points
// o at it, runs the pipeline o configures on Prism and returns the
// rankings of the results topic: the set-up of every test that compares
// the pipeline with the reference over one replay.
func rankOnPrism(t testing.TB, posts []*tsv1.Post, o *Options) map[string]*tsv1.WindowSnapshot {
	t.Helper()
	kc := testenv.Replay(t, 4, posts)
	o.Brokers = strings.Join(kc.Addrs(), ",")
	run(t, *o)
	return readSnapshots(t, kc.Addrs(), o.TrendsTopic)
}

func compareSnapshots(t testing.TB, got, want map[string]*tsv1.WindowSnapshot) {
	t.Helper()
	for k, w := range want {
		g, ok := got[k]
		if !ok {
			t.Errorf("window %s: missing from results topic", k)
			continue
		}
		g = proto.Clone(g).(*tsv1.WindowSnapshot)
		g.EmittedAt, g.Revision = nil, 0 // processing time and run start: no reference predicts them
		for i := range g.Terms {
			// Scores are computed identically but summed in a different
			// order; compare them to a tolerance below.
			if math.Abs(g.Terms[i].Score-termAt(w, i).GetScore()) < 1e-9 {
				g.Terms[i].Score = termAt(w, i).GetScore()
			}
			if math.Abs(g.Terms[i].Baseline-termAt(w, i).GetBaseline()) < 1e-9 {
				g.Terms[i].Baseline = termAt(w, i).GetBaseline()
			}
		}
		if !proto.Equal(g, w) {
			t.Errorf("window %s:\n got  %v\n want %v", k, g, w)
		}
	}
	for k := range got {
		if _, ok := want[k]; !ok {
			t.Errorf("window %s: in results topic but not expected", k)
		}
	}
}

// sameSnapshots says whether a and b hold the same rankings, to the
// letter.
func sameSnapshots(a, b map[string]*tsv1.WindowSnapshot) bool {
	if len(a) != len(b) {
		return false
	}
	for k, s := range a {
		if !proto.Equal(s, b[k]) {
			return false
		}
	}
	return true
}

func termAt(s *tsv1.WindowSnapshot, i int) *tsv1.TrendingTerm {
	if i < len(s.Terms) {
		return s.Terms[i]
	}
	return nil
}

// dumpDB lists the read model's rows as comparable strings.
func dumpDB(t testing.TB, url string) []string {
	t.Helper()
	var out []string
	for _, vals := range testenv.Rows(t, url,
		`SELECT 'w', source, lang, window_start, window_end, posts FROM windows`,
		`SELECT 't', source, lang, window_start, window_end, kind, term, rank, count, unique_authors,
		        round(baseline::numeric, 6)::text, round(score::numeric, 6)::text, first_seen FROM trending_terms`) {
		out = append(out, fmtRow(vals))
	}
	sort.Strings(out)
	return out
}

func rowsOf(snaps map[string]*tsv1.WindowSnapshot) []string {
	var out []string
	for _, s := range snaps {
		src := store.SourceName(s.Source)
		ws, we := s.WindowStart.AsTime(), s.WindowEnd.AsTime()
		out = append(out, fmtRow([]any{"w", src, s.Lang, ws, we, s.Posts}))
		for _, tt := range s.Terms {
			var fs any
			if tt.FirstSeen != nil {
				fs = tt.FirstSeen.AsTime()
			}
			out = append(out, fmtRow([]any{"t", src, s.Lang, ws, we, store.KindName(tt.Kind), tt.Term, tt.Rank,
				tt.Count, tt.UniqueAuthors, round6(tt.Baseline), round6(tt.Score), fs}))
		}
	}
	sort.Strings(out)
	return out
}

func round6(f float64) string { return fmt.Sprintf("%.6f", f) }

func fmtRow(vals []any) string {
	parts := make([]string, len(vals))
	for i, v := range vals {
		switch v := v.(type) {
		case time.Time:
			parts[i] = v.UTC().Format(time.RFC3339Nano)
		case nil:
			parts[i] = "NULL"
		case fmt.Stringer:
			parts[i] = v.String()
		default:
			parts[i] = fmt.Sprint(v)
		}
	}
	return strings.Join(parts, "|")
}

func diffRows(got, want []string) string {
	g, w := map[string]bool{}, map[string]bool{}
	for _, r := range got {
		g[r] = true
	}
	for _, r := range want {
		w[r] = true
	}
	var b strings.Builder
	n := 0
	for _, r := range want {
		if !g[r] && n < 20 {
			fmt.Fprintf(&b, "- %s\n", r)
			n++
		}
	}
	for _, r := range got {
		if !w[r] && n < 40 {
			fmt.Fprintf(&b, "+ %s\n", r)
			n++
		}
	}
	if len(got) != len(want) && b.Len() == 0 {
		fmt.Fprintf(&b, "row counts differ: got %d, want %d\n", len(got), len(want))
	}
	return b.String()
}

// readSnapshots reads the whole results topic, keeping the last snapshot
// per key as a compacted topic would, and checks every key is the one the
// contract prescribes.
func readSnapshots(t testing.TB, brokers []string, topic string) map[string]*tsv1.WindowSnapshot {
	t.Helper()
	out, err := replaytest.ReadSnapshots(brokers, topic, 30*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	for key, s := range out {
		if want := SnapshotKey(s); key != want {
			t.Errorf("record key %q, want %q", key, want)
		}
	}
	return out
}
