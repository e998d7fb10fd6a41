package livesoak

import (
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/trendstream/trendstream/ingest/event"
	"github.com/trendstream/trendstream/ingest/frame"
	"github.com/trendstream/trendstream/ingest/jetstream"
	tsv1 "github.com/trendstream/trendstream/proto/trendstream/v1"
)

// TestJetstreamPostDecodes checks generated events against the ingest's own
// decoder: what it reads is what was stamped.
func TestJetstreamPostDecodes(t *testing.T) {
	at := time.Date(2026, 5, 1, 12, 0, 0, 123456000, time.UTC)
	tests := []struct {
		name     string
		text     Text
		wantTags []string
		facets   int
	}{
		{"plain", Text{Text: "solar eclipse today", Langs: []string{"en"}}, nil, 0},
		{"hashtag in text becomes a facet", Text{Text: "go #WorldCup ⚽", Langs: []string{"en"}, Tags: []string{"worldcup"}}, []string{"WorldCup"}, 1},
		{"tag not in text goes to tags", Text{Text: "no tag here", Tags: []string{"hidden"}}, []string{"hidden"}, 0},
		{"no langs", Text{Text: "日本語のテキスト"}, nil, 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			b, err := JetstreamPost(tt.text, "did:plc:aaaaaaaaaaaaaaaaaaaaaaaa", at, 7)
			if err != nil {
				t.Fatal(err)
			}
			var raw struct {
				Commit struct {
					Record struct {
						Facets []json.RawMessage `json:"facets"`
					} `json:"record"`
				} `json:"commit"`
			}
			if err := json.Unmarshal(b, &raw); err != nil || len(raw.Commit.Record.Facets) != tt.facets {
				t.Errorf("facets %d (want %d), err %v: %s", len(raw.Commit.Record.Facets), tt.facets, err, b)
			}
			ev, err := jetstream.Decode(b)
			if err != nil {
				t.Fatal(err)
			}
			if len(ev.Posts) != 1 || len(ev.Problems) != 0 {
				t.Fatalf("posts %v problems %v", ev.Posts, ev.Problems)
			}
			p := ev.Posts[0]
			if !ev.Time.Equal(at) || ev.Cursor != at.UnixMicro() || !p.GetObservedAt().AsTime().Equal(at) {
				t.Errorf("time %s cursor %d observed %s, want %s", ev.Time, ev.Cursor, p.GetObservedAt().AsTime(), at)
			}
			if !p.GetCreatedAt().AsTime().Equal(at.Truncate(time.Millisecond)) {
				t.Errorf("createdAt %s, want %s", p.GetCreatedAt().AsTime(), at)
			}
			if p.GetText() != tt.text.Text || p.GetAuthorDid() != "did:plc:aaaaaaaaaaaaaaaaaaaaaaaa" ||
				p.GetOperation() != tsv1.Operation_OPERATION_CREATE || !strings.HasPrefix(p.GetCid(), "bafyrei") || len(p.GetRkey()) != 13 {
				t.Errorf("post %v", p)
			}
			if strings.Join(p.GetLangs(), ",") != strings.Join(tt.text.Langs, ",") {
				t.Errorf("langs %v, want %v", p.GetLangs(), tt.text.Langs)
			}
			if strings.Join(p.GetHashtags(), ",") != strings.ToLower(strings.Join(tt.wantTags, ",")) &&
				strings.Join(p.GetHashtags(), ",") != strings.Join(tt.wantTags, ",") {
				t.Errorf("hashtags %v, want %v", p.GetHashtags(), tt.wantTags)
			}
		})
	}
}

func TestCorpusTexts(t *testing.T) {
	ts, err := CorpusTexts()
	if err != nil {
		t.Fatal(err)
	}
	if len(ts) < 8000 {
		t.Fatalf("%d texts", len(ts))
	}
	// The generator visits every text once per pass, in a new order.
	g := newJetstreamGen(ts[:50], 1, 100)
	seen := map[string]int{}
	var firstPass []string
	for n := int64(0); n < 100; n++ {
		_, b, posts, err := g.event(n, time.Now())
		if err != nil || posts != 1 {
			t.Fatal(err, posts)
		}
		ev, err := jetstream.Decode(b)
		if err != nil {
			t.Fatal(err)
		}
		txt := ev.Posts[0].GetText()
		seen[txt]++
		if n < 50 {
			firstPass = append(firstPass, txt)
		} else if n == 99 && strings.Join(firstPass, "") == "" {
			t.Fatal("empty")
		}
	}
	for _, tx := range ts[:50] {
		if seen[tx.Text] != 2 {
			t.Fatalf("text %q sent %d times in two passes", tx.Text, seen[tx.Text])
		}
	}
}

func loadTestFrames(t *testing.T) [][]byte {
	t.Helper()
	frames, err := LoadFrames("../../../ingest/frame/testdata/frames.bin.zst")
	if err != nil {
		t.Fatal(err)
	}
	return frames
}

