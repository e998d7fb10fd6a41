package main

import (
	"bytes"
	"context"
	"flag"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"google.golang.org/protobuf/types/known/timestamppb"

	"github.com/trendstream/trendstream/internal/platform/envflag"
	"github.com/trendstream/trendstream/internal/readside/api"
	"github.com/trendstream/trendstream/internal/readside/store"
	"github.com/trendstream/trendstream/internal/testenv"
	tsv1 "github.com/trendstream/trendstream/proto/trendstream/v1"
)

// replaySnap is the overall ranking of the 10-minute window ending at end,
// ranking words in the order given.
func replaySnap(end time.Time, words ...string) *tsv1.WindowSnapshot {
	s := &tsv1.WindowSnapshot{
		Source: tsv1.Source_SOURCE_BLUESKY, WindowStart: timestamppb.New(end.Add(-10 * time.Minute)),
		WindowEnd: timestamppb.New(end), Posts: int64(100 * (len(words) + 1)), EmittedAt: timestamppb.New(end),
	}
	for i, w := range words {
		s.Terms = append(s.Terms, &tsv1.TrendingTerm{Term: w, Kind: tsv1.TermKind_TERM_KIND_WORD, Lang: "en",
			Rank: int32(i + 1), Count: int64(50 - i), UniqueAuthors: int64(40 - i), Baseline: 2, Score: float64(9 - i)})
	}
	return s
}

// TestTopAt: after a replay whose last windows rank nothing, `top` shows
// the empty newest window and names the newest window with trends, and
// `top -at` shows any past window, from PostgreSQL and through the API.
func TestTopAt(t *testing.T) {
	ctx := context.Background()
	dbURL := testenv.Postgres(t)
	st, err := store.Open(ctx, dbURL)
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	t0 := time.Date(2026, 3, 1, 14, 0, 0, 0, time.UTC)
	if err := st.WriteSnapshots(ctx, []*tsv1.WindowSnapshot{
		replaySnap(t0, "eclipse"),
		replaySnap(t0.Add(time.Minute), "eclipse", "aurora"),
		replaySnap(t0.Add(2*time.Minute), "aurora"),
		replaySnap(t0.Add(3 * time.Minute)), // the replay's tail
		replaySnap(t0.Add(4 * time.Minute)),
	}); err != nil {
		t.Fatal(err)
	}
	hs := httptest.NewServer(api.New(st, api.Options{}).Handler())
	defer hs.Close()

	tests := []struct {
		name string
		args []string
		env  map[string]string
		want []string // lines, compared after collapsing runs of spaces
	}{
		{"newest: the empty tail, pointing back", nil, nil, []string{
			"bluesky · all languages · window 2026-03-01 13:54–14:04 UTC (1m ago) · 100 posts",
			"RANK TERM LANG KIND POSTS AUTHORS BASELINE SCORE TRENDING FOR",
			"no term trended in this window",
			"the newest window with trends ended 2026-03-01 14:02 UTC: trendstream top -at 2026-03-01T14:02:00Z",
		}},
		{"-at a past window", []string{"-at", "2026-03-01T14:01:00Z"}, nil, []string{
			"bluesky · all languages · window 2026-03-01 13:51–14:01 UTC (4m ago) · 300 posts",
			"RANK TERM LANG KIND POSTS AUTHORS BASELINE SCORE TRENDING FOR",
			"1 eclipse en word 50 40 2.0 9.0",
			"2 aurora en word 49 39 2.0 8.0",
		}},
		{"-at between windows, as typed, in UTC", []string{"-at", "2026-03-01 14:00", "-limit", "1"}, nil, []string{
			"bluesky · all languages · window 2026-03-01 13:50–14:00 UTC (5m ago) · 200 posts",
			"RANK TERM LANG KIND POSTS AUTHORS BASELINE SCORE TRENDING FOR",
			"1 eclipse en word 50 40 2.0 9.0",
		}},
		{"TRENDSTREAM_AT", nil, map[string]string{"TRENDSTREAM_AT": "2026-03-01T15:02:30+01:00"}, []string{
			"bluesky · all languages · window 2026-03-01 13:52–14:02 UTC (3m ago) · 200 posts",
			"RANK TERM LANG KIND POSTS AUTHORS BASELINE SCORE TRENDING FOR",
			"1 aurora en word 50 40 2.0 9.0",
		}},
		{"-at before every window", []string{"-at", "2026-03-01T13:00:00Z"}, nil, []string{
			"no trends yet: the read model has no window for this selection",
		}},
	}
	now := t0.Add(5 * time.Minute)
	for _, tt := range tests {
		for _, via := range []string{"database", "api"} {
			t.Run(tt.name+" via "+via, func(t *testing.T) {
				for k, v := range tt.env {
					t.Setenv(k, v)
				}
				fs := flag.NewFlagSet("top", flag.ContinueOnError)
				fs.SetOutput(&bytes.Buffer{})
				var o topOptions
				setupTopWith(fs, &o)
				if err := envflag.Parse(fs, EnvPrefix, tt.args); err != nil {
					t.Fatal(err)
				}
				if via == "database" {
					o.dbURL = dbURL
				} else {
					o.apiURL = hs.URL
				}
				var b bytes.Buffer
				if err := runTop(ctx, o, &b, now); err != nil {
					t.Fatal(err)
				}
				var got []string
				for _, l := range strings.Split(strings.TrimSuffix(b.String(), "\n"), "\n") {
					got = append(got, strings.Join(strings.Fields(l), " "))
				}
				if strings.Join(got, "\n") != strings.Join(tt.want, "\n") {
					t.Errorf("got\n%s\nwant\n%s", strings.Join(got, "\n"), strings.Join(tt.want, "\n"))
				}
			})
		}
	}

	var errb bytes.Buffer
	if code := run([]string{"top", "-at", "noon"}, &bytes.Buffer{}, &errb); code != 2 || !strings.Contains(errb.String(), "-at") {
		t.Errorf("top -at noon: exit %d, stderr %q; want a usage error naming -at", code, errb.String())
	}
}
