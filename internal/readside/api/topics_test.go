package api_test

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
	"time"

	"google.golang.org/protobuf/types/known/timestamppb"

	"github.com/trendstream/trendstream/internal/core/terms"
	"github.com/trendstream/trendstream/internal/core/topics"
	"github.com/trendstream/trendstream/internal/readside/api"
	"github.com/trendstream/trendstream/internal/readside/store"
	tsv1 "github.com/trendstream/trendstream/proto/trendstream/v1"
)

// withStory writes English windows in which rain and #storm are one topic
// (they share every post) and scriptTerm another, grouped from a sample by
// the code the pipeline runs.
func withStory(t *testing.T) *store.Store {
	t.Helper()
	st := openStore(t)
	var snaps []*tsv1.WindowSnapshot
	for _, end := range []time.Time{mins(1), mins(2)} {
		key := topics.SampleKey{Lang: "en", End: end.UnixMilli()}
		sampler := topics.NewSampler(100)
		add := func(i int, text string, ts ...terms.Term) {
			did := fmt.Sprintf("did:plc:author%d", i)
			p := &tsv1.Post{Uri: fmt.Sprintf("at://%s/app.bsky.feed.post/r%d", did, i), AuthorDid: did, Text: text,
				ObservedAt: timestamppb.New(end.Add(-time.Duration(10-i) * time.Second))}
			sampler.Add(key, topics.NewPost(p, ts))
		}
		rain, storm := terms.Term{Kind: tsv1.TermKind_TERM_KIND_WORD, Text: "rain"}, terms.Term{Kind: tsv1.TermKind_TERM_KIND_HASHTAG, Text: "storm"}
		for i := range 4 {
			add(i, fmt.Sprintf("rain and #storm at %s, %d", end.Format("15:04"), i), rain, storm)
		}
		add(9, imgTerm, terms.Term{Kind: tsv1.TermKind_TERM_KIND_WORD, Text: scriptTerm})
		s := snap("en", end, "rain", "hashtag:storm", scriptTerm)
		for _, t := range s.Terms {
			t.FirstSeen = timestamppb.New(mins(-30)) // one run of trending windows: the topic keeps its id
		}
		snaps = append(snaps, topics.Enrich(s, sampler.Samples(), topics.DefaultConfig()))
	}
	if err := st.WriteSnapshots(context.Background(), snaps); err != nil {
		t.Fatal(err)
	}
	return st
}

func TestTopicsAPI(t *testing.T) {
	hs := httptest.NewServer(api.New(withStory(t), api.Options{}).Handler())
	defer hs.Close()

	var tr api.TopicsResponse
	if code := getJSON(t, hs.URL, "/api/topics?lang=en", &tr); code != http.StatusOK || len(tr.Windows) != 1 {
		t.Fatalf("/api/topics: %d %+v", code, tr)
	}
	w := tr.Windows[0]
	var got []string
	for _, tp := range w.Topics {
		var ms []string
		for _, m := range tp.Members {
			ms = append(ms, m.Term)
		}
		got = append(got, fmt.Sprintf("%d:%s=%s", tp.Rank, tp.Label, strings.Join(ms, ",")))
	}
	if want := "1:rain=rain,storm 2:" + scriptTerm + "=" + scriptTerm; !w.End.Equal(mins(2)) || strings.Join(got, " ") != want {
		t.Errorf("topics of %v: %q, want %q", w.End, strings.Join(got, " "), want)
	}
	story := w.Topics[0]
	if len(story.Examples) != 3 || story.Examples[0].URL != "https://bsky.app/profile/did:plc:author0/post/r0" ||
		story.Examples[0].Text != "rain and #storm at 12:02, 0" {
		t.Errorf("examples %+v", story.Examples)
	}
	if ex := w.Topics[1].Examples; len(ex) != 1 || ex[0].Text != imgTerm {
		t.Errorf("the script topic's examples %+v: the text must come back as written", ex)
	}

	if code := getJSON(t, hs.URL, "/api/topics?lang=en&at="+url.QueryEscape(mins(1).Format(time.RFC3339)), &tr); code != http.StatusOK ||
		len(tr.Windows) != 1 || !tr.Windows[0].End.Equal(mins(1)) || len(tr.Windows[0].Topics) != 2 {
		t.Errorf("/api/topics at %v: %d %+v", mins(1), code, tr)
	}

	var page store.TopicPage
	if code := getJSON(t, hs.URL, "/api/topics/"+story.ID+"?lang=en", &page); code != http.StatusOK ||
		len(page.History) != 2 || page.History[1].Label != "rain" || len(page.Examples) != 3 {
		t.Errorf("/api/topics/%s: %d %+v", story.ID, code, page)
	}
	if code, _, _ := get(t, hs.URL, "/api/topics/"+story.ID+"?lang=de"); code != http.StatusNotFound {
		t.Errorf("a topic of another ranking: %d, want 404", code)
	}

	var ex api.ExamplesResponse
	if code := getJSON(t, hs.URL, "/api/terms/rain/examples?lang=en&until="+url.QueryEscape(mins(1).Format(time.RFC3339)), &ex); code != http.StatusOK ||
		len(ex.Examples) != 3 || ex.Examples[0].Text != "rain and #storm at 12:01, 0" {
		t.Errorf("/api/terms/rain/examples: %d %+v", code, ex)
	}
	if code := getJSON(t, hs.URL, "/api/terms/nothing/examples?lang=en", &ex); code != http.StatusOK || len(ex.Examples) != 0 {
		t.Errorf("examples of an unknown term: %d %+v", code, ex)
	}

	code, hdr, body := get(t, hs.URL, "/topic/"+story.ID)
	if code != http.StatusOK || hdr.Get("Content-Security-Policy") != api.ContentSecurityPolicy || !strings.Contains(string(body), "topic.js") {
		t.Errorf("/topic/{id}: %d, CSP %q", code, hdr.Get("Content-Security-Policy"))
	}
}
