package livesoak

import (
	"encoding/json"
	"fmt"
	"io"
	"math"
	"slices"
	"strconv"
	"strings"
	"time"
)

// Dur is a duration that JSON writes as seconds.
type Dur time.Duration

// MarshalJSON writes seconds with millisecond precision.
func (d Dur) MarshalJSON() ([]byte, error) {
	return []byte(strconv.FormatFloat(math.Round(time.Duration(d).Seconds()*1000)/1000, 'f', -1, 64)), nil
}

// UnmarshalJSON reads seconds.
func (d *Dur) UnmarshalJSON(b []byte) error {
	f, err := strconv.ParseFloat(string(b), 64)
	if err != nil {
		return err
	}
	*d = Dur(time.Duration(f * float64(time.Second)))
	return nil
}

func (d Dur) String() string { return fmtDur(time.Duration(d)) }

func fmtDur(d time.Duration) string {
	switch {
	case d < 0:
		return "-" + fmtDur(-d)
	case d < 10*time.Second:
		return strconv.FormatFloat(d.Seconds(), 'f', 2, 64) + "s"
	case d < 100*time.Second:
		return strconv.FormatFloat(d.Seconds(), 'f', 1, 64) + "s"
	default:
		return d.Round(time.Second).String()
	}
}

// RunInfo describes a soak run.
type RunInfo struct {
	Mode          Mode    `json:"mode"`
	Rate          float64 `json:"rate"`
	WindowSize    Dur     `json:"window_size_s"`
	WindowPeriod  Dur     `json:"window_period_s"`
	MaxOutOfOrder Dur     `json:"max_out_of_order_s,omitempty"`
	Duration      Dur     `json:"duration_s"`
	PollEvery     Dur     `json:"poll_every_s"`
	// Bound is the delay every window after the first must be written in
	// (emitted_at - window_end).
	Bound Dur `json:"bound_s"`
	// Started is when the first post was generated (zero: the process
	// under test never connected), StopAt when the stop of the process
	// under test began, Stopped when it exited.
	Started   time.Time `json:"started,omitzero"`
	StopAt    time.Time `json:"stop_at"`
	Stopped   time.Time `json:"stopped,omitzero"`
	Source    string    `json:"source"`
	ChildArgs []string  `json:"child_args,omitempty"`
	Host      string    `json:"host,omitempty"`
	CPUs      int       `json:"cpus,omitempty"`
	Commit    string    `json:"commit,omitempty"`
}

// ChildResult is how the process under test ended.
type ChildResult struct {
	PID      int    `json:"pid"`
	ExitCode int    `json:"exit_code"`
	Signal   string `json:"signal,omitempty"`
	// Killed: it did not stop within the timeout after SIGINT.
	Killed bool `json:"killed,omitempty"`
	// ExitedEarly: it exited before the stop began.
	ExitedEarly bool   `json:"exited_early,omitempty"`
	StopTook    Dur    `json:"stop_took_s"`
	LogPath     string `json:"log_path,omitempty"`
	// Error lines of its log (level=ERROR), before and after the stop
	// began: counts and the first ones.
	ErrorsBefore      int      `json:"errors_before_stop"`
	ErrorsAfter       int      `json:"errors_after_stop"`
	Warnings          int      `json:"warnings"`
	ErrorLinesBefore  []string `json:"error_lines_before_stop,omitempty"`
	ErrorLinesAfter   []string `json:"error_lines_after_stop,omitempty"`
	Err               string   `json:"error,omitempty"`
	LastLinesOnFailed []string `json:"last_lines,omitempty"`
}

// DelayStats summarise delays.
type DelayStats struct {
	N    int `json:"n"`
	Min  Dur `json:"min_s"`
	P50  Dur `json:"p50_s"`
	P95  Dur `json:"p95_s"`
	Max  Dur `json:"max_s"`
	Mean Dur `json:"mean_s"`
}

// Percentile is the nearest-rank p-th percentile (0 < p <= 100) of sorted
// values: the smallest value with at least p% of the values at or below it.
// It is 0 for no values.
func Percentile(sorted []time.Duration, p float64) time.Duration {
	if len(sorted) == 0 {
		return 0
	}
	i := int(math.Ceil(p/100*float64(len(sorted)))) - 1
	return sorted[min(max(i, 0), len(sorted)-1)]
}

