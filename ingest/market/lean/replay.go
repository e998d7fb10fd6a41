package lean

import (
	"container/heap"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"time"

	"google.golang.org/protobuf/types/known/timestamppb"

	"github.com/trendstream/trendstream/ingest/market"
	v1 "github.com/trendstream/trendstream/proto/trendstream/v1"
)

// DefaultSpeed replays as fast as the sink takes it.
const DefaultSpeed = 0

// Config configures a Replay.
type Config struct {
	// Path is a LEAN trade zip, a bare <yyyymmdd>_<ticker>_Trade_Tick.csv,
	// or a directory of them (not recursive).
	Path string
	// Symbols, if not empty, limits the replay to these tickers (upper case).
	Symbols []string
	// Speed paces the replay against the recorded times: 1 is real time,
	// 60 is a minute per second, 0 (DefaultSpeed) is no pacing at all.
	Speed float64
	// Now and Sleep are the clock; nil means the real one. Tests pass a
	// fake so pacing is checked without waiting.
	Now   func() time.Time
	Sleep func(ctx context.Context, d time.Duration) error
}

func (c Config) withDefaults() Config {
	if c.Now == nil {
		c.Now = time.Now
	}
	if c.Sleep == nil {
		c.Sleep = sleep
	}
	return c
}

func (c Config) validate() error {
	if c.Path == "" {
		return errors.New("lean: no path")
	}
	if c.Speed < 0 {
		return fmt.Errorf("lean: speed %v: want >= 0", c.Speed)
	}
	return nil
}

func sleep(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// Replay is the market.Source that replays LEAN files. With several files
// it merges them by event time (ties: file order, then row order), so the
// topic sees the trading day in order across symbols, as a live feed would.
type Replay struct {
	cfg   Config
	files []string
}

var _ market.Source = (*Replay)(nil)

// New checks cfg and lists the files to replay.
func New(cfg Config) (*Replay, error) {
	cfg = cfg.withDefaults()
	if err := cfg.validate(); err != nil {
		return nil, err
	}
	st, err := os.Stat(cfg.Path)
	if err != nil {
		return nil, fmt.Errorf("lean: %w", err)
	}
	files := []string{cfg.Path}
	if st.IsDir() {
		ents, err := os.ReadDir(cfg.Path)
		if err != nil {
			return nil, fmt.Errorf("lean: %w", err)
		}
		files = files[:0]
		for _, e := range ents {
			n := strings.ToLower(e.Name())
			if !e.IsDir() && (strings.HasSuffix(n, "_trade.zip") || strings.HasSuffix(n, "_trade_tick.csv")) {
				files = append(files, filepath.Join(cfg.Path, e.Name()))
			}
		}
		sort.Strings(files)
		if len(files) == 0 {
			return nil, fmt.Errorf("lean: %s: no *_trade.zip or *_Trade_Tick.csv files", cfg.Path)
		}
	}
	return &Replay{cfg: cfg, files: files}, nil
}

// Name implements market.Source.
func (r *Replay) Name() string { return "lean:" + r.cfg.Path }

// Files lists what Run replays.
func (r *Replay) Files() []string { return append([]string(nil), r.files...) }

type cursor struct {
	order  int
	name   string // position prefix: file[:inner csv]
	rd     *Reader
	closer io.Closer
	next   *v1.MarketEvent
}

type byTime []*cursor

func (h byTime) Len() int { return len(h) }
func (h byTime) Less(i, j int) bool {
	a, b := market.EventTime(h[i].next), market.EventTime(h[j].next)
	if !a.Equal(b) {
		return a.Before(b)
	}
	return h[i].order < h[j].order
}
func (h byTime) Swap(i, j int) { h[i], h[j] = h[j], h[i] }
func (h *byTime) Push(x any)   { *h = append(*h, x.(*cursor)) }
func (h *byTime) Pop() any {
	old := *h
	c := old[len(old)-1]
	*h = old[:len(old)-1]
	return c
}

func (r *Replay) open(path string) (FileInfo, io.ReadCloser, string, error) {
	if strings.EqualFold(filepath.Ext(path), ".csv") {
		fi, err := ParseCSVName(path)
		if err != nil {
			return FileInfo{}, nil, "", err
		}
		f, err := os.Open(path)
		if err != nil {
			return FileInfo{}, nil, "", fmt.Errorf("lean: %w", err)
		}
		return fi, f, path, nil
	}
	fi, rc, inner, err := OpenZip(path)
	return fi, rc, path + ":" + inner, err
}

func (r *Replay) wanted(sym string) bool {
	if len(r.cfg.Symbols) == 0 {
		return true
	}
	for _, s := range r.cfg.Symbols {
		if strings.EqualFold(s, sym) {
			return true
		}
	}
	return false
}

// advance reads c's next trade, reporting bad rows to h on the way. It
// returns false at the end of c's file.
func (r *Replay) advance(ctx context.Context, c *cursor, h market.Handler) (bool, error) {
	for {
		ev, raw, err := c.rd.Next()
		if err == nil {
			c.next = ev
			return true, nil
		}
		if errors.Is(err, io.EOF) {
			return false, nil
		}
		var re *RowError
		if !errors.As(err, &re) {
			// The file itself broke (truncated zip): report it as one bad
			// input and go on with the other files.
			if herr := h.Bad(ctx, market.BadInput{Source: r.Name(), Position: c.name, Err: err}); herr != nil {
				return false, herr
			}
			return false, nil
		}
		if herr := h.Bad(ctx, market.BadInput{Source: r.Name(), Position: fmt.Sprintf("%s:%d", c.name, re.Line), Raw: raw, Err: err}); herr != nil {
			return false, herr
		}
	}
}

// Run implements market.Source: it replays every file, merged by time,
// and returns nil at the end.
func (r *Replay) Run(ctx context.Context, h market.Handler) error {
	var q byTime
	defer func() {
		for _, c := range q {
			c.closer.Close()
		}
	}()
	for i, path := range r.files {
		fi, rc, name, err := r.open(path)
		if err != nil {
			// An unreadable file is a bad input too: the rest still plays.
			if herr := h.Bad(ctx, market.BadInput{Source: r.Name(), Position: path, Err: err}); herr != nil {
				return herr
			}
			continue
		}
		if !r.wanted(fi.Symbol) {
			rc.Close()
			continue
		}
		c := &cursor{order: i, name: name, rd: NewReader(fi, rc), closer: rc}
		ok, err := r.advance(ctx, c, h)
		if err != nil {
			rc.Close()
			return err
		}
		if !ok {
			rc.Close()
			continue
		}
		q = append(q, c)
	}
	heap.Init(&q)
	var firstEvent, start time.Time
	for q.Len() > 0 {
		if err := ctx.Err(); err != nil {
			return err
		}
		c := q[0]
		ev := c.next
		if r.cfg.Speed > 0 {
			et := market.EventTime(ev)
			if firstEvent.IsZero() {
				firstEvent, start = et, r.cfg.Now()
			}
			due := start.Add(time.Duration(float64(et.Sub(firstEvent)) / r.cfg.Speed))
			if d := due.Sub(r.cfg.Now()); d > 0 {
				if err := r.cfg.Sleep(ctx, d); err != nil {
					return err
				}
			}
		}
		ev.ObservedAt = timestamppb.New(r.cfg.Now())
		if err := h.Trade(ctx, ev); err != nil {
			return err
		}
		ok, err := r.advance(ctx, c, h)
		if err != nil {
			return err
		}
		if ok {
			heap.Fix(&q, 0)
		} else {
			c.closer.Close()
			heap.Pop(&q)
		}
	}
	return nil
}
