package evaluate

import (
	"bytes"
	"fmt"
	"image/png"
	"math"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/trendstream/trendstream/internal/core/terms"
	"github.com/trendstream/trendstream/internal/core/trendcalc"
	"github.com/trendstream/trendstream/internal/core/trendscore"
	tsv1 "github.com/trendstream/trendstream/proto/trendstream/v1"
)

// smallConfig is a fixed-seed replay small enough for `make test`.
func smallConfig() Config {
	// Every field is set here, so changing the `make eval` defaults does
	// not move the recorded figures.
	return Config{
		Seed:                     7,
		Start:                    time.Date(2026, 3, 2, 8, 0, 0, 0, time.UTC),
		Span:                     100 * time.Minute,
		BackgroundPosts:          3000,
		Period:                   time.Minute,
		Size:                     10 * time.Minute,
		Quiet:                    30 * time.Minute,
		Strengths:                []Strength{{0.05, 5}, {0.2, 5}},
		BurstsPerCell:            2,
		PulsePeriods:             3,
		ShiftPeriods:             20,
		RampPeriods:              10,
		FrequentPerPeriod:        8,
		SpamPosts:                200,
		SpamPeriods:              20,
		StopwordAuthorsPerPeriod: 30,
		StopwordPeriods:          5,
	}
}

// smallParams are the product's defaults, which cmd/trendeval runs with.
func smallParams() trendscore.Params { return trendscore.DefaultParams() }

// evalAt runs `make eval`'s replay at one volume through the reference
// calculator, deletes retracted as `make eval` does, and judges ours and
// the raw-count ranking; unretracted is ours judged with deletes ignored.
func evalAt(t *testing.T, cfg Config) (ours, raw, unretracted Result, runs Runs, rep *Replay) {
	t.Helper()
	rep, err := Generate(cfg)
	if err != nil {
		t.Fatal(err)
	}
	score := smallParams().StartingAt(rep.Start)
	runs = Reference(rep, trendcalc.Config{
		Size: cfg.Size, Period: cfg.Period, TopK: 10, Terms: terms.DefaultOptions(),
		Score: score, Source: tsv1.Source_SOURCE_BLUESKY,
		RetractDeletes: true,
	}, false)
	p := Params{TopN: 10, Period: cfg.Period, Size: cfg.Size, ScoredFrom: score.WarmUpUntil, TargetAuthors: 10, TargetShare: 0.05}
	oracle := NewOracle(rep.Posts, terms.DefaultOptions(), cfg.Period, cfg.Size, rep.Start, rep.End, Listed(runs.Ours, runs.Raw))
	return Evaluate("ours", rep, runs.Ours, oracle, p), Evaluate("raw count", rep, runs.Raw, oracle, p),
		Evaluate("deletes ignored", rep, runs.Unretracted, nil, p), runs, rep
}

