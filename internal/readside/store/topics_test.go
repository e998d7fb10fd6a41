package store_test

import (
	"context"
	"strings"
	"testing"
	"time"

	"google.golang.org/protobuf/types/known/timestamppb"

	"github.com/trendstream/trendstream/internal/readside/store"
	tsv1 "github.com/trendstream/trendstream/proto/trendstream/v1"
)

func example(i int, text string, at time.Time) *tsv1.ExamplePost {
	did := "did:plc:a" + string(rune('0'+i))
	return &tsv1.ExamplePost{Uri: "at://" + did + "/app.bsky.feed.post/r" + string(rune('0'+i)), AuthorDid: did, Text: text, ObservedAt: timestamppb.New(at)}
}

// withTopic groups the snapshot's terms into one topic labelled by its
// first term and gives every term and the topic examples.
func withTopic(s *tsv1.WindowSnapshot, id string) *tsv1.WindowSnapshot {
	end := s.GetWindowEnd().AsTime()
	tp := &tsv1.Topic{Id: id, Label: s.Terms[0].Term, LabelKind: s.Terms[0].Kind, Lang: s.Terms[0].Lang, Rank: 1,
		FirstSeen: s.Terms[0].FirstSeen}
	for i, t := range s.Terms {
		t.Examples = []*tsv1.ExamplePost{example(i, "post about "+t.Term+" at "+end.Format("15:04"), end.Add(-time.Minute))}
		tp.Members = append(tp.Members, &tsv1.TopicMember{Term: t.Term, Kind: t.Kind, Count: t.Count, UniqueAuthors: t.UniqueAuthors, Score: t.Score, Rank: t.Rank})
		tp.Mentions += t.Count
		tp.UniqueAuthors = max(tp.UniqueAuthors, t.UniqueAuthors)
		tp.Score = max(tp.Score, t.Score)
	}
	tp.Examples = []*tsv1.ExamplePost{example(7, "topic post <b>"+end.Format("15:04")+"</b>", end.Add(-2*time.Minute))}
	s.Topics = []*tsv1.Topic{tp}
	return s
}

func TestTopicsReadModel(t *testing.T) {
	s := open(t)
	ctx := context.Background()
	write(t, s,
		withTopic(snap("en", at(1), time.Second, "hashtag:eclipse", "totality"), "t1"),
		withTopic(snap("en", at(2), time.Second, "hashtag:eclipse", "totality", "moon"), "t1"),
		snap("en", at(3), time.Second), // the story is over: no topics
	)

	// The newest window has no topics; an earlier one has, with examples.
	ws, err := s.Topics(ctx, store.Filter{Lang: "en"})
	if err != nil {
		t.Fatal(err)
	}
	if len(ws) != 1 || !ws[0].End.Equal(at(3)) || len(ws[0].Topics) != 0 {
		t.Fatalf("newest: %+v, want the window ending %v without topics", ws, at(3))
	}
	ws, err = s.Topics(ctx, store.Filter{Lang: "en", At: at(2)})
	if err != nil {
		t.Fatal(err)
	}
	if len(ws) != 1 || len(ws[0].Topics) != 1 {
		t.Fatalf("at %v: %+v, want one topic", at(2), ws)
	}
	tp := ws[0].Topics[0]
	var members []string
	for _, m := range tp.Members {
		members = append(members, m.Kind+":"+m.Term)
	}
	if got := strings.Join(members, " "); tp.ID != "t1" || tp.Label != "eclipse" || tp.LabelKind != "hashtag" || got != "hashtag:eclipse word:totality word:moon" || tp.Mentions != 100+99+98 {
		t.Errorf("topic %+v (members %s)", tp, got)
	}
	if len(tp.Examples) != 1 || tp.Examples[0].Text != "topic post <b>12:02</b>" || tp.Examples[0].URL != "https://bsky.app/profile/did:plc:a7/post/r7" {
		t.Errorf("topic examples %+v", tp.Examples)
	}

	page, err := s.TopicHistory(ctx, "t1", store.HistoryFilter{Lang: "en"})
	if err != nil {
		t.Fatal(err)
	}
	if page == nil || len(page.History) != 2 || !page.History[0].End.Equal(at(1)) || len(page.History[1].Members) != 3 ||
		len(page.Examples) != 1 || page.Examples[0].Text != "topic post <b>12:02</b>" {
		t.Fatalf("topic history %+v", page)
	}
	if page, err := s.TopicHistory(ctx, "t1", store.HistoryFilter{Lang: "de"}); err != nil || page != nil {
		t.Errorf("another ranking's history: %+v, %v; want none", page, err)
	}

	ex, err := s.TermExamples(ctx, "totality", store.HistoryFilter{Lang: "en"})
	if err != nil {
		t.Fatal(err)
	}
	if len(ex) != 1 || ex[0].Text != "post about totality at 12:02" {
		t.Errorf("term examples %+v", ex)
	}
	ex, err = s.TermExamples(ctx, "totality", store.HistoryFilter{Lang: "en", Until: at(1)})
	if err != nil {
		t.Fatal(err)
	}
	if len(ex) != 1 || ex[0].Text != "post about totality at 12:01" {
		t.Errorf("term examples until %v: %+v", at(1), ex)
	}

	// A corrected window replaces its topics; retention takes them with the
	// window.
	write(t, s, withRevision(withTopic(snap("en", at(2), 2*time.Second, "moon"), "t2"), 1))
	if page, _ := s.TopicHistory(ctx, "t1", store.HistoryFilter{Lang: "en"}); page == nil || len(page.History) != 1 {
		t.Errorf("after the correction, t1's history %+v, want one window", page)
	}
	if _, err := s.Prune(ctx, at(3)); err != nil {
		t.Fatal(err)
	}
	var n int
	if err := s.Pool().QueryRow(ctx, `SELECT (SELECT count(*) FROM topics) + (SELECT count(*) FROM example_posts)`).Scan(&n); err != nil {
		t.Fatal(err)
	}
	if n != 0 {
		t.Errorf("%d topic and example rows left after pruning their windows", n)
	}
}
