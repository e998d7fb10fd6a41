package trending

import (
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"google.golang.org/protobuf/types/known/timestamppb"

	"github.com/trendstream/trendstream/internal/core/recentposts"
	"github.com/trendstream/trendstream/internal/testenv"
	"github.com/trendstream/trendstream/internal/testenv/replaytest"
	tsv1 "github.com/trendstream/trendstream/proto/trendstream/v1"
)

// storyPosts plants two stories told with several terms each at minutes
// 12-13 of the test replay: a lunar eclipse (two hashtags and words) and a
// football final, by distinct authors, in English.
func storyPosts() []*tsv1.Post {
	var out []*tsv1.Post
	add := func(kind string, i int, text string, tags ...string) {
		did := fmt.Sprintf("did:plc:%s%02d", kind, i)
		out = append(out, &tsv1.Post{
			Uri: fmt.Sprintf("at://%s/app.bsky.feed.post/%s%d", did, kind, i), AuthorDid: did,
			Text: text, Hashtags: tags, Langs: []string{"en"},
			ObservedAt: timestamppb.New(t0.Add(12*time.Minute + time.Duration(i*4)*time.Second)),
			Source:     tsv1.Source_SOURCE_BLUESKY, Operation: tsv1.Operation_OPERATION_CREATE,
		})
	}
	for i := range 12 {
		add("moon", i, fmt.Sprintf("#LunarEclipse #BloodMoon totality, photo %d", i), "LunarEclipse", "BloodMoon")
	}
	for i := range 10 {
		add("cup", i, fmt.Sprintf("#WorldCup penalty shootout, what a final %d", i), "WorldCup")
	}
	return out
}

// TestTopicsMatchReference runs the pipeline on Prism over a replay with
// two multi-term stories and checks that every snapshot's topics and
// example posts, in the results topic and in PostgreSQL, are exactly the
// single-process reference's, and that the stories come out as two topics.
//
// Two more of the example posts (the scenario deletes one) are then
// deleted by their authors, one 20 s
// after it was made (before its windows are written) and one after the
// replay's last post: with retraction off (TestDeletesRetractOnPrism tests
// it) the rankings and the results topic are unchanged, but PostgreSQL
// must hold every example of the reference except those two posts
// (pgsink.WriteDeletes), which it does with retraction on or off.
func TestTopicsMatchReference(t *testing.T) {
	db := testenv.Postgres(t)
	posts := append(replaytest.MustScenario(t, t0), storyPosts()...)
	replaytest.SortByEventTime(posts)
	o := testOptions(nil, db)
	o.TopK = 10
	o.RetractDeletes = false // the deletes below must not change the rankings
	want := expected(t, posts, o)
	deletes, deletedURIs := deleteExamples(t, posts, want)
	posts = append(posts, deletes...)
	replaytest.SortByEventTime(posts)
	recentposts.Attach(posts)
	got := rankOnPrism(t, posts, &o)
	compareSnapshots(t, got, want)

	// In the window ending at minute 14 the eclipse's terms form one topic
	// and the final's another, each with examples.
	s := got[fmt.Sprintf("1|en|%d", t0.Add(14*time.Minute).UnixMilli())]
	if s == nil {
		t.Fatal("no English ranking for the window ending at minute 14")
	}
	topicOf := map[string]*tsv1.Topic{}
	for _, tp := range s.GetTopics() {
		for _, m := range tp.GetMembers() {
			topicOf[m.GetTerm()] = tp
		}
	}
	moon, cup := topicOf["lunareclipse"], topicOf["worldcup"]
	switch {
	case moon == nil || cup == nil:
		t.Fatalf("topics %v: want lunareclipse and worldcup", s.GetTopics())
	case moon == cup:
		t.Errorf("the two stories are one topic: %v", moon)
	case topicOf["bloodmoon"] != moon || topicOf["penalty"] != cup:
		t.Errorf("topics %v: bloodmoon should join lunareclipse, penalty worldcup", s.GetTopics())
	case len(moon.GetExamples()) != 3 || len(cup.GetExamples()) != 3:
		t.Errorf("examples: %d and %d, want 3 each", len(moon.GetExamples()), len(cup.GetExamples()))
	}
	// The id holds while the story lasts.
	next := got[fmt.Sprintf("1|en|%d", t0.Add(15*time.Minute).UnixMilli())]
	for _, tp := range next.GetTopics() {
		if slices.ContainsFunc(tp.GetMembers(), func(m *tsv1.TopicMember) bool { return m.GetTerm() == "lunareclipse" }) && tp.GetId() != moon.GetId() {
			t.Errorf("the eclipse's topic id changed from %s to %s", moon.GetId(), tp.GetId())
		}
	}

	rows := dumpTopics(t, db)
	t.Logf("%d topic and example rows; window ending at minute 14: %v", len(rows), s.GetTopics())
	if len(rows) == 0 {
		t.Fatal("no topics in PostgreSQL")
	}
	wantRows := slices.DeleteFunc(topicRowsOf(want), func(r string) bool {
		return slices.ContainsFunc(deletedURIs, func(uri string) bool { return strings.Contains(r, "|"+uri+"|") })
	})
	if len(wantRows) == len(topicRowsOf(want)) {
		t.Fatal("the deleted posts are no examples of the reference: the deletes test nothing")
	}
	if d := diffRows(rows, wantRows); d != "" {
		t.Errorf("PostgreSQL topics differ from the reference without the deleted posts:\n%s", d)
	}
	var tombstones int
	for _, vals := range testenv.Rows(t, db, `SELECT count(*) FROM deleted_posts`) {
		tombstones = int(vals[0].(int64))
	}
	if tombstones != len(deletedURIs) {
		t.Errorf("%d tombstones in PostgreSQL, want %d", tombstones, len(deletedURIs))
	}
}

