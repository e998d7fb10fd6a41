package chaos

import (
	"fmt"
	"slices"
	"sort"
	"strings"
	"time"

	"github.com/trendstream/trendstream/internal/readside/store"
	tsv1 "github.com/trendstream/trendstream/proto/trendstream/v1"
)

// Findings are the raw results the checks judge.
type Findings struct {
	// Sent are the posts the source wrote (the audit).
	Sent []SentPost `json:"-"`
	// Topic is what the posts topic holds.
	Topic *TopicPosts `json:"-"`
	// Lost are sent posts missing from Kafka; Foreign posts in Kafka the
	// source never wrote.
	Lost    []SentPost `json:"lost,omitempty"`
	Foreign []PostID   `json:"foreign,omitempty"`
	// Duplicates counts the extra records of each post Kafka holds more
	// than once.
	Duplicates map[PostID]int `json:"-"`
	// DuplicateTimes are the event times of those extra records.
	DuplicateTimes []time.Time `json:"-"`
	// Windows compares PostgreSQL with the reference, Results the results
	// topic (ResultsErr when it could not be read).
	WindowsCompared int          `json:"windows_compared"`
	WindowDiffs     []WindowDiff `json:"window_diffs,omitempty"`
	ResultsCompared int          `json:"results_compared"`
	ResultsDiffs    []WindowDiff `json:"results_diffs,omitempty"`
	ResultsErr      string       `json:"results_error,omitempty"`
	// RefWindows and RefTerms size the reference, so a report shows the
	// comparison was not of empty rankings.
	RefWindows, RefTerms int
	// PGDuplicates are read-model rows that repeat another.
	PGDuplicates []string `json:"pg_duplicates,omitempty"`
	// Exits are every process run's end; Unplanned those nobody asked for.
	Exits []Exit `json:"exits"`
}

// Unclean lists the clean stops (SIGINT) the process did not end with
// exit code 0: a cancel is not a failure, and an operator's service
// manager must be able to tell the two apart.
func (f *Findings) Unclean() []Exit {
	var out []Exit
	for _, e := range f.Exits {
		if e.Stopped && (e.ExitCode != 0 || e.Signal != "") {
			out = append(out, e)
		}
	}
	return out
}

// Unplanned lists the exits the harness did not cause.
func (f *Findings) Unplanned() []Exit {
	var out []Exit
	for _, e := range f.Exits {
		if !e.Planned {
			out = append(out, e)
		}
	}
	return out
}

// DuplicateRecords is the number of records Kafka holds beyond one per
// post.
func (f *Findings) DuplicateRecords() int {
	n := 0
	for _, c := range f.Duplicates {
		n += c
	}
	return n
}

// compareSources fills Lost, Foreign, Duplicates from the audit and the
// topic.
func (f *Findings) compareSources() []*tsv1.Post {
	distinct, dups := Distinct(f.Topic.Posts)
	f.Duplicates = dups
	inKafka := make(map[PostID]bool, len(distinct))
	for _, p := range distinct {
		if p.GetOperation() == tsv1.Operation_OPERATION_CREATE {
			inKafka[PostID{URI: p.GetUri(), CID: p.GetCid()}] = true
		}
	}
	sent := make(map[PostID]bool, len(f.Sent))
	for _, s := range f.Sent {
		sent[s.PostID] = true
		if !inKafka[s.PostID] {
			f.Lost = append(f.Lost, s)
		}
	}
	for id := range inKafka {
		if !sent[id] {
			f.Foreign = append(f.Foreign, id)
		}
	}
	seen := map[PostID]bool{}
	for _, p := range f.Topic.Posts {
		id := PostID{URI: p.GetUri(), CID: p.GetCid()}
		if dups[id] > 0 && seen[id] {
			f.DuplicateTimes = append(f.DuplicateTimes, p.GetObservedAt().AsTime())
		}
		seen[id] = true
	}
	slices.SortFunc(f.Foreign, func(a, b PostID) int { return strings.Compare(a.URI, b.URI) })
	return distinct
}

