package livesoak

import (
	"bytes"
	"encoding/json"
	"strings"
	"testing"
	"time"
)

func secs(ss ...float64) []time.Duration {
	out := make([]time.Duration, len(ss))
	for i, s := range ss {
		out[i] = time.Duration(s * float64(time.Second))
	}
	return out
}

func TestPercentile(t *testing.T) {
	tests := []struct {
		name   string
		sorted []time.Duration
		p      float64
		want   time.Duration
	}{
		{"empty", nil, 50, 0},
		{"one", secs(3), 95, 3 * time.Second},
		{"median of odd", secs(1, 2, 3, 4, 5), 50, 3 * time.Second},
		{"median of even is the lower middle", secs(1, 2, 3, 4), 50, 2 * time.Second},
		{"p95 of 20 is the 19th", secs(1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16, 17, 18, 19, 20), 95, 19 * time.Second},
		{"p95 of 10 is the max", secs(1, 2, 3, 4, 5, 6, 7, 8, 9, 10), 95, 10 * time.Second},
		{"p100", secs(1, 2, 3), 100, 3 * time.Second},
		{"tiny p is the min", secs(1, 2, 3), 0.1, time.Second},
	}
	for _, tt := range tests {
		if got := Percentile(tt.sorted, tt.p); got != tt.want {
			t.Errorf("%s: Percentile(p%g) = %s, want %s", tt.name, tt.p, got, tt.want)
		}
	}
}

func TestDelays(t *testing.T) {
	d := Delays(secs(9, 1, 5, 3, 7))
	want := DelayStats{N: 5, Min: Dur(time.Second), P50: Dur(5 * time.Second), P95: Dur(9 * time.Second), Max: Dur(9 * time.Second), Mean: Dur(5 * time.Second)}
	if d != want {
		t.Errorf("Delays = %+v, want %+v", d, want)
	}
	if (Delays(nil) != DelayStats{}) {
		t.Error("Delays(nil) not zero")
	}
}

func TestExpectedAndMissing(t *testing.T) {
	t0 := time.Date(2026, 5, 1, 12, 0, 0, 0, time.UTC)
	at := func(s int) time.Time { return t0.Add(time.Duration(s) * time.Second) }
	tests := []struct {
		name         string
		first, until time.Time
		period       time.Duration
		have         []time.Time
		wantExpected int
		wantMissing  []time.Time
	}{
		{"complete", at(0), at(20), 5 * time.Second, []time.Time{at(0), at(5), at(10), at(15), at(20)}, 5, nil},
		{"one gap", at(0), at(20), 5 * time.Second, []time.Time{at(0), at(5), at(15), at(20)}, 5, []time.Time{at(10)}},
		{"tail missing", at(0), at(20), 5 * time.Second, []time.Time{at(0), at(5)}, 5, []time.Time{at(10), at(15), at(20)}},
		{"until between ends", at(0), at(12), 5 * time.Second, []time.Time{at(0), at(5), at(10)}, 3, nil},
		{"extra windows are not missing", at(0), at(5), 5 * time.Second, []time.Time{at(0), at(5), at(10)}, 2, nil},
		{"until before first", at(10), at(5), 5 * time.Second, nil, 0, nil},
		{"minute period", at(0), at(600), time.Minute, nil, 11, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			exp := ExpectedEnds(tt.first, tt.period, tt.until)
			if len(exp) != tt.wantExpected {
				t.Fatalf("expected %v", exp)
			}
			if tt.have == nil {
				return
			}
			got := Missing(exp, tt.have)
			if len(got) != len(tt.wantMissing) {
				t.Fatalf("missing %v, want %v", got, tt.wantMissing)
			}
			for i := range got {
				if !got[i].Equal(tt.wantMissing[i]) {
					t.Errorf("missing %v, want %v", got, tt.wantMissing)
				}
			}
		})
	}
}

