package watchlist

import (
	"cmp"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"time"

	"google.golang.org/protobuf/types/known/timestamppb"

	"github.com/trendstream/trendstream/internal/core/terms"
	"github.com/trendstream/trendstream/internal/core/trendscore"
	tsv1 "github.com/trendstream/trendstream/proto/trendstream/v1"
)

// Config is what the counting and the alert rule need: the sliding
// windows (the trending pipeline's), the scoring knobs every entry starts
// from, and the event time the stream starts at (the warm-up counts from
// it).
type Config struct {
	Size, Period time.Duration
	Terms        terms.Options
	Score        trendscore.Params
	StreamStart  time.Time
}

// Validate reports a configuration that cannot work.
func (c Config) Validate() error {
	switch {
	case c.Period <= 0 || c.Size <= 0 || c.Size%c.Period != 0:
		return fmt.Errorf("watchlist: window size %v must be a positive multiple of the period %v", c.Size, c.Period)
	case c.Period < time.Second:
		return errors.New("watchlist: window period below one second")
	}
	if err := c.Score.Validate(); err != nil {
		return fmt.Errorf("watchlist: %w", err)
	}
	return nil
}

// ParamsFor returns the scoring parameters of entry e: the configuration's,
// lagged for the window size, warming up from StreamStart, with e's
// thresholds if it sets them.
func (c Config) ParamsFor(e Entry) trendscore.Params {
	p := c.Score.ForWindow(c.Size)
	if !c.StreamStart.IsZero() {
		p = p.StartingAt(c.StreamStart)
	}
	if e.Enter > 0 {
		p.Enter = e.Enter
	}
	if e.Exit > 0 {
		p.Exit = e.Exit
	}
	p.Exit = min(p.Exit, p.Enter)
	return p
}

// Window is one entry's matches in one sliding window [Start, End) (Unix
// ms).
type Window struct {
	Start, End int64
	// Count is the matching posts, Authors their distinct authors,
	// TopAuthorPosts the posts of the author with most.
	Count, Authors, TopAuthorPosts int64
}

// Tally counts the posts of one window from their authors, one per post.
func Tally(start, end int64, authors []string) Window {
	w := Window{Start: start, End: end, Count: int64(len(authors))}
	per := make(map[string]int64, len(authors))
	for _, a := range authors {
		per[a]++
		w.TopAuthorPosts = max(w.TopAuthorPosts, per[a])
	}
	w.Authors = int64(len(per))
	return w
}

// WindowStarts returns the starts (Unix ms) of the sliding windows that
// contain the instant ts, as Beam's SlidingWindows assigns them: aligned to
// multiples of period since the epoch, newest first.
func WindowStarts(ts int64, size, period time.Duration) []int64 {
	per, sz := period.Milliseconds(), size.Milliseconds()
	last := ts - ((ts%per)+per)%per
	var out []int64
	for s := last; s > ts-sz; s -= per {
		out = append(out, s)
	}
	return out
}

// Status is an entry's state after one window: what the dashboard shows.
type Status struct {
	EntryID                string
	WindowStart, WindowEnd int64 // Unix ms
	Count, Authors         int64
	// Score is the significance against the entry's baseline, Baseline the
	// value expected (distinct authors by default, -score-value).
	Score, Baseline float64
	// Scored is false for a window too thin to be scored (fewer posts than
	// the noise floor and the author minimum: trendscore's Negligible),
	// which counts as empty for the baseline.
	Scored bool
	// Active says the entry is above its rule (entered and not yet below
	// the exit threshold).
	Active bool
}

// Alert is one crossing of an entry's enter threshold.
type Alert struct {
	// ID is AlertID(EntryID, WindowEnd): the same crossing always gets the
	// same ID, so a re-run or a restart upserts instead of repeating it.
	ID                     string
	EntryID                string
	WindowStart, WindowEnd int64 // Unix ms
	Count, Authors         int64
	Score, Baseline, Enter float64
}

// AlertID is the idempotent identifier of the alert for entry at the window
// ending at windowEnd (Unix ms): "<entry id>@<window end>".
func AlertID(entryID string, windowEnd int64) string {
	return entryID + "@" + strconv.FormatInt(windowEnd, 10)
}