// Delays summarises ds (in any order).
func Delays(ds []time.Duration) DelayStats {
	if len(ds) == 0 {
		return DelayStats{}
	}
	s := slices.Clone(ds)
	slices.Sort(s)
	var sum time.Duration
	for _, d := range s {
		sum += d
	}
	return DelayStats{N: len(s), Min: Dur(s[0]), P50: Dur(Percentile(s, 50)), P95: Dur(Percentile(s, 95)),
		Max: Dur(s[len(s)-1]), Mean: Dur(sum / time.Duration(len(s)))}
}

// ExpectedEnds are the window ends of a ranking whose first window ends at
// first: every period from first through the last end at or before until.
func ExpectedEnds(first time.Time, period time.Duration, until time.Time) []time.Time {
	if period <= 0 || until.Before(first) {
		return nil
	}
	var out []time.Time
	for e := first; !e.After(until); e = e.Add(period) {
		out = append(out, e)
	}
	return out
}

// Missing returns the expected ends that are not in have.
func Missing(expected, have []time.Time) []time.Time {
	set := make(map[int64]bool, len(have))
	for _, h := range have {
		set[h.UnixNano()] = true
	}
	var out []time.Time
	for _, e := range expected {
		if !set[e.UnixNano()] {
			out = append(out, e)
		}
	}
	return out
}

// ResourceStats summarise the samples of one process (tree).
type ResourceStats struct {
	N        int   `json:"n"`
	RSSMin   int64 `json:"rss_min"`
	RSSMax   int64 `json:"rss_max"`
	RSSMean  int64 `json:"rss_mean"`
	RSSFirst int64 `json:"rss_first"`
	RSSLast  int64 `json:"rss_last"`
	HWM      int64 `json:"rss_peak,omitempty"`
	// CPU is percent of one core: Mean over the whole span, Max over one
	// sample interval; CPUSeconds the total.
	CPUMean    float64 `json:"cpu_mean_pct"`
	CPUMax     float64 `json:"cpu_max_pct"`
	CPUSeconds float64 `json:"cpu_seconds"`
}

func resources(samples []Sample, pick func(Sample) (ProcUsage, float64)) ResourceStats {
	var r ResourceStats
	var first, last Sample
	var sum int64
	for i, s := range samples {
		u, cpu := pick(s)
		if !u.OK {
			continue
		}
		if r.N == 0 {
			first, r.RSSMin, r.RSSFirst = s, u.RSS, u.RSS
		}
		r.N++
		last = s
		r.RSSMin, r.RSSMax, r.RSSLast = min(r.RSSMin, u.RSS), max(r.RSSMax, u.RSS), u.RSS
		r.HWM = max(r.HWM, u.HWM)
		sum += u.RSS
		if i > 0 {
			r.CPUMax = max(r.CPUMax, cpu)
		}
	}
	if r.N == 0 {
		return r
	}
	r.RSSMean = sum / int64(r.N)
	u0, _ := pick(first)
	u1, _ := pick(last)
	if u1.CPUTicks >= u0.CPUTicks {
		r.CPUSeconds = float64(u1.CPUTicks-u0.CPUTicks) / ClockTicks
		if dt := last.At.Sub(first.At).Seconds(); dt > 0 {
			r.CPUMean = r.CPUSeconds / dt * 100
		}
	}
	return r
}

