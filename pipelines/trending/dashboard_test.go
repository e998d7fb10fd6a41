package trending

import (
	"context"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"slices"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
	"google.golang.org/protobuf/types/known/timestamppb"

	"github.com/trendstream/trendstream/internal/api"
	"github.com/trendstream/trendstream/internal/api/dashtest"
	"github.com/trendstream/trendstream/internal/corpus"
	"github.com/trendstream/trendstream/internal/replaytest"
	"github.com/trendstream/trendstream/internal/store"
	"github.com/trendstream/trendstream/internal/testenv"
	tsv1 "github.com/trendstream/trendstream/proto/trendstream/v1"
	"github.com/trendstream/trendstream/transforms/kafkaio"
)

// Hostile hashtags: Bluesky tags are free text, so markup can arrive as a
// term through the real pipeline.
const (
	scriptTag = "<script>window.pwned=1</script>"
	imgTag    = "<img src=x onerror=window.pwned=1>"
)

func burst(tag string, authors int, at time.Time) []*tsv1.Post {
	var out []*tsv1.Post
	for i := range authors {
		did := fmt.Sprintf("did:plc:%x%02d", len(tag)*7919+int(tag[0]), i)
		out = append(out, &tsv1.Post{
			Uri: fmt.Sprintf("at://%s/app.bsky.feed.post/%d", did, i), AuthorDid: did,
			Text: "#" + tag, Hashtags: []string{tag}, Langs: []string{"en"},
			ObservedAt: timestamppb.New(at.Add(time.Duration(i) * time.Second)),
			Source:     tsv1.Source_SOURCE_BLUESKY, Operation: tsv1.Operation_OPERATION_CREATE,
		})
	}
	return out
}

// TestDashboardFedByPipeline runs the real pipeline on Prism, serves its
// read model and results topic, and checks in headless Chromium that the
// dashboard shows the pipeline's trends, that a second pipeline run's
// rankings arrive without a reload, and that hostile terms stay text.
func TestDashboardFedByPipeline(t *testing.T) {
	const postsTopic, trendsTopic = "trendstream.posts", "trendstream.trends"
	kc := testenv.Kafka(t, 2, postsTopic, trendsTopic)
	db := testenv.Postgres(t)
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()

	all, err := corpus.Posts()
	if err != nil {
		t.Fatal(err)
	}
	// Phase 1: 12 minutes of real posts, then three bursts in minute 12.
	phase1 := corpus.Retime(all[:360], t0, 0.5)
	phase1 = append(phase1, burst("SolarEclipse", 30, t0.Add(12*time.Minute))...)
	phase1 = append(phase1, burst(scriptTag, 20, t0.Add(12*time.Minute))...)
	phase1 = append(phase1, burst(imgTag, 20, t0.Add(12*time.Minute))...)
	replaytest.MustProduce(t, kc.Addrs(), postsTopic, phase1)

	o := testOptions(kc.Addrs(), db)
	o.Start = kafkaio.Start{Kind: kafkaio.StartCommitted}
	o.Score.Exit = 0.5 // keep the bursts listed while their windows slide on
	run(t, o)

	st, err := store.Open(ctx, db)
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	srv := api.New(st, api.Options{})
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	go func() { _ = srv.Serve(ctx, ln) }()
	ready := make(chan struct{})
	go func() { _ = api.ConsumeTrends(ctx, kc.Addrs(), trendsTopic, srv, api.OnReady(func() { close(ready) })) }()
	select {
	case <-ready:
	case <-ctx.Done():
		t.Fatal("trends feed never became ready")
	}

	// What the read model says is current is what the page must show.
	current, err := st.CurrentTrends(ctx, store.Filter{Limit: 20})
	if err != nil || len(current) == 0 {
		t.Fatalf("no current ranking after the pipeline ran (%v)", err)
	}
	var want []string
	for _, term := range current[0].Terms {
		if term.Kind == "hashtag" {
			want = append(want, "#"+term.Term)
		} else {
			want = append(want, term.Term)
		}
	}
	for _, tag := range []string{"#solareclipse", "#" + scriptTag, "#" + imgTag} {
		if !slices.Contains(want, tag) {
			t.Fatalf("the pipeline's current ranking %q lacks %q", want, tag)
		}
	}

	bctx := dashtest.Browser(t, ctx)
	if err := chromedp.Do(bctx, chromedp.Navigate("http://"+ln.Addr().String()+"/")); err != nil {
		t.Fatalf("load dashboard: %v", err)
	}
	if err := dashtest.WaitTerm(bctx, "", "solareclipse"); err != nil {
		t.Fatalf("dashboard never showed the pipeline's top term: %v", err)
	}
	shown, err := dashtest.Terms(bctx, "")
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(shown, want) {
		t.Errorf("dashboard shows %q, want the read model's %q", shown, want)
	}
	if inert, err := dashtest.Inert(bctx); err != nil || inert != (dashtest.Inertness{}) {
		t.Errorf("hostile terms were interpreted as markup: %+v (%v)", inert, err)
	}
	// The screenshot in the README: the first run's ranking, hostile
	// hashtags shown as text.
	if os.Getenv("UPDATE_SCREENSHOT") == "1" {
		png, err := chromedp.Run(bctx, chromedp.FullScreenshot(100))
		if err != nil {
			t.Fatal(err)
		}
		out := filepath.Join("..", "..", "docs", "dashboard.png")
		if err := os.WriteFile(out, png, 0o644); err != nil {
			t.Fatal(err)
		}
		t.Logf("wrote %s", out)
	}
	if _, err := chromedp.Run(bctx, chromedp.Evaluate[int](`window.__noReload = 42`)); err != nil {
		t.Fatal(err)
	}

	// Phase 2: more posts and a new burst; a second pipeline run resumes
	// from the committed offsets and its rankings are pushed live.
	phase2 := corpus.Retime(all[360:420], t0.Add(14*time.Minute), 0.5)
	phase2 = append(phase2, burst("Aurora", 25, t0.Add(15*time.Minute))...)
	replaytest.MustProduce(t, kc.Addrs(), postsTopic, phase2)
	run(t, o)
	if err := dashtest.WaitTerm(bctx, "", "aurora"); err != nil {
		t.Fatalf("the second run's ranking never reached the open page: %v", err)
	}
	if marker, err := chromedp.Run(bctx, chromedp.Evaluate[*int](`window.__noReload`)); err != nil || marker == nil || *marker != 42 {
		t.Errorf("the page reloaded to show the update (err %v)", err)
	}
	if inert, err := dashtest.Inert(bctx); err != nil || inert.Pwned {
		t.Errorf("window.pwned set after the update: %+v (%v)", inert, err)
	}
}
