package chaos

import (
	"testing"
	"time"
)

func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func TestProcSupervision(t *testing.T) {
	tests := []struct {
		name string
		// script runs as `sh -c script`; each run appends a line to the log.
		script string
		// restart is the supervisor's restart delay.
		restart time.Duration
		act     func(t *testing.T, p *Proc)
		// wantPlanned and wantUnplanned count the exits at the end.
		wantPlanned, wantUnplanned int
	}{
		{name: "kill and start", script: "exec sleep 30", restart: 200 * time.Millisecond, act: func(t *testing.T, p *Proc) {
			if err := p.Kill(); err != nil {
				t.Fatal(err)
			}
			if p.Running() {
				t.Fatal("running after the kill")
			}
			time.Sleep(300 * time.Millisecond) // no restart of a killed process
			if p.Running() {
				t.Fatal("restarted after a planned kill")
			}
			if err := p.Start(); err != nil {
				t.Fatal(err)
			}
		}, wantPlanned: 2}, // the kill and the final shutdown
		{name: "a crash is restarted", script: "sleep 0.2; exit 3", restart: 200 * time.Millisecond, act: func(t *testing.T, p *Proc) {
			waitFor(t, "two crashes", func() bool { return len(p.Exits()) >= 2 })
		}, wantUnplanned: 2},
		{name: "stop of a crashed process holds it down", script: "exit 3", restart: 2 * time.Second, act: func(t *testing.T, p *Proc) {
			waitFor(t, "the crash", func() bool { return len(p.Exits()) >= 1 })
			if err := p.Stop(time.Second); err != nil {
				t.Fatal(err)
			}
			time.Sleep(2500 * time.Millisecond) // past the supervisor's restart delay
			if p.Running() || len(p.Exits()) != 1 {
				t.Fatalf("running %v with %d exits: the held process was restarted", p.Running(), len(p.Exits()))
			}
		}, wantUnplanned: 1},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			p := NewProc("proc", "sh", []string{"-c", tc.script}, t.TempDir(), nil, discard())
			p.restart = tc.restart
			if err := p.Start(); err != nil {
				t.Fatal(err)
			}
			tc.act(t, p)
			if err := p.Shutdown(5 * time.Second); err != nil {
				t.Fatal(err)
			}
			planned, unplanned := 0, 0
			for _, e := range p.Exits() {
				if e.Planned {
					planned++
				} else {
					unplanned++
				}
			}
			// A crash-looping script may crash once more before the
			// shutdown: at least the wanted number.
			if planned != tc.wantPlanned || unplanned < tc.wantUnplanned {
				t.Fatalf("%d planned and %d unplanned exits, want %d and %d: %+v", planned, unplanned, tc.wantPlanned, tc.wantUnplanned, p.Exits())
			}
		})
	}
}
