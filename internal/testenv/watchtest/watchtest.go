// Package watchtest builds the watchlist replays that the watchlist tests
// share (the pure reference's, the pipeline's on Prism, the command's):
// real Bluesky posts from internal/testenv/corpus as background, a real-world
// watchlist of political entries, and injected surges of posts that
// mention an entry. It is test support: production code does not import
// it.
package watchtest

import (
	"fmt"
	"slices"
	"testing"
	"time"

	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/timestamppb"

	"github.com/trendstream/trendstream/internal/core/watchlist"
	"github.com/trendstream/trendstream/internal/testenv/corpus"
	tsv1 "github.com/trendstream/trendstream/proto/trendstream/v1"
)

// Entries is the test watchlist: entries the real posts mention (Trump,
// Biden, Gaza, democracy, climate) and entries only the injected surges
// mention much.
func Entries() []watchlist.Entry {
	return []watchlist.Entry{
		{ID: "trump", Watchlist: "us-politics", Kind: watchlist.KindEntity, Text: "Trump", Aliases: []string{"Donald Trump", "#Trump"}},
		{ID: "biden", Watchlist: "us-politics", Kind: watchlist.KindEntity, Text: "Biden", Aliases: []string{"Joe Biden"}},
		{ID: "gaza", Watchlist: "world", Kind: watchlist.KindKeyword, Text: "Gaza"},
		{ID: "democracy", Watchlist: "us-politics", Kind: watchlist.KindKeyword, Text: "democracy", Langs: []string{"en"}},
		{ID: "climate", Watchlist: "world", Kind: watchlist.KindKeyword, Text: "climate"},
		{ID: "election2026", Watchlist: "us-politics", Kind: watchlist.KindHashtag, Text: "#Election2026"},
		{ID: "warren", Watchlist: "us-politics", Kind: watchlist.KindEntity, Text: "Elizabeth Warren", Aliases: []string{"Senator Warren"}},
		{ID: "border-wall", Watchlist: "us-politics", Kind: watchlist.KindPhrase, Text: "border wall"},
		{ID: "filibuster", Watchlist: "us-politics", Kind: watchlist.KindKeyword, Text: "filibuster", Enter: 3, Exit: 1},
	}
}

// Surge is an injected burst: Authors distinct accounts each post one real
// post with Mention appended, spread evenly over Spread from At.
type Surge struct {
	EntryID  string
	Mention  string
	Hashtags []string
	At       time.Duration // after t0
	Spread   time.Duration
	Authors  int
}

// Surges are the bursts Scenario injects, in time order; each is a
// separate crossing of its entry's rule.
func Surges() []Surge {
	return []Surge{
		{EntryID: "election2026", Mention: "#Election2026", Hashtags: []string{"Election2026"}, At: 30 * time.Minute, Spread: 2 * time.Minute, Authors: 20},
		{EntryID: "warren", Mention: "Senator Warren just said it", At: 42 * time.Minute, Spread: 3 * time.Minute, Authors: 18},
		{EntryID: "border-wall", Mention: "the border wall again", At: 55 * time.Minute, Spread: 2 * time.Minute, Authors: 16},
		{EntryID: "filibuster", Mention: "end the filibuster", At: 68 * time.Minute, Spread: 2 * time.Minute, Authors: 12},
		{EntryID: "election2026", Mention: "#Election2026", Hashtags: []string{"Election2026"}, At: 80 * time.Minute, Spread: 2 * time.Minute, Authors: 40},
	}
}

// BackgroundFrom is the first corpus post of the background. The corpus
// holds real surges too: from post 0 or 1000, an hour and a half of it has
// a real burst of Trump posts (late May 2024) that the watchlist rightly
// alerts on; from 1500 none of the entries surges, so every alert of the
// scenario is an injected one.
const BackgroundFrom = 1500

// Duration is how long the scenario's stream lasts.
const Duration = 100 * time.Minute

// Background returns the real posts of the scenario, re-timed one per
// second from t0 over Duration, without surges.
func Background(t0 time.Time) ([]*tsv1.Post, error) {
	all, err := corpus.Posts()
	if err != nil {
		return nil, err
	}
	n := int(Duration / time.Second)
	if len(all) < BackgroundFrom+n+1000 {
		return nil, fmt.Errorf("watchtest: corpus has %d posts, want %d", len(all), BackgroundFrom+n+1000)
	}
	return corpus.Retime(all[BackgroundFrom:BackgroundFrom+n], t0, 1), nil
}

// Scenario returns the background with the surges injected, in event-time
// order. The surge posts' texts are real posts from the corpus past those
// the background uses, each with the surge's mention appended, by
// distinct synthetic authors.
func Scenario(t0 time.Time) ([]*tsv1.Post, error) {
	posts, err := Background(t0)
	if err != nil {
		return nil, err
	}
	all, _ := corpus.Posts()
	texts := all[BackgroundFrom+len(posts):]
	k := 0
	for si, s := range Surges() {
		step := s.Spread / time.Duration(s.Authors)
		for i := range s.Authors {
			src := texts[k%len(texts)]
			k++
			p := proto.Clone(src).(*tsv1.Post)
			p.AuthorDid = fmt.Sprintf("did:plc:surge%02d-%03d", si, i)
			p.Uri = fmt.Sprintf("at://%s/app.bsky.feed.post/s%d", p.AuthorDid, i)
			p.Rkey = fmt.Sprintf("s%d", i)
			p.Text = src.GetText() + "\n\n" + s.Mention
			p.Hashtags = append(slices.Clone(src.GetHashtags()), s.Hashtags...)
			p.Langs = []string{"en"}
			p.ObservedAt = timestamppb.New(t0.Add(s.At + time.Duration(i)*step))
			posts = append(posts, p)
		}
	}
	slices.SortStableFunc(posts, func(a, b *tsv1.Post) int {
		return a.GetObservedAt().AsTime().Compare(b.GetObservedAt().AsTime())
	})
	return posts, nil
}

// CheckSurgeAlerts fails t unless every injected surge alerted exactly
// once, for its entry, in a window that ends during the surge (or the
// period after it), and nothing else alerted: the must-show of issue #13
// on real posts.
func CheckSurgeAlerts(t testing.TB, t0 time.Time, period time.Duration, alerts []watchlist.Alert) {
	t.Helper()
	used := make([]bool, len(alerts))
	for _, s := range Surges() {
		var hits []watchlist.Alert
		for i, a := range alerts {
			end := time.UnixMilli(a.WindowEnd)
			if a.EntryID == s.EntryID && end.After(t0.Add(s.At)) && !end.After(t0.Add(s.At+s.Spread+period)) {
				hits = append(hits, a)
				used[i] = true
			}
		}
		if len(hits) != 1 {
			t.Errorf("surge of %s at +%v: %d alerts, want 1: %+v", s.EntryID, s.At, len(hits), hits)
		}
	}
	for i, a := range alerts {
		if !used[i] {
			t.Errorf("alert without a surge: %+v", a)
		}
	}
}
