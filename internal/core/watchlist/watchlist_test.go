package watchlist_test

import (
	"strings"
	"testing"
	"time"

	"github.com/trendstream/trendstream/internal/core/terms"
	"github.com/trendstream/trendstream/internal/core/trendscore"
	"github.com/trendstream/trendstream/internal/core/watchlist"
	"github.com/trendstream/trendstream/internal/testenv/watchtest"
	tsv1 "github.com/trendstream/trendstream/proto/trendstream/v1"
)

var t0 = time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)

func TestParse(t *testing.T) {
	for _, tc := range []struct {
		name, in string
		wantErr  string // "" for success
		wantN    int
	}{
		{"yaml", "entries:\n  - id: harris\n    kind: entity\n    text: Kamala Harris\n    aliases: [Harris, '#KamalaHarris']\n    langs: [en]\n  - id: e26\n    kind: hashtag\n    text: '#Election2026'\n", "", 2},
		{"json", `{"entries":[{"id":"gaza","kind":"keyword","text":"Gaza","enter":5,"exit":2}]}`, "", 1},
		{"unknown field", "entries:\n  - id: x\n    kind: keyword\n    text: x\n    alias: [y]\n", "alias", 0},
		{"bad id", "entries:\n  - id: Not OK\n    kind: keyword\n    text: x\n", "id", 0},
		{"duplicate id", "entries:\n  - {id: a, kind: keyword, text: x}\n  - {id: a, kind: keyword, text: y}\n", "duplicate", 0},
		{"bad kind", "entries:\n  - {id: a, kind: person, text: x}\n", "kind", 0},
		{"exit above enter", "entries:\n  - {id: a, kind: keyword, text: x, enter: 2, exit: 3}\n", "exit", 0},
		{"upper-case language", "entries:\n  - {id: a, kind: keyword, text: x, langs: [EN]}\n", "language", 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			es, err := watchlist.Parse([]byte(tc.in))
			if tc.wantErr == "" {
				if err != nil || len(es) != tc.wantN {
					t.Fatalf("got %d entries, %v; want %d", len(es), err, tc.wantN)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
				t.Fatalf("error %v, want one mentioning %q", err, tc.wantErr)
			}
		})
	}
}

func TestExampleFileLoads(t *testing.T) {
	es, err := watchlist.Load("../../../docs/watchlists.example.yaml")
	if err != nil {
		t.Fatal(err)
	}
	if len(es) < 3 {
		t.Fatalf("example has %d entries", len(es))
	}
	if bad := watchlist.CompileErrors(es, terms.DefaultOptions(), "en"); len(bad) > 0 {
		t.Errorf("example texts that can never match: %v", bad)
	}
}

func TestMatch(t *testing.T) {
	m := watchlist.NewMatcher(watchtest.Entries(), terms.DefaultOptions())
	ids := func(idx []int) []string {
		var out []string
		for _, i := range idx {
			out = append(out, m.Entries()[i].ID)
		}
		return out
	}
	post := func(text, lang string, tags ...string) *tsv1.Post {
		return &tsv1.Post{Text: text, Langs: []string{lang}, Hashtags: tags, AuthorDid: "did:plc:a", Operation: tsv1.Operation_OPERATION_CREATE}
	}
	for _, tc := range []struct {
		name string
		p    *tsv1.Post
		want string
	}{
		{"word, any case", post("TRUMP rallies again", "en"), "trump"},
		{"alias phrase", post("Donald Trump's lawyers", "en"), "trump"},
		{"hashtag of a keyword", post("news", "en", "Gaza"), "gaza"},
		{"hashtag alias", post("so it goes", "en", "trump"), "trump"},
		{"hashtag entry needs the hashtag", post("election2026 is coming", "en"), ""},
		{"hashtag entry", post("vote!", "en", "#election2026"), "election2026"},
		{"phrase adjacent", post("they want a border wall now", "en"), "border-wall"},
		{"phrase words apart", post("the wall at the border", "en"), ""},
		{"entity alias, two entries", post("Senator Warren asked Biden", "en"), "biden,warren"},
		{"entity full name", post("Elizabeth Warren", "en"), "warren"},
		{"surname alone is not the entity", post("Warren said", "en"), ""},
		{"language filter", post("Demokratie democracy", "de"), ""},
		{"language filter passes", post("democracy dies", "en"), "democracy"},
		{"word inside another word", post("trumpet solo", "en"), ""},
		{"delete", &tsv1.Post{Text: "Trump", Operation: tsv1.Operation_OPERATION_DELETE}, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := strings.Join(ids(m.Match(tc.p)), ","); got != tc.want {
				t.Errorf("matched %q, want %q", got, tc.want)
			}
		})
	}
}

