package topics

import (
	"cmp"
	"fmt"
	"hash/fnv"
	"slices"
	"strings"

	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/timestamppb"

	tsv1 "github.com/trendstream/trendstream/proto/trendstream/v1"
)

// Part groups the ranked terms of one term language (all of ranked must
// have that lang) using the window's sampled posts of that language. It
// returns a snapshot that carries only the result: the terms, with their
// examples, and the topics (ranked by their best member, Rank unset). The
// overall ranking holds terms of several languages; posts have one, so
// terms of different languages never share a post and each language is
// grouped on its own (Assemble joins the parts).
func Part(lang string, ranked []*tsv1.TrendingTerm, posts []Post, c Config) *tsv1.WindowSnapshot {
	out := &tsv1.WindowSnapshot{Lang: lang}
	// in[i] lists the sampled posts that hold ranked[i].
	in := make([][]int, len(ranked))
	for i, t := range ranked {
		key := Term{Kind: t.GetKind(), Text: t.GetTerm()}
		for j, p := range posts {
			if p.Has(key) {
				in[i] = append(in[i], j)
			}
		}
		out.Terms = append(out.Terms, &tsv1.TrendingTerm{
			Term: t.GetTerm(), Kind: t.GetKind(), Lang: t.GetLang(),
			Examples: examples(posts, in[i], nil, c.Examples),
		})
	}
	parent := make([]int, len(ranked))
	for i := range parent {
		parent[i] = i
	}
	find := func(i int) int {
		for parent[i] != i {
			parent[i] = parent[parent[i]]
			i = parent[i]
		}
		return i
	}
	for i := range ranked {
		for j := i + 1; j < len(ranked); j++ {
			if linked(in[i], in[j], c) {
				// The root is the better-ranked side's, so a group's
				// root is its first member in rank order.
				ri, rj := find(i), find(j)
				if ri != rj {
					parent[max(ri, rj)] = min(ri, rj)
				}
			}
		}
	}
	groups := map[int][]int{}
	var roots []int
	for i := range ranked {
		r := find(i)
		if groups[r] == nil {
			roots = append(roots, r)
		}
		groups[r] = append(groups[r], i)
	}
	for _, r := range roots {
		out.Topics = append(out.Topics, topic(lang, ranked, groups[r], in, posts, c))
	}
	return out
}

// linked says whether two terms' sampled posts (sorted indices) overlap
// enough to be one story.
func linked(a, b []int, c Config) bool {
	shared := 0
	for i, j := 0, 0; i < len(a) && j < len(b); {
		switch {
		case a[i] < b[j]:
			i++
		case a[i] > b[j]:
			j++
		default:
			shared++
			i, j = i+1, j+1
		}
	}
	return shared >= c.MinShared && float64(shared) >= c.MinOverlap*float64(min(len(a), len(b)))
}

func topic(lang string, ranked []*tsv1.TrendingTerm, members []int, in [][]int, posts []Post, c Config) *tsv1.Topic {
	tp := &tsv1.Topic{Lang: lang}
	// The label is the best-ranked member: the one most surprising against
	// its own baseline, so the story's own term rather than a common word
	// that joined it (a count would pick "tonight" over "#aurora").
	label, anchor := ranked[members[0]], ranked[members[0]]
	hits := map[int]int{} // sampled post → members it holds
	for _, m := range members {
		t := ranked[m]
		tp.Members = append(tp.Members, &tsv1.TopicMember{
			Term: t.GetTerm(), Kind: t.GetKind(), Count: t.GetCount(), UniqueAuthors: t.GetUniqueAuthors(),
			Score: t.GetScore(), Rank: t.GetRank(),
		})
		tp.Mentions += t.GetCount()
		tp.UniqueAuthors = max(tp.UniqueAuthors, t.GetUniqueAuthors())
		tp.Score = max(tp.Score, t.GetScore())
		if older(t, anchor) {
			anchor = t
		}
		for _, j := range in[m] {
			hits[j]++
		}
	}
	tp.Label, tp.LabelKind = label.GetTerm(), label.GetKind()
	tp.FirstSeen = anchor.GetFirstSeen()
	tp.Id = ID(lang, anchor)
	cands := make([]int, 0, len(hits))
	for j := range hits {
		cands = append(cands, j)
	}
	slices.Sort(cands)
	tp.Examples = examples(posts, cands, hits, c.Examples)
	return tp
}

// older says whether t has been trending longer than u (ties: kind, term).
func older(t, u *tsv1.TrendingTerm) bool {
	tf, uf := t.GetFirstSeen().AsTime(), u.GetFirstSeen().AsTime()
	if !tf.Equal(uf) {
		return tf.Before(uf)
	}
	return cmp.Or(cmp.Compare(t.GetKind(), u.GetKind()), strings.Compare(t.GetTerm(), u.GetTerm())) < 0
}