// deleteExamples returns deletes of two example posts of want's window
// ending at minute 14 that posts does not delete already, by their authors:
// one 20 s after the post, one a minute after the last of posts. It also
// returns the URIs of every post deleted, these and those of posts.
func deleteExamples(t *testing.T, posts []*tsv1.Post, want map[string]*tsv1.WindowSnapshot) ([]*tsv1.Post, []string) {
	t.Helper()
	var uris []string
	for _, p := range posts {
		if p.GetOperation() == tsv1.Operation_OPERATION_DELETE {
			uris = append(uris, p.GetUri())
		}
	}
	s := want[fmt.Sprintf("1|en|%d", t0.Add(14*time.Minute).UnixMilli())]
	var ex []*tsv1.ExamplePost
	for _, tt := range s.GetTerms() {
		for _, e := range tt.GetExamples() {
			if !slices.Contains(uris, e.GetUri()) {
				ex = append(ex, e)
			}
		}
	}
	if len(ex) < 2 {
		t.Fatalf("the reference's window ending at minute 14 has %d examples not deleted, want 2 or more", len(ex))
	}
	last := posts[len(posts)-1].GetObservedAt().AsTime()
	first, second := ex[0], ex[len(ex)-1]
	del := func(e *tsv1.ExamplePost, at time.Time) *tsv1.Post {
		return &tsv1.Post{Uri: e.GetUri(), AuthorDid: e.GetAuthorDid(), Operation: tsv1.Operation_OPERATION_DELETE,
			ObservedAt: timestamppb.New(at), Source: tsv1.Source_SOURCE_BLUESKY}
	}
	return []*tsv1.Post{
		del(first, first.GetObservedAt().AsTime().Add(20*time.Second)),
		del(second, last.Add(time.Minute)),
	}, append(uris, first.GetUri(), second.GetUri())
}

// dumpTopics lists the read model's topics and examples as strings.
func dumpTopics(t *testing.T, url string) []string {
	t.Helper()
	var out []string
	for _, vals := range testenv.Rows(t, url,
		`SELECT format('p|%s|%s|%s|%s|%s|%s|%s', lang, window_end, id, rank, label, mentions,
		       (SELECT string_agg(m->>'term', ',' ORDER BY (m->>'rank')::int) FROM jsonb_array_elements(members) m))
		   FROM topics`,
		`SELECT format('e|%s|%s|%s|%s|%s|%s|%s', lang, window_end, subject, key, ord, uri, text) FROM example_posts`) {
		out = append(out, vals[0].(string))
	}
	return out
}

func topicRowsOf(snaps map[string]*tsv1.WindowSnapshot) []string {
	var out []string
	pgt := func(ts *timestamppb.Timestamp) string {
		return ts.AsTime().UTC().Format("2006-01-02 15:04:05+00")
	}
	for _, s := range snaps {
		end := pgt(s.GetWindowEnd())
		for _, tp := range s.GetTopics() {
			var ms []string
			for _, m := range tp.GetMembers() {
				ms = append(ms, m.GetTerm())
			}
			out = append(out, fmt.Sprintf("p|%s|%s|%s|%d|%s|%d|%s", s.GetLang(), end, tp.GetId(), tp.GetRank(), tp.GetLabel(), tp.GetMentions(), strings.Join(ms, ",")))
			for i, e := range tp.GetExamples() {
				out = append(out, fmt.Sprintf("e|%s|%s|topic|%s|%d|%s|%s", s.GetLang(), end, tp.GetId(), i, e.GetUri(), e.GetText()))
			}
		}
		for _, tt := range s.GetTerms() {
			for i, e := range tt.GetExamples() {
				out = append(out, fmt.Sprintf("e|%s|%s|term|%s|%d|%s|%s", s.GetLang(), end, tt.GetTerm(), i, e.GetUri(), e.GetText()))
			}
		}
	}
	return out
}
