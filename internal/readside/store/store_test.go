package store_test

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"google.golang.org/protobuf/types/known/timestamppb"

	"github.com/trendstream/trendstream/internal/readside/store"
	"github.com/trendstream/trendstream/internal/testenv"
	tsv1 "github.com/trendstream/trendstream/proto/trendstream/v1"
)

func TestMain(m *testing.M) { testenv.Main(m) }

var t0 = time.Date(2026, 11, 27, 12, 0, 0, 0, time.UTC)

// snap builds a snapshot of the 10-minute window ending at end; terms are
// "kind:term" or "term" (a word), ranked in the order given, with counts
// derived from the rank so every value is distinct.
func snap(lang string, end time.Time, emitted time.Duration, terms ...string) *tsv1.WindowSnapshot {
	s := &tsv1.WindowSnapshot{
		Source:      tsv1.Source_SOURCE_BLUESKY,
		Lang:        lang,
		WindowStart: timestamppb.New(end.Add(-10 * time.Minute)),
		WindowEnd:   timestamppb.New(end),
		Posts:       int64(1000 + len(terms)),
		EmittedAt:   timestamppb.New(end.Add(emitted)),
	}
	for i, t := range terms {
		kind := tsv1.TermKind_TERM_KIND_WORD
		if k, rest, ok := strings.Cut(t, ":"); ok && k == "hashtag" {
			kind, t = tsv1.TermKind_TERM_KIND_HASHTAG, rest
		}
		s.Terms = append(s.Terms, &tsv1.TrendingTerm{
			Term: t, Kind: kind, Lang: lang, Source: s.Source,
			WindowStart: s.WindowStart, WindowEnd: s.WindowEnd,
			Count: int64(100 - i), UniqueAuthors: int64(50 - i), Baseline: 1.5, Score: float64(10 - i),
			Rank: int32(i + 1), FirstSeen: timestamppb.New(end.Add(-time.Hour)),
		})
	}
	return s
}

func withRevision(s *tsv1.WindowSnapshot, rev int64) *tsv1.WindowSnapshot {
	s.Revision = rev
	return s
}

func open(t *testing.T) *store.Store {
	t.Helper()
	ctx := context.Background()
	s, err := store.Open(ctx, testenv.Postgres(t))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(s.Close)
	return s
}

func write(t *testing.T, s *store.Store, snaps ...*tsv1.WindowSnapshot) {
	t.Helper()
	if err := s.WriteSnapshots(context.Background(), snaps); err != nil {
		t.Fatal(err)
	}
}

// dump renders both tables as sorted text, to compare database states.
func dump(t *testing.T, s *store.Store) string {
	t.Helper()
	var b strings.Builder
	for _, q := range []string{
		`SELECT format('%s|%s|%s|%s|%s|%s', source, lang, window_start, window_end, posts, emitted_at) FROM windows ORDER BY 1`,
		`SELECT format('%s|%s|%s|%s|%s|%s|%s|%s|%s|%s|%s|%s|%s', source, lang, window_start, window_end, kind, term,
		        rank, count, unique_authors, baseline, score, first_seen, term_lang) FROM trending_terms ORDER BY 1`,
	} {
		rows, err := s.Pool().Query(context.Background(), q)
		if err != nil {
			t.Fatal(err)
		}
		for rows.Next() {
			var line string
			if err := rows.Scan(&line); err != nil {
				t.Fatal(err)
			}
			b.WriteString(line + "\n")
		}
		if err := rows.Err(); err != nil {
			t.Fatal(err)
		}
	}
	return b.String()
}

func terms(w store.Window) string {
	var parts []string
	for _, t := range w.Terms {
		parts = append(parts, fmt.Sprintf("%d:%s:%s", t.Rank, t.Kind, t.Term))
	}
	return strings.Join(parts, " ")
}