// Report is the outcome of a soak run.
type Report struct {
	Info   RunInfo     `json:"info"`
	Stream ServerStats `json:"stream"`
	Child  ChildResult `json:"child"`
	// Overall are the overall ranking's windows (lang ""), by end.
	Overall  []WindowObs `json:"overall_windows"`
	Rankings int         `json:"rankings"`
	// Delays of the overall ranking's windows after the first: window end
	// to emitted_at, to the first poll that saw the row, to the SSE push.
	EmitDelay DelayStats `json:"emit_delay"`
	SeenDelay DelayStats `json:"seen_delay"`
	SSEDelay  DelayStats `json:"sse_delay"`
	// AllEmitDelay is window end to emitted_at over every ranking (each
	// language's first window excluded).
	AllEmitDelay DelayStats `json:"all_rankings_emit_delay"`
	// FirstEnd is the end of the overall ranking's first window and
	// FirstEmitDelay its delay; Due counts the windows after it that had
	// to be written by the stop (end + bound <= stop).
	FirstEnd       time.Time `json:"first_window_end,omitzero"`
	FirstEmitDelay Dur       `json:"first_emit_delay_s"`
	Due            int       `json:"due"`
	// Skipped: due windows absent while a later one was written;
	// Unwritten: due windows absent with nothing later; Late: written
	// after the bound; NoSSE: written at least 5 s before the stop but
	// never pushed.
	Skipped   []time.Time `json:"skipped,omitempty"`
	Unwritten []time.Time `json:"unwritten,omitempty"`
	Late      []time.Time `json:"late,omitempty"`
	NoSSE     []time.Time `json:"no_sse,omitempty"`
	// Lag is the newest window's distance behind the wall clock, over the
	// samples taken once a window existed.
	Lag      DelayStats    `json:"lag"`
	Run      ResourceStats `json:"run"`
	Postgres ResourceStats `json:"postgres"`
	Harness  ResourceStats `json:"harness"`
	Samples  []Sample      `json:"samples"`
	// Recorder health.
	PollOK       int    `json:"poll_ok"`
	PollErrors   int    `json:"poll_errors"`
	LastPollErr  string `json:"last_poll_error,omitempty"`
	SSEConnects  int    `json:"sse_connects"`
	SSEEvents    int    `json:"sse_events"`
	SSEBadEvents int    `json:"sse_bad_events,omitempty"`
	LastSSEErr   string `json:"last_sse_error,omitempty"`
	// Violations of the soak's criteria (see Check); empty means pass.
	Violations []string `json:"violations"`
}

// SSEGrace is how long before the stop a window must have been emitted for
// its missing push to count against it.
const SSEGrace = 5 * time.Second

// BuildReport computes the report of a run from what was observed.
func BuildReport(info RunInfo, obs Observations, stream ServerStats, child ChildResult) *Report {
	r := &Report{Info: info, Stream: stream, Child: child, Samples: obs.Samples,
		PollOK: obs.PollOK, PollErrors: obs.PollErrors, LastPollErr: obs.LastPollErr,
		SSEConnects: obs.SSEConnects, SSEEvents: obs.SSEEvents, SSEBadEvents: obs.SSEBadEvents, LastSSEErr: obs.LastSSEErr}
	if r.Info.Source == "" {
		r.Info.Source = "bluesky"
	}
	bound := time.Duration(info.Bound)
	period := time.Duration(info.WindowPeriod)

	// Every ranking: end to emitted_at after its first window.
	rankings := map[[2]string]time.Time{}
	for _, w := range obs.Windows {
		if w.EmittedAt.IsZero() {
			continue
		}
		k := [2]string{w.Source, w.Lang}
		if f, ok := rankings[k]; !ok || w.End.Before(f) {
			rankings[k] = w.End
		}
	}
	r.Rankings = len(rankings)
	var all []time.Duration
	for _, w := range obs.Windows {
		if !w.EmittedAt.IsZero() && w.End.After(rankings[[2]string{w.Source, w.Lang}]) {
			all = append(all, w.EmittedAt.Sub(w.End))
		}
	}
	r.AllEmitDelay = Delays(all)

	// The overall ranking.
	for _, w := range obs.Windows {
		if w.Source == r.Info.Source && w.Lang == "" {
			r.Overall = append(r.Overall, w)
		}
	}
	var written []WindowObs
	for _, w := range r.Overall {
		if !w.SeenAt.IsZero() {
			written = append(written, w)
		}
	}
	if len(written) > 0 {
		first := written[0]
		r.FirstEnd, r.FirstEmitDelay = first.End, Dur(first.EmittedAt.Sub(first.End))
		var emit, seen, sse []time.Duration
		var have []time.Time
		for _, w := range written[1:] {
			have = append(have, w.End)
			emit = append(emit, w.EmittedAt.Sub(w.End))
			seen = append(seen, w.SeenAt.Sub(w.End))
			if !w.SSEAt.IsZero() {
				sse = append(sse, w.SSEAt.Sub(w.End))
			}
			due := !w.End.Add(bound).After(info.StopAt)
			if w.EmittedAt.Sub(w.End) > bound && due {
				r.Late = append(r.Late, w.End)
			}
			if w.SSEAt.IsZero() && !w.EmittedAt.Add(SSEGrace).After(info.StopAt) {
				r.NoSSE = append(r.NoSSE, w.End)
			}
		}
		r.EmitDelay, r.SeenDelay, r.SSEDelay = Delays(emit), Delays(seen), Delays(sse)
		if period > 0 {
			expected := ExpectedEnds(first.End.Add(period), period, info.StopAt.Add(-bound))
			r.Due = len(expected)
			last := written[len(written)-1].End
			for _, m := range Missing(expected, have) {
				if m.Before(last) {
					r.Skipped = append(r.Skipped, m)
				} else {
					r.Unwritten = append(r.Unwritten, m)
				}
			}
		}
	}

	var lags []time.Duration
	for _, s := range obs.Samples {
		if l := s.Lag(); l >= 0 {
			lags = append(lags, l)
		}
	}
	r.Lag = Delays(lags)
	r.Run = resources(obs.Samples, func(s Sample) (ProcUsage, float64) { return s.Run, s.RunCPU })
	r.Postgres = resources(obs.Samples, func(s Sample) (ProcUsage, float64) { return s.PG, s.PGCPU })
	r.Harness = resources(obs.Samples, func(s Sample) (ProcUsage, float64) { return s.Self, s.SelfCPU })
	r.Violations = r.Check()
	return r
}

