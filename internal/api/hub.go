package api

import (
	"encoding/json"
	"sync"

	"github.com/trendstream/trendstream/internal/store"
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
// behind is dropped and reconnects (EventSource does so by itself).
type subscriber struct {
	sel selector
	ch  chan []byte
}

// hub fans encoded windows out to subscribers, and remembers the newest
// window of every ranking so a late, older pane is never pushed as
// "current".
type hub struct {
	mu     sync.Mutex
	subs   map[*subscriber]struct{}
	latest map[[2]string]store.Window
	buffer int
	// onDrop is called (under mu) for each subscriber dropped as too slow.
	onDrop func()
}

func newHub(buffer int) *hub {
	return &hub{subs: map[*subscriber]struct{}{}, latest: map[[2]string]store.Window{}, buffer: buffer}
}

func (h *hub) subscribe(sel selector) *subscriber {
	s := &subscriber{sel: sel, ch: make(chan []byte, h.buffer)}
	h.mu.Lock()
	h.subs[s] = struct{}{}
	h.mu.Unlock()
	return s
}

// unsubscribe removes s; it is safe to call after s was dropped.
func (h *hub) unsubscribe(s *subscriber) {
	h.mu.Lock()
	defer h.mu.Unlock()
	if _, ok := h.subs[s]; ok {
		delete(h.subs, s)
		close(s.ch)
	}
}

func (h *hub) count() int {
	h.mu.Lock()
	defer h.mu.Unlock()
	return len(h.subs)
}

// publish sends w to every matching subscriber unless the ranking already
// has a newer window. It reports whether w was accepted.
func (h *hub) publish(w store.Window) (bool, error) {
	data, err := json.Marshal(w)
	if err != nil {
		return false, err
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	k := [2]string{w.Source, w.Lang}
	if prev, ok := h.latest[k]; ok && newer(prev, w) {
		return false, nil
	}
	h.latest[k] = w
	for s := range h.subs {
		if !s.sel.match(w.Source, w.Lang) {
			continue
		}
		select {
		case s.ch <- data:
		default:
			delete(h.subs, s)
			close(s.ch)
			if h.onDrop != nil {
				h.onDrop()
			}
		}
	}
	return true, nil
}

// newer reports whether a is a strictly newer pane than b: a later window,
// or the same window emitted later.
func newer(a, b store.Window) bool {
	if !a.End.Equal(b.End) {
		return a.End.After(b.End)
	}
	if !a.Start.Equal(b.Start) {
		return a.Start.After(b.Start)
	}
	return a.EmittedAt != nil && b.EmittedAt != nil && a.EmittedAt.After(*b.EmittedAt)
}
