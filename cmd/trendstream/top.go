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

	"github.com/trendstream/trendstream/internal/readside/api"
	"github.com/trendstream/trendstream/internal/readside/store"
)

func init() {
	register(command{
		name:    "top",
		summary: "print the current top trends as a table or JSON (from PostgreSQL, or a running server with -api)",
		setup:   setupTop,
	})
}

// timeFlag is a flag holding a time in one of api.TimeLayouts; unset is
// the zero time.
type timeFlag struct{ t *time.Time }

func (f timeFlag) String() string {
	if f.t == nil || f.t.IsZero() {
		return ""
	}
	return f.t.Format(time.RFC3339)
}

func (f timeFlag) Set(v string) error {
	if v == "" {
		*f.t = time.Time{}
		return nil
	}
	t, err := api.ParseTime(v)
	if err != nil {
		return err
	}
	*f.t = t
	return nil
}

// topOptions are top's flags, parsed.
type topOptions struct {
	dbURL, apiURL string
	filter        store.Filter
	asJSON        bool
	topics        bool
}

func setupTop(fs *flag.FlagSet) func(context.Context) error {
	var o topOptions
	return setupTopWith(fs, &o)
}

// setupTopWith defines top's flags on fs, parsed into o.
func setupTopWith(fs *flag.FlagSet, o *topOptions) func(context.Context) error {
	fs.StringVar(&o.dbURL, "database-url", "", "PostgreSQL URL of the read model (default $DATABASE_URL)")
	fs.StringVar(&o.apiURL, "api", "", "query this trendstream serve base URL (e.g. http://127.0.0.1:8080) instead of PostgreSQL")
	fs.StringVar(&o.filter.Lang, "lang", "", "ranking language (e.g. en, ja); empty is the overall ranking, * lists every language")
	fs.StringVar(&o.filter.Source, "source", "", "only this source (e.g. bluesky); empty is every source")
	fs.IntVar(&o.filter.Limit, "limit", store.DefaultLimit, "terms per ranking")
	fs.Var(timeFlag{&o.filter.At}, "at", "show the window that ended at or before this time (RFC 3339, or 2006-01-02T15:04 in UTC) instead of the newest")
	fs.BoolVar(&o.asJSON, "json", false, "print JSON (the /api/trends response shape; /api/topics with -topics) instead of a table")
	fs.BoolVar(&o.topics, "topics", false, "print the ranked terms grouped into topics, with an example post each")
	return func(ctx context.Context) error { return runTop(ctx, *o, os.Stdout, time.Now()) }
}

// topSource is where top reads from: the store or a running server.
type topSource interface {
	CurrentTrends(context.Context, store.Filter) ([]store.Window, error)
	Topics(context.Context, store.Filter) ([]store.TopicWindow, error)
	Timeline(context.Context, store.TimelineFilter) (*store.Timeline, error)
}

// runTop prints the rankings o selects to w; now dates their age.
func runTop(ctx context.Context, o topOptions, w io.Writer, now time.Time) error {
	f := o.filter
	if f.Lang == "*" {
		f.Lang, f.AllLangs = "", true
	}
	ctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	var src topSource
	if o.apiURL != "" {
		src = api.NewClient(o.apiURL, nil)
	} else {
		st, err := openStore(ctx, o.dbURL)
		if err != nil {
			return err
		}
		defer st.Close()
		src = st
	}
	if o.topics {
		return runTopTopics(ctx, src, f, o.asJSON, w, now)
	}
	ws, err := src.CurrentTrends(ctx, f)
	if err != nil {
		return err
	}
	if o.asJSON {
		return writeTopJSON(w, ws)
	}
	// A ranking whose window ranked nothing (after a replay, its last
	// windows hold only the recording's final posts) points at the newest
	// window that did, so the user finds the trends without guessing.
	trending := map[string]time.Time{}
	for _, win := range ws {
		if len(win.Terms) > 0 {
			continue
		}
		tl, err := src.Timeline(ctx, store.TimelineFilter{Source: win.Source, Lang: win.Lang, To: win.End, From: win.End})
		if err != nil {
			return err
		}
		if tl.LatestTrending != nil {
			trending[win.Source+"\x00"+win.Lang] = *tl.LatestTrending
		}
	}
	return writeTopTable(w, ws, now, trending)
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

// windowHeading prints a ranking's heading: source, language, window, its
// age as of now and its posts, then suffix.
func windowHeading(w io.Writer, source, lang string, start, end, now time.Time, posts int64, suffix string) {
	if lang == "" {
		lang = "all languages"
	}
	fmt.Fprintf(w, "%s · %s · window %s–%s UTC (%s ago) · %d posts%s\n",
		terminalSafe(source), terminalSafe(lang), start.UTC().Format("2006-01-02 15:04"),
		end.UTC().Format("15:04"), shortDuration(now.Sub(end)), posts, suffix)
}

// writeTopTable prints each ranking as a heading and an aligned table.
// now dates the "age" of each window. trending holds, for a ranking
// (source NUL lang) whose window is empty, the end of its newest window
// that ranked terms.
func writeTopTable(w io.Writer, ws []store.Window, now time.Time, trending map[string]time.Time) error {
	if len(ws) == 0 {
		_, err := fmt.Fprintln(w, "no trends yet: the read model has no window for this selection")
		return err
	}
	for i, win := range ws {
		if i > 0 {
			fmt.Fprintln(w)
		}
		windowHeading(w, win.Source, win.Lang, win.Start, win.End, now, win.Posts, "")
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
			term := store.DisplayTerm(t.Kind, t.Term)
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
		if len(win.Terms) == 0 {
			fmt.Fprintln(w, "no term trended in this window")
			if at, ok := trending[win.Source+"\x00"+win.Lang]; ok {
				langFlag := ""
				if win.Lang != "" {
					langFlag = " -lang " + terminalSafe(win.Lang)
				}
				fmt.Fprintf(w, "the newest window with trends ended %s UTC: trendstream top%s -at %s\n",
					at.UTC().Format("2006-01-02 15:04"), langFlag, at.UTC().Format(time.RFC3339))
			}
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

// shortDuration renders d for people: "45s", "59m", "2h05m", "276d04h"
// (a replayed recording's windows can be months old).
func shortDuration(d time.Duration) string {
	switch {
	case d >= 48*time.Hour:
		h := int(d.Round(time.Hour) / time.Hour)
		return fmt.Sprintf("%dd%02dh", h/24, h%24)
	case d < time.Minute:
		return fmt.Sprintf("%ds", int(d.Round(time.Second)/time.Second))
	case d < time.Hour:
		return fmt.Sprintf("%dm", int(d.Round(time.Minute)/time.Minute))
	default:
		m := int(d.Round(time.Minute) / time.Minute)
		return fmt.Sprintf("%dh%02dm", m/60, m%60)
	}
}