// Check lists the ways the run failed the soak's criteria: at least one
// window after the first is due; every due window after the first is
// written within the bound (emitted_at - window_end), none is skipped, each
// is pushed on the SSE stream; the process under test ran until the stop,
// stopped on SIGINT with exit status 0, and logged no ERROR after the stop
// began.
func (r *Report) Check() []string {
	var v []string
	bound := r.Info.Bound.String()
	if r.Info.Started.IsZero() {
		v = append(v, "the process under test never connected to the stream")
	}
	if r.FirstEnd.IsZero() {
		v = append(v, "no window of the overall ranking reached PostgreSQL")
	} else if r.Due == 0 {
		v = append(v, fmt.Sprintf("no window after the first (ending %s) was due before the stop: run longer", clock(r.FirstEnd)))
	}
	if len(r.Late) > 0 {
		worst := time.Duration(0)
		for _, w := range r.Overall {
			if slices.ContainsFunc(r.Late, w.End.Equal) {
				worst = max(worst, w.EmittedAt.Sub(w.End))
			}
		}
		v = append(v, fmt.Sprintf("%d of %d windows after the first were written later than %s after their end (worst %s): %s",
			len(r.Late), r.EmitDelay.N, bound, fmtDur(worst), clocks(r.Late)))
	}
	if len(r.Skipped) > 0 {
		v = append(v, fmt.Sprintf("%d windows skipped (a later one was written): %s", len(r.Skipped), clocks(r.Skipped)))
	}
	if len(r.Unwritten) > 0 {
		v = append(v, fmt.Sprintf("%d windows not written within %s of their end by the stop: %s", len(r.Unwritten), bound, clocks(r.Unwritten)))
	}
	if len(r.NoSSE) > 0 {
		v = append(v, fmt.Sprintf("%d windows written but never pushed on /api/stream: %s", len(r.NoSSE), clocks(r.NoSSE)))
	}
	c := r.Child
	switch {
	case c.Err != "":
		v = append(v, "process under test: "+c.Err)
	case c.ExitedEarly:
		v = append(v, fmt.Sprintf("process under test exited before the stop (status %d%s)", c.ExitCode, sigSuffix(c.Signal)))
	case c.Killed:
		v = append(v, fmt.Sprintf("process under test did not stop on SIGINT within the timeout and was killed (after %s)", c.StopTook))
	case c.ExitCode != 0 || c.Signal != "":
		v = append(v, fmt.Sprintf("process under test exited with status %d%s after SIGINT", c.ExitCode, sigSuffix(c.Signal)))
	}
	if c.ErrorsAfter > 0 {
		v = append(v, fmt.Sprintf("%d ERROR lines in the log after the stop began, first: %s", c.ErrorsAfter, first(c.ErrorLinesAfter)))
	}
	return v
}

func sigSuffix(s string) string {
	if s == "" {
		return ""
	}
	return ", signal " + s
}

func first(ls []string) string {
	if len(ls) == 0 {
		return ""
	}
	return truncate(ls[0], 300)
}

func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n] + "…"
}

func clock(t time.Time) string { return t.UTC().Format("15:04:05") }

