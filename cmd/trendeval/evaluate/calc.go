package evaluate

import (
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/trendstream/trendstream/internal/core/topics"
	"github.com/trendstream/trendstream/internal/core/trendcalc"
	tsv1 "github.com/trendstream/trendstream/proto/trendstream/v1"
)

// Calc runs the replay through the single-process reference calculator
// with cfg (set cfg.Rank to trendcalc.RankRawCount for the baseline).
func Calc(rep *Replay, cfg trendcalc.Config) []*tsv1.WindowSnapshot {
	s, _ := calc(rep, cfg)
	return s
}

// calc is Calc, and how many posts the deletes retracted.
func calc(rep *Replay, cfg trendcalc.Config) ([]*tsv1.WindowSnapshot, int64) {
	c := trendcalc.New(cfg)
	for _, p := range rep.Posts {
		c.Add(p)
	}
	return c.Snapshots(), c.Retracted()
}

// RankAll lists every scored entry by score, trending or not, so that a
// snapshot carries each term's score for plotting.
func RankAll(es []trendcalc.Entry) []trendcalc.Entry {
	out := slices.Clone(es)
	slices.SortFunc(out, func(a, b trendcalc.Entry) int {
		if a.Score != b.Score {
			if a.Score > b.Score {
				return -1
			}
			return 1
		}
		return 0
	})
	return out
}

// Mismatch compares two runs' rankings window by window and language by
// language (terms, kinds and order) and returns how many (window, language)
// rankings were compared, how many differ, and a description of the first
// few differences.
func Mismatch(got, want []*tsv1.WindowSnapshot) (compared, differ int, diffs []string) {
	type wk struct {
		lang string
		end  int64
	}
	idx := map[wk][]string{}
	for _, s := range want {
		idx[wk{s.GetLang(), s.GetWindowEnd().AsTime().UnixMilli()}] = names(s)
	}
	seen := map[wk]bool{}
	for _, s := range got {
		if s.GetPosts() == 0 && len(s.GetTerms()) == 0 {
			// A window the pipeline ranked, then withdrew when every post
			// of its language was deleted (docs/pipeline.md, "Deletes"):
			// the reference never has it.
			continue
		}
		k := wk{s.GetLang(), s.GetWindowEnd().AsTime().UnixMilli()}
		seen[k] = true
		compared++
		w, ok := idx[k]
		if !ok || !slices.Equal(w, names(s)) {
			differ++
			if len(diffs) < 5 {
				diffs = append(diffs, fmt.Sprintf("lang %q window ending %s: got %v, want %v (present %v)",
					k.lang, time.UnixMilli(k.end).UTC().Format(time.RFC3339), names(s), w, ok))
			}
		}
	}
	for k := range idx {
		if !seen[k] {
			compared++
			differ++
			if len(diffs) < 5 {
				diffs = append(diffs, fmt.Sprintf("lang %q window ending %s: missing, want %v",
					k.lang, time.UnixMilli(k.end).UTC().Format(time.RFC3339), idx[k]))
			}
		}
	}
	return compared, differ, diffs
}

// TopicMismatch compares two runs' topics window by window and language by
// language (each topic's id, label and members in order) and returns how
// many (window, language) snapshots were compared and how many differ.
func TopicMismatch(got, want []*tsv1.WindowSnapshot) (compared, differ int) {
	type wk struct {
		lang string
		end  int64
	}
	idx := map[wk]string{}
	for _, s := range want {
		idx[wk{s.GetLang(), s.GetWindowEnd().AsTime().UnixMilli()}] = topicNames(s)
	}
	for _, s := range got {
		compared++
		w, ok := idx[wk{s.GetLang(), s.GetWindowEnd().AsTime().UnixMilli()}]
		if !ok || w != topicNames(s) {
			differ++
		}
	}
	return compared, differ
}

func topicNames(s *tsv1.WindowSnapshot) string {
	var b strings.Builder
	for _, tp := range s.GetTopics() {
		fmt.Fprintf(&b, "%s %s/%s:", tp.GetId(), tp.GetLang(), tp.GetLabel())
		for _, m := range tp.GetMembers() {
			fmt.Fprintf(&b, " %s/%s", m.GetKind(), m.GetTerm())
		}
		b.WriteString(";")
	}
	return b.String()
}

func names(s *tsv1.WindowSnapshot) []string {
	out := make([]string, len(s.GetTerms()))
	for i, t := range s.GetTerms() {
		out[i] = t.GetLang() + "/" + t.GetKind().String() + "/" + t.GetTerm()
	}
	return out
}

// Runs are the reference calculator's rankings of one replay.
type Runs struct {
	// Ours ranks trending terms by score, as the pipeline does.
	Ours []*tsv1.WindowSnapshot
	// Raw ranks every term by posts: the baseline.
	Raw []*tsv1.WindowSnapshot
	// All lists every scored term by score, for plots.
	All []*tsv1.WindowSnapshot
	// Retracted is how many posts the deletes retracted from Ours (0
	// unless cfg.RetractDeletes).
	Retracted int64
	// Unretracted is Ours with deletes ignored, when cfg.RetractDeletes
	// and the replay has retracted bursts: what retraction keeps out.
	Unretracted []*tsv1.WindowSnapshot
}

// Reference runs rep through the reference calculator three ways (two
// without all: All is for plots). cfg.Score must already be started
// (trendscore.Params.StartingAt).
func Reference(rep *Replay, cfg trendcalc.Config, all bool) Runs {
	var r Runs
	r.Ours, r.Retracted = calc(rep, cfg)
	if cfg.RetractDeletes && len(rep.Retracted) > 0 {
		off := cfg
		off.RetractDeletes = false
		off.Topics = topics.Config{}
		r.Unretracted = Calc(rep, off)
	}
	raw := cfg
	// Peers rank every term by volume: nothing is dropped as negligible
	// before their ranking (Negligible needs Authors < MinAuthors), so the
	// spam flood competes too.
	raw.Score.MinAuthors = 0
	raw.Topics = topics.Config{} // only ours is judged on topics
	raw.Rank = func(es []trendcalc.Entry) []trendcalc.Entry { return trendcalc.RankRawCount(es, cfg.TopK) }
	r.Raw = Calc(rep, raw)
	if all {
		every := cfg
		every.Rank = RankAll
		every.Topics = topics.Config{}
		r.All = Calc(rep, every)
	}
	return r
}
