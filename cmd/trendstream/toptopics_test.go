package main

import (
	"bytes"
	"context"
	"encoding/json"
	"flag"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"google.golang.org/protobuf/types/known/timestamppb"

	"github.com/trendstream/trendstream/internal/core/terms"
	"github.com/trendstream/trendstream/internal/core/topics"
	"github.com/trendstream/trendstream/internal/platform/envflag"
	"github.com/trendstream/trendstream/internal/readside/api"
	"github.com/trendstream/trendstream/internal/readside/store"
	"github.com/trendstream/trendstream/internal/testenv"
	tsv1 "github.com/trendstream/trendstream/proto/trendstream/v1"
)

// TestTopTopics: `top --topics` prints each window's topics with their
// members and an example post, from PostgreSQL and through the API, and
// -json gives the /api/topics shape.
func TestTopTopics(t *testing.T) {
	ctx := context.Background()
	dbURL := testenv.Postgres(t)
	st, err := store.Open(ctx, dbURL)
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	t0 := time.Date(2026, 3, 1, 14, 0, 0, 0, time.UTC)
	snap := replaySnap(t0, "eclipse", "totality", "aurora")
	key := topics.SampleKey{Lang: "en", End: t0.UnixMilli()}
	sampler := topics.NewSampler(100)
	word := func(w string) terms.Term { return terms.Term{Kind: tsv1.TermKind_TERM_KIND_WORD, Text: w, Lang: "en"} }
	for i, did := range []string{"did:plc:a", "did:plc:b", "did:plc:c"} {
		sampler.Add(key, topics.NewPost(&tsv1.Post{
			Uri: "at://" + did + "/app.bsky.feed.post/" + string(rune('x'+i)), AuthorDid: did,
			Text: "the eclipse\nreached totality", ObservedAt: timestamppb.New(t0.Add(time.Duration(i-60) * time.Second)),
		}, []terms.Term{word("eclipse"), word("totality")}))
	}
	if err := st.WriteSnapshots(ctx, []*tsv1.WindowSnapshot{topics.Enrich(snap, sampler.Samples(), topics.DefaultConfig())}); err != nil {
		t.Fatal(err)
	}
	hs := httptest.NewServer(api.New(st, api.Options{}).Handler())
	defer hs.Close()

	want := []string{
		"bluesky · all languages · window 2026-03-01 13:50–14:00 UTC (5m ago) · 400 posts · topics",
		"RANK TOPIC LANG MENTIONS TERMS EXAMPLE",
		`1 eclipse en 99 eclipse totality "the eclipse reached totality" https://bsky.app/profile/did:plc:a/post/x`,
		"2 aurora en 48 aurora",
	}
	for _, via := range []string{"database", "api"} {
		t.Run(via, func(t *testing.T) {
			run := func(args ...string) string {
				fs := flag.NewFlagSet("top", flag.ContinueOnError)
				fs.SetOutput(&bytes.Buffer{})
				var o topOptions
				setupTopWith(fs, &o)
				if err := envflag.Parse(fs, EnvPrefix, args); err != nil {
					t.Fatal(err)
				}
				if via == "database" {
					o.dbURL = dbURL
				} else {
					o.apiURL = hs.URL
				}
				var b bytes.Buffer
				if err := runTop(ctx, o, &b, t0.Add(5*time.Minute)); err != nil {
					t.Fatal(err)
				}
				return b.String()
			}
			var got []string
			for _, l := range strings.Split(strings.TrimSuffix(run("--topics"), "\n"), "\n") {
				got = append(got, strings.Join(strings.Fields(l), " "))
			}
			if strings.Join(got, "\n") != strings.Join(want, "\n") {
				t.Errorf("got\n%s\nwant\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
			}
			var resp api.TopicsResponse
			if err := json.Unmarshal([]byte(run("-topics", "-json")), &resp); err != nil {
				t.Fatal(err)
			}
			if len(resp.Windows) != 1 || len(resp.Windows[0].Topics) != 2 || len(resp.Windows[0].Topics[0].Examples) != 3 {
				t.Errorf("-json: %+v", resp)
			}
		})
	}
}