// TestRestamp re-stamps every recorded frame and decodes it with the
// ingest's decoder: seq, time and author are the new ones, the posts and
// their texts the recorded ones.
func TestRestamp(t *testing.T) {
	frames := loadTestFrames(t)
	at := time.Date(2026, 5, 1, 12, 0, 0, 987000000, time.UTC)
	tests := []struct {
		name string
		did  string
	}{
		{"new author", "did:plc:bbbbbbbbbbbbbbbbbbbbbbbb"},
		{"recorded author", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			posts := 0
			for i, f := range frames {
				orig, err := frame.Decode(f, frame.Options{})
				if err != nil {
					continue // error frames stay as they are
				}
				b, err := Restamp(f, Stamp{Seq: int64(1000 + i), Time: at, DID: tt.did, Clock: 3})
				if err != nil {
					t.Fatalf("frame %d: %v", i, err)
				}
				ev, err := frame.Decode(b, frame.Options{})
				if err != nil {
					t.Fatalf("frame %d: decode after restamp: %v", i, err)
				}
				if orig.Kind == "info" || orig.Kind == "unknown" {
					continue
				}
				if ev.Cursor != int64(1000+i) || !ev.Time.Equal(at) {
					t.Fatalf("frame %d (%s): cursor %d time %s", i, ev.Kind, ev.Cursor, ev.Time)
				}
				wantRepo := orig.Repo
				if tt.did != "" {
					wantRepo = tt.did
				}
				if ev.Repo != wantRepo {
					t.Fatalf("frame %d: repo %q, want %q", i, ev.Repo, wantRepo)
				}
				// createdAt now equals the relay time, so no post needs
				// clamping; any other problem must be the recorded one.
				if len(ev.Posts) != len(orig.Posts) || len(ev.Problems) != len(withoutClamp(orig.Problems)) || len(withoutClamp(ev.Problems)) != len(ev.Problems) {
					t.Fatalf("frame %d: %d posts, problems %v; recorded %d, %v", i, len(ev.Posts), ev.Problems, len(orig.Posts), orig.Problems)
				}
				for j, p := range ev.Posts {
					o := orig.Posts[j]
					if p.GetText() != o.GetText() || !p.GetObservedAt().AsTime().Equal(at) || p.GetAuthorDid() != wantRepo {
						t.Fatalf("frame %d post %d: %v, recorded %v", i, j, p, o)
					}
					if p.GetOperation() == tsv1.Operation_OPERATION_CREATE {
						posts++
						if !p.GetCreatedAt().AsTime().Equal(at) || p.GetCreatedAtRaw() != "2026-05-01T12:00:00.987Z" || p.GetCid() == o.GetCid() {
							t.Errorf("frame %d: createdAt %s (%q), cid %s: not re-stamped", i, p.GetCreatedAt().AsTime(), p.GetCreatedAtRaw(), p.GetCid())
						}
						if strings.Join(p.GetLangs(), ",") != strings.Join(o.GetLangs(), ",") || strings.Join(p.GetHashtags(), ",") != strings.Join(o.GetHashtags(), ",") {
							t.Errorf("frame %d: langs/tags changed: %v %v, recorded %v %v", i, p.GetLangs(), p.GetHashtags(), o.GetLangs(), o.GetHashtags())
						}
						if p.GetRkey() == o.GetRkey() || len(p.GetRkey()) != 13 {
							t.Errorf("frame %d: rkey %q not re-stamped (was %q)", i, p.GetRkey(), o.GetRkey())
						}
					}
				}
			}
			if posts == 0 {
				t.Fatal("no post in the recording")
			}
		})
	}
}

func TestRelayGen(t *testing.T) {
	frames := loadTestFrames(t)
	g, err := newRelayGen(frames, 1, 1000)
	if err != nil {
		t.Fatal(err)
	}
	if ppe := g.postsPerEvent(); ppe <= 0 || ppe > 1 {
		t.Fatalf("posts per frame %g", ppe)
	}
	total := 0
	for n := int64(0); n < int64(2*len(frames)); n++ {
		key, b, posts, err := g.event(n, time.Now())
		if err != nil {
			t.Fatal(err)
		}
		if key != n+1 {
			t.Fatalf("key %d for n %d", key, n)
		}
		if posts != PostCreates(b) {
			t.Fatalf("frame %d: %d posts announced, %d decoded", n, posts, PostCreates(b))
		}
		total += posts
	}
	if total == 0 {
		t.Fatal("no posts")
	}
	if _, err := newRelayGen(nil, 1, 0); err == nil {
		t.Error("no frames accepted")
	}
}

func withoutClamp(ps []event.Problem) []event.Problem {
	var out []event.Problem
	for _, p := range ps {
		if p.Reason != "clamped_created_at" {
			out = append(out, p)
		}
	}
	return out
}
