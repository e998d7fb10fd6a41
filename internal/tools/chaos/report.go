package chaos

import (
	"encoding/json"
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/trendstream/trendstream/internal/tools/livesoak"
)

// Report is the outcome of a run.
type Report struct {
	Command  string    `json:"command"`
	Commit   string    `json:"commit,omitempty"`
	Host     string    `json:"host"`
	CPUs     int       `json:"cpus"`
	Began    time.Time `json:"began"`
	Elapsed  Duration  `json:"elapsed"`
	Settings Settings  `json:"settings"`
	// StreamStart is when the source produced its first event; fault
	// times are relative to it.
	StreamStart time.Time            `json:"stream_start"`
	Source      livesoak.ServerStats `json:"source"`
	Faults      []Injected           `json:"faults"`
	Drain       Drain                `json:"drain"`
	Findings    *Findings            `json:"findings"`
	Checks      []Check              `json:"checks"`
	Logs        map[string]string    `json:"logs"`
	// Dir is the kept work directory (state and logs), empty when it was
	// removed.
	Dir     string   `json:"dir,omitempty"`
	Metrics []string `json:"ingest_metrics,omitempty"`
	// Phases is how long each step of the run took.
	Phases []Phase `json:"phases"`
}

// Phase is one step of a run and its duration.
type Phase struct {
	Name string   `json:"name"`
	Took Duration `json:"took"`
}

// Settings are what the report states about the run's configuration.
type Settings struct {
	Mode          livesoak.Mode `json:"mode"`
	Rate          float64       `json:"rate"`
	Duration      Duration      `json:"duration"`
	Seed          uint64        `json:"seed"`
	WindowSize    Duration      `json:"window_size"`
	WindowPeriod  Duration      `json:"window_period"`
	MaxOutOfOrder Duration      `json:"max_out_of_order"`
	TopK          int           `json:"top_k"`
	WarmUp        Duration      `json:"warm_up"`
	Partitions    int32         `json:"partitions"`
	PipelineArgs  []string      `json:"pipeline_args"`
	IngestArgs    []string      `json:"ingest_args"`
}

// Drain is how the system settled after the stream ended.
type Drain struct {
	// IngestCaughtUp is whether the ingest's committed cursor reached the
	// source's last event, and after how long.
	IngestCaughtUp bool     `json:"ingest_caught_up"`
	IngestTook     Duration `json:"ingest_took"`
	// LastWindow is whether the newest window of the reference reached
	// PostgreSQL, LastWindowEnd its end, LastWindowTook the wait.
	LastWindow     bool      `json:"last_window"`
	LastWindowEnd  time.Time `json:"last_window_end"`
	LastWindowTook Duration  `json:"last_window_took"`
	Notes          []string  `json:"notes,omitempty"`
}

// Duration marshals as a Go duration string.
type Duration time.Duration

// MarshalJSON writes "1m30s".
func (d Duration) MarshalJSON() ([]byte, error) { return json.Marshal(time.Duration(d).String()) }

func (d Duration) String() string { return time.Duration(d).String() }

// Failed lists the checks that failed.
func (r *Report) Failed() []Check {
	var out []Check
	for _, c := range r.Checks {
		if !c.Pass {
			out = append(out, c)
		}
	}
	return out
}

// Summary is a few lines for a terminal or a test log.
func (r *Report) Summary() string {
	var b strings.Builder
	fmt.Fprintf(&b, "chaos: %s stream at %g posts/s, %d faults, %s in all\n", r.Settings.Duration, r.Settings.Rate, len(r.Faults), r.Elapsed)
	for _, c := range r.Checks {
		fmt.Fprintf(&b, "  %s  %s: %s\n", verdict(c.Pass), c.Name, c.Figure)
	}
	fmt.Fprintf(&b, "  phases: %s\n", r.phases())
	return b.String()
}

func (r *Report) phases() string {
	out := make([]string, len(r.Phases))
	for i, p := range r.Phases {
		out[i] = fmt.Sprintf("%s %s", p.Name, p.Took)
	}
	return strings.Join(out, ", ")
}

func verdict(pass bool) string {
	if pass {
		return "PASS"
	}
	return "FAIL"
}

// WriteJSON writes the report as JSON.
func (r *Report) WriteJSON(w io.Writer) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(r)
}