// Step scores the entry's window w against st (the entry's baseline) and
// updates st. It returns the window's status and, when the score crosses
// the enter threshold in this window, the alert. Windows must come in
// order of their end; windows with no match in between count as zero
// (trendscore.Params.Update), so a gap also ends an active run.
func Step(p trendscore.Params, st *trendscore.State, entryID string, w Window, period time.Duration) (Status, *Alert) {
	obs := trendscore.Observation{
		WindowStart: time.UnixMilli(w.Start), WindowEnd: time.UnixMilli(w.End),
		Count: w.Count, Authors: w.Authors, TopAuthorPosts: w.TopAuthorPosts,
	}
	s := Status{EntryID: entryID, WindowStart: w.Start, WindowEnd: w.End, Count: w.Count, Authors: w.Authors}
	if p.Negligible(obs) {
		// As the trending scorer does: the window counts as empty. A state
		// that was active stays so until a scored window says otherwise,
		// and the next scored window sees the gap.
		s.Active = st.Trending && st.LastWindowEnd == w.End-period.Milliseconds()
		return s, nil
	}
	res := p.Update(st, obs, period)
	s.Score, s.Baseline, s.Scored, s.Active = res.Score, res.Baseline, true, res.Trending
	if !res.Trending || res.StartedAt.UnixMilli() != w.Start {
		return s, nil
	}
	return s, &Alert{
		ID: AlertID(entryID, w.End), EntryID: entryID, WindowStart: w.Start, WindowEnd: w.End,
		Count: w.Count, Authors: w.Authors, Score: res.Score, Baseline: res.Baseline, Enter: p.Enter,
	}
}

// Compute is the single-process reference: it matches posts to entries,
// counts every entry in every sliding window that holds a match, and runs
// each entry's windows through Step in order. It returns the statuses
// ordered by (entry, window end) and the alerts in the same order. Posts
// are timed by ObservedAt, the event time the ingest writes to Kafka.
func Compute(c Config, entries []Entry, posts []*tsv1.Post) ([]Status, []Alert, error) {
	if err := c.Validate(); err != nil {
		return nil, nil, err
	}
	m := NewMatcher(entries, c.Terms)
	type key struct {
		entry int
		start int64
	}
	authors := map[key][]string{}
	for _, p := range posts {
		ts := p.GetObservedAt().AsTime().UnixMilli()
		for _, i := range m.Match(p) {
			for _, s := range WindowStarts(ts, c.Size, c.Period) {
				k := key{i, s}
				authors[k] = append(authors[k], p.GetAuthorDid())
			}
		}
	}
	keys := make([]key, 0, len(authors))
	for k := range authors {
		keys = append(keys, k)
	}
	slices.SortFunc(keys, func(a, b key) int {
		if c := cmp.Compare(m.entries[a.entry].ID, m.entries[b.entry].ID); c != 0 {
			return c
		}
		return cmp.Compare(a.start, b.start)
	})
	var (
		statuses []Status
		alerts   []Alert
		st       trendscore.State
	)
	for i, k := range keys {
		e := m.entries[k.entry]
		if i == 0 || keys[i-1].entry != k.entry {
			st = trendscore.State{}
		}
		w := Tally(k.start, k.start+c.Size.Milliseconds(), authors[k])
		s, a := Step(c.ParamsFor(e), &st, e.ID, w, c.Period)
		statuses = append(statuses, s)
		if a != nil {
			alerts = append(alerts, *a)
		}
	}
	return statuses, alerts, nil
}

// Proto returns the alerts-topic message of a, an alert of entry e.
func (a Alert) Proto(e Entry) *tsv1.WatchlistAlert {
	return &tsv1.WatchlistAlert{
		AlertId: a.ID, EntryId: a.EntryID, Watchlist: e.Watchlist, Kind: string(e.Kind), Text: e.Text,
		WindowStart: timestamppb.New(time.UnixMilli(a.WindowStart)), WindowEnd: timestamppb.New(time.UnixMilli(a.WindowEnd)),
		Count: a.Count, UniqueAuthors: a.Authors, Score: a.Score, Baseline: a.Baseline, EnterThreshold: a.Enter,
	}
}
