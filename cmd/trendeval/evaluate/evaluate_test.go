package evaluate

import (
	"bytes"
	"fmt"
	"image/png"
	"math"
	"reflect"
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
// calculator and judges ours and the raw-count ranking.
func evalAt(t *testing.T, cfg Config) (Result, Result, *Replay) {
	t.Helper()
	rep, err := Generate(cfg)
	if err != nil {
		t.Fatal(err)
	}
	score := smallParams().StartingAt(rep.Start)
	runs := Reference(rep, trendcalc.Config{
		Size: cfg.Size, Period: cfg.Period, TopK: 10, Terms: terms.DefaultOptions(),
		Score: score, Source: tsv1.Source_SOURCE_BLUESKY,
	}, false)
	p := Params{TopN: 10, Period: cfg.Period, Size: cfg.Size, ScoredFrom: score.WarmUpUntil, TargetAuthors: 10, TargetShare: 0.05}
	oracle := NewOracle(rep.Posts, terms.DefaultOptions(), cfg.Period, cfg.Size, rep.Start, rep.End, Listed(runs.Ours, runs.Raw))
	return Evaluate("ours", rep, runs.Ours, oracle, p), Evaluate("raw count", rep, runs.Raw, oracle, p), rep
}

// TestRegression replays `make eval`'s replay (another seed) at a thin, a
// small and a mid volume through the reference calculator, with the
// product's defaults, and holds the targets: precision ≥ 0.95, no
// control ever listed, recall ≥ 0.9 on the target group, and every
// shape's median time to detect at most the raw count's — except at the
// thin volumes, where it may be one period later: there the raw count
// lists anything with a few posts in its first window, while a burst at
// the author floor scores exactly Enter in its first window and is
// outranked by the bursts under way and the words of their posts, and a
// ramp-up's half-strength first period cannot trend (docs/eval.md, "Where
// the issue's targets stand").
func TestRegression(t *testing.T) {
	for _, tt := range []struct {
		rate  float64
		slack float64 // periods our median TTD may trail the raw count's
	}{
		{0.05, 1},
		{0.5, 1},
		{5, 0},
	} {
		t.Run(fmt.Sprintf("%gposts/s", tt.rate), func(t *testing.T) {
			cfg := DefaultConfig()
			cfg.Seed = 7
			cfg.Rate = tt.rate
			ours, raw, rep := evalAt(t, cfg)
			var buf bytes.Buffer
			WriteTable(&buf, ours, raw, Params{TopN: 10, TargetAuthors: 10, TargetShare: 0.05})
			t.Logf("%d posts, %d bursts\n%s", len(rep.Posts), len(rep.Bursts), buf.String())
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
				if o, r := ours.ShapeTTD[l], raw.ShapeTTD[l]; !(o <= r+tt.slack) {
					t.Errorf("%s: median TTD %v, raw count %v (slack %v)", l, o, r, tt.slack)
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
