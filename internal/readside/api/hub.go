package api

import (
	"encoding/json"
	"fmt"
	"sync"
	"time"

	"github.com/trendstream/trendstream/internal/readside/store"
)

// selector picks rankings by source and language, the way the HTTP query
// parameters do: an empty source means every source, allLangs every
// language, otherwise lang must match ("" being the overall ranking).
type selector struct {
	source   string
	lang     string
	allLangs bool
}

func (s selector) match(source, lang string) bool {
	return (s.source == "" || s.source == source) && (s.allLangs || s.lang == lang)
}

// subscriber is one connected stream client. Its channel is buffered so a
// briefly slow browser does not stall the feed; one that falls further
// behind is dropped: dropped is closed, and the stream handler ends the
// connection at once, even mid-write (EventSource reconnects by itself).
type subscriber struct {
	sel     selector
	ch      chan []byte // complete SSE events
	dropped chan struct{}
}

// Kinds of published windows, and the SSE event names they go out as.
const (
	// eventSnapshot is the ranking's newest window: a new window, or the
	// newest one re-emitted with newer content.
	eventSnapshot = "snapshot"
	// eventUpdate is a window older than the ranking's newest, re-emitted
	// with corrected content (late data): it replaces that window in
	// history, not the current ranking.
	eventUpdate = "update"
)

// recentWindows is how many windows per ranking the hub remembers the
// emission time of, to tell a correction from a stale retry: a few hours of
// one-minute windows, the span over which the pipeline re-fires panes.
const recentWindows = 256

// ranking is what the hub remembers of one (source, lang) ranking.
type ranking struct {
	newest  store.Window
	emitted map[windowID]time.Time // zero time: emitted_at unknown
	order   []windowID             // insertion order, to forget the oldest
}

type windowID struct{ start, end int64 }

func idOf(w store.Window) windowID { return windowID{w.Start.UnixMicro(), w.End.UnixMicro()} }

// hub fans encoded windows out to subscribers. It remembers the newest
// window of every ranking, so an older window goes out as an update and
// never as "current", and the emission time of recent windows, so a retry
// of a pane already sent is not sent again.
type hub struct {
	mu       sync.Mutex
	subs     map[*subscriber]struct{}
	rankings map[[2]string]*ranking
	buffer   int
	// onDrop is called (under mu) for each subscriber dropped as too slow.
	onDrop func()
}

func newHub(buffer int) *hub {
	return &hub{subs: map[*subscriber]struct{}{}, rankings: map[[2]string]*ranking{}, buffer: buffer}
}

func (h *hub) subscribe(sel selector) *subscriber {
	s := &subscriber{sel: sel, ch: make(chan []byte, h.buffer), dropped: make(chan struct{})}
	h.mu.Lock()
	h.subs[s] = struct{}{}
	h.mu.Unlock()
	return s
}

// unsubscribe removes s; it is safe to call after s was dropped.
func (h *hub) unsubscribe(s *subscriber) {
	h.mu.Lock()
	defer h.mu.Unlock()
	delete(h.subs, s)
}

// count is the number of subscribed clients.
func (h *hub) count() int {
	h.mu.Lock()
	defer h.mu.Unlock()
	return len(h.subs)
}

// publish sends w to every matching subscriber, as eventSnapshot if it is
// the ranking's newest window (or the newest re-emitted), as eventUpdate if
// it is an older window not sent before or re-emitted later than when it
// was. It returns the event name, or "" for a stale pane: one not emitted
// after the copy of the same window already sent.
func (h *hub) publish(w store.Window) (string, error) {
	data, err := json.Marshal(w)
	if err != nil {
		return "", err
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	k := [2]string{w.Source, w.Lang}
	r := h.rankings[k]
	if r == nil {
		r = &ranking{emitted: map[windowID]time.Time{}}
		h.rankings[k] = r
	}
	event := r.accept(w)
	if event == "" {
		return "", nil
	}
	msg := fmt.Appendf(nil, "event: %s\ndata: %s\n\n", event, data)
	for s := range h.subs {
		if !s.sel.match(w.Source, w.Lang) {
			continue
		}
		select {
		case s.ch <- msg:
		default:
			delete(h.subs, s)
			close(s.dropped)
			if h.onDrop != nil {
				h.onDrop()
			}
		}
	}
	return event, nil
}

// accept records w and says how to send it ("" not at all).
func (r *ranking) accept(w store.Window) string {
	id := idOf(w)
	var em time.Time
	if w.EmittedAt != nil {
		em = *w.EmittedAt
	}
	if prev, seen := r.emitted[id]; seen && !later(em, prev) {
		return "" // a retry of what was sent, or an older emission of it
	}
	if _, seen := r.emitted[id]; !seen {
		r.order = append(r.order, id)
		if len(r.order) > recentWindows {
			delete(r.emitted, r.order[0])
			r.order = r.order[1:]
		}
	}
	r.emitted[id] = em
	if r.newest.End.IsZero() || !before(w, r.newest) {
		r.newest = w
		return eventSnapshot
	}
	return eventUpdate
}

// later reports whether emission a supersedes emission b. An unknown time
// (zero) supersedes anything, as the read model's upsert does: a producer
// that does not stamp its panes must still be able to correct them.
func later(a, b time.Time) bool {
	return a.IsZero() || b.IsZero() || a.After(b)
}

// before reports whether window a ends (or, ending together, starts)
// before window b: it is not the ranking's newest.
func before(a, b store.Window) bool {
	if !a.End.Equal(b.End) {
		return a.End.Before(b.End)
	}
	return a.Start.Before(b.Start)
}
