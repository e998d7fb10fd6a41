package trendcalc

import (
	"fmt"
	"testing"
	"time"

	"google.golang.org/protobuf/types/known/timestamppb"

	"github.com/trendstream/trendstream/internal/terms"
	"github.com/trendstream/trendstream/internal/trendscore"
	tsv1 "github.com/trendstream/trendstream/proto/trendstream/v1"
)

func post(author string, at time.Time, tag string) *tsv1.Post {
	return &tsv1.Post{AuthorDid: author, Text: "#" + tag, Hashtags: []string{tag}, Langs: []string{"en"},
		ObservedAt: timestamppb.New(at), Operation: tsv1.Operation_OPERATION_CREATE}
}

func TestSnapshots(t *testing.T) {
	t0 := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	p := trendscore.DefaultParams()
	p.MinAuthors, p.NoiseFloor, p.WarmUp = 3, 2, 0
	c := New(Config{Size: 2 * time.Minute, Period: time.Minute, TopK: 5, Terms: terms.DefaultOptions(), Score: p})
	// Minute 1: twelve authors use #eclipse, one author posts #spam ten times.
	for i := range 12 {
		c.Add(post(fmt.Sprintf("did:a%d", i), t0.Add(time.Minute+time.Duration(i)*time.Second), "eclipse"))
	}
	for i := range 10 {
		c.Add(post("did:spammer", t0.Add(time.Minute+time.Duration(i)*time.Second), "spam"))
	}
	c.Add(&tsv1.Post{AuthorDid: "did:a0", ObservedAt: timestamppb.New(t0.Add(90 * time.Second)), Operation: tsv1.Operation_OPERATION_DELETE})

	snaps := c.Snapshots()
	type row struct {
		end   int // minutes
		lang  string
		posts int64
		top   string
		count int64
	}
	// Bucket [1m,2m) lies in the windows ending at 2m and 3m.
	want := []row{
		{2, "", 22, "eclipse", 12}, {2, "en", 22, "eclipse", 12},
		{3, "", 22, "eclipse", 12}, {3, "en", 22, "eclipse", 12},
	}
	if len(snaps) != len(want) {
		t.Fatalf("got %d snapshots, want %d: %v", len(snaps), len(want), snaps)
	}
	for i, w := range want {
		s := snaps[i]
		if !s.WindowEnd.AsTime().Equal(t0.Add(time.Duration(w.end)*time.Minute)) || s.Lang != w.lang || s.Posts != w.posts {
			t.Errorf("snapshot %d: end %v lang %q posts %d, want %+v", i, s.WindowEnd.AsTime(), s.Lang, s.Posts, w)
			continue
		}
		for _, term := range s.Terms {
			if term.Term == "spam" {
				t.Errorf("snapshot %d: one-author flood ranked", i)
			}
		}
		if w.end == 2 {
			if len(s.Terms) != 1 || s.Terms[0].Term != w.top || s.Terms[0].Count != w.count || s.Terms[0].UniqueAuthors != 12 {
				t.Errorf("snapshot %d: terms %v, want %s with %d posts by 12 authors", i, s.Terms, w.top, w.count)
			} else if s.Terms[0].Score != 5 { // first sighting: x/β − 1 = 12/2 − 1
				t.Errorf("snapshot %d: score %v, want 5", i, s.Terms[0].Score)
			}
		}
	}
}

func TestRankRawCount(t *testing.T) {
	es := []Entry{
		{Term: "the", Count: 900, Authors: 800, Score: 0.1},
		{Term: "eclipse", Count: 50, Authors: 50, Score: 9, Eligible: true, Trending: true},
		{Term: "spam", Count: 400, Authors: 1, Score: 3},
	}
	raw := RankRawCount(es, 2)
	if len(raw) != 2 || raw[0].Term != "the" || raw[1].Term != "spam" {
		t.Errorf("raw count ranking %v, want the, spam", raw)
	}
	for i := range es {
		es[i].RankBy = es[i].Score
	}
	tr := RankTrending(es, 2)
	if len(tr) != 1 || tr[0].Term != "eclipse" {
		t.Errorf("trending ranking %v, want only eclipse", tr)
	}
}