// scenario builds observations of the overall ranking: windows every 5 s
// from t0+5s, emitted with the given delays (negative: never written).
func scenario(t0 time.Time, delays []float64, sse bool) Observations {
	var obs Observations
	for i, d := range delays {
		end := t0.Add(time.Duration(i+1) * 5 * time.Second)
		w := WindowObs{Source: "bluesky", Lang: "", Start: end.Add(-time.Minute), End: end, Posts: 100}
		if d >= 0 {
			w.EmittedAt = end.Add(time.Duration(d * float64(time.Second)))
			w.LastEmittedAt = w.EmittedAt
			w.SeenAt = w.EmittedAt.Add(500 * time.Millisecond)
			if sse {
				w.SSEAt = w.EmittedAt.Add(200 * time.Millisecond)
			}
		}
		obs.Windows = append(obs.Windows, w)
		// And a language ranking with the same windows.
		if d >= 0 {
			en := w
			en.Lang = "en"
			obs.Windows = append(obs.Windows, en)
		}
	}
	for i := range 10 {
		at := t0.Add(time.Duration(i) * 5 * time.Second)
		obs.Samples = append(obs.Samples, Sample{At: at, Run: ProcUsage{OK: true, CPUTicks: uint64(i * 250), RSS: int64(100+i) << 20, HWM: 120 << 20},
			RunCPU: 50, NewestEnd: at.Add(-8 * time.Second)})
	}
	return obs
}

func TestBuildReport(t *testing.T) {
	t0 := time.Date(2026, 5, 1, 12, 0, 0, 0, time.UTC)
	info := RunInfo{Mode: ModeJetstream, Rate: 50, WindowSize: Dur(time.Minute), WindowPeriod: Dur(5 * time.Second),
		Bound: Dur(10 * time.Second), Started: t0, StopAt: t0.Add(80 * time.Second)}
	clean := ChildResult{ExitCode: 0}
	tests := []struct {
		name          string
		delays        []float64
		sse           bool
		child         ChildResult
		wantDue       int
		wantLate      int
		wantSkipped   int
		wantUnwritten int
		wantNoSSE     int
		wantViol      []string
	}{
		{name: "fixed pipeline: every window a few seconds late", delays: rep(15, 3), sse: true, child: clean, wantDue: 13},
		{name: "the first window may be slow", delays: append([]float64{40}, rep(14, 3)...), sse: true, child: clean, wantDue: 13},
		{name: "today: windows a window size late", delays: append(rep(3, 60), rep(12, -1)...), sse: true, child: clean,
			wantDue: 13, wantLate: 2, wantUnwritten: 11, wantViol: []string{"later than 10.0s", "not written within"}},
		{name: "a skipped window", delays: []float64{3, 3, -1, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3}, sse: true, child: clean,
			wantDue: 13, wantSkipped: 1, wantViol: []string{"1 windows skipped"}},
		{name: "no SSE", delays: rep(15, 3), sse: false, child: clean, wantDue: 13, wantNoSSE: 13, wantViol: []string{"never pushed"}},
		{name: "ERROR on stop", delays: rep(15, 3), sse: true, child: ChildResult{ErrorsAfter: 1, ErrorLinesAfter: []string{"level=ERROR msg=\"Bundle Failed\""}},
			wantDue: 13, wantViol: []string{"ERROR lines in the log after the stop"}},
		{name: "killed", delays: rep(15, 3), sse: true, child: ChildResult{Killed: true, Signal: "killed", ExitCode: -1},
			wantDue: 13, wantViol: []string{"was killed"}},
		{name: "exit status", delays: rep(15, 3), sse: true, child: ChildResult{ExitCode: 1}, wantDue: 13, wantViol: []string{"exited with status 1"}},
		{name: "exited early", delays: rep(15, 3), sse: true, child: ChildResult{ExitedEarly: true, ExitCode: 1}, wantDue: 13, wantViol: []string{"exited before the stop"}},
		{name: "nothing written", delays: rep(15, -1), child: clean, wantViol: []string{"no window of the overall ranking"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := BuildReport(info, scenario(t0, tt.delays, tt.sse), ServerStats{Rate: 50}, tt.child)
			if r.Due != tt.wantDue || len(r.Late) != tt.wantLate || len(r.Skipped) != tt.wantSkipped || len(r.Unwritten) != tt.wantUnwritten || len(r.NoSSE) != tt.wantNoSSE {
				t.Errorf("due %d late %d skipped %d unwritten %d no-SSE %d; want %d %d %d %d %d",
					r.Due, len(r.Late), len(r.Skipped), len(r.Unwritten), len(r.NoSSE), tt.wantDue, tt.wantLate, tt.wantSkipped, tt.wantUnwritten, tt.wantNoSSE)
			}
			if len(r.Violations) != len(tt.wantViol) {
				t.Fatalf("violations %q, want %d like %q", r.Violations, len(tt.wantViol), tt.wantViol)
			}
			for i, v := range tt.wantViol {
				if !strings.Contains(r.Violations[i], v) {
					t.Errorf("violation %q does not say %q", r.Violations[i], v)
				}
			}
			var md, js bytes.Buffer
			if err := r.WriteMarkdown(&md); err != nil {
				t.Fatal(err)
			}
			if err := r.WriteJSON(&js); err != nil {
				t.Fatal(err)
			}
			var back Report
			if err := json.Unmarshal(js.Bytes(), &back); err != nil {
				t.Fatalf("JSON does not read back: %v", err)
			}
			if back.EmitDelay != r.EmitDelay || len(back.Violations) != len(r.Violations) {
				t.Errorf("JSON round trip: %+v vs %+v", back.EmitDelay, r.EmitDelay)
			}
			verdict := "PASS"
			if len(r.Violations) > 0 {
				verdict = "FAIL"
			}
			if !strings.HasPrefix(md.String(), "# Live soak: "+verdict) || !strings.HasPrefix(r.Summary(), "soak "+verdict) {
				t.Errorf("verdict missing:\n%s", md.String())
			}
		})
	}
}

