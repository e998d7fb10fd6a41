package replaytest

import (
	"fmt"
	"sort"
	"strings"
	"testing"
	"time"

	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/timestamppb"

	"github.com/trendstream/trendstream/internal/core/trendscore"
	"github.com/trendstream/trendstream/internal/testenv/corpus"
	tsv1 "github.com/trendstream/trendstream/proto/trendstream/v1"
)

// Dense cycles the bundled corpus to n posts at rate posts per second of
// event time from t0: the benchmarks' replay (pipelines/trending on Prism,
// flink/portable on Flink). Each pass over the corpus gets its own authors
// (a suffix on the DID), so a repeated text counts as another author using
// the term, as a term in real use would, instead of one author repeating
// it.
//
// A cycled corpus is steady: once baselines have filled, nothing in it
// trends. So, every few minutes after the scorer's warm-up, one real
// post's text is also posted by DenseBurstAuthors new authors within a
// minute, the way a story spreads; about 0.2 % of the posts.
func Dense(tb testing.TB, n int, rate float64, t0 time.Time) []*tsv1.Post {
	tb.Helper()
	all := MustCorpus(tb)
	src := make([]*tsv1.Post, n)
	for i := range n {
		p := all[i%len(all)]
		if pass := i / len(all); pass > 0 {
			p = Reauthor(p, fmt.Sprint(pass))
		}
		src[i] = p
	}
	posts := corpus.Retime(src, t0, rate)

	var tagged []*tsv1.Post
	for _, p := range all {
		if len(p.GetHashtags()) > 0 {
			tagged = append(tagged, p)
		}
	}
	end := posts[len(posts)-1].GetObservedAt().AsTime()
	warm := trendscore.DefaultParams().WarmUp
	for k, at := 0, t0.Add(warm+time.Minute); at.Before(end) && len(tagged) > 0; k, at = k+1, at.Add(DenseBurstEvery) {
		text := tagged[(k*7919)%len(tagged)]
		for i := range DenseBurstAuthors {
			c := Reauthor(text, fmt.Sprintf("burst%d.%d", k, i))
			c.ObservedAt = timestamppb.New(at.Add(time.Duration(i) * time.Minute / DenseBurstAuthors))
			posts = append(posts, c)
		}
	}
	sort.SliceStable(posts, func(i, j int) bool {
		return posts[i].GetObservedAt().AsTime().Before(posts[j].GetObservedAt().AsTime())
	})
	return posts
}

// Dense's planted stories.
const (
	DenseBurstAuthors = 40
	DenseBurstEvery   = 4 * time.Minute
)

// Reauthor returns a copy of p posted by a different author, tag.
func Reauthor(p *tsv1.Post, tag string) *tsv1.Post {
	c := proto.Clone(p).(*tsv1.Post)
	c.AuthorDid = p.GetAuthorDid() + "-" + tag
	c.Uri = strings.Replace(p.GetUri(), p.GetAuthorDid(), c.AuthorDid, 1)
	return c
}

// Restamp returns a copy of p observed at at, its creation time moved by
// as much: a recorded post replayed onto the wall clock. A delete loses the
// post it carried, whose time Restamp cannot know: run the restamped
// stream through a recentposts.Cache, as the ingest would, to carry it
// again.
func Restamp(p *tsv1.Post, at time.Time) *tsv1.Post {
	c := proto.Clone(p).(*tsv1.Post)
	shift := func(ts *timestamppb.Timestamp) *timestamppb.Timestamp {
		if ts == nil {
			return nil
		}
		return timestamppb.New(at.Add(ts.AsTime().Sub(p.GetObservedAt().AsTime())))
	}
	c.ObservedAt, c.CreatedAt = shift(p.ObservedAt), shift(p.CreatedAt)
	c.Deleted = nil
	return c
}
