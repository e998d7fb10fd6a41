package api

import (
	"fmt"
	"testing"
	"time"

	"github.com/trendstream/trendstream/internal/store"
)

func win(lang string, endMin int, emittedSec int) store.Window {
	end := time.Date(2026, 11, 27, 12, endMin, 0, 0, time.UTC)
	em := end.Add(time.Duration(emittedSec) * time.Second)
	return store.Window{Source: "bluesky", Lang: lang, Start: end.Add(-10 * time.Minute), End: end, EmittedAt: &em}
}

func TestHubOrderingFilteringAndSlowClients(t *testing.T) {
	h := newHub(2)
	dropped := 0
	h.onDrop = func() { dropped++ }
	en := h.subscribe(selector{lang: "en"})
	all := h.subscribe(selector{allLangs: true})
	other := h.subscribe(selector{source: "stocks", allLangs: true})

	steps := []struct {
		w    store.Window
		want bool
	}{
		{win("en", 1, 1), true},
		{win("en", 0, 9), false}, // an older window never replaces a newer one
		{win("en", 1, 0), false}, // the same pane emitted earlier is a stale retry
		{win("en", 1, 2), true},  // a re-fired pane of the same window is pushed
		{win("de", 0, 0), true},  // rankings are independent
	}
	for i, s := range steps {
		ok, err := h.publish(s.w)
		if err != nil || ok != s.want {
			t.Errorf("step %d: publish = %v, %v; want %v", i, ok, err, s.want)
		}
	}
	if len(en.ch) != 2 || len(other.ch) != 0 {
		t.Errorf("en got %d, stocks got %d; want 2 and 0", len(en.ch), len(other.ch))
	}
	// all's buffer (2) overflowed on the third accepted window: dropped.
	if _, open := <-all.ch; !open || dropped != 1 || h.count() != 2 {
		t.Errorf("slow client: dropped=%d count=%d", dropped, h.count())
	}
	for range all.ch { // drain; closed by the drop
	}
	h.unsubscribe(all) // after a drop: must not panic
	h.unsubscribe(en)
	h.unsubscribe(other)
	if h.count() != 0 {
		t.Errorf("count = %d after unsubscribing all", h.count())
	}
}

// BenchmarkHubPublish measures fanning one 20-term ranking out to stream
// clients (encode once, non-blocking send to each).
func BenchmarkHubPublish(b *testing.B) {
	for _, clients := range []int{1, 100, 1000} {
		b.Run(fmt.Sprintf("clients=%d", clients), func(b *testing.B) {
			h := newHub(4096)
			for range clients {
				s := h.subscribe(selector{allLangs: true})
				go func() {
					for range s.ch {
					}
				}()
			}
			w := win("", 0, 0)
			for i := range 20 {
				w.Terms = append(w.Terms, store.Term{Rank: int32(i + 1), Kind: "word", Term: fmt.Sprintf("term%d", i), Count: 100})
			}
			b.ResetTimer()
			for range b.N {
				w.End = w.End.Add(time.Minute) // every publish is a newer window
				if ok, err := h.publish(w); !ok || err != nil {
					b.Fatal(ok, err)
				}
			}
		})
	}
}
