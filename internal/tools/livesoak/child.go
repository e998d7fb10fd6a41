package livesoak

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"regexp"
	"strings"
	"sync"
	"syscall"
	"time"
)

// errorLine matches a log line at ERROR level: slog's text handler
// (level=ERROR), its JSON handler ("level":"ERROR") and the plain
// "ERROR" word some libraries print.
var errorLine = regexp.MustCompile(`level=ERROR\b|"level":"ERROR"|(^|[\s\[])ERROR([\s\]:]|$)`)

var warnLine = regexp.MustCompile(`level=WARN\b|"level":"WARN"`)

// IsErrorLine reports whether a log line is at ERROR level.
func IsErrorLine(l string) bool { return errorLine.MatchString(l) }

// MaxKeptLines bounds the ERROR lines a Child keeps in each category.
const MaxKeptLines = 30

// Child is the process under test.
type Child struct {
	cmd     *exec.Cmd
	logPath string
	exited  chan struct{}
	waitErr error
	readers sync.WaitGroup

	mu          sync.Mutex
	stopAt      time.Time
	before      []string
	after       []string
	nBefore     int
	nAfter      int
	nWarn       int
	tail        []string
	stopStarted bool
}

// StartChild starts bin with args in its own process group (a Ctrl-C in a
// terminal reaches only the harness, which then stops the child itself),
// its stdout and stderr copied to logPath (and tee, if not nil) and
// scanned for ERROR lines.
func StartChild(bin string, args, env []string, logPath string, tee io.Writer) (*Child, error) {
	f, err := os.Create(logPath)
	if err != nil {
		return nil, err
	}
	cmd := exec.Command(bin, args...)
	cmd.Env = env
	// Pdeathsig: should the harness die, the child gets SIGTERM and stops
	// cleanly instead of living on with its PostgreSQL.
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGTERM}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		f.Close()
		return nil, err
	}
	stderr, err := cmd.StderrPipe()
	if err != nil {
		f.Close()
		return nil, err
	}
	if err := cmd.Start(); err != nil {
		f.Close()
		return nil, fmt.Errorf("livesoak: start %s: %w", bin, err)
	}
	c := &Child{cmd: cmd, logPath: logPath, exited: make(chan struct{})}
	var fmu sync.Mutex
	sink := func(r io.Reader) {
		defer c.readers.Done()
		br := bufio.NewReaderSize(r, 64<<10)
		for {
			line, err := br.ReadString('\n')
			if line != "" {
				line = strings.TrimRight(line, "\r\n")
				fmu.Lock()
				fmt.Fprintln(f, line)
				if tee != nil {
					fmt.Fprintln(tee, line)
				}
				fmu.Unlock()
				c.classify(line)
			}
			if err != nil {
				return
			}
		}
	}
	c.readers.Add(2)
	go sink(stdout)
	go sink(stderr)
	go func() {
		c.readers.Wait()
		c.waitErr = cmd.Wait()
		f.Close()
		close(c.exited)
	}()
	return c, nil
}

func (c *Child) classify(line string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.tail = append(c.tail, line)
	if len(c.tail) > 20 {
		c.tail = c.tail[1:]
	}
	switch {
	case IsErrorLine(line):
		if c.stopStarted {
			c.nAfter++
			if len(c.after) < MaxKeptLines {
				c.after = append(c.after, line)
			}
		} else {
			c.nBefore++
			if len(c.before) < MaxKeptLines {
				c.before = append(c.before, line)
			}
		}
	case warnLine.MatchString(line):
		c.nWarn++
	}
}

// PID is the child's process id.
func (c *Child) PID() int { return c.cmd.Process.Pid }

// Exited is closed when the child has exited and its output is read.
func (c *Child) Exited() <-chan struct{} { return c.exited }

// Stop sends SIGINT, waits up to timeout for the exit, and kills the
// process group if it does not come. It returns how the child ended.
func (c *Child) Stop(timeout time.Duration) ChildResult {
	res := ChildResult{PID: c.PID(), LogPath: c.logPath}
	select {
	case <-c.exited:
		res.ExitedEarly = true
	default:
	}
	c.mu.Lock()
	c.stopStarted = true
	c.stopAt = time.Now()
	c.mu.Unlock()
	start := time.Now()
	if !res.ExitedEarly {
		_ = c.cmd.Process.Signal(os.Interrupt)
		t := time.NewTimer(timeout)
		select {
		case <-c.exited:
		case <-t.C:
			res.Killed = true
			_ = syscall.Kill(-c.PID(), syscall.SIGKILL)
			<-c.exited
		}
		t.Stop()
		res.StopTook = Dur(time.Since(start))
	}
	var ee *exec.ExitError
	switch {
	case c.waitErr == nil:
	case errors.As(c.waitErr, &ee):
		res.ExitCode = ee.ExitCode()
		if ws, ok := ee.Sys().(syscall.WaitStatus); ok && ws.Signaled() {
			res.Signal = ws.Signal().String()
		}
	default:
		res.Err = c.waitErr.Error()
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	res.ErrorsBefore, res.ErrorsAfter, res.Warnings = c.nBefore, c.nAfter, c.nWarn
	res.ErrorLinesBefore, res.ErrorLinesAfter = c.before, c.after
	if res.ExitedEarly || res.Killed || res.ExitCode != 0 || res.Signal != "" {
		res.LastLinesOnFailed = append([]string(nil), c.tail...)
	}
	return res
}
