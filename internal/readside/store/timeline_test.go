package store_test

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/trendstream/trendstream/internal/readside/store"
	tsv1 "github.com/trendstream/trendstream/proto/trendstream/v1"
)

// replayLike writes what a replay leaves in the read model: ten one-minute
// windows of the overall ranking (ends t0 … t0+9m) in which "a" trends
// first, then "b" and the hashtag "c", and a tail of three windows (7–9)
// that rank nothing, as the recording's last posts slide out; plus an
// English ranking with two windows.
func replayLike(t *testing.T) *store.Store {
	t.Helper()
	s := open(t)
	ranked := [][]string{
		{"a"}, {"a", "b"}, {"a", "b"}, {"b", "a"}, {"b", "hashtag:c"}, {"hashtag:c", "b"}, {"hashtag:c"},
		{}, {}, {},
	}
	var snaps []*tsv1.WindowSnapshot
	for i, ts := range ranked {
		snaps = append(snaps, snap("", at(i), time.Second, ts...))
	}
	snaps = append(snaps, snap("en", at(2), time.Second, "a"), snap("en", at(3), time.Second, "b"))
	write(t, s, snaps...)
	return s
}

// at is the end of the replay's i-th window.
func at(i int) time.Time { return t0.Add(time.Duration(i) * time.Minute) }

func TestTrendsAt(t *testing.T) {
	s := replayLike(t)
	tests := []struct {
		name string
		f    store.Filter
		want string // "lang@end: terms" per ranking
	}{
		{"newest window: the empty tail", store.Filter{}, "@12:09: "},
		{"a past window", store.Filter{At: at(3)}, "@12:03: 1:word:b 2:word:a"},
		{"between two windows: the one before", store.Filter{At: at(4).Add(30 * time.Second)}, "@12:04: 1:word:b 2:hashtag:c"},
		{"every language at a time", store.Filter{AllLangs: true, At: at(2)}, "@12:02: 1:word:a 2:word:b\nen@12:02: 1:word:a"},
		{"a language whose windows all ended earlier", store.Filter{Lang: "en", At: at(8)}, "en@12:03: 1:word:b"},
		{"before the first window", store.Filter{AllLangs: true, At: at(-1)}, ""},
		{"limit applies", store.Filter{At: at(2), Limit: 1}, "@12:02: 1:word:a"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ws, err := s.CurrentTrends(context.Background(), tt.f)
			if err != nil {
				t.Fatal(err)
			}
			var got []string
			for _, w := range ws {
				got = append(got, fmt.Sprintf("%s@%s: %s", w.Lang, w.End.Format("15:04"), terms(w)))
			}
			if strings.Join(got, "\n") != tt.want {
				t.Errorf("got\n%s\nwant\n%s", strings.Join(got, "\n"), tt.want)
			}
		})
	}

	// History as of a past window ends at that window, not at the newest.
	ws, err := s.CurrentTrends(context.Background(), store.Filter{At: at(3), History: 3})
	if err != nil {
		t.Fatal(err)
	}
	var ends, ranks []string
	for _, p := range ws[0].Terms[1].History { // "a"
		ends, ranks = append(ends, p.End.Format("15:04")), append(ranks, fmt.Sprint(p.Rank))
	}
	if got := strings.Join(ends, ",") + " " + strings.Join(ranks, ","); got != "12:01,12:02,12:03 1,1,2" {
		t.Errorf("a's history as of 12:03: %s, want windows 12:01–12:03 with ranks 1,1,2", got)
	}
}

func TestWindowsStretch(t *testing.T) {
	s := replayLike(t)
	tests := []struct {
		name string
		f    store.WindowFilter
		want string // "lang@end=ranked" newest first
	}{
		{"newest, with the ranked count", store.WindowFilter{Limit: 4}, "@12:09=0 @12:08=0 @12:07=0 @12:06=1"},
		{"a stretch", store.WindowFilter{From: at(3), To: at(5)}, "@12:05=2 @12:04=2 @12:03=2"},
		{"from only", store.WindowFilter{From: at(8)}, "@12:09=0 @12:08=0"},
		{"every language up to a time", store.WindowFilter{AllLangs: true, To: at(2), Limit: 3}, "@12:02=2 en@12:02=1 @12:01=2"},
		{"current as of a time", store.WindowFilter{AllLangs: true, Current: true, To: at(5)}, "@12:05=2 en@12:03=1"},
		{"empty stretch", store.WindowFilter{From: at(20)}, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ws, err := s.Windows(context.Background(), tt.f)
			if err != nil {
				t.Fatal(err)
			}
			var got []string
			for _, w := range ws {
				if w.Ranked == nil {
					t.Fatalf("window %v without its ranked count", w.End)
				}
				got = append(got, fmt.Sprintf("%s@%s=%d", w.Lang, w.End.Format("15:04"), *w.Ranked))
			}
			if strings.Join(got, " ") != tt.want {
				t.Errorf("got %q, want %q", strings.Join(got, " "), tt.want)
			}
		})
	}
}