// TestStepFiresOncePerCrossing drives one entry's rule by hand: a run of
// high windows fires one alert at its first window; a dip that stays above
// the exit threshold does not fire again; falling below exit and rising
// again fires a second alert.
func TestStepFiresOncePerCrossing(t *testing.T) {
	p := trendscore.DefaultParams().ForWindow(time.Minute)
	p.WarmUp = 0
	var st trendscore.State
	authors := func(n int) []string {
		out := make([]string, n)
		for i := range out {
			out[i] = "did:plc:" + string(rune('a'+i%26)) + string(rune('a'+i/26))
		}
		return out
	}
	// Distinct authors per one-minute window; enter 4 = 10 authors over a
	// floor of 2, exit 2 = 6.
	series := []int{0, 1, 1, 12, 14, 8, 13, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 30, 30}
	var fired []int
	for i, n := range series {
		if n == 0 {
			continue
		}
		start := t0.Add(time.Duration(i) * time.Minute).UnixMilli()
		w := watchlist.Tally(start, start+time.Minute.Milliseconds(), authors(n))
		s, a := watchlist.Step(p, &st, "x", w, time.Minute)
		if a != nil {
			fired = append(fired, i)
			if a.ID != watchlist.AlertID("x", w.End) || !s.Active {
				t.Errorf("window %d: alert %+v, status %+v", i, a, s)
			}
		}
	}
	if len(fired) != 2 || fired[0] != 3 || fired[1] != 19 {
		t.Errorf("alerts at windows %v, want [3 19]", fired)
	}
}

func testConfig() watchlist.Config {
	return watchlist.Config{Size: 10 * time.Minute, Period: time.Minute, Terms: terms.DefaultOptions(), Score: trendscore.DefaultParams(), StreamStart: t0}
}

func TestReferenceSurgesAlertOnce(t *testing.T) {
	posts, err := watchtest.Scenario(t0)
	if err != nil {
		t.Fatal(err)
	}
	statuses, alerts, err := watchlist.Compute(testConfig(), watchtest.Entries(), posts)
	if err != nil {
		t.Fatal(err)
	}
	watchtest.CheckSurgeAlerts(t, t0, time.Minute, alerts)

	// The real posts alone: the entries they mention are counted in
	// windows all along, not trending, and nothing alerts.
	bg, err := watchtest.Background(t0)
	if err != nil {
		t.Fatal(err)
	}
	bgStatuses, bgAlerts, err := watchlist.Compute(testConfig(), watchtest.Entries(), bg)
	if err != nil {
		t.Fatal(err)
	}
	if len(bgAlerts) != 0 {
		t.Errorf("real posts without surges alerted: %+v", bgAlerts)
	}
	windows := map[string]int{}
	for _, s := range bgStatuses {
		windows[s.EntryID]++
	}
	for _, id := range []string{"trump", "biden", "gaza", "democracy", "climate"} {
		if windows[id] < 50 {
			t.Errorf("entry %s counted in %d windows of the real posts, want it counted throughout", id, windows[id])
		}
	}
	if len(statuses) <= len(bgStatuses) {
		t.Errorf("%d statuses with surges, %d without", len(statuses), len(bgStatuses))
	}
}

func TestWindowStartsMatchSliding(t *testing.T) {
	ts := t0.Add(3*time.Minute + 5*time.Second).UnixMilli()
	got := watchlist.WindowStarts(ts, 10*time.Minute, time.Minute)
	if len(got) != 10 || got[0] != t0.Add(3*time.Minute).UnixMilli() || got[9] != t0.Add(-6*time.Minute).UnixMilli() {
		t.Errorf("windows of +3m05s: %v", got)
	}
}