func clocks(ts []time.Time) string {
	var b strings.Builder
	for i, t := range ts {
		if i == 12 {
			fmt.Fprintf(&b, " … (%d more)", len(ts)-i)
			break
		}
		if i > 0 {
			b.WriteString(", ")
		}
		b.WriteString(clock(t))
	}
	return b.String()
}

// WriteJSON writes the report as indented JSON.
func (r *Report) WriteJSON(w io.Writer) error {
	e := json.NewEncoder(w)
	e.SetIndent("", "  ")
	return e.Encode(r)
}

// pct formats a CPU percentage: one decimal below 10%.
func pct(p float64) string {
	if p < 10 {
		return strconv.FormatFloat(p, 'f', 1, 64) + "%"
	}
	return strconv.FormatFloat(p, 'f', 0, 64) + "%"
}

func mb(b int64) string { return strconv.FormatFloat(float64(b)/(1<<20), 'f', 0, 64) + " MB" }

func delayRow(w io.Writer, name string, d DelayStats) {
	if d.N == 0 {
		fmt.Fprintf(w, "| %s | 0 | – | – | – | – |\n", name)
		return
	}
	fmt.Fprintf(w, "| %s | %d | %s | %s | %s | %s |\n", name, d.N, d.P50, d.P95, d.Max, d.Min)
}

func opt(t time.Time, end time.Time) string {
	if t.IsZero() {
		return "–"
	}
	return fmtDur(t.Sub(end))
}

// MaxWindowRows bounds the per-window table of the Markdown report (the
// JSON report has every window).
const MaxWindowRows = 120

// MaxSampleRows bounds the time series of the Markdown report.
const MaxSampleRows = 24