// WriteMarkdown writes RELIABILITY.md: the figures the issue asks for with
// the command that produced them, every check with its evidence, and the
// faults one by one.
func (r *Report) WriteMarkdown(w io.Writer) error {
	var b strings.Builder
	r.mdHeader(&b)
	r.mdFigures(&b)
	r.mdChecks(&b)
	r.mdFaults(&b)
	r.mdRun(&b)
	_, err := io.WriteString(w, b.String())
	return err
}

func (r *Report) mdHeader(b *strings.Builder) {
	b.WriteString("# Reliability: the chaos test\n\n")
	fmt.Fprintf(b, "Produced by `%s`", r.Command)
	if r.Commit != "" {
		fmt.Fprintf(b, " at commit `%s`", r.Commit)
	}
	fmt.Fprintf(b, " on %s (%s, %d CPUs); the run took %s. `make chaos` rewrites this file; docs/chaos.md explains the harness.\n\n",
		r.Began.UTC().Format("2006-01-02 15:04 MST"), r.Host, r.CPUs, r.Elapsed)
	fmt.Fprintf(b, "A %s source (local, live-like: timestamps are the wall clock) wrote %d posts at %g posts/s for %s through a fault proxy to "+
		"`trendstream ingest`, which wrote them to a real Kafka 4.1 broker; the pipeline (`pipelines/trending/cmd/trending` on Prism, "+
		"%s windows every %s, -max-out-of-order %s) read them and wrote rankings to the results topic and PostgreSQL. "+
		"Meanwhile the seeded schedule (-seed %d) below hit every part of it. After the stream ended and the system drained, every "+
		"check below compared the outcome with what the source wrote and with the single-process reference (`internal/core/trendcalc`) over "+
		"the distinct posts in Kafka.\n\n",
		r.Settings.Mode, len(r.Findings.Sent), r.Settings.Rate, r.Settings.Duration, r.Settings.WindowSize, r.Settings.WindowPeriod,
		r.Settings.MaxOutOfOrder, r.Settings.Seed)
	if failed := r.Failed(); len(failed) > 0 {
		fmt.Fprintf(b, "**Result: %d of %d checks FAIL.**\n\n", len(failed), len(r.Checks))
	} else {
		fmt.Fprintf(b, "**Result: all %d checks pass.**\n\n", len(r.Checks))
	}
}

func (r *Report) mdFigures(b *strings.Builder) {
	f := r.Findings
	by := CountByKind(r.Faults)
	var kinds []string
	for _, k := range Kinds {
		kinds = append(kinds, fmt.Sprintf("%s %d", k, by[k]))
	}
	short, postsShort := 0, int64(0)
	for _, d := range f.WindowDiffs {
		if d.Short() > 0 {
			short++
			if d.Lang == "" {
				postsShort += d.Short()
			}
		}
	}
	b.WriteString("## Figures\n\n| figure | value | must be |\n|---|---|---|\n")
	fmt.Fprintf(b, "| faults injected | %d: %s | at least 1 of each kind |\n", len(r.Faults), strings.Join(kinds, ", "))
	fmt.Fprintf(b, "| posts checked (written by the source, looked up in Kafka by (uri, cid)) | %d | |\n", len(f.Sent))
	fmt.Fprintf(b, "| posts lost | %d | 0 |\n", len(f.Lost))
	fmt.Fprintf(b, "| windows compared (PostgreSQL vs reference, every language) | %d | |\n", f.WindowsCompared)
	fmt.Fprintf(b, "| windows that differ from the reference | %d | 0 |\n", len(f.WindowDiffs))
	fmt.Fprintf(b, "| windows short of posts (overall ranking's missing post-slots) | %d (%d) | 0 |\n", short, postsShort)
	fmt.Fprintf(b, "| duplicate rows: posts in Kafka more than once | %d | 0 |\n", f.DuplicateRecords())
	fmt.Fprintf(b, "| duplicate rows: PostgreSQL | %d | 0 |\n", len(f.PGDuplicates))
	if f.ResultsErr != "" {
		fmt.Fprintf(b, "| results-topic windows that differ | unreadable | 0 |\n")
	} else {
		fmt.Fprintf(b, "| results-topic windows that differ (of %d) | %d | 0 |\n", f.ResultsCompared, len(f.ResultsDiffs))
	}
	fmt.Fprintf(b, "| unplanned process exits | %d | 0 |\n", len(f.Unplanned()))
	fmt.Fprintf(b, "| SIGINT stops that did not exit 0 | %d | 0 |\n\n", len(f.Unclean()))
}