// sizeReference records how much the reference ranks.
func (f *Findings) sizeReference(ref []store.Window) {
	f.RefWindows = len(ref)
	for _, w := range ref {
		f.RefTerms += len(w.Terms)
	}
}

// Check is one verdict of the run.
type Check struct {
	Name string `json:"name"`
	Pass bool   `json:"pass"`
	// Figure is the number the check is about, e.g. "0 of 4500 posts".
	Figure  string   `json:"figure"`
	Details []string `json:"details,omitempty"`
}

// maxListed bounds the items a check's details list one by one.
const maxListed = 12

// Judge turns the findings into the checks, each with what the lead
// needs to act on a failure: which posts, windows and faults.
// A control run (no faults asked for) passes the fault check when none
// was injected.
func Judge(f *Findings, faults []Injected, start time.Time, control bool) []Check {
	fc := checkFaults(faults)
	if control {
		fc = Check{Name: "no fault was injected (control run)", Pass: len(faults) == 0, Figure: fmt.Sprintf("%d faults", len(faults))}
	}
	return []Check{
		fc,
		checkLost(f, faults, start),
		checkDuplicates(f, faults, start),
		checkWindowPosts(f, faults, start),
		checkWindows("PostgreSQL equals the reference, window by window", f.WindowsCompared, f.WindowDiffs, f, faults, start),
		checkPGDuplicates(f),
		checkResults(f, faults, start),
		checkExits(f),
	}
}

func checkFaults(faults []Injected) Check {
	by := CountByKind(faults)
	c := Check{Name: "every fault kind was injected and recovered from", Pass: true}
	var parts []string
	for _, k := range Kinds {
		parts = append(parts, fmt.Sprintf("%s %d", k, by[k]))
		if by[k] == 0 {
			c.Pass = false
			c.Details = append(c.Details, fmt.Sprintf("no %s was injected", k))
		}
	}
	for _, f := range faults {
		if f.Err != "" {
			c.Pass = false
			c.Details = append(c.Details, fmt.Sprintf("%s: %s", f.Label(), f.Err))
		}
	}
	c.Figure = fmt.Sprintf("%d faults: %s", len(faults), strings.Join(parts, ", "))
	return c
}

func checkLost(f *Findings, faults []Injected, start time.Time) Check {
	c := Check{Name: "every post the source wrote is in Kafka (by uri, cid)", Pass: len(f.Sent) > 0 && len(f.Lost) == 0 && len(f.Foreign) == 0,
		Figure: fmt.Sprintf("%d of %d posts lost", len(f.Lost), len(f.Sent))}
	if len(f.Sent) == 0 {
		c.Details = append(c.Details, "the audit saw no post: nothing was checked")
	}
	if len(f.Lost) > 0 {
		times := make([]time.Time, len(f.Lost))
		for i, p := range f.Lost {
			times[i] = p.Time
		}
		c.Details = append(c.Details, "lost posts by the fault under way at their event time: "+byFault(times, faults, start))
		for _, p := range f.Lost[:min(len(f.Lost), maxListed)] {
			c.Details = append(c.Details, fmt.Sprintf("lost %s (cid %s) at %s", p.URI, p.CID, rel(p.Time, start)))
		}
	}
	if len(f.Foreign) > 0 {
		c.Details = append(c.Details, fmt.Sprintf("%d posts in Kafka the source never wrote, e.g. %v", len(f.Foreign), f.Foreign[:min(len(f.Foreign), 3)]))
	}
	if len(f.Topic.Malformed) > 0 {
		c.Details = append(c.Details, "records neither a post nor a marker: "+strings.Join(f.Topic.Malformed, "; "))
	}
	return c
}