// TestRegression replays `make eval`'s replay (seed 7, and its own seed 1 at
// the thin volumes, where a new burst used to be listed a period after the
// raw count's: seed 7 does not show that) at a thin, a small and a mid
// volume through the reference calculator, with the
// product's defaults and deletes retracted, and holds the targets:
// precision ≥ 0.95, no control ever listed, recall ≥ 0.9 on the target
// group, every shape's median time to detect at most the raw count's, and
// no retracted burst listed. Ramp-ups at 0.05 posts/s, whose first period
// holds 5 authors in a window of 30 posts, used to need one period more
// than the raw count; the newest-period score lists them in their first
// window (docs/scoring.md, "Newest period").
func TestRegression(t *testing.T) {
	for _, tt := range []struct {
		seed uint64
		rate float64
	}{
		{7, 0.05},
		{7, 0.5},
		{7, 5},
		{1, 0.05},
		{1, 0.5},
	} {
		t.Run(fmt.Sprintf("seed%d/%gposts/s", tt.seed, tt.rate), func(t *testing.T) {
			cfg := DefaultConfig()
			cfg.Seed = tt.seed
			cfg.Rate = tt.rate
			ours, raw, unretracted, runs, rep := evalAt(t, cfg)
			var buf bytes.Buffer
			WriteTable(&buf, ours, raw, Params{TopN: 10, TargetAuthors: 10, TargetShare: 0.05})
			t.Logf("%d posts, %d bursts, %d deletes (%d retracted)\n%s", len(rep.Posts), len(rep.Bursts), rep.Deletes, runs.Retracted, buf.String())
			// Deletes: every one is of a post made a few minutes before,
			// well within the lateness, so every one retracts; the
			// retracted bursts are never listed, though with deletes
			// ignored they would be (else they test nothing).
			if rep.Deletes == 0 || len(rep.Retracted) == 0 || runs.Retracted != int64(rep.Deletes) {
				t.Errorf("%d deletes, %d retracted bursts, %d posts retracted: want every delete to retract", rep.Deletes, len(rep.Retracted), runs.Retracted)
			}
			if ours.RetractedWindows != 0 {
				t.Errorf("a retracted burst in our top 10 in %d windows", ours.RetractedWindows)
			}
			if unretracted.RetractedWindows == 0 {
				t.Error("with deletes ignored the retracted bursts are never listed: they no longer test retraction")
			}
			if ours.Target < 10 {
				t.Fatalf("%d bursts in the target group: the replay no longer tests recall", ours.Target)
			}
			if got := ours.Recall(); !(got >= 0.9) {
				t.Errorf("recall = %.3f (%d/%d), want ≥ 0.9", got, ours.TargetEver, ours.Target)
			}
			if got := ours.Precision(); !(got >= 0.95) {
				t.Errorf("precision = %.3f (%d TP, %d FP), want ≥ 0.95", got, ours.TP, ours.FP)
			}
			if ours.SpamWindows != 0 || ours.StopwordWindows != 0 || ours.FrequentWindows != 0 {
				t.Errorf("controls in our top 10: flood %d, stopwords %d, frequent %d windows", ours.SpamWindows, ours.StopwordWindows, ours.FrequentWindows)
			}
			for _, l := range ShapeLabels(ours) {
				if o, r := ours.ShapeTTD[l], raw.ShapeTTD[l]; !(o <= r) {
					t.Errorf("%s: median TTD %v, raw count %v", l, o, r)
				}
			}
			// The comparison must stay meaningful: the baseline lists the
			// flood and the always-frequent term, and its precision is
			// far below ours.
			if raw.SpamWindows == 0 || raw.FrequentWindows == 0 {
				t.Errorf("raw-count baseline never listed the flood (%d) or the frequent term (%d): controls too weak", raw.SpamWindows, raw.FrequentWindows)
			}
			if !(raw.Precision() < ours.Precision()) {
				t.Errorf("raw-count precision %.3f not below ours %.3f", raw.Precision(), ours.Precision())
			}
		})
	}
}