func (r *Report) mdChecks(b *strings.Builder) {
	b.WriteString("## Checks\n\n")
	for _, c := range r.Checks {
		fmt.Fprintf(b, "- **%s** %s: %s\n", verdict(c.Pass), c.Name, c.Figure)
		for _, d := range c.Details {
			fmt.Fprintf(b, "  - %s\n", d)
		}
	}
	b.WriteString("\n")
}

func (r *Report) mdFaults(b *strings.Builder) {
	b.WriteString("## Faults\n\nTimes are after the stream's first post. A window counts for a fault when the fault was under way at some instant of it or began at most 5 s after its end (a reconnecting or restarted ingest re-sends posts from before the fault).\n\n")
	b.WriteString("| # | at | kind | outage | back after | overall windows differing | posts short in them | detail |\n|---|---|---|---|---|---|---|---|\n")
	for _, f := range r.Faults {
		n, short := 0, int64(0)
		for _, d := range r.Findings.WindowDiffs {
			if d.Lang == "" && f.Affects(d.Start, d.End) {
				n++
				short += max(d.Short(), 0)
			}
		}
		detail := f.Detail
		if f.Err != "" {
			detail += " ERROR: " + f.Err
		}
		fmt.Fprintf(b, "| %d | %s | %s | %s | %s | %d | %d | %s |\n", f.N, rel(f.Began, r.StreamStart), f.Kind, f.Outage,
			f.Recovered.Sub(f.Began).Round(100*time.Millisecond), n, short, detail)
	}
	b.WriteString("\n")
}

func (r *Report) mdRun(b *strings.Builder) {
	s := r.Settings
	d := r.Drain
	b.WriteString("## Run\n\n")
	fmt.Fprintf(b, "- source: %s, %d events, %d posts, %.1f posts/s achieved, %d connections (%d resumed with a cursor, %d too old), %d events skipped for a slow reader\n",
		r.Source.Mode, r.Source.Events, r.Source.Posts, r.Source.AchievedRate(), r.Source.Conns, r.Source.Resumes, r.Source.ResumesTooOld, r.Source.Skipped)
	if t := r.Findings.Topic; t != nil {
		fmt.Fprintf(b, "- posts topic: %d records (%d partitions): %d posts, %d source-watermark markers\n", t.Records, s.Partitions, len(t.Posts), t.Markers)
	}
	fmt.Fprintf(b, "- drain: ingest caught up: %v (%s); newest window (ending %s) in PostgreSQL: %v (%s)\n",
		d.IngestCaughtUp, d.IngestTook, d.LastWindowEnd.UTC().Format(time.TimeOnly), d.LastWindow, d.LastWindowTook)
	for _, n := range d.Notes {
		fmt.Fprintf(b, "  - %s\n", n)
	}
	fmt.Fprintf(b, "- phases: %s\n", r.phases())
	fmt.Fprintf(b, "- ingest: `trendstream %s`\n", strings.Join(s.IngestArgs, " "))
	fmt.Fprintf(b, "- pipeline: `trending %s`\n", strings.Join(s.PipelineArgs, " "))
	if len(r.Metrics) > 0 {
		fmt.Fprintf(b, "- the last ingest run's metrics at the end: `%s`\n", strings.Join(r.Metrics, "`, `"))
	}
	b.WriteString("- process runs:\n")
	for _, e := range r.Findings.Exits {
		how := "planned"
		if !e.Planned {
			how = "UNPLANNED"
		}
		fmt.Fprintf(b, "  - %s run %d: %s, exit code %d%s, %d ERROR lines before the stop, %d after\n", e.Process, e.Run, how, e.ExitCode,
			signal(e.Signal), e.ErrorsBefore, e.ErrorsAfter)
	}
	b.WriteString("\n")
}

func signal(s string) string {
	if s == "" {
		return ""
	}
	return ", signal " + s
}
