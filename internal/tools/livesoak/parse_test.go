package livesoak

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestReadSSE(t *testing.T) {
	tests := []struct {
		name string
		in   string
		want []SSEEvent
	}{
		{"the API's stream", "retry: 2000\n: connected\n\nevent: snapshot\ndata: {\"a\":1}\n\n: keep-alive\n\n",
			[]SSEEvent{{Event: "snapshot", Data: `{"a":1}`}}},
		{"default type and no space", "data:x\n\n", []SSEEvent{{Event: "message", Data: "x"}}},
		{"multi-line data", "event: e\ndata: a\ndata: b\n\n", []SSEEvent{{Event: "e", Data: "a\nb"}}},
		{"CRLF", "event: e\r\ndata: a\r\n\r\n", []SSEEvent{{Event: "e", Data: "a"}}},
		{"no data, no event", "event: e\n\n", nil},
		{"unterminated last event is not dispatched", "event: e\ndata: a\n", nil},
		{"id carries over", "id: 7\ndata: a\n\ndata: b\n\n", []SSEEvent{{Event: "message", Data: "a", ID: "7"}, {Event: "message", Data: "b", ID: "7"}}},
		{"two events", "event: snapshot\ndata: 1\n\nevent: snapshot\ndata: 2\n\n",
			[]SSEEvent{{Event: "snapshot", Data: "1"}, {Event: "snapshot", Data: "2"}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var got []SSEEvent
			if err := ReadSSE(strings.NewReader(tt.in), 1<<20, func(e SSEEvent) error { got = append(got, e); return nil }); err != nil {
				t.Fatal(err)
			}
			if len(got) != len(tt.want) {
				t.Fatalf("got %+v, want %+v", got, tt.want)
			}
			for i := range got {
				if got[i] != tt.want[i] {
					t.Errorf("event %d = %+v, want %+v", i, got[i], tt.want[i])
				}
			}
		})
	}
	stop := errors.New("stop")
	if err := ReadSSE(strings.NewReader("data: a\n\ndata: b\n\n"), 1<<20, func(SSEEvent) error { return stop }); err != stop {
		t.Errorf("callback error not returned: %v", err)
	}
}

func TestParseStat(t *testing.T) {
	tests := []struct {
		name    string
		in      string
		want    ProcStat
		wantErr bool
	}{
		{"plain", "4242 (trendstream) S 1 4242 4242 0 -1 4194560 5000 0 0 0 1234 567 0 0 20 0 12 0 100 2000000000 30000 18446744073709551615 1 1 0 0 0 0 0 0 0 0 0 0 17 1 0 0 0 0 0",
			ProcStat{PID: 4242, PPID: 1, Comm: "trendstream", State: "S", UTime: 1234, STime: 567, RSSPages: 30000}, false},
		{"name with spaces and parens", "77 (postgres: a (b) c) R 70 77 77 0 -1 0 0 0 0 0 5 6 0 0 20 0 1 0 100 1000 42 0 0 0 0 0 0 0 0 0 0 0 0 0 17 0 0 0 0 0 0",
			ProcStat{PID: 77, PPID: 70, Comm: "postgres: a (b) c", State: "R", UTime: 5, STime: 6, RSSPages: 42}, false},
		{"truncated", "1 (x) S 0 1 1", ProcStat{}, true},
		{"garbage", "nonsense", ProcStat{}, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := ParseStat([]byte(tt.in))
			if (err != nil) != tt.wantErr {
				t.Fatalf("err %v", err)
			}
			if !tt.wantErr && got != tt.want {
				t.Errorf("got %+v, want %+v", got, tt.want)
			}
		})
	}
}

func TestParseKB(t *testing.T) {
	status := "Name:\ttrendstream\nVmHWM:\t  204800 kB\nVmRSS:\t  102400 kB\nThreads:\t12\n"
	tests := []struct {
		name string
		key  string
		want int64
	}{
		{"rss", "VmRSS", 100 << 20},
		{"peak", "VmHWM", 200 << 20},
		{"no unit", "Threads", 12},
		{"absent", "Pss", -1},
	}
	for _, tt := range tests {
		if got := ParseKB([]byte(status), tt.key); got != tt.want {
			t.Errorf("%s: %d, want %d", tt.name, got, tt.want)
		}
	}
}

func TestTree(t *testing.T) {
	all := []ProcStat{{PID: 1}, {PID: 10, PPID: 1}, {PID: 11, PPID: 10}, {PID: 12, PPID: 10}, {PID: 13, PPID: 12}, {PID: 20, PPID: 1}}
	tests := []struct {
		root int
		want int
	}{{10, 4}, {12, 2}, {20, 1}, {99, 0}}
	for _, tt := range tests {
		if got := Tree(all, tt.root); len(got) != tt.want {
			t.Errorf("Tree(%d) = %v, want %d processes", tt.root, got, tt.want)
		}
	}
}

// TestReadProcessSelf reads this test process from the real /proc.
func TestReadProcessSelf(t *testing.T) {
	u := ReadProcess(os.Getpid())
	if !u.OK || u.RSS <= 0 || u.HWM < u.RSS {
		t.Fatalf("%+v", u)
	}
	tr := ReadTree(os.Getpid())
	if !tr.OK || tr.Procs < 1 || tr.RSS <= 0 {
		t.Fatalf("%+v", tr)
	}
	if ReadProcess(-5).OK {
		t.Error("a missing process reads OK")
	}
	f := filepath.Join(t.TempDir(), "postmaster.pid")
	if err := os.WriteFile(f, []byte("4321\n/var/lib/pg\n1700000000\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if pid, err := PostmasterPID(f); err != nil || pid != 4321 {
		t.Errorf("PostmasterPID = %d, %v", pid, err)
	}
}

func TestMetricValue(t *testing.T) {
	body := `# HELP trendstream_ingest_posts_total Post messages produced, by operation.
# TYPE trendstream_ingest_posts_total counter
trendstream_ingest_posts_total{operation="create"} 12345
trendstream_ingest_posts_total{operation="delete"} 7
trendstream_ingest_lag_seconds 0.25
trendstream_ingest_lag_seconds_extra 9
`
	tests := []struct {
		series string
		want   float64
		ok     bool
	}{
		{`trendstream_ingest_posts_total{operation="create"}`, 12345, true},
		{`trendstream_ingest_posts_total{operation="delete"}`, 7, true},
		{`trendstream_ingest_lag_seconds`, 0.25, true},
		{`trendstream_ingest_posts_total`, 0, false},
		{`absent`, 0, false},
	}
	for _, tt := range tests {
		if got, ok := MetricValue([]byte(body), tt.series); got != tt.want || ok != tt.ok {
			t.Errorf("%s = %v, %v", tt.series, got, ok)
		}
	}
}

func TestIsErrorLine(t *testing.T) {
	tests := []struct {
		line string
		want bool
	}{
		{`time=2026-05-01T12:00:00Z level=ERROR msg="Bundle Failed" err="pipeline canceled"`, true},
		{`{"time":"…","level":"ERROR","msg":"x"}`, true},
		{`2026/05/01 12:00:00 ERROR something broke`, true},
		{`[ERROR] worker failed`, true},
		{`time=… level=INFO msg="trendstream stopped"`, false},
		{`time=… level=WARN msg="api: trends feed unavailable" err="ERRORS are fine in values"`, false},
		{`level=INFO msg="x" term=TERRORIST`, false},
	}
	for _, tt := range tests {
		if got := IsErrorLine(tt.line); got != tt.want {
			t.Errorf("IsErrorLine(%q) = %v", tt.line, got)
		}
	}
}