func rep(n int, v float64) []float64 {
	out := make([]float64, n)
	for i := range out {
		out[i] = v
	}
	return out
}

func TestBuildReportStats(t *testing.T) {
	t0 := time.Date(2026, 5, 1, 12, 0, 0, 0, time.UTC)
	info := RunInfo{WindowPeriod: Dur(5 * time.Second), Bound: Dur(10 * time.Second), Started: t0, StopAt: t0.Add(80 * time.Second)}
	r := BuildReport(info, scenario(t0, []float64{30, 1, 2, 3, 4, 5, 6, 7, 8, 9, 2, 2, 2, 2, 2}, true), ServerStats{}, ChildResult{})
	// The first window (30 s) is excluded.
	if r.EmitDelay.N != 14 || r.EmitDelay.Max != Dur(9*time.Second) || r.EmitDelay.P50 != Dur(2*time.Second) || r.FirstEmitDelay != Dur(30*time.Second) {
		t.Errorf("emit %+v first %s", r.EmitDelay, r.FirstEmitDelay)
	}
	if r.SeenDelay.Min != Dur(1500*time.Millisecond) || r.SSEDelay.Max != Dur(9200*time.Millisecond) {
		t.Errorf("seen %+v sse %+v", r.SeenDelay, r.SSEDelay)
	}
	if r.Rankings != 2 || r.AllEmitDelay.N != 28 {
		t.Errorf("rankings %d, all %+v", r.Rankings, r.AllEmitDelay)
	}
	if r.Lag.N != 10 || r.Lag.Max != Dur(8*time.Second) {
		t.Errorf("lag %+v", r.Lag)
	}
	// 9 samples 5 s apart, 250 ticks (2.5 s of CPU) each: 50% of a core.
	if r.Run.N != 10 || r.Run.CPUSeconds != 22.5 || r.Run.CPUMean != 50 || r.Run.RSSMin != 100<<20 || r.Run.RSSMax != 109<<20 || r.Run.HWM != 120<<20 {
		t.Errorf("run %+v", r.Run)
	}
	if r.Postgres.N != 0 {
		t.Errorf("postgres %+v", r.Postgres)
	}
}

func TestDurJSON(t *testing.T) {
	b, err := json.Marshal(struct{ D Dur }{Dur(1234567 * time.Microsecond)})
	if err != nil || string(b) != `{"D":1.235}` {
		t.Fatalf("%s %v", b, err)
	}
	var back struct{ D Dur }
	if err := json.Unmarshal([]byte(`{"D":2.5}`), &back); err != nil || back.D != Dur(2500*time.Millisecond) {
		t.Fatalf("%v %v", back, err)
	}
	for d, want := range map[time.Duration]string{1500 * time.Millisecond: "1.50s", 65 * time.Second: "65.0s", 9*time.Minute + 31*time.Second: "9m31s", -2 * time.Second: "-2.00s"} {
		if got := Dur(d).String(); got != want {
			t.Errorf("%s prints %q, want %q", time.Duration(d), got, want)
		}
	}
}