func TestTermHistoryStretch(t *testing.T) {
	s := replayLike(t)
	tests := []struct {
		name string
		f    store.HistoryFilter
		want string // "end:rank" oldest first; "" means not found
	}{
		{"newest windows: a is gone from the tail", store.HistoryFilter{Windows: 3}, ""},
		{"until a past window", store.HistoryFilter{Windows: 3, Until: at(4)}, "12:02:1 12:03:2 12:04:0"},
		{"from and until", store.HistoryFilter{Windows: 100, From: at(0), Until: at(1)}, "12:00:1 12:01:1"},
		{"from only, capped by windows keeping the newest", store.HistoryFilter{Windows: 2, From: at(0)}, ""},
		{"a stretch ranking nothing", store.HistoryFilter{Windows: 100, From: at(5)}, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ps, err := s.TermHistory(context.Background(), "a", tt.f)
			if err != nil {
				t.Fatal(err)
			}
			var got []string
			for _, p := range ps {
				got = append(got, fmt.Sprintf("%s:%d", p.End.Format("15:04"), p.Rank))
			}
			if strings.Join(got, " ") != tt.want {
				t.Errorf("got %q, want %q", strings.Join(got, " "), tt.want)
			}
		})
	}
}

func TestTimeline(t *testing.T) {
	s := replayLike(t)
	type want struct {
		from, to, newest, trending string
		windows                    string // "end=ranked" oldest first
		terms                      string // "kind:term windows/best rank [ends]"
	}
	tests := []struct {
		name string
		f    store.TimelineFilter
		want want
	}{
		{"default: the stretch before the newest window, trends before the empty tail", store.TimelineFilter{}, want{
			from: "06:09", to: "12:09", newest: "12:09", trending: "12:06",
			windows: "12:00=1 12:01=2 12:02=2 12:03=2 12:04=2 12:05=2 12:06=1 12:07=0 12:08=0 12:09=0",
			terms: "word:a 4/1 [12:00 12:01 12:02 12:03]; word:b 5/1 [12:01 12:02 12:03 12:04 12:05]; " +
				"hashtag:c 3/1 [12:04 12:05 12:06]",
		}},
		{"a stretch", store.TimelineFilter{From: at(2), To: at(4)}, want{
			from: "12:02", to: "12:04", newest: "12:09", trending: "12:04",
			windows: "12:02=2 12:03=2 12:04=2",
			terms:   "word:b 3/1 [12:02 12:03 12:04]; word:a 2/1 [12:02 12:03]; hashtag:c 1/2 [12:04]",
		}},
		{"terms capped", store.TimelineFilter{To: at(6), Terms: 1}, want{
			from: "06:06", to: "12:06", newest: "12:09", trending: "12:06",
			windows: "12:00=1 12:01=2 12:02=2 12:03=2 12:04=2 12:05=2 12:06=1",
			terms:   "word:b 5/1 [12:01 12:02 12:03 12:04 12:05]",
		}},
		{"only the tail", store.TimelineFilter{From: at(7)}, want{
			from: "12:07", to: "12:09", newest: "12:09", trending: "12:06",
			windows: "12:07=0 12:08=0 12:09=0",
		}},
		{"another language", store.TimelineFilter{Lang: "en"}, want{
			from: "06:03", to: "12:03", newest: "12:03", trending: "12:03",
			windows: "12:02=1 12:03=1", terms: "word:a 1/1 [12:02]; word:b 1/1 [12:03]",
		}},
		{"no such ranking", store.TimelineFilter{Lang: "xx"}, want{from: "00:00", to: "00:00"}},
	}
	hm := func(p *time.Time) string {
		if p == nil {
			return ""
		}
		return p.Format("15:04")
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tl, err := s.Timeline(context.Background(), tt.f)
			if err != nil {
				t.Fatal(err)
			}
			var ws, ts []string
			for _, w := range tl.Windows {
				ws = append(ws, fmt.Sprintf("%s=%d", w.End.Format("15:04"), *w.Ranked))
			}
			for _, term := range tl.Terms {
				var ends []string
				for _, p := range term.Points {
					ends = append(ends, p.End.Format("15:04"))
				}
				ts = append(ts, fmt.Sprintf("%s:%s %d/%d [%s]", term.Kind, term.Term, term.Windows, term.BestRank, strings.Join(ends, " ")))
			}
			got := want{from: tl.From.Format("15:04"), to: tl.To.Format("15:04"), newest: hm(tl.Newest),
				trending: hm(tl.LatestTrending), windows: strings.Join(ws, " "), terms: strings.Join(ts, "; ")}
			if got != tt.want {
				t.Errorf("got  %+v\nwant %+v", got, tt.want)
			}
		})
	}
}
