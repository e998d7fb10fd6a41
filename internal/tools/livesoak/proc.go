package livesoak

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
)

// ClockTicks is USER_HZ, the unit of utime and stime in /proc/PID/stat: 100
// on every Linux architecture Go supports (the kernel's ABI, independent of
// its internal HZ).
const ClockTicks = 100

// ProcStat is what the harness reads from /proc/PID/stat.
type ProcStat struct {
	PID, PPID int
	Comm      string
	State     string
	// UTime and STime are the CPU time used, in ClockTicks.
	UTime, STime uint64
	// RSSPages is the resident set in pages.
	RSSPages int64
}

// CPUTicks is user plus system time.
func (p ProcStat) CPUTicks() uint64 { return p.UTime + p.STime }

// ParseStat parses the contents of /proc/PID/stat. The command name may
// hold spaces and parentheses, so the fields are counted from the last ')'.
func ParseStat(b []byte) (ProcStat, error) {
	var p ProcStat
	open := bytes.IndexByte(b, '(')
	closing := bytes.LastIndexByte(b, ')')
	if open < 0 || closing < open {
		return p, errors.New("livesoak: stat: no command name")
	}
	pid, err := strconv.Atoi(strings.TrimSpace(string(b[:open])))
	if err != nil {
		return p, fmt.Errorf("livesoak: stat: pid: %w", err)
	}
	p.PID, p.Comm = pid, string(b[open+1:closing])
	// Fields from 3 (state) on; rest[0] is field 3.
	rest := strings.Fields(string(b[closing+1:]))
	if len(rest) < 22 {
		return p, fmt.Errorf("livesoak: stat: %d fields after the name, want at least 22", len(rest))
	}
	p.State = rest[0]
	field := func(n int) string { return rest[n-3] }
	if p.PPID, err = strconv.Atoi(field(4)); err != nil {
		return p, fmt.Errorf("livesoak: stat: ppid: %w", err)
	}
	if p.UTime, err = strconv.ParseUint(field(14), 10, 64); err != nil {
		return p, fmt.Errorf("livesoak: stat: utime: %w", err)
	}
	if p.STime, err = strconv.ParseUint(field(15), 10, 64); err != nil {
		return p, fmt.Errorf("livesoak: stat: stime: %w", err)
	}
	if p.RSSPages, err = strconv.ParseInt(field(24), 10, 64); err != nil {
		return p, fmt.Errorf("livesoak: stat: rss: %w", err)
	}
	return p, nil
}

// ParseKB returns the value in bytes of a "Name:   123 kB" line of
// /proc/PID/status or /proc/PID/smaps_rollup, or -1 when absent.
func ParseKB(b []byte, name string) int64 {
	sc := bufio.NewScanner(bytes.NewReader(b))
	for sc.Scan() {
		k, v, ok := strings.Cut(sc.Text(), ":")
		if !ok || k != name {
			continue
		}
		f := strings.Fields(v)
		if len(f) == 0 {
			return -1
		}
		n, err := strconv.ParseInt(f[0], 10, 64)
		if err != nil {
			return -1
		}
		if len(f) > 1 && f[1] == "kB" {
			n *= 1024
		}
		return n
	}
	return -1
}

// procRoot is /proc; tests may point it elsewhere.
var procRoot = "/proc"

func readStat(pid int) (ProcStat, error) {
	b, err := os.ReadFile(filepath.Join(procRoot, strconv.Itoa(pid), "stat"))
	if err != nil {
		return ProcStat{}, err
	}
	return ParseStat(b)
}

// allStats reads the stat of every process.
func allStats() []ProcStat {
	ents, err := os.ReadDir(procRoot)
	if err != nil {
		return nil
	}
	var out []ProcStat
	for _, e := range ents {
		pid, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		if st, err := readStat(pid); err == nil {
			out = append(out, st)
		}
	}
	return out
}

// Tree returns root and its descendants among all.
func Tree(all []ProcStat, root int) []ProcStat {
	children := map[int][]int{}
	byPID := map[int]ProcStat{}
	for _, p := range all {
		children[p.PPID] = append(children[p.PPID], p.PID)
		byPID[p.PID] = p
	}
	var out []ProcStat
	seen := map[int]bool{}
	stack := []int{root}
	for len(stack) > 0 {
		pid := stack[len(stack)-1]
		stack = stack[:len(stack)-1]
		if seen[pid] {
			continue
		}
		seen[pid] = true
		if p, ok := byPID[pid]; ok {
			out = append(out, p)
			stack = append(stack, children[pid]...)
		}
	}
	return out
}

// ProcUsage is one reading of a process or process tree.
type ProcUsage struct {
	// OK is false when the process is gone or unreadable.
	OK bool `json:"ok"`
	// CPUTicks is the user+system time of the processes, summed.
	CPUTicks uint64 `json:"cpu_ticks"`
	// RSS is the resident set (bytes); for a tree it is the sum of the
	// processes' proportional set sizes (Pss) where readable, so shared
	// memory is not counted once per process.
	RSS int64 `json:"rss"`
	// HWM is the peak resident set (VmHWM) of a single process; 0 for a tree.
	HWM   int64 `json:"rss_peak,omitempty"`
	Procs int   `json:"procs"`
}

// ReadProcess reads one process.
func ReadProcess(pid int) ProcUsage {
	st, err := readStat(pid)
	if err != nil || st.State == "Z" || st.State == "X" {
		return ProcUsage{} // gone, or a zombie not yet reaped
	}
	u := ProcUsage{OK: true, CPUTicks: st.CPUTicks(), Procs: 1, RSS: st.RSSPages * int64(os.Getpagesize())}
	if b, err := os.ReadFile(filepath.Join(procRoot, strconv.Itoa(pid), "status")); err == nil {
		if v := ParseKB(b, "VmRSS"); v >= 0 {
			u.RSS = v
		}
		if v := ParseKB(b, "VmHWM"); v >= 0 {
			u.HWM = v
		}
	}
	return u
}

// ReadTree reads root and its descendants (a PostgreSQL postmaster and its
// backends).
func ReadTree(root int) ProcUsage {
	tree := Tree(allStats(), root)
	if len(tree) == 0 {
		return ProcUsage{}
	}
	u := ProcUsage{OK: true, Procs: len(tree)}
	for _, p := range tree {
		u.CPUTicks += p.CPUTicks()
		rss := p.RSSPages * int64(os.Getpagesize())
		if b, err := os.ReadFile(filepath.Join(procRoot, strconv.Itoa(p.PID), "smaps_rollup")); err == nil {
			if v := ParseKB(b, "Pss"); v >= 0 {
				rss = v
			}
		}
		u.RSS += rss
	}
	return u
}

// PostmasterPID reads the PID of a PostgreSQL server from its
// postmaster.pid file (first line).
func PostmasterPID(path string) (int, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return 0, err
	}
	line, _, _ := strings.Cut(string(b), "\n")
	return strconv.Atoi(strings.TrimSpace(line))
}