func checkDuplicates(f *Findings, faults []Injected, start time.Time) Check {
	n := f.DuplicateRecords()
	c := Check{Name: "no post is in Kafka twice (duplicate rows)", Pass: n == 0,
		Figure: fmt.Sprintf("%d duplicate records (%d posts more than once)", n, len(f.Duplicates))}
	if n > 0 {
		c.Details = append(c.Details, "duplicates by the fault under way at their event time: "+byFault(f.DuplicateTimes, faults, start))
		ids := make([]PostID, 0, len(f.Duplicates))
		for id := range f.Duplicates {
			ids = append(ids, id)
		}
		sort.Slice(ids, func(i, j int) bool { return ids[i].URI < ids[j].URI })
		for _, id := range ids[:min(len(ids), 3)] {
			c.Details = append(c.Details, fmt.Sprintf("%s (cid %s) %d extra time(s)", id.URI, id.CID, f.Duplicates[id]))
		}
	}
	return c
}

// checkWindowPosts is the loss seen from the windows: a post in Kafka
// that a window should count and does not (late, or never read).
func checkWindowPosts(f *Findings, faults []Injected, start time.Time) Check {
	var short, over []WindowDiff
	var postsShort, postsOver int64
	for _, d := range f.WindowDiffs {
		switch {
		case d.Short() > 0:
			short = append(short, d)
			if d.Lang == "" {
				postsShort += d.Short()
			}
		case d.Short() < 0:
			over = append(over, d)
			if d.Lang == "" {
				postsOver -= d.Short()
			}
		}
	}
	c := Check{Name: "no window lost a post it should count (PostgreSQL vs reference)", Pass: len(short) == 0 && len(over) == 0,
		Figure: fmt.Sprintf("%d windows short by %d posts, %d windows over by %d posts (overall ranking's post-slots)", len(short), postsShort, len(over), postsOver)}
	if len(short) > 0 {
		c.Details = append(c.Details, "short windows (all languages) by the faults near them: "+diffsByFault(short, faults, start))
		c.Details = append(c.Details, listDiffs(short, faults, start, false)...)
	}
	if len(over) > 0 {
		c.Details = append(c.Details, "windows counting more posts than the distinct posts in Kafka (a post counted twice), by the faults near them: "+diffsByFault(over, faults, start))
		c.Details = append(c.Details, listDiffs(over, faults, start, false)...)
	}
	return c
}

func checkWindows(name string, compared int, diffs []WindowDiff, f *Findings, faults []Injected, start time.Time) Check {
	byProblem := map[Problem]int{}
	for _, d := range diffs {
		byProblem[d.Problem]++
	}
	c := Check{Name: name, Pass: len(diffs) == 0 && compared > 0,
		Figure: fmt.Sprintf("%d of %d windows differ (missing %d, unexpected %d, posts %d, ranking only %d); reference: %d windows, %d ranked terms",
			len(diffs), compared, byProblem[Missing], byProblem[Unexpected], byProblem[PostsDiffer], byProblem[RankingDiffers], f.RefWindows, f.RefTerms)}
	if compared == 0 {
		c.Details = append(c.Details, "nothing was compared")
	}
	if len(diffs) > 0 {
		c.Details = append(c.Details, "differing windows by the faults near them: "+diffsByFault(diffs, faults, start))
		c.Details = append(c.Details, listDiffs(diffs, faults, start, true)...)
	}
	return c
}

func checkPGDuplicates(f *Findings) Check {
	c := Check{Name: "no duplicate rows in PostgreSQL", Pass: len(f.PGDuplicates) == 0,
		Figure: fmt.Sprintf("%d duplicate rows", len(f.PGDuplicates))}
	c.Details = f.PGDuplicates[:min(len(f.PGDuplicates), maxListed)]
	return c
}

func checkResults(f *Findings, faults []Injected, start time.Time) Check {
	if f.ResultsErr != "" {
		return Check{Name: "the results topic equals the reference, window by window", Figure: "unreadable", Details: []string{f.ResultsErr}}
	}
	return checkWindows("the results topic equals the reference, window by window", f.ResultsCompared, f.ResultsDiffs, f, faults, start)
}