// WriteMarkdown writes the report for people.
func (r *Report) WriteMarkdown(w io.Writer) error {
	i := r.Info
	verdict := "PASS"
	if len(r.Violations) > 0 {
		verdict = "FAIL"
	}
	fmt.Fprintf(w, "# Live soak: %s\n\n", verdict)
	fmt.Fprintf(w, "`trendstream run` fed by a local %s server with real post texts stamped with the current time at %g posts/s; "+
		"windows %s every %s", i.Mode, i.Rate, i.WindowSize, i.WindowPeriod)
	if i.MaxOutOfOrder > 0 {
		fmt.Fprintf(w, ", -max-out-of-order %s", i.MaxOutOfOrder)
	}
	if i.Started.IsZero() {
		fmt.Fprintf(w, ". The stream never started: the process under test did not connect; stop (SIGINT) at %s.", clock(i.StopAt))
	} else {
		fmt.Fprintf(w, ". Stream from %s for %s; stop (SIGINT) at %s.", i.Started.UTC().Format(time.RFC3339), fmtDur(i.StopAt.Sub(i.Started)), clock(i.StopAt))
	}
	if i.Host != "" || i.CPUs > 0 {
		fmt.Fprintf(w, " Host %s, %d CPUs.", i.Host, i.CPUs)
	}
	if i.Commit != "" {
		fmt.Fprintf(w, " Commit %s.", i.Commit)
	}
	fmt.Fprintln(w)
	fmt.Fprintln(w)
	if len(r.Violations) == 0 {
		fmt.Fprintf(w, "Every window after the first was written within %s of its end, none was skipped, each was pushed, and the stop was clean.\n\n", i.Bound)
	} else {
		fmt.Fprintln(w, "Violations:")
		fmt.Fprintln(w)
		for _, v := range r.Violations {
			fmt.Fprintf(w, "- %s\n", v)
		}
		fmt.Fprintln(w)
	}

	fmt.Fprintln(w, "## Window end → PostgreSQL and SSE (overall ranking, windows after the first)")
	fmt.Fprintln(w)
	fmt.Fprintln(w, "| delay | n | p50 | p95 | max | min |")
	fmt.Fprintln(w, "| --- | ---: | ---: | ---: | ---: | ---: |")
	delayRow(w, "window end → emitted_at (row's processing time)", r.EmitDelay)
	delayRow(w, fmt.Sprintf("window end → row first seen by a poll (every %s)", i.PollEvery), r.SeenDelay)
	delayRow(w, "window end → SSE push received", r.SSEDelay)
	delayRow(w, fmt.Sprintf("window end → emitted_at, all %d rankings", r.Rankings), r.AllEmitDelay)
	fmt.Fprintln(w)
	if !r.FirstEnd.IsZero() {
		fmt.Fprintf(w, "First window: ended %s, emitted %s later. Windows due after it (end + %s before the stop): %d; written: %d; late: %d; skipped: %d; unwritten: %d; not pushed: %d.\n\n",
			clock(r.FirstEnd), r.FirstEmitDelay, i.Bound, r.Due, r.EmitDelay.N, len(r.Late), len(r.Skipped), len(r.Unwritten), len(r.NoSSE))
	}

	fmt.Fprintln(w, "## Liveness and resources")
	fmt.Fprintln(w)
	if r.Lag.N > 0 {
		fmt.Fprintf(w, "Newest overall window's lag behind the wall clock over %d samples: min %s, p50 %s, p95 %s, max %s.\n\n",
			r.Lag.N, r.Lag.Min, r.Lag.P50, r.Lag.P95, r.Lag.Max)
	}
	fmt.Fprintln(w, "| process | samples | RSS min | RSS mean | RSS max | RSS first → last | CPU mean | CPU max | CPU time |")
	fmt.Fprintln(w, "| --- | ---: | ---: | ---: | ---: | --- | ---: | ---: | ---: |")
	res := func(name string, s ResourceStats) {
		if s.N == 0 {
			fmt.Fprintf(w, "| %s | 0 | | | | | | | |\n", name)
			return
		}
		fmt.Fprintf(w, "| %s | %d | %s | %s | %s | %s → %s | %s | %s | %.1fs |\n", name, s.N, mb(s.RSSMin), mb(s.RSSMean), mb(s.RSSMax),
			mb(s.RSSFirst), mb(s.RSSLast), pct(s.CPUMean), pct(s.CPUMax), s.CPUSeconds)
	}
	res("trendstream run (RSS)", r.Run)
	res("its PostgreSQL (sum of Pss)", r.Postgres)
	res("the harness (server, recorder)", r.Harness)
	fmt.Fprintln(w)
	fmt.Fprintln(w, "CPU is percent of one core.")
	fmt.Fprintln(w)
	if len(r.Samples) > 0 {
		fmt.Fprintln(w, "| t | run RSS | run CPU | PG | PG CPU | newest window lag | posts sent | posts ingested |")
		fmt.Fprintln(w, "| ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |")
		origin := i.Started
		if origin.IsZero() {
			origin = r.Samples[0].At
		}
		for _, s := range downsample(r.Samples, MaxSampleRows) {
			lag := "–"
			if l := s.Lag(); l >= 0 {
				lag = fmtDur(l)
			}
			ing := "–"
			if s.Ingested >= 0 {
				ing = strconv.FormatInt(s.Ingested, 10)
			}
			fmt.Fprintf(w, "| %s | %s | %s | %s | %s | %s | %d | %s |\n", fmtDur(s.At.Sub(origin)), mb(s.Run.RSS), pct(s.RunCPU),
				mb(s.PG.RSS), pct(s.PGCPU), lag, s.Sent, ing)
		}
		fmt.Fprintln(w)
	}

	st := r.Stream
	fmt.Fprintln(w, "## Stream")
	fmt.Fprintln(w)
	fmt.Fprintf(w, "%d events, %d posts, %.1f posts/s achieved (asked %g); %d connections, %d resumed with a cursor (%d older than the buffer); %d events skipped for a slow client; %d pacer re-anchors; %d generation errors.\n\n",
		st.Events, st.Posts, st.AchievedRate(), st.Rate, st.Conns, st.Resumes, st.ResumesTooOld, st.Skipped, st.Reanchors, st.GenErrors)
	fmt.Fprintf(w, "Recorder: %d polls (%d failed after the first success%s), %d SSE connections, %d SSE snapshots (%d undecodable).\n\n",
		r.PollOK, r.PollErrors, errSuffix(r.LastPollErr), r.SSEConnects, r.SSEEvents, r.SSEBadEvents)

	c := r.Child
	fmt.Fprintln(w, "## Stop")
	fmt.Fprintln(w)
	status := fmt.Sprintf("exit status %d%s", c.ExitCode, sigSuffix(c.Signal))
	if c.Killed {
		status += " (killed after the timeout)"
	}
	if c.ExitedEarly {
		status += " (exited before the stop)"
	}
	fmt.Fprintf(w, "SIGINT → exit in %s, %s. Log: %d ERROR lines before the stop, %d after it began, %d WARN lines", c.StopTook, status, c.ErrorsBefore, c.ErrorsAfter, c.Warnings)
	if c.LogPath != "" {
		fmt.Fprintf(w, " (`%s`)", c.LogPath)
	}
	fmt.Fprintln(w, ".")
	fmt.Fprintln(w)
	lines := func(title string, ls []string) {
		if len(ls) == 0 {
			return
		}
		fmt.Fprintf(w, "%s:\n\n```\n", title)
		for _, l := range ls {
			fmt.Fprintln(w, truncate(l, 400))
		}
		fmt.Fprintln(w, "```")
		fmt.Fprintln(w)
	}
	lines("ERROR lines after the stop began", c.ErrorLinesAfter)
	lines("ERROR lines before the stop", c.ErrorLinesBefore)
	lines("Last log lines", c.LastLinesOnFailed)

	fmt.Fprintln(w, "## Windows of the overall ranking")
	fmt.Fprintln(w)
	fmt.Fprintln(w, "| window end | posts | → emitted_at | → seen by poll | → SSE push | rewrites |")
	fmt.Fprintln(w, "| --- | ---: | ---: | ---: | ---: | ---: |")
	rows := r.Overall
	if len(rows) > MaxWindowRows {
		fmt.Fprintf(w, "| (first %d of %d omitted) | | | | | |\n", len(rows)-MaxWindowRows, len(rows))
		rows = rows[len(rows)-MaxWindowRows:]
	}
	for _, o := range rows {
		fmt.Fprintf(w, "| %s | %d | %s | %s | %s | %d |\n", clock(o.End), o.Posts, opt(o.EmittedAt, o.End), opt(o.SeenAt, o.End), opt(o.SSEAt, o.End), o.Rewrites)
	}
	fmt.Fprintln(w)
	_, err := fmt.Fprintf(w, "Arguments of the process under test: `%s`\n", strings.Join(i.ChildArgs, " "))
	return err
}

