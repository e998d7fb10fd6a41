package evaluate

import (
	"fmt"
	"io"
	"math"
	"slices"
)

// WriteTable writes ours and the baseline side by side as a Markdown table
// per (shape, strength), then the summary figures.
func WriteTable(w io.Writer, ours, base Result, p Params) {
	fmt.Fprintf(w, "| shape | strength (share of posts ≥ authors per period) | bursts | %s recall ≤2 periods | %s recall ever | %s median TTD (windows) | %s recall ≤2 periods | %s recall ever | %s median TTD (windows) |\n",
		ours.Name, ours.Name, ours.Name, base.Name, base.Name, base.Name)
	fmt.Fprintln(w, "| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |")
	for i, c := range ours.Cells {
		b := base.Cells[i]
		fmt.Fprintf(w, "| %s | %s | %d | %s | %s | %s | %s | %s | %s |\n", c.Label(), c.Strength, c.Bursts,
			frac(c.Within2, c.Bursts), frac(c.Ever, c.Bursts), num(c.MedianTTD),
			frac(b.Within2, b.Bursts), frac(b.Ever, b.Bursts), num(b.MedianTTD))
	}
	fmt.Fprintln(w)
	fmt.Fprintf(w, "| figure | %s | %s |\n| --- | ---: | ---: |\n", ours.Name, base.Name)
	row := func(name string, f func(Result) string) { fmt.Fprintf(w, "| %s | %s | %s |\n", name, f(ours), f(base)) }
	target := fmt.Sprintf("bursts with ≥%d authors and ≥%g%% of a period's posts in their first %d periods", p.TargetAuthors, 100*p.TargetShare, EarlyPeriods)
	row("recall, "+target, func(r Result) string {
		return fmt.Sprintf("%s (%d/%d)", num(r.Recall()), r.TargetEver, r.Target)
	})
	row("recall ≤2 periods, same bursts", func(r Result) string {
		return fmt.Sprintf("%s (%d/%d)", num(r.Recall2()), r.TargetWithin2, r.Target)
	})
	for _, l := range ShapeLabels(ours) {
		row("median TTD, every "+l+" (undetected: ∞)", func(r Result) string { return num(r.ShapeTTD[l]) })
	}
	row(fmt.Sprintf("precision in the top %d (organic background bursts neither)", p.TopN), func(r Result) string {
		return fmt.Sprintf("%s (%d TP, %d FP)", num(r.Precision()), r.TP, r.FP)
	})
	row(fmt.Sprintf("strict precision in the top %d (every background term a FP)", p.TopN), func(r Result) string {
		return fmt.Sprintf("%s (%d neither)", num(r.StrictPrecision()), r.Neither)
	})
	row(fmt.Sprintf("top-%d entries judged (scored windows)", p.TopN), func(r Result) string {
		return fmt.Sprintf("%d (%d)", r.Entries, r.Windows)
	})
	row("windows with the single-author flood in a top 10", func(r Result) string { return fmt.Sprint(r.SpamWindows) })
	row("windows with a stopword in a top 10", func(r Result) string { return fmt.Sprint(r.StopwordWindows) })
	row("windows with the always-frequent term in a top 10", func(r Result) string { return fmt.Sprint(r.FrequentWindows) })
	row("windows with a retracted burst (every post deleted) in a top 10", func(r Result) string { return fmt.Sprint(r.RetractedWindows) })
}

// ShapeLabels lists r's shape labels in report order.
func ShapeLabels(r Result) []string {
	var out []string
	for _, c := range r.Cells {
		if !slices.Contains(out, c.Label()) {
			out = append(out, c.Label())
		}
	}
	return out
}

func frac(a, b int) string {
	if b == 0 {
		return "–"
	}
	return fmt.Sprintf("%.2f", float64(a)/float64(b))
}

func num(f float64) string {
	if math.IsNaN(f) {
		return "–"
	}
	if math.IsInf(f, 1) {
		return "∞"
	}
	return fmt.Sprintf("%.2f", f)
}

// WriteGrouping writes how the injected stories come out as topics.
func WriteGrouping(w io.Writer, g Grouping, p Params) {
	fmt.Fprintf(w, "| stories with ≥2 terms in a top %d | (story, window) observations | completeness | purity | observations exactly one topic | stories exactly one topic in every window |\n", p.TopN)
	fmt.Fprintln(w, "| ---: | ---: | ---: | ---: | ---: | ---: |")
	fmt.Fprintf(w, "| %d | %d | %s | %s | %s (%d/%d) | %d/%d |\n", g.Stories, g.Observations, num(g.Completeness), num(g.Purity),
		num(g.OneShare()), g.One, g.Observations, g.AlwaysOne, g.Stories)
	if g.Untopiced > 0 {
		fmt.Fprintf(w, "\n%d observations in windows without topics.\n", g.Untopiced)
	}
}