func checkExits(f *Findings) Check {
	un, unclean := f.Unplanned(), f.Unclean()
	c := Check{Name: "no process exited unasked, and every SIGINT stop exited 0", Pass: len(un) == 0 && len(unclean) == 0,
		Figure: fmt.Sprintf("%d unplanned exits, %d unclean stops", len(un), len(unclean))}
	for _, e := range append(un, unclean...) {
		how := fmt.Sprintf("exit code %d", e.ExitCode)
		if e.Signal != "" {
			how = "signal " + e.Signal
		}
		d := fmt.Sprintf("%s run %d ended at %s (%s), log %s", e.Process, e.Run, e.At.UTC().Format(time.TimeOnly), how, e.LogPath)
		if n := len(e.LastLinesOnFailed); n > 0 {
			d += "; last lines: " + strings.Join(e.LastLinesOnFailed[max(0, n-3):], " | ")
		}
		c.Details = append(c.Details, d)
	}
	return c
}

// byFault counts times by the fault under way at each, give or take Lead
// (a fault's duplicates precede it).
func byFault(times []time.Time, faults []Injected, start time.Time) string {
	const slack = Lead
	counts := map[string]int{}
	var order []string
	for _, t := range times {
		label := "no fault under way"
		for _, f := range faults {
			if f.Overlaps(t.Add(-slack), t.Add(slack)) {
				label = fmt.Sprintf("%s at %s", f.Label(), rel(f.Began, start))
				break
			}
		}
		if counts[label] == 0 {
			order = append(order, label)
		}
		counts[label]++
	}
	parts := make([]string, len(order))
	for i, l := range order {
		parts[i] = fmt.Sprintf("%s: %d", l, counts[l])
	}
	return strings.Join(parts, "; ")
}

// diffsByFault counts differing windows by the faults that may have
// touched each (Injected.Affects).
func diffsByFault(diffs []WindowDiff, faults []Injected, start time.Time) string {
	counts := map[string]int{}
	var order []string
	for _, d := range diffs {
		label := nearFaults(d, faults, start)
		if counts[label] == 0 {
			order = append(order, label)
		}
		counts[label]++
	}
	parts := make([]string, len(order))
	for i, l := range order {
		parts[i] = fmt.Sprintf("%s: %d", l, counts[l])
	}
	return strings.Join(parts, "; ")
}

func nearFaults(d WindowDiff, faults []Injected, start time.Time) string {
	var labels []string
	for _, f := range faults {
		if f.Affects(d.Start, d.End) {
			labels = append(labels, fmt.Sprintf("%s at %s", f.Label(), rel(f.Began, start)))
		}
	}
	if len(labels) == 0 {
		return "no fault near"
	}
	return strings.Join(labels, " + ")
}

// listDiffs describes the first differing windows, overall ranking first.
func listDiffs(diffs []WindowDiff, faults []Injected, start time.Time, details bool) []string {
	sorted := slices.Clone(diffs)
	slices.SortStableFunc(sorted, func(a, b WindowDiff) int {
		if (a.Lang == "") != (b.Lang == "") {
			if a.Lang == "" {
				return -1
			}
			return 1
		}
		return 0
	})
	var out []string
	for _, d := range sorted[:min(len(sorted), maxListed)] {
		lang := d.Lang
		if lang == "" {
			lang = "overall"
		}
		s := fmt.Sprintf("%s window %s..%s (%s): %s, posts %d, want %d; faults near: %s", lang,
			rel(d.Start, start), rel(d.End, start), d.End.UTC().Format(time.TimeOnly), d.Problem, d.Got, d.Want, nearFaults(d, faults, start))
		if details && len(d.Details) > 0 {
			s += "; " + strings.Join(d.Details, "; ")
		}
		out = append(out, s)
	}
	if len(sorted) > maxListed {
		out = append(out, fmt.Sprintf("… and %d more", len(sorted)-maxListed))
	}
	return out
}

// rel is t relative to the stream's start: "+52.3s".
func rel(t, start time.Time) string {
	d := t.Sub(start).Round(100 * time.Millisecond)
	if d < 0 {
		return "-" + (-d).String()
	}
	return "+" + d.String()
}
