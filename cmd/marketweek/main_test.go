package main

import (
	"io"
	"os"
	"strings"
	"testing"

	"github.com/trendstream/trendstream/internal/core/marketcalc"
	marketpipe "github.com/trendstream/trendstream/pipelines/market"
)

func TestRunOnExcerpt(t *testing.T) {
	r, w, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	old := os.Stdout
	os.Stdout = w
	out := make(chan string)
	go func() { b, _ := io.ReadAll(r); out <- string(b) }()
	builds := []namedBuild{{"bounded", marketpipe.BuildBounded}, {"streaming", marketpipe.BuildStreaming}}
	err = run("../../ingest/market/lean/testdata/aig_20131007_trade.zip", 3, marketcalc.DefaultParams(), builds)
	w.Close()
	os.Stdout = old
	got := <-out
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"replay: 25351 trades, 0 bad inputs", "reference: ", "windows ranking a symbol: ", "  window from 2013-10-07 ", "ingest to kfake: 25351 trades", "pipeline (bounded) vs reference: 617 windows from the pipeline, 617 from the reference, 0 differ",
		"pipeline (streaming) vs reference: 617 windows from the pipeline, 617 from the reference, 0 differ"} {
		if !strings.Contains(got, want) {
			t.Errorf("output lacks %q:\n%s", want, got)
		}
	}
	if n := strings.Count(got, "  window from "); n != 3 {
		t.Errorf("%d entries printed, want 3 (-top)", n)
	}
}
