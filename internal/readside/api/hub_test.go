package api

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/trendstream/trendstream/internal/readside/store"
)

func win(lang string, endMin int, emittedSec int) store.Window {
	end := time.Date(2026, 11, 27, 12, endMin, 0, 0, time.UTC)
	em := end.Add(time.Duration(emittedSec) * time.Second)
	return store.Window{Source: "bluesky", Lang: lang, Start: end.Add(-10 * time.Minute), End: end, EmittedAt: &em}
}

// event names the SSE event in msg and the window end it carries.
func event(t *testing.T, msg []byte) string {
	t.Helper()
	name, rest, ok := strings.Cut(string(msg), "\ndata: ")
	if !ok || !strings.HasSuffix(rest, "\n\n") {
		t.Fatalf("malformed event %q", msg)
	}
	i := strings.Index(rest, `"window_end":"`)
	return strings.TrimPrefix(name, "event: ") + "@" + rest[i+len(`"window_end":"2026-11-27T`):][:5]
}

func TestHubOrderingFilteringAndSlowClients(t *testing.T) {
	h := newHub(3)
	dropped := 0
	h.onDrop = func() { dropped++ }
	en := h.subscribe(selector{lang: "en"})
	all := h.subscribe(selector{allLangs: true})
	other := h.subscribe(selector{source: "stocks", allLangs: true})

	steps := []struct {
		w    store.Window
		want string
	}{
		{win("en", 1, 1), eventSnapshot},
		{win("en", 0, 9), eventUpdate}, // an older window, corrected: an update, never "current"
		{win("en", 0, 9), ""},          // the same pane again: a retry
		{win("en", 0, 5), ""},          // an older emission of a window already sent
		{win("en", 1, 0), ""},          // the same for the newest window
		{win("en", 1, 2), eventSnapshot},
		{win("de", 0, 0), eventSnapshot}, // rankings are independent
	}
	for i, s := range steps {
		got, err := h.publish(s.w)
		if err != nil || got != s.want {
			t.Errorf("step %d: publish = %q, %v; want %q", i, got, err, s.want)
		}
	}
	var got []string
	for len(en.ch) > 0 {
		got = append(got, event(t, <-en.ch))
	}
	if want := "snapshot@12:01 update@12:00 snapshot@12:01"; strings.Join(got, " ") != want || len(other.ch) != 0 {
		t.Errorf("en got %q, want %q; stocks got %d", strings.Join(got, " "), want, len(other.ch))
	}
	// all's buffer (3) overflowed on the fourth accepted window: dropped.
	select {
	case <-all.dropped:
	default:
		t.Error("the slow client was not dropped")
	}
	if dropped != 1 || h.count() != 2 {
		t.Errorf("slow client: dropped=%d count=%d", dropped, h.count())
	}
	h.unsubscribe(all) // after a drop: must not panic
	h.unsubscribe(en)
	h.unsubscribe(other)
	if h.count() != 0 {
		t.Errorf("count = %d after unsubscribing all", h.count())
	}
}

// TestHubForgetsOldWindows: the hub remembers a bounded number of windows
// per ranking; a correction of one it forgot still goes out as an update.
func TestHubForgetsOldWindows(t *testing.T) {
	h := newHub(1)
	first := win("", 0, 1)
	for i := range recentWindows + 10 {
		w := first
		w.End = first.End.Add(time.Duration(i) * time.Minute)
		if ev, err := h.publish(w); err != nil || ev != eventSnapshot {
			t.Fatalf("window %d: %q, %v", i, ev, err)
		}
	}
	if r := h.rankings[[2]string{"bluesky", ""}]; len(r.emitted) != recentWindows || len(r.order) != recentWindows {
		t.Errorf("remembers %d/%d windows, want %d", len(r.emitted), len(r.order), recentWindows)
	}
	if ev, _ := h.publish(first); ev != eventUpdate {
		t.Errorf("a forgotten window again: %q, want %q", ev, eventUpdate)
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
				if ev, err := h.publish(w); ev != eventSnapshot || err != nil {
					b.Fatal(ev, err)
				}
			}
		})
	}
}
