package main

import (
	"bytes"
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/trendstream/trendstream/internal/readside/api"
	"github.com/trendstream/trendstream/internal/readside/store"
)

func TestTerminalSafe(t *testing.T) {
	tests := []struct{ in, want string }{
		{"coffee", "coffee"},
		{"solar eclipse", "solar eclipse"},
		{"地震 速報", "地震 速報"},
		{"<script>alert(1)</script>", "<script>alert(1)</script>"},
		{"\x1b[2Jgone", `\x1b[2Jgone`},
		{"tab\there", `tab\there`},
		{"bell\a", `bell\a`},
	}
	for _, tt := range tests {
		if got := terminalSafe(tt.in); got != tt.want {
			t.Errorf("terminalSafe(%q) = %q, want %q", tt.in, got, tt.want)
		}
	}
}

func sampleWindows() []store.Window {
	end := time.Date(2026, 11, 27, 12, 10, 0, 0, time.UTC)
	first := end.Add(-25 * time.Minute)
	return []store.Window{
		{Source: "bluesky", Lang: "", Start: end.Add(-10 * time.Minute), End: end, Posts: 5090, Terms: []store.Term{
			{Rank: 1, Kind: "hashtag", Term: "firstsnow", TermLang: "en", Count: 128, UniqueAuthors: 104, Baseline: 11, Score: 33.8, FirstSeen: &first},
			{Rank: 2, Kind: "word", Term: "\x1b[31mred", TermLang: "en", Count: 82, UniqueAuthors: 64, Baseline: 25, Score: 11.25},
			{Rank: 3, Kind: "word", Term: "gift", TermLang: "de", Count: 70, UniqueAuthors: 60, Baseline: 5, Score: 9},
			{Rank: 4, Kind: "word", Term: "gift", TermLang: "en", Count: 65, UniqueAuthors: 50, Baseline: 6, Score: 8},
			{Rank: 5, Kind: "word", Term: "old", Count: 9, UniqueAuthors: 9, Baseline: 1, Score: 7},
		}},
		{Source: "bluesky", Lang: "ja", Start: end.Add(-10 * time.Minute), End: end, Posts: 700, Terms: []store.Term{
			{Rank: 1, Kind: "word", Term: "地震", TermLang: "ja", Count: 40, UniqueAuthors: 39, Baseline: 2, Score: 20},
		}},
	}
}

func TestWriteTopTable(t *testing.T) {
	ws := sampleWindows()
	now := ws[0].End.Add(90 * time.Second)
	tail := []store.Window{{Source: "bluesky", Lang: "en", Start: ws[0].Start, End: ws[0].End, Posts: 6}}
	tests := []struct {
		name     string
		ws       []store.Window
		trending map[string]time.Time
		want     []string // lines, compared after collapsing runs of spaces
	}{
		{"empty", nil, nil, []string{"no trends yet: the read model has no window for this selection"}},
		{"a window that ranked nothing points at the newest that did", tail,
			map[string]time.Time{"bluesky\x00en": ws[0].End.Add(-time.Hour)}, []string{
				"bluesky · en · window 2026-11-27 12:00–12:10 UTC (2m ago) · 6 posts",
				"RANK TERM KIND POSTS AUTHORS BASELINE SCORE TRENDING FOR",
				"no term trended in this window",
				"the newest window with trends ended 2026-11-27 11:10 UTC: trendstream top -lang en -at 2026-11-27T11:10:00Z",
			}},
		{"nothing ever trended", tail, nil, []string{
			"bluesky · en · window 2026-11-27 12:00–12:10 UTC (2m ago) · 6 posts",
			"RANK TERM KIND POSTS AUTHORS BASELINE SCORE TRENDING FOR",
			"no term trended in this window",
		}},
		{"rankings", ws, nil, []string{
			"bluesky · all languages · window 2026-11-27 12:00–12:10 UTC (2m ago) · 5090 posts",
			"RANK TERM LANG KIND POSTS AUTHORS BASELINE SCORE TRENDING FOR",
			"1 #firstsnow en hashtag 128 104 11.0 33.8 25m",
			`2 \x1b[31mred en word 82 64 25.0 11.2`,
			"3 gift de word 70 60 5.0 9.0",
			"4 gift en word 65 50 6.0 8.0",
			"5 old ? word 9 9 1.0 7.0",
			"",
			"bluesky · ja · window 2026-11-27 12:00–12:10 UTC (2m ago) · 700 posts",
			"RANK TERM KIND POSTS AUTHORS BASELINE SCORE TRENDING FOR",
			"1 地震 word 40 39 2.0 20.0",
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var b bytes.Buffer
			if err := writeTopTable(&b, tt.ws, now, tt.trending); err != nil {
				t.Fatal(err)
			}
			if strings.Contains(b.String(), "\x1b") {
				t.Error("raw escape character reached the terminal")
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

func TestShortDuration(t *testing.T) {
	tests := []struct {
		d    time.Duration
		want string
	}{
		{0, "0s"}, {45 * time.Second, "45s"}, {59*time.Minute + 10*time.Second, "59m"},
		{2*time.Hour + 5*time.Minute, "2h05m"}, {-3 * time.Second, "-3s"},
		{47*time.Hour + 59*time.Minute, "47h59m"}, {276*24*time.Hour + 4*time.Hour + 20*time.Minute, "276d04h"},
	}
	for _, tt := range tests {
		if got := shortDuration(tt.d); got != tt.want {
			t.Errorf("shortDuration(%v) = %q, want %q", tt.d, got, tt.want)
		}
	}
}

func TestWriteTopJSON(t *testing.T) {
	for _, ws := range [][]store.Window{nil, sampleWindows()} {
		var b bytes.Buffer
		if err := writeTopJSON(&b, ws); err != nil {
			t.Fatal(err)
		}
		var got api.TrendsResponse
		if err := json.Unmarshal(b.Bytes(), &got); err != nil {
			t.Fatalf("%v:\n%s", err, b.String())
		}
		if got.Windows == nil || len(got.Windows) != len(ws) {
			t.Fatalf("round trip gave %d windows, want %d", len(got.Windows), len(ws))
		}
		for i := range ws {
			if got.Windows[i].Terms[0].Term != ws[i].Terms[0].Term || !got.Windows[i].End.Equal(ws[i].End) {
				t.Errorf("window %d: %+v", i, got.Windows[i])
			}
		}
	}
}

func TestServeAndTopNeedADatabase(t *testing.T) {
	t.Setenv("DATABASE_URL", "")
	t.Setenv("TRENDSTREAM_DATABASE_URL", "")
	for _, args := range [][]string{{"top"}, {"serve", "-brokers", ""}} {
		var out, errb bytes.Buffer
		if code := run(args, &out, &errb); code != 1 || !strings.Contains(errb.String(), "DATABASE_URL") {
			t.Errorf("%q without a database: exit %d, stderr %q", args, code, errb.String())
		}
	}
}
