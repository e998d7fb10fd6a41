package corpus

import (
	"testing"
	"time"
)

func TestPosts(t *testing.T) {
	ps, err := Posts()
	if err != nil {
		t.Fatal(err)
	}
	if len(ps) != 8552 {
		t.Fatalf("got %d posts, want the 8552 bundled", len(ps))
	}
	langs := map[string]int{}
	withText := 0
	for i, p := range ps {
		if p.GetText() != "" {
			withText++
		}
		if i > 0 && p.GetObservedAt().AsTime().Before(ps[i-1].GetObservedAt().AsTime()) {
			t.Fatalf("post %d out of created_at order", i)
		}
		if len(p.GetLangs()) > 0 {
			langs[p.GetLangs()[0]]++
		}
	}
	// Image-only posts have no text; nearly all others do.
	if withText < len(ps)*9/10 {
		t.Errorf("only %d of %d posts have text", withText, len(ps))
	}
	for _, l := range []string{"en", "ja", "de", "pt"} {
		if langs[l] == 0 {
			t.Errorf("no %s posts", l)
		}
	}
}

func TestRetime(t *testing.T) {
	ps, _ := Posts()
	start := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	rt := Retime(ps[:100], start, 10)
	if got := rt[99].GetObservedAt().AsTime(); !got.Equal(start.Add(9900 * time.Millisecond)) {
		t.Errorf("post 99 at %v", got)
	}
	if ps[0].GetObservedAt().AsTime().Equal(start) {
		t.Error("Retime changed the shared original")
	}
}