func TestMigrateConcurrentAndIdempotent(t *testing.T) {
	ctx := context.Background()
	url := testenv.Postgres(t)
	// Several processes starting at once must not race on the schema.
	var wg sync.WaitGroup
	errs := make(chan error, 4)
	for range 4 {
		wg.Go(func() {
			s, err := store.Open(ctx, url)
			if err != nil {
				errs <- err
				return
			}
			s.Close()
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	s, err := store.Open(ctx, url)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if err := store.Migrate(ctx, s.Pool()); err != nil {
		t.Fatalf("second migration: %v", err)
	}
	want, err := store.SchemaVersion()
	if err != nil || want < 1 {
		t.Fatalf("SchemaVersion() = %d, %v", want, err)
	}
	var got int32
	if err := s.Pool().QueryRow(ctx, "SELECT version FROM "+store.VersionTable).Scan(&got); err != nil {
		t.Fatal(err)
	}
	if got != want {
		t.Errorf("schema version %d, want %d", got, want)
	}
	var n int
	if err := s.Pool().QueryRow(ctx, "SELECT count(*) FROM "+store.VersionTable).Scan(&n); err != nil || n != 1 {
		t.Errorf("version table has %d rows (%v), want 1", n, err)
	}
	for _, rel := range []string{"windows", "trending_terms", "current_windows", "current_trends", "term_history"} {
		if _, err := s.Pool().Exec(ctx, "SELECT * FROM "+rel+" LIMIT 0"); err != nil {
			t.Errorf("relation %s: %v", rel, err)
		}
	}
}

func TestWriteSnapshotsIdempotent(t *testing.T) {
	s := open(t)
	batch := []*tsv1.WindowSnapshot{
		snap("", t0, time.Second, "hashtag:bsky", "coffee", "rain"),
		snap("en", t0, time.Second, "coffee", "rain"),
		snap("ja", t0, time.Second, "地震"),
	}
	write(t, s, batch...)
	first := dump(t, s)
	if got := strings.Count(first, "\n"); got != 3+6 {
		t.Fatalf("after first write %d rows, want 9:\n%s", got, first)
	}
	write(t, s, batch...)
	if second := dump(t, s); second != first {
		t.Errorf("writing the same snapshots twice changed the tables:\nfirst:\n%s\nsecond:\n%s", first, second)
	}
}

func TestWriteSnapshotsReplaces(t *testing.T) {
	tests := []struct {
		name  string
		write [][]*tsv1.WindowSnapshot // successive WriteSnapshots calls
		want  string                   // terms of the overall ranking
		posts int64
	}{
		{
			name: "re-fired pane drops stale terms",
			write: [][]*tsv1.WindowSnapshot{
				{snap("", t0, time.Second, "a", "b", "c")},
				{snap("", t0, 2*time.Second, "b", "d")},
			},
			want: "1:word:b 2:word:d", posts: 1002,
		},
		{
			name: "older retry arriving late is ignored",
			write: [][]*tsv1.WindowSnapshot{
				{snap("", t0, 2*time.Second, "b", "d")},
				{snap("", t0, time.Second, "a", "b", "c")},
			},
			want: "1:word:b 2:word:d", posts: 1002,
		},
		{
			// A correction after late posts (higher revision) computed before
			// the on-time pane, which the runner then delivers last.
			name: "higher revision wins over a later emitted_at",
			write: [][]*tsv1.WindowSnapshot{
				{withRevision(snap("", t0, time.Second, "b", "d"), 7)},
				{withRevision(snap("", t0, 2*time.Second, "a", "b", "c"), 3)},
			},
			want: "1:word:b 2:word:d", posts: 1002,
		},
		{
			name: "a later run supersedes an earlier one",
			write: [][]*tsv1.WindowSnapshot{
				{withRevision(snap("", t0, 2*time.Second, "a", "b", "c"), 1<<20|9)},
				{withRevision(snap("", t0, time.Second, "x"), 2<<20|1)},
			},
			want: "1:word:x", posts: 1001,
		},
		{
			name: "last snapshot of a window in one call wins",
			write: [][]*tsv1.WindowSnapshot{
				{snap("", t0, time.Second, "a", "b", "c"), snap("", t0, time.Second, "x")},
			},
			want: "1:word:x", posts: 1001,
		},
		{
			name: "pane with no terms empties the window",
			write: [][]*tsv1.WindowSnapshot{
				{snap("", t0, time.Second, "a")},
				{snap("", t0, 2*time.Second)},
			},
			want: "", posts: 1000,
		},
		{
			name: "duplicate term keeps its best rank",
			write: [][]*tsv1.WindowSnapshot{
				{snap("", t0, time.Second, "a", "hashtag:a", "a")},
			},
			want: "1:word:a 2:hashtag:a", posts: 1003,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := open(t)
			for _, b := range tt.write {
				write(t, s, b...)
			}
			got, err := s.CurrentTrends(context.Background(), store.Filter{})
			if err != nil {
				t.Fatal(err)
			}
			if len(got) != 1 {
				t.Fatalf("got %d rankings, want 1: %+v", len(got), got)
			}
			if terms(got[0]) != tt.want || got[0].Posts != tt.posts {
				t.Errorf("terms %q posts %d, want %q posts %d", terms(got[0]), got[0].Posts, tt.want, tt.posts)
			}
			var n int
			if err := s.Pool().QueryRow(context.Background(), "SELECT count(*) FROM trending_terms").Scan(&n); err != nil {
				t.Fatal(err)
			}
			if want := len(got[0].Terms); n != want {
				t.Errorf("trending_terms has %d rows, want %d", n, want)
			}
		})
	}
}

func TestCurrentTrends(t *testing.T) {
	s := open(t)
	t1, t2 := t0.Add(time.Minute), t0.Add(2*time.Minute)
	write(t, s,
		snap("", t0, time.Second, "a", "b", "c"),
		snap("", t1, time.Second, "b", "a"),
		snap("en", t0, time.Second, "e1", "e2"),
		snap("", t2, time.Second, "a", "z", "b"),
		snap("de", t2, time.Second, "d1"),
	)
	other := snap("", t0, time.Second, "stock")
	other.Source = tsv1.Source(7) // a source this build does not know
	write(t, s, other)

	tests := []struct {
		name string
		f    store.Filter
		want []string // "source|lang|window_end|terms"
	}{
		{"overall ranking of every source", store.Filter{},
			[]string{"bluesky||12:02|1:word:a 2:word:z 3:word:b", "source_7||12:00|1:word:stock"}},
		{"one source", store.Filter{Source: "bluesky"}, []string{"bluesky||12:02|1:word:a 2:word:z 3:word:b"}},
		{"language", store.Filter{Lang: "en"}, []string{"bluesky|en|12:00|1:word:e1 2:word:e2"}},
		{"unknown language", store.Filter{Lang: "xx"}, nil},
		{"all languages, limited", store.Filter{Source: "bluesky", AllLangs: true, Limit: 1},
			[]string{"bluesky||12:02|1:word:a", "bluesky|de|12:02|1:word:d1", "bluesky|en|12:00|1:word:e1"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ws, err := s.CurrentTrends(context.Background(), tt.f)
			if err != nil {
				t.Fatal(err)
			}
			var got []string
			for _, w := range ws {
				got = append(got, fmt.Sprintf("%s|%s|%s|%s", w.Source, w.Lang, w.End.Format("15:04"), terms(w)))
			}
			if strings.Join(got, "\n") != strings.Join(tt.want, "\n") {
				t.Errorf("got\n%s\nwant\n%s", strings.Join(got, "\n"), strings.Join(tt.want, "\n"))
			}
		})
	}

	t.Run("values and history", func(t *testing.T) {
		ws, err := s.CurrentTrends(context.Background(), store.Filter{Source: "bluesky", History: 3})
		if err != nil {
			t.Fatal(err)
		}
		if len(ws) != 1 || len(ws[0].Terms) != 3 {
			t.Fatalf("got %+v", ws)
		}
		w := ws[0]
		if !w.Start.Equal(t2.Add(-10*time.Minute)) || w.Posts != 1003 || w.EmittedAt == nil || !w.EmittedAt.Equal(t2.Add(time.Second)) {
			t.Errorf("window fields wrong: %+v", w)
		}
		z := w.Terms[1]
		if z.Term != "z" || z.Count != 99 || z.UniqueAuthors != 49 || z.Score != 9 || z.Baseline != 1.5 ||
			z.FirstSeen == nil || !z.FirstSeen.Equal(t2.Add(-time.Hour)) {
			t.Errorf("term fields wrong: %+v", z)
		}
		hist := func(tm store.Term) string {
			var p []string
			for _, h := range tm.History {
				p = append(p, fmt.Sprintf("%s:r%d:c%d", h.End.Format("15:04"), h.Rank, h.Count))
			}
			return strings.Join(p, " ")
		}
		want := map[string]string{
			"a": "12:00:r1:c100 12:01:r2:c99 12:02:r1:c100",
			"z": "12:00:r0:c0 12:01:r0:c0 12:02:r2:c99",
			"b": "12:00:r2:c99 12:01:r1:c100 12:02:r3:c98",
		}
		for _, tm := range w.Terms {
			if got := hist(tm); got != want[tm.Term] {
				t.Errorf("history of %s = %q, want %q", tm.Term, got, want[tm.Term])
			}
		}
	})
}

func TestTermHistoryAndWindows(t *testing.T) {
	s := open(t)
	ctx := context.Background()
	t1, t2 := t0.Add(time.Minute), t0.Add(2*time.Minute)
	write(t, s,
		snap("", t0, time.Second, "a", "hashtag:a"),
		snap("", t1, time.Second, "hashtag:a"),
		snap("", t2, time.Second, "b"),
		snap("en", t2, time.Second, "a"),
	)
	render := func(ps []store.Point) string {
		var p []string
		for _, h := range ps {
			p = append(p, fmt.Sprintf("%s:%s:r%d", h.End.Format("15:04"), h.Kind, h.Rank))
		}
		return strings.Join(p, " ")
	}
	tests := []struct {
		name string
		term string
		f    store.HistoryFilter
		want string
	}{
		{"best kind per window", "a", store.HistoryFilter{}, "12:00:word:r1 12:01:hashtag:r1 12:02::r0"},
		{"one kind", "a", store.HistoryFilter{Kind: "hashtag"}, "12:00:hashtag:r2 12:01:hashtag:r1 12:02::r0"},
		{"last two windows", "a", store.HistoryFilter{Windows: 2}, "12:01:hashtag:r1 12:02::r0"},
		{"language", "a", store.HistoryFilter{Lang: "en"}, "12:02:word:r1"},
		{"never ranked", "nope", store.HistoryFilter{}, ""},
		{"unknown source", "a", store.HistoryFilter{Source: "other"}, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ps, err := s.TermHistory(ctx, tt.term, tt.f)
			if err != nil {
				t.Fatal(err)
			}
			if got := render(ps); got != tt.want {
				t.Errorf("got %q, want %q", got, tt.want)
			}
		})
	}

	wins := []struct {
		name string
		f    store.WindowFilter
		want string
	}{
		{"overall, newest first", store.WindowFilter{}, "|12:02 |12:01 |12:00"},
		{"limit", store.WindowFilter{Limit: 1}, "|12:02"},
		{"all languages", store.WindowFilter{AllLangs: true}, "|12:02 en|12:02 |12:01 |12:00"},
		{"current", store.WindowFilter{AllLangs: true, Current: true}, "|12:02 en|12:02"},
		{"language", store.WindowFilter{Lang: "en"}, "en|12:02"},
	}
	for _, tt := range wins {
		t.Run("windows/"+tt.name, func(t *testing.T) {
			ws, err := s.Windows(ctx, tt.f)
			if err != nil {
				t.Fatal(err)
			}
			var p []string
			for _, w := range ws {
				if w.Source != "bluesky" || len(w.Terms) != 0 {
					t.Errorf("unexpected window %+v", w)
				}
				p = append(p, w.Lang+"|"+w.End.Format("15:04"))
			}
			if got := strings.Join(p, " "); got != tt.want {
				t.Errorf("got %q, want %q", got, tt.want)
			}
		})
	}
}

func TestPrune(t *testing.T) {
	s := open(t)
	ctx := context.Background()
	write(t, s,
		snap("", t0, time.Second, "a", "b"),
		snap("en", t0, time.Second, "a"),
		snap("", t0.Add(time.Minute), time.Second, "c"),
	)
	n, err := s.Prune(ctx, t0.Add(time.Second))
	if err != nil {
		t.Fatal(err)
	}
	if n != 2 {
		t.Errorf("Prune removed %d windows, want 2", n)
	}
	if got := dump(t, s); strings.Count(got, "\n") != 2 || !strings.Contains(got, "|word|c|") {
		t.Errorf("after prune:\n%s", got)
	}
	if n, err := s.Prune(ctx, t0.Add(time.Second)); err != nil || n != 0 {
		t.Errorf("second Prune = %d, %v; want 0", n, err)
	}
}

// TestPruneRetention: retention counts back from each source's newest
// window (capped at now), not from the wall clock, so a replayed recording
// keeps its results while a live pipeline loses its old windows as before.
func TestPruneRetention(t *testing.T) {
	now := time.Now().UTC().Truncate(time.Minute)
	old := now.Add(-40 * 24 * time.Hour) // a recording from last month
	type win struct {
		label  string
		source tsv1.Source
		end    time.Time
	}
	bsky, other := tsv1.Source_SOURCE_BLUESKY, tsv1.Source(7)
	tests := []struct {
		name string
		wins []win
		want string // labels of the surviving windows, in the order given
	}{
		{"replay of an old recording keeps its results",
			[]win{{"newest", bsky, old}, {"30m before", bsky, old.Add(-30 * time.Minute)}, {"2h before", bsky, old.Add(-2 * time.Hour)}},
			"newest 30m before"},
		{"live pipeline prunes as before",
			[]win{{"now", bsky, now}, {"10m ago", bsky, now.Add(-10 * time.Minute)}, {"2h ago", bsky, now.Add(-2 * time.Hour)}},
			"now 10m ago"},
		{"a window stamped in the future does not wipe the rest",
			[]win{{"tomorrow", bsky, now.Add(24 * time.Hour)}, {"10m ago", bsky, now.Add(-10 * time.Minute)}, {"2h ago", bsky, now.Add(-2 * time.Hour)}},
			"tomorrow 10m ago"},
		{"each source counts from its own newest window",
			[]win{{"live", bsky, now}, {"live 2h ago", bsky, now.Add(-2 * time.Hour)},
				{"replayed", other, old}, {"replayed 30m before", other, old.Add(-30 * time.Minute)}},
			"live replayed replayed 30m before"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := open(t)
			ctx := context.Background()
			for _, w := range tt.wins {
				sn := snap("", w.end, time.Second, "a", "b")
				sn.Source = w.source
				en := snap("en", w.end, time.Second, "a")
				en.Source = w.source
				write(t, s, sn, en)
			}
			if _, err := s.PruneRetention(ctx, time.Hour); err != nil {
				t.Fatal(err)
			}
			var kept []string
			for _, w := range tt.wins {
				var n int
				if err := s.Pool().QueryRow(ctx, `SELECT count(*) FROM windows WHERE source = $1 AND window_end = $2`,
					store.SourceName(w.source), w.end).Scan(&n); err != nil {
					t.Fatal(err)
				}
				if n == 2 {
					kept = append(kept, w.label)
				} else if n != 0 {
					t.Errorf("%s: %d of its 2 rankings left", w.label, n)
				}
			}
			if got := strings.Join(kept, " "); got != tt.want {
				t.Errorf("kept %q, want %q", got, tt.want)
			}
			var orphans int
			if err := s.Pool().QueryRow(ctx, `SELECT count(*) FROM trending_terms t
				WHERE NOT EXISTS (SELECT 1 FROM windows w WHERE (w.source, w.lang, w.window_start, w.window_end) = (t.source, t.lang, t.window_start, t.window_end))`).Scan(&orphans); err != nil || orphans != 0 {
				t.Errorf("%d terms outlived their window (%v)", orphans, err)
			}
		})
	}
	if _, err := open(t).PruneRetention(context.Background(), 0); err == nil {
		t.Error("PruneRetention(0) succeeded; want an error (0 means keep everything to callers)")
	}
}

