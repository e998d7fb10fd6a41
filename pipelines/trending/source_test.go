package trending

import (
	"flag"
	"fmt"
	"io"
	"strings"
	"testing"
	"time"

	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/timestamppb"

	"github.com/trendstream/trendstream/internal/testenv/replaytest"
	tsv1 "github.com/trendstream/trendstream/proto/trendstream/v1"
)

// TestPostsOfAnotherSourceAreSkipped: a second producer writes posts of
// another source into the posts topic — a burst that would lead every
// ranking if it were counted. The pipeline ranks only its own source:
// its rankings equal the reference's over the Bluesky posts alone.
func TestPostsOfAnotherSourceAreSkipped(t *testing.T) {
	own := replaytest.MustScenario(t, t0)
	var other []*tsv1.Post
	for i := range 60 {
		at := t0.Add(12*time.Minute + time.Duration(i)*2*time.Second)
		other = append(other, &tsv1.Post{
			Uri:       fmt.Sprintf("at://did:plc:other%02d/app.bsky.feed.post/x%d", i, i),
			AuthorDid: fmt.Sprintf("did:plc:other%02d", i),
			Text:      "#othersourceburst is everywhere",
			Langs:     []string{"en"},
			CreatedAt: timestamppb.New(at), ObservedAt: timestamppb.New(at),
			Operation: tsv1.Operation_OPERATION_CREATE,
			Source:    tsv1.Source(99), // a source this build does not know yet
		})
	}
	o := testOptions(nil, "")
	got := rankOnPrism(t, append(append([]*tsv1.Post{}, own...), other...), &o)
	compareSnapshots(t, got, expected(t, own, o))
	for k, s := range got {
		if s.GetSource() != tsv1.Source_SOURCE_BLUESKY {
			t.Errorf("%s: result of source %v", k, s.GetSource())
		}
		for _, term := range s.Terms {
			if strings.Contains(term.Term, "othersourceburst") {
				t.Errorf("%s: the other source's term %q ranked", k, term.Term)
			}
		}
	}
	// Sanity: counted as Bluesky posts, the burst would have ranked, so
	// the check above can fail.
	var relabelled []*tsv1.Post
	for _, p := range other {
		q := proto.Clone(p).(*tsv1.Post)
		q.Source = tsv1.Source_SOURCE_BLUESKY
		relabelled = append(relabelled, q)
	}
	ranked := false
	for _, s := range expected(t, append(append([]*tsv1.Post{}, own...), relabelled...), o) {
		for _, term := range s.Terms {
			ranked = ranked || term.Term == "othersourceburst"
		}
	}
	if !ranked {
		t.Error("the burst would not rank even as Bluesky posts: the test proves nothing")
	}
}

func TestPostSourceFlag(t *testing.T) {
	tests := []struct {
		arg  string
		want tsv1.Source
		ok   bool
	}{
		{"bluesky", tsv1.Source_SOURCE_BLUESKY, true},
		{"BLUESKY", tsv1.Source_SOURCE_BLUESKY, true},
		{"unspecified", 0, false},
		{"nasdaq", 0, false},
	}
	for _, tt := range tests {
		o := DefaultOptions()
		fs := flag.NewFlagSet("trending", flag.ContinueOnError)
		fs.SetOutput(io.Discard)
		o.RegisterFlags(fs)
		err := fs.Parse([]string{"-post-source", tt.arg})
		if (err == nil) != tt.ok || (tt.ok && o.Source != tt.want) {
			t.Errorf("-post-source %s: source %v, err %v; want %v, ok=%v", tt.arg, o.Source, err, tt.want, tt.ok)
		}
	}
}