func errSuffix(s string) string {
	if s == "" {
		return ""
	}
	return "; last: " + truncate(s, 200)
}

// downsample picks at most n samples, evenly spaced, always the last.
func downsample(s []Sample, n int) []Sample {
	if len(s) <= n || n < 2 {
		return s
	}
	out := make([]Sample, 0, n)
	for k := range n {
		out = append(out, s[k*(len(s)-1)/(n-1)])
	}
	return out
}

// Summary is a few lines for a terminal.
func (r *Report) Summary() string {
	var b strings.Builder
	verdict := "PASS"
	if len(r.Violations) > 0 {
		verdict = "FAIL"
	}
	stream := "no stream (the process under test never connected)"
	if !r.Info.Started.IsZero() {
		stream = fmtDur(r.Info.StopAt.Sub(r.Info.Started)) + " of stream"
	}
	fmt.Fprintf(&b, "soak %s: %s %g posts/s, windows %s/%s, %s\n", verdict, r.Info.Mode, r.Info.Rate,
		r.Info.WindowSize, r.Info.WindowPeriod, stream)
	d := func(name string, s DelayStats) {
		fmt.Fprintf(&b, "  %-28s n=%-4d p50 %-8s p95 %-8s max %s\n", name, s.N, s.P50, s.P95, s.Max)
	}
	d("window end → emitted_at", r.EmitDelay)
	d("window end → seen by poll", r.SeenDelay)
	d("window end → SSE push", r.SSEDelay)
	if r.Lag.N > 0 {
		fmt.Fprintf(&b, "  newest window lag            p50 %s max %s\n", r.Lag.P50, r.Lag.Max)
	}
	if r.Run.N > 0 {
		fmt.Fprintf(&b, "  run: RSS %s–%s (mean %s), CPU mean %.0f%% max %.0f%%\n", mb(r.Run.RSSMin), mb(r.Run.RSSMax), mb(r.Run.RSSMean), r.Run.CPUMean, r.Run.CPUMax)
	}
	fmt.Fprintf(&b, "  stop: %s, status %d%s, ERROR lines after stop %d\n", r.Child.StopTook, r.Child.ExitCode, sigSuffix(r.Child.Signal), r.Child.ErrorsAfter)
	for _, v := range r.Violations {
		fmt.Fprintf(&b, "  ✗ %s\n", v)
	}
	return b.String()
}