// TestSameTermInTwoLanguages: the pipeline scores a term per language, so
// the overall ranking can hold "gift" as a German and as an English word.
// The read model used to key terms by (kind, term) and kept only one.
func TestSameTermInTwoLanguages(t *testing.T) {
	s := open(t)
	ctx := context.Background()
	t1 := t0.Add(time.Minute)
	overall := func(end time.Time, entries ...string) *tsv1.WindowSnapshot { // "lang:term", ranked in order
		sn := snap("", end, time.Second)
		for i, e := range entries {
			lang, term, _ := strings.Cut(e, ":")
			sn.Terms = append(sn.Terms, &tsv1.TrendingTerm{
				Term: term, Kind: tsv1.TermKind_TERM_KIND_WORD, Lang: lang, Source: sn.Source,
				WindowStart: sn.WindowStart, WindowEnd: sn.WindowEnd,
				Count: int64(100 - 10*i), UniqueAuthors: int64(50 - i), Baseline: 2, Score: float64(10 - i), Rank: int32(i + 1),
			})
		}
		return sn
	}
	write(t, s,
		overall(t0, "en:gift"),
		overall(t1, "de:gift", "en:gift", "en:rain"),
	)
	ws, err := s.CurrentTrends(ctx, store.Filter{History: 2})
	if err != nil {
		t.Fatal(err)
	}
	if len(ws) != 1 {
		t.Fatalf("got %d rankings, want 1", len(ws))
	}
	var got []string
	for _, tm := range ws[0].Terms {
		var h []string
		for _, p := range tm.History {
			h = append(h, fmt.Sprintf("r%d", p.Rank))
		}
		got = append(got, fmt.Sprintf("%d:%s:%s:c%d[%s]", tm.Rank, tm.TermLang, tm.Term, tm.Count, strings.Join(h, " ")))
	}
	if want := "1:de:gift:c100[r0 r1] 2:en:gift:c90[r1 r2] 3:en:rain:c80[r0 r3]"; strings.Join(got, " ") != want {
		t.Errorf("overall ranking\n got %s\nwant %s", strings.Join(got, " "), want)
	}

	hist := []struct {
		f    store.HistoryFilter
		want string
	}{
		{store.HistoryFilter{}, "12:00:en:r1 12:01:de:r1"}, // the best-ranked entry per window
		{store.HistoryFilter{TermLang: "en"}, "12:00:en:r1 12:01:en:r2"},
		{store.HistoryFilter{TermLang: "de"}, "12:00::r0 12:01:de:r1"},
	}
	for _, tt := range hist {
		ps, err := s.TermHistory(ctx, "gift", tt.f)
		if err != nil {
			t.Fatal(err)
		}
		var p []string
		for _, h := range ps {
			p = append(p, fmt.Sprintf("%s:%s:r%d", h.End.Format("15:04"), h.TermLang, h.Rank))
		}
		if got := strings.Join(p, " "); got != tt.want {
			t.Errorf("TermHistory(gift, %+v) = %q, want %q", tt.f, got, tt.want)
		}
	}

	// Rewriting the window is still idempotent with the wider key.
	before := dump(t, s)
	write(t, s, overall(t1, "de:gift", "en:gift", "en:rain"))
	if after := dump(t, s); after != before {
		t.Errorf("rewriting the same window changed the tables:\n%s\n%s", before, after)
	}
}
