package chaos

import (
	"bytes"
	"strings"
	"testing"
	"time"

	"google.golang.org/protobuf/types/known/timestamppb"

	"github.com/trendstream/trendstream/internal/tools/livesoak"
	tsv1 "github.com/trendstream/trendstream/proto/trendstream/v1"
)

func post(uri string, at time.Time) *tsv1.Post {
	return &tsv1.Post{Uri: uri, Cid: "c-" + uri, ObservedAt: timestamppb.New(at), Operation: tsv1.Operation_OPERATION_CREATE}
}

func sent(uri string, at time.Time) SentPost {
	return SentPost{PostID: PostID{URI: uri, CID: "c-" + uri}, Time: at}
}

// allKinds is one fault of each kind, 20 s apart from t0+10s, each 5 s long.
func allKinds() []Injected {
	var out []Injected
	for i, k := range Kinds {
		b := t0.Add(time.Duration(10+20*i) * time.Second)
		out = append(out, Injected{Fault: Fault{Kind: k}, N: i + 1, Began: b, Recovered: b.Add(5 * time.Second)})
	}
	return out
}

func TestJudge(t *testing.T) {
	clean := func() *Findings {
		return &Findings{
			Sent:            []SentPost{sent("a", t0.Add(time.Second)), sent("b", t0.Add(31*time.Second))},
			Topic:           &TopicPosts{Posts: []*tsv1.Post{post("a", t0.Add(time.Second)), post("b", t0.Add(31*time.Second))}},
			WindowsCompared: 10, ResultsCompared: 10, RefWindows: 10, RefTerms: 4,
			Exits: []Exit{{Process: "ingest", Run: 1, Planned: true}},
		}
	}
	tests := []struct {
		name   string
		edit   func(*Findings, *[]Injected)
		failed []string
		detail string
	}{
		{name: "everything holds", edit: func(*Findings, *[]Injected) {}},
		{name: "a post lost in a stall", edit: func(f *Findings, _ *[]Injected) {
			f.Topic.Posts = f.Topic.Posts[:1]
		}, failed: []string{"every post the source wrote"}, detail: "#2 relay-stall at +30s: 1"},
		{name: "nothing sent", edit: func(f *Findings, _ *[]Injected) {
			f.Sent, f.Topic.Posts = nil, nil
		}, failed: []string{"every post the source wrote"}, detail: "nothing was checked"},
		{name: "a post twice", edit: func(f *Findings, _ *[]Injected) {
			f.Topic.Posts = append(f.Topic.Posts, post("b", t0.Add(31*time.Second)))
		}, failed: []string{"no post is in Kafka twice"}, detail: "1 extra time"},
		{name: "a window short", edit: func(f *Findings, _ *[]Injected) {
			f.WindowDiffs = []WindowDiff{{Start: t0.Add(0), End: t0.Add(time.Minute), Problem: PostsDiffer, Got: 9, Want: 10}}
		}, failed: []string{"no window lost a post", "PostgreSQL equals the reference"}, detail: "#2 relay-stall"},
		{name: "a ranking differs", edit: func(f *Findings, _ *[]Injected) {
			f.WindowDiffs = []WindowDiff{{Lang: "en", Start: t0.Add(2 * time.Minute), End: t0.Add(3 * time.Minute), Problem: RankingDiffers, Got: 5, Want: 5, Details: []string{"rank 1: x"}}}
		}, failed: []string{"PostgreSQL equals the reference"}, detail: "no fault near"},
		{name: "nothing compared", edit: func(f *Findings, _ *[]Injected) {
			f.WindowsCompared = 0
		}, failed: []string{"PostgreSQL equals the reference"}, detail: "nothing was compared"},
		{name: "duplicate rows in PostgreSQL", edit: func(f *Findings, _ *[]Injected) {
			f.PGDuplicates = []string{"terms with the same window and rank: x"}
		}, failed: []string{"no duplicate rows in PostgreSQL"}},
		{name: "results topic unreadable", edit: func(f *Findings, _ *[]Injected) {
			f.ResultsErr = "boom"
		}, failed: []string{"the results topic"}, detail: "boom"},
		{name: "a crash", edit: func(f *Findings, _ *[]Injected) {
			f.Exits = append(f.Exits, Exit{Process: "pipeline", Run: 2, ChildResult: livesoak.ChildResult{ExitCode: 1, ExitedEarly: true}})
		}, failed: []string{"no process exited unasked"}, detail: "pipeline run 2"},
		{name: "a kind missing", edit: func(_ *Findings, fs *[]Injected) {
			*fs = (*fs)[:5]
		}, failed: []string{"every fault kind"}, detail: "no pipeline-restart"},
		{name: "a recovery failed", edit: func(_ *Findings, fs *[]Injected) {
			(*fs)[3].Err = "kafka would not start"
		}, failed: []string{"every fault kind"}, detail: "kafka would not start"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			f, faults := clean(), allKinds()
			tc.edit(f, &faults)
			f.compareSources()
			checks := Judge(f, faults, t0, false)
			var failed []string
			var details string
			for _, c := range checks {
				if !c.Pass {
					failed = append(failed, c.Name)
					details += strings.Join(c.Details, "\n") + "\n"
				}
			}
			if len(failed) != len(tc.failed) {
				t.Fatalf("failed %q, want checks starting %q", failed, tc.failed)
			}
			for i, prefix := range tc.failed {
				if !strings.HasPrefix(failed[i], prefix) {
					t.Errorf("failed check %q, want one starting %q", failed[i], prefix)
				}
			}
			if !strings.Contains(details, tc.detail) {
				t.Errorf("details lack %q:\n%s", tc.detail, details)
			}
		})
	}
}