// TestReplayGroundTruth checks the generated replay against its own
// description: ordered, grid-aligned onsets, the shapes' early authors.
func TestReplayGroundTruth(t *testing.T) {
	cfg := smallConfig()
	rep, err := Generate(cfg)
	if err != nil {
		t.Fatal(err)
	}
	for i := 1; i < len(rep.Posts); i++ {
		if rep.Posts[i].GetObservedAt().AsTime().Before(rep.Posts[i-1].GetObservedAt().AsTime()) {
			t.Fatalf("post %d out of event-time order", i)
		}
	}
	again, _ := Generate(cfg)
	if len(again.Posts) != len(rep.Posts) || !reflect.DeepEqual(again.Bursts[0], rep.Bursts[0]) {
		t.Error("same seed, different replay")
	}
	// Deletes are added on top: the bursts, their posts and the controls
	// are the replay without them, and the bursts' strengths hold for
	// what is left.
	del := cfg
	del.DeleteShare, del.DeleteAfter, del.RetractedBursts = 0.2, 5*time.Minute, 1
	withDel, err := Generate(del)
	if err != nil {
		t.Fatal(err)
	}
	gone := withDel.DeletedURIs()
	var kept []string
	deletes := 0
	for _, p := range withDel.Posts {
		switch {
		case p.GetOperation() == tsv1.Operation_OPERATION_DELETE:
			deletes++
			if p.GetText() != "" || len(p.GetHashtags()) != 0 {
				t.Errorf("delete %s carries content", p.GetUri())
			}
		case !gone[p.GetUri()]:
			kept = append(kept, postKey(p))
		}
	}
	var before []string
	for _, p := range rep.Posts {
		before = append(before, postKey(p))
	}
	if !reflect.DeepEqual(kept, before) {
		t.Errorf("the posts left after the deletes (%d) are not the replay without deletes (%d)", len(kept), len(before))
	}
	if len(withDel.Retracted) != 1 || deletes != withDel.Deletes || deletes == 0 {
		t.Errorf("%d retracted bursts, %d deletes (counted %d)", len(withDel.Retracted), deletes, withDel.Deletes)
	}
	deleted, posts := 0, 0
	for i, b := range withDel.Bursts {
		if b.EarlyAuthors != rep.Bursts[i].EarlyAuthors || b.EarlyShare != rep.Bursts[i].EarlyShare {
			t.Errorf("%s: early authors %d, share %.3f with deletes; %d, %.3f without", b.Term, b.EarlyAuthors, b.EarlyShare, rep.Bursts[i].EarlyAuthors, rep.Bursts[i].EarlyShare)
		}
		deleted += b.Deleted
	}
	for _, p := range withDel.Posts {
		if strings.HasPrefix(p.GetAuthorDid(), burstDIDPrefix) && p.GetOperation() == tsv1.Operation_OPERATION_CREATE && !strings.Contains(p.GetAuthorDid(), withDel.Retracted[0].Term) {
			posts++
		}
	}
	if share := float64(deleted) / float64(posts); math.Abs(share-0.2) > 0.03 {
		t.Errorf("%.3f of the bursts' posts deleted, want about 0.2", share)
	}
	for i, p := range withDel.Posts {
		if p.GetOperation() != tsv1.Operation_OPERATION_DELETE {
			continue
		}
		// The delete follows its post within DeleteAfter.
		for _, q := range withDel.Posts[:i] {
			if q.GetUri() == p.GetUri() {
				if d := p.GetObservedAt().AsTime().Sub(q.GetObservedAt().AsTime()); d <= 0 || d > del.DeleteAfter {
					t.Errorf("%s deleted %v after posting", p.GetUri(), d)
				}
			}
		}
	}
	ex := terms.New(terms.DefaultOptions())
	authors := map[string]map[string]bool{}
	for _, p := range rep.Posts {
		for _, tm := range ex.Extract(p) {
			if tm.Kind == tsv1.TermKind_TERM_KIND_HASHTAG {
				if authors[tm.Text] == nil {
					authors[tm.Text] = map[string]bool{}
				}
				authors[tm.Text][p.GetAuthorDid()] = true
			}
		}
	}
	for _, b := range rep.Bursts {
		if !b.Onset.Equal(b.Onset.Truncate(cfg.Period)) || b.Onset.Before(rep.Start.Add(cfg.Quiet)) {
			t.Errorf("%s: onset %v not on the grid after the quiet start", b.Term, b.Onset)
		}
		if got := len(authors[b.Term]); got != b.Authors {
			t.Errorf("%s: %d distinct authors in the posts, ground truth says %d", b.Term, got, b.Authors)
		}
		if b.ThinLang {
			continue
		}
		// Every shape has three periods' worth of full strength in its
		// first three periods (a ramp-up is weighted like a pulse).
		perPeriod := float64(rep.Background) * cfg.Period.Seconds() / cfg.Span.Seconds()
		want := EarlyPeriods * full(b.Strength, perPeriod)
		if math.Abs(float64(b.EarlyAuthors)-want) > 0.25*want+3 {
			t.Errorf("%s %s strength %s: %d early authors, want about %.0f", b.Term, b.Shape, b.Strength, b.EarlyAuthors, want)
		}
	}
}

// postKey identifies a post by what it is, not its URI, whose sequence
// number the deleted posts shift.
func postKey(p *tsv1.Post) string {
	return p.GetAuthorDid() + " " + p.GetObservedAt().AsTime().String() + " " + p.GetText()
}

func TestPlotWritesPNG(t *testing.T) {
	t0 := time.Date(2026, 3, 2, 8, 0, 0, 0, time.UTC)
	s := Series{Color: Palette[0], Times: []time.Time{t0, t0.Add(time.Minute), t0.Add(2 * time.Minute)}, Values: []float64{0, 5, math.NaN()}}
	var buf bytes.Buffer
	if err := Plot(&buf, []Series{s}, 4, t0, t0.Add(3*time.Minute), 300, 100); err != nil {
		t.Fatal(err)
	}
	img, err := png.Decode(&buf)
	if err != nil {
		t.Fatal(err)
	}
	if b := img.Bounds(); b.Dx() != 300 || b.Dy() != 100 {
		t.Errorf("size %v", b)
	}
	red := 0
	for x := 0; x < 300; x++ {
		for y := 0; y < 100; y++ {
			r, g, b, _ := img.At(x, y).RGBA()
			if r>>8 == 0xd6 && g>>8 == 0x27 && b>>8 == 0x28 {
				red++
			}
		}
	}
	if red < 50 {
		t.Errorf("only %d pixels of the series colour", red)
	}
}
