package trend

import (
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/apache/beam/sdks/v2/go/pkg/beam"
	"github.com/apache/beam/sdks/v2/go/pkg/beam/core/graph/mtime"
	"github.com/apache/beam/sdks/v2/go/pkg/beam/register"
	"github.com/apache/beam/sdks/v2/go/pkg/beam/testing/ptest"
	"google.golang.org/protobuf/types/known/timestamppb"

	"github.com/trendstream/trendstream/internal/core/terms"
	"github.com/trendstream/trendstream/internal/core/trendscore"
	"github.com/trendstream/trendstream/internal/platform/beamrun"
	tsv1 "github.com/trendstream/trendstream/proto/trendstream/v1"
)

// TestMain runs the tests as our jobs run (internal/platform/beamrun, the trending
// program): without Prism's dynamic splitting. Prism v2.77 splits bundles
// of the stateful, timer-driven scorer, which it cannot do correctly
// (apache/beam#35771); once scoring a window took longer (the relative
// noise floor scores terms of two posts), late panes were lost in
// TestLatePostsCorrectWindows, and with it turned off they are not.
func TestMain(m *testing.M) {
	beamrun.DisableDynamicSplitting()
	ptest.Main(m)
}

func init() {
	register.DoFn2x0[[]byte, func(beam.EventTime, *tsv1.Post)](&emitPostsFn{})
	register.Emitter2[beam.EventTime, *tsv1.Post]()
	register.DoFn1x0[*tsv1.WindowSnapshot](&collectFn{})
}

// emitPostsFn emits fixed posts at their event times.
type emitPostsFn struct{ Posts []*tsv1.Post }

func (fn *emitPostsFn) ProcessElement(_ []byte, emit func(beam.EventTime, *tsv1.Post)) {
	for _, p := range fn.Posts {
		emit(mtime.FromTime(p.GetObservedAt().AsTime()), p)
	}
}

var (
	collectedMu sync.Mutex
	collected   = map[string][]*tsv1.WindowSnapshot{}
)

// collectFn records snapshots under its test's name; Prism runs DoFns in
// this process (loopback), so a package variable reaches them.
type collectFn struct{ Test string }

func (fn *collectFn) ProcessElement(s *tsv1.WindowSnapshot) {
	collectedMu.Lock()
	defer collectedMu.Unlock()
	collected[fn.Test] = append(collected[fn.Test], s)
}

func post(author, text string, at time.Time, tags ...string) *tsv1.Post {
	return &tsv1.Post{
		AuthorDid: author, Text: text, Langs: []string{"en"}, Hashtags: tags,
		ObservedAt: timestamppb.New(at), Operation: tsv1.Operation_OPERATION_CREATE,
	}
}

// TestTrends runs the whole composite on Prism and checks a burst by many
// authors trends with exact counts while one author's flood does not.
func TestTrends(t *testing.T) {
	t0 := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	var posts []*tsv1.Post
	// Minutes 0-4: quiet background, two authors a minute.
	for m := range 5 {
		posts = append(posts, post(fmt.Sprintf("did:bg%d", m), "quiet morning coffee", t0.Add(time.Duration(m)*time.Minute+time.Second)))
		posts = append(posts, post(fmt.Sprintf("did:bh%d", m), "reading a book", t0.Add(time.Duration(m)*time.Minute+2*time.Second)))
	}
	// Minute 3: twelve authors post the same hashtag; one author floods.
	for i := range 12 {
		posts = append(posts, post(fmt.Sprintf("did:a%02d", i), "#WorldCup!", t0.Add(3*time.Minute+time.Duration(i)*time.Second), "WorldCup"))
	}
	for i := range 30 {
		posts = append(posts, post("did:spam", "cheap sunglasses", t0.Add(3*time.Minute+time.Duration(i)*time.Second)))
	}
	posts = append(posts, &tsv1.Post{AuthorDid: "did:a00", ObservedAt: timestamppb.New(t0.Add(4 * time.Minute)), Operation: tsv1.Operation_OPERATION_DELETE})

	params := trendscore.DefaultParams()
	params.MinAuthors = 3
	params.NoiseFloor = 2 // a first sighting by x authors scores x/2 - 1
	params.WarmUp = 0
	cfg := Config{Size: 2 * time.Minute, Period: time.Minute, TopK: 3, Terms: terms.DefaultOptions(), Score: params, Source: tsv1.Source_SOURCE_BLUESKY}
	if err := cfg.Validate(); err != nil {
		t.Fatal(err)
	}

	got := map[string]*tsv1.WindowSnapshot{}
	for _, s := range runTrends(t, true, cfg, func(s beam.Scope) beam.PCollection {
		return beam.ParDo(s, &emitPostsFn{Posts: posts}, beam.Impulse(s))
	}).Snapshots {
		got[fmt.Sprintf("%s|%s", s.WindowEnd.AsTime().Format("15:04"), s.Lang)] = s
	}
	// Windows are [end-2m, end): every minute from 00:01 to 00:06 has posts.
	if len(got) != 12 {
		t.Errorf("got %d snapshots, want 12 (6 windows × overall and en)", len(got))
	}
	for key, wantPosts := range map[string]int64{"00:01|": 2, "00:04|": 46, "00:05|en": 46, "00:06|": 2} {
		if s := got[key]; s == nil || s.Posts != wantPosts {
			t.Errorf("%s: posts %v, want %d", key, s.GetPosts(), wantPosts)
		}
	}
	for _, key := range []string{"00:04|", "00:04|en", "00:05|", "00:05|en"} {
		s := got[key]
		if s == nil || len(s.Terms) == 0 {
			t.Fatalf("%s: nothing trending", key)
		}
		top := s.Terms[0]
		if top.Term != "worldcup" || top.Kind != tsv1.TermKind_TERM_KIND_HASHTAG || top.Count != 12 || top.UniqueAuthors != 12 || top.Rank != 1 {
			t.Errorf("%s: top %v, want hashtag worldcup 12/12 at rank 1", key, top)
		}
		if !top.FirstSeen.AsTime().Equal(t0.Add(2 * time.Minute)) {
			t.Errorf("%s: first seen %v, want the start of its first window", key, top.FirstSeen.AsTime())
		}
	}
	for key, s := range got {
		for _, term := range s.Terms {
			if term.Term == "sunglasses" || term.Term == "cheap sunglasses" || term.Term == "cheap" {
				t.Errorf("%s: one-author flood %q is ranked", key, term.Term)
			}
		}
		if key[:5] <= "00:03" && len(s.Terms) > 0 {
			t.Errorf("%s: %v trending before the burst", key, s.Terms)
		}
	}
}