func TestReportMarkdownStatesTheFigures(t *testing.T) {
	f := &Findings{
		Sent:  []SentPost{sent("a", t0), sent("b", t0)},
		Topic: &TopicPosts{Records: 3, Markers: 1, Posts: []*tsv1.Post{post("a", t0)}},
	}
	f.compareSources()
	f.WindowsCompared = 4
	f.WindowDiffs = []WindowDiff{{Start: t0, End: t0.Add(time.Minute), Problem: PostsDiffer, Got: 1, Want: 2}}
	faults := allKinds()
	r := &Report{Command: "go run ./cmd/trendchaos -seed 3", Began: t0, StreamStart: t0, Faults: faults, Findings: f,
		Settings: Settings{Seed: 3, Rate: 30, Mode: livesoak.ModeJetstream}}
	r.Checks = Judge(f, faults, t0, false)
	var b bytes.Buffer
	if err := r.WriteMarkdown(&b); err != nil {
		t.Fatal(err)
	}
	md := b.String()
	for _, want := range []string{
		"`go run ./cmd/trendchaos -seed 3`",
		"| posts checked (written by the source, looked up in Kafka by (uri, cid)) | 2 |",
		"| posts lost | 1 | 0 |",
		"| windows that differ from the reference | 1 | 0 |",
		"relay-drop 1, relay-stall 1, ingest-kill 1, broker-restart 1, postgres-restart 1, pipeline-restart 1",
		"**FAIL** every post the source wrote is in Kafka",
		"1 source-watermark markers",
	} {
		if !strings.Contains(md, want) {
			t.Errorf("the report lacks %q:\n%s", want, md)
		}
	}
}

func TestJudgeControlRun(t *testing.T) {
	f := &Findings{Sent: []SentPost{sent("a", t0)}, Topic: &TopicPosts{Posts: []*tsv1.Post{post("a", t0)}}, WindowsCompared: 1, ResultsCompared: 1}
	f.compareSources()
	tests := []struct {
		name   string
		faults []Injected
		pass   bool
	}{
		{"no fault", nil, true},
		{"a fault in a control run", allKinds()[:1], false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			c := Judge(f, tc.faults, t0, true)[0]
			if c.Pass != tc.pass || !strings.Contains(c.Name, "control run") {
				t.Errorf("%+v, want pass %v", c, tc.pass)
			}
		})
	}
}
