package main

import (
	"cmp"
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"os"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"
	"unicode"

	"github.com/trendstream/trendstream/internal/api"
	"github.com/trendstream/trendstream/internal/store"
)

func init() {
	register(command{
		name:    "top",
		summary: "print the current top trends as a table or JSON (from PostgreSQL, or a running server with -api)",
		setup:   setupTop,
	})
}

func setupTop(fs *flag.FlagSet) func(context.Context) error {
	dbURL := fs.String("database-url", "", "PostgreSQL URL of the read model (default $DATABASE_URL)")
	apiURL := fs.String("api", "", "query this trendstream serve base URL (e.g. http://127.0.0.1:8080) instead of PostgreSQL")
	lang := fs.String("lang", "", "ranking language (e.g. en, ja); empty is the overall ranking, * lists every language")
	source := fs.String("source", "", "only this source (e.g. bluesky); empty is every source")
	limit := fs.Int("limit", store.DefaultLimit, "terms per ranking")
	asJSON := fs.Bool("json", false, "print JSON (the /api/trends response shape) instead of a table")
	return func(ctx context.Context) error {
		f := store.Filter{Source: *source, Lang: *lang, Limit: *limit}
		if f.Lang == "*" {
			f.Lang, f.AllLangs = "", true
		}
		ctx, cancel := context.WithTimeout(ctx, 30*time.Second)
		defer cancel()
		var ws []store.Window
		if *apiURL != "" {
			var err error
			if ws, err = api.NewClient(*apiURL, nil).CurrentTrends(ctx, f); err != nil {
				return err
			}
		} else {
			st, err := openStore(ctx, *dbURL)
			if err != nil {
				return err
			}
			defer st.Close()
			if ws, err = st.CurrentTrends(ctx, f); err != nil {
				return err
			}
		}
		if *asJSON {
			return writeTopJSON(os.Stdout, ws)
		}
		return writeTopTable(os.Stdout, ws, time.Now())
	}
}

// writeTopJSON prints rankings in the /api/trends response shape, so
// scripts can switch between the CLI and the API.
func writeTopJSON(w io.Writer, ws []store.Window) error {
	if ws == nil {
		ws = []store.Window{}
	}
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(api.TrendsResponse{Windows: ws})
}

// writeTopTable prints each ranking as a heading and an aligned table.
// now dates the "age" of each window.
func writeTopTable(w io.Writer, ws []store.Window, now time.Time) error {
	if len(ws) == 0 {
		_, err := fmt.Fprintln(w, "no trends yet: the read model has no window for this selection")
		return err
	}
	for i, win := range ws {
		if i > 0 {
			fmt.Fprintln(w)
		}
		lang := win.Lang
		if lang == "" {
			lang = "all languages"
		}
		fmt.Fprintf(w, "%s · %s · window %s–%s UTC (%s ago) · %d posts\n",
			terminalSafe(win.Source), terminalSafe(lang), win.Start.UTC().Format("2006-01-02 15:04"),
			win.End.UTC().Format("15:04"), shortDuration(now.Sub(win.End)), win.Posts)
		tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
		// The overall ranking mixes languages and may rank one word once
		// per language, so it shows each term's language; a language's
		// ranking would only repeat its heading.
		overall := win.Lang == ""
		langCol := func(v string) string {
			if !overall {
				return ""
			}
			return v + "\t"
		}
		fmt.Fprintln(tw, "RANK\tTERM\t"+langCol("LANG")+"KIND\tPOSTS\tAUTHORS\tBASELINE\tSCORE\tTRENDING FOR\t")
		for _, t := range win.Terms {
			term := t.Term
			if t.Kind == "hashtag" {
				term = "#" + term
			}
			since := ""
			if t.FirstSeen != nil {
				since = shortDuration(win.End.Sub(*t.FirstSeen))
			}
			fmt.Fprintf(tw, "%d\t%s\t%s%s\t%d\t%d\t%.1f\t%.1f\t%s\t\n",
				t.Rank, terminalSafe(term), langCol(terminalSafe(cmp.Or(t.TermLang, "?"))), t.Kind, t.Count, t.UniqueAuthors, t.Baseline, t.Score, since)
		}
		if err := tw.Flush(); err != nil {
			return err
		}
	}
	return nil
}

// terminalSafe escapes control and other non-printing characters. Terms
// come from public posts, and an escape sequence printed raw could rewrite
// the user's terminal; a tab would break the table's columns.
func terminalSafe(s string) string {
	if !strings.ContainsFunc(s, func(r rune) bool { return !unicode.IsGraphic(r) }) {
		return s
	}
	q := strconv.QuoteToGraphic(s)
	return q[1 : len(q)-1]
}

// shortDuration renders d for people: "45s", "59m", "2h05m".
func shortDuration(d time.Duration) string {
	switch {
	case d < time.Minute:
		return fmt.Sprintf("%ds", int(d.Round(time.Second)/time.Second))
	case d < time.Hour:
		return fmt.Sprintf("%dm", int(d.Round(time.Minute)/time.Minute))
	default:
		m := int(d.Round(time.Minute) / time.Minute)
		return fmt.Sprintf("%dh%02dm", m/60, m%60)
	}
}
