package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/trendstream/trendstream/internal/readside/api"
	"github.com/trendstream/trendstream/internal/readside/store"
)

// runTopTopics prints the topics of the rankings f selects (top -topics).
func runTopTopics(ctx context.Context, src topSource, f store.Filter, asJSON bool, w io.Writer, now time.Time) error {
	ws, err := src.Topics(ctx, f)
	if err != nil {
		return err
	}
	if asJSON {
		if ws == nil {
			ws = []store.TopicWindow{}
		}
		enc := json.NewEncoder(w)
		enc.SetIndent("", "  ")
		return enc.Encode(api.TopicsResponse{Windows: ws})
	}
	return writeTopicsTable(w, ws, now)
}

// exampleWidth is how much of an example post's text a table row shows.
const exampleWidth = 70

// writeTopicsTable prints each ranking's topics: rank, label, members,
// mentions, and the first example post with its bsky.app link.
func writeTopicsTable(w io.Writer, ws []store.TopicWindow, now time.Time) error {
	if len(ws) == 0 {
		_, err := fmt.Fprintln(w, "no topics yet: the read model has no window for this selection")
		return err
	}
	hash := func(kind, term string) string {
		if kind == "hashtag" {
			return "#" + term
		}
		return term
	}
	for i, win := range ws {
		if i > 0 {
			fmt.Fprintln(w)
		}
		windowHeading(w, win.Source, win.Lang, win.Start, win.End, now, win.Posts, " · topics")
		if len(win.Topics) == 0 {
			fmt.Fprintln(w, "no topic in this window")
			continue
		}
		tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
		fmt.Fprintln(tw, "RANK\tTOPIC\tLANG\tMENTIONS\tTERMS\tEXAMPLE\t")
		for _, tp := range win.Topics {
			var members []string
			for _, m := range tp.Members {
				members = append(members, hash(m.Kind, m.Term))
			}
			example := ""
			if len(tp.Examples) > 0 {
				e := tp.Examples[0]
				example = strings.Join(strings.Fields(e.Text), " ")
				if r := []rune(example); len(r) > exampleWidth {
					example = string(r[:exampleWidth-1]) + "…"
				}
				example = fmt.Sprintf("%q %s", example, e.URL)
			}
			fmt.Fprintf(tw, "%d\t%s\t%s\t%d\t%s\t%s\t\n", tp.Rank, terminalSafe(hash(tp.LabelKind, tp.Label)), terminalSafe(tp.TermLang),
				tp.Mentions, terminalSafe(strings.Join(members, " ")), terminalSafe(example))
		}
		if err := tw.Flush(); err != nil {
			return err
		}
	}
	return nil
}