// ID is a topic's id: a hash of the language, kind, text and first_seen of
// the member that has been trending longest. first_seen is the start of
// the term's current run of trending windows, so the id holds while that
// term keeps trending, whichever other terms join or leave the topic.
func ID(lang string, anchor *tsv1.TrendingTerm) string {
	h := fnv.New64a()
	fmt.Fprintf(h, "%s\x00%d\x00%s\x00%d", lang, anchor.GetKind(), anchor.GetTerm(), anchor.GetFirstSeen().AsTime().UnixMilli())
	return fmt.Sprintf("%016x", h.Sum64())
}

// examples picks up to n of posts[cands]: posts holding more members
// first (hits; nil for a single term), then one per author, earliest first
// (then by hash), then the remaining posts in the same order.
func examples(posts []Post, cands []int, hits map[int]int, n int) []*tsv1.ExamplePost {
	order := slices.Clone(cands)
	slices.SortFunc(order, func(a, b int) int {
		return cmp.Or(cmp.Compare(hits[b], hits[a]), cmp.Compare(posts[a].At, posts[b].At), posts[a].compare(posts[b]))
	})
	var picked []int
	seen := map[string]bool{}
	for _, j := range order {
		if len(picked) < n && !seen[posts[j].Author] {
			seen[posts[j].Author] = true
			picked = append(picked, j)
		}
	}
	for _, j := range order {
		if len(picked) < n && !slices.Contains(picked, j) {
			picked = append(picked, j)
		}
	}
	out := make([]*tsv1.ExamplePost, len(picked))
	for i, j := range picked {
		p := posts[j]
		out[i] = &tsv1.ExamplePost{Uri: p.URI, AuthorDid: p.Author, Text: p.Text, ObservedAt: timestamppb.New(timeMs(p.At))}
	}
	return out
}

// Langs returns the distinct term languages of snap's terms, sorted: the
// parts Assemble needs.
func Langs(snap *tsv1.WindowSnapshot) []string {
	var out []string
	for _, t := range snap.GetTerms() {
		out = append(out, t.GetLang())
	}
	slices.Sort(out)
	return slices.Compact(out)
}

// Only returns a copy of snap's window with only the terms of lang: the
// request for that language's Part.
func Only(snap *tsv1.WindowSnapshot, lang string) *tsv1.WindowSnapshot {
	out := &tsv1.WindowSnapshot{
		Source: snap.GetSource(), Lang: snap.GetLang(), WindowStart: snap.GetWindowStart(),
		WindowEnd: snap.GetWindowEnd(), Revision: snap.GetRevision(),
	}
	for _, t := range snap.GetTerms() {
		if t.GetLang() == lang {
			out.Terms = append(out.Terms, t)
		}
	}
	return out
}

// Assemble returns a copy of snap with the parts' examples on its terms
// and their topics, ranked by their best member's rank.
func Assemble(snap *tsv1.WindowSnapshot, parts []*tsv1.WindowSnapshot) *tsv1.WindowSnapshot {
	out := proto.Clone(snap).(*tsv1.WindowSnapshot)
	type key struct {
		lang, term string
		kind       tsv1.TermKind
	}
	ex := map[key][]*tsv1.ExamplePost{}
	for _, p := range parts {
		for _, t := range p.GetTerms() {
			ex[key{t.GetLang(), t.GetTerm(), t.GetKind()}] = t.GetExamples()
		}
		out.Topics = append(out.Topics, p.GetTopics()...)
	}
	for _, t := range out.Terms {
		t.Examples = ex[key{t.GetLang(), t.GetTerm(), t.GetKind()}]
	}
	slices.SortStableFunc(out.Topics, func(a, b *tsv1.Topic) int {
		return cmp.Compare(a.GetMembers()[0].GetRank(), b.GetMembers()[0].GetRank())
	})
	for i, tp := range out.Topics {
		tp.Rank = int32(i + 1)
	}
	return out
}

// Enrich is the single-process path: it groups every language of snap with
// the window's sampled posts (samples of any languages and periods; those
// outside the window are ignored) and assembles the result.
func Enrich(snap *tsv1.WindowSnapshot, samples []Sample, c Config) *tsv1.WindowSnapshot {
	end := snap.GetWindowEnd().AsTime().UnixMilli()
	size := end - snap.GetWindowStart().AsTime().UnixMilli()
	var parts []*tsv1.WindowSnapshot
	for _, lang := range Langs(snap) {
		var mine []Sample
		for _, s := range samples {
			if s.Lang == lang {
				mine = append(mine, s)
			}
		}
		parts = append(parts, Part(lang, Only(snap, lang).GetTerms(), WindowPosts(mine, end, size), c))
	}
	return Assemble(snap, parts)
}
