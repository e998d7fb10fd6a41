package cluster_test

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"mime/multipart"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/trendstream/trendstream/internal/services/freeport"
	"github.com/trendstream/trendstream/internal/testenv/dashtest"
)

// flinkVersion is what cluster.sh pins; the Compose stack's image must match.
const flinkVersion = "1.19.3"

// The test cluster's knobs: two slots and small processes keep it lean on a
// shared 2-core machine, a 1 s checkpoint interval lets a 15 s job take
// several, and a short heartbeat makes a killed TaskManager visible fast.
const (
	testSlots     = 2
	heartbeatTime = 6 * time.Second
	// The slow job: slowRecords records at slowDelayMs each, about 15 s.
	slowRecords = 60
	slowDelayMs = 250
)

// cluster drives cluster.sh for one state directory and port pair (set by
// up).
type cluster struct {
	t     *testing.T
	state string
	rest  int
	base  []string // env without the ports
	env   []string
	home  string // FLINK_HOME, from "cluster.sh env"
}

func newCluster(t *testing.T) *cluster {
	t.Helper()
	state := t.TempDir()
	c := &cluster{t: t, state: state}
	c.base = append(os.Environ(),
		"FLINK_CLUSTER_DIR="+state,
		"FLINK_TM_SLOTS="+strconv.Itoa(testSlots),
		"FLINK_JM_MEMORY=768m",
		"FLINK_TM_MEMORY=1024m",
		// The default 512m of task off-heap memory is for Beam's SDK
		// harnesses; this test runs plain Flink jobs, and 512m of a 1024m
		// TaskManager leaves too little for the rest (it would not start).
		"FLINK_TM_OFFHEAP=64m",
		"FLINK_CHECKPOINT_INTERVAL=1s",
		"FLINK_HEARTBEAT_INTERVAL=1s",
		"FLINK_HEARTBEAT_TIMEOUT="+heartbeatTime.String(),
		// The job server jar is not served here, port 50000 of the worker
		// pool is taken by flink/portable's test when packages run in
		// parallel, and Kafka has its own tests: this test is about Flink.
		"CLUSTER_JOB_SERVER=0",
		"CLUSTER_WORKER_POOL=0",
		"CLUSTER_KAFKA=0",
	)
	c.env = c.base
	return c
}

// up runs "cluster.sh up" on free ports, and on others when another process
// took one first (cluster.sh's exit status 4).
func (c *cluster) up() {
	c.t.Helper()
	err := freeport.Retry(2, 3, func(ports []int) error {
		c.rest = ports[0]
		c.env = append(slices.Clone(c.base),
			"FLINK_REST_PORT="+strconv.Itoa(ports[0]), "FLINK_RPC_PORT="+strconv.Itoa(ports[1]))
		_, err := c.run("up")
		if exit := (*exec.ExitError)(nil); errors.As(err, &exit) && exit.ExitCode() == 4 {
			return fmt.Errorf("cluster.sh up: %w", freeport.ErrTaken)
		}
		return err
	})
	if err != nil {
		c.t.Fatalf("cluster.sh up: %v", err)
	}
}

// run runs "cluster.sh args..." and returns its combined output.
func (c *cluster) run(args ...string) (string, error) {
	c.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 6*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, "bash", append([]string{"cluster.sh"}, args...)...)
	cmd.Env = c.env
	start := time.Now()
	out, err := cmd.CombinedOutput()
	c.t.Logf("cluster.sh %s (%.1fs):\n%s", strings.Join(args, " "), time.Since(start).Seconds(), out)
	return string(out), err
}

func (c *cluster) mustRun(args ...string) string {
	c.t.Helper()
	out, err := c.run(args...)
	if err != nil {
		c.t.Fatalf("cluster.sh %s: %v", strings.Join(args, " "), err)
	}
	return out
}

func (c *cluster) url(path string) string {
	return fmt.Sprintf("http://127.0.0.1:%d%s", c.rest, path)
}

// get decodes the JSON of a GET on the REST API into v.
func (c *cluster) get(path string, v any) error {
	resp, err := http.Get(c.url(path))
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		b, _ := io.ReadAll(resp.Body)
		return fmt.Errorf("GET %s: %s: %s", path, resp.Status, b)
	}
	return json.NewDecoder(resp.Body).Decode(v)
}

type overview struct {
	TaskManagers   int    `json:"taskmanagers"`
	SlotsTotal     int    `json:"slots-total"`
	SlotsAvailable int    `json:"slots-available"`
	JobsRunning    int    `json:"jobs-running"`
	FlinkVersion   string `json:"flink-version"`
}

func (c *cluster) overview() overview {
	c.t.Helper()
	var o overview
	if err := c.get("/overview", &o); err != nil {
		c.t.Fatal(err)
	}
	return o
}

func (c *cluster) jobState(id string) string {
	c.t.Helper()
	var j struct {
		State string `json:"state"`
	}
	if err := c.get("/jobs/"+id, &j); err != nil {
		c.t.Fatal(err)
	}
	return j.State
}

type checkpoints struct {
	Counts struct {
		Restored  int `json:"restored"`
		Completed int `json:"completed"`
		Failed    int `json:"failed"`
	} `json:"counts"`
	Latest struct {
		Restored *struct {
			ID           int    `json:"id"`
			IsSavepoint  bool   `json:"is_savepoint"`
			ExternalPath string `json:"external_path"`
		} `json:"restored"`
	} `json:"latest"`
}

func (c *cluster) checkpoints(id string) checkpoints {
	c.t.Helper()
	var cp checkpoints
	if err := c.get("/jobs/"+id+"/checkpoints", &cp); err != nil {
		c.t.Fatal(err)
	}
	return cp
}

// waitFor polls cond every 250 ms until it holds or the timeout passes.
func (c *cluster) waitFor(what string, timeout time.Duration, cond func() bool) time.Duration {
	c.t.Helper()
	start := time.Now()
	for !cond() {
		if time.Since(start) > timeout {
			c.t.Fatalf("timed out after %s waiting for %s", timeout, what)
		}
		time.Sleep(250 * time.Millisecond)
	}
	return time.Since(start)
}

// pid reads the pid file cluster.sh keeps for a component.
func (c *cluster) pid(name string) int {
	c.t.Helper()
	b, err := os.ReadFile(filepath.Join(c.state, "pids", name+".pid"))
	if err != nil {
		c.t.Fatal(err)
	}
	pid, err := strconv.Atoi(strings.TrimSpace(string(b)))
	if err != nil {
		c.t.Fatalf("pid file of %s: %v", name, err)
	}
	return pid
}

// tmOut is the TaskManager's stdout file, where print() sinks write.
func (c *cluster) tmOut() string {
	c.t.Helper()
	m, _ := filepath.Glob(filepath.Join(c.state, "log", "flink-*-taskexecutor-*.out"))
	if len(m) != 1 {
		c.t.Fatalf("want one TaskManager .out file in %s/log, found %q", c.state, m)
	}
	return m[0]
}

// dumpLogs logs the tail of every Flink log when the test failed.
func (c *cluster) dumpLogs() {
	if !c.t.Failed() {
		return
	}
	logs, _ := filepath.Glob(filepath.Join(c.state, "log", "*"))
	for _, f := range logs {
		b, err := os.ReadFile(f)
		if err != nil || len(b) == 0 {
			continue
		}
		if len(b) > 6000 {
			b = b[len(b)-6000:]
		}
		c.t.Logf("--- %s (tail) ---\n%s", f, b)
	}
}

func requireTools(t *testing.T) {
	t.Helper()
	need := map[string]string{
		"bash":    "bash runs flink/cluster/cluster.sh",
		"java":    "Flink 1.19 needs a Java 11 or 17 runtime (Debian: apt-get install openjdk-17-jdk-headless)",
		"javac":   "the test compiles its Flink job with the JDK's javac (Debian: apt-get install openjdk-17-jdk-headless)",
		"jar":     "the test packs its Flink job with the JDK's jar tool (Debian: apt-get install openjdk-17-jdk-headless)",
		"python3": "cluster.sh fetches Flink from PyPI with python3 -m pip (Debian: apt-get install python3 python3-pip)",
	}
	for tool, why := range need {
		if _, err := exec.LookPath(tool); err != nil {
			t.Fatalf("%s not found: %s", tool, why)
		}
	}
	if out, err := exec.Command("python3", "-m", "pip", "--version").CombinedOutput(); err != nil {
		t.Fatalf("python3 -m pip does not work (%v: %s): cluster.sh fetches Flink with pip (Debian: apt-get install python3-pip)", err, out)
	}
}

// TestLocalCluster brings a Flink session cluster up from scratch with
// cluster.sh, runs a word count to completion on its TaskManager, kills the
// TaskManager with SIGKILL in the middle of a checkpointed job, checks that
// the JobManager notices, starts a new TaskManager and checks that the job
// resumes from its checkpoint and finishes with exact sums, shows the web UI
// in headless Chromium, and tears it all down.
func TestLocalCluster(t *testing.T) {
	requireTools(t)
	c := newCluster(t)
	t.Cleanup(func() {
		c.dumpLogs()
		_, _ = c.run("down")
	})

	c.mustRun("fetch")
	for _, line := range strings.Split(c.mustRun("env"), "\n") {
		if v, ok := strings.CutPrefix(line, "FLINK_HOME="); ok {
			c.home = v
		}
	}
	if c.home == "" {
		t.Fatal("cluster.sh env printed no FLINK_HOME")
	}

	// Up, from nothing: one TaskManager with all its slots free.
	c.up()
	o := c.overview()
	if o.TaskManagers != 1 || o.SlotsTotal != testSlots || o.SlotsAvailable != testSlots {
		t.Fatalf("overview after up: %+v, want 1 taskmanager with %d free slots", o, testSlots)
	}
	if o.FlinkVersion != flinkVersion {
		t.Errorf("flink-version = %q, want %q", o.FlinkVersion, flinkVersion)
	}
	jm, tm := c.pid("jobmanager"), c.pid("taskmanager")
	if jm == tm {
		t.Fatalf("jobmanager and taskmanager share pid %d; want separate processes", jm)
	}
	checkLoopbackOnly(t, map[string]int{"jobmanager": jm, "taskmanager": tm}, c.rest)
	status := c.mustRun("status")
	for _, want := range []string{"jobmanager       running", "taskmanager      running", "1 taskmanager(s), 2/2 slots free"} {
		if !strings.Contains(status, want) {
			t.Errorf("status does not say %q", want)
		}
	}

	jar := buildJob(t, c.home)

	// A word count through the Flink CLI, as a user would submit it.
	t.Run("wordcount", func(t *testing.T) {
		ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
		defer cancel()
		cmd := exec.CommandContext(ctx, "bash", filepath.Join(c.home, "bin", "flink"), "run",
			"-m", fmt.Sprintf("127.0.0.1:%d", c.rest), jar, "wordcount")
		cmd.Env = append(c.env, "FLINK_CONF_DIR="+filepath.Join(c.state, "conf"))
		out, err := cmd.CombinedOutput()
		t.Logf("flink run wordcount:\n%s", out)
		if err != nil {
			t.Fatalf("flink run: %v", err)
		}
		m := regexp.MustCompile(`Job has been submitted with JobID ([0-9a-f]{32})`).FindSubmatch(out)
		if m == nil {
			t.Fatal("flink run printed no job id")
		}
		if st := c.jobState(string(m[1])); st != "FINISHED" {
			t.Errorf("word count job is %s, want FINISHED", st)
		}
		b, err := os.ReadFile(c.tmOut())
		if err != nil {
			t.Fatal(err)
		}
		for _, want := range []string{"wordcount> (to,3)", "wordcount> (the,3)", "wordcount> (be,2)", "wordcount> (fortune,1)"} {
			if !bytes.Contains(b, []byte(want+"\n")) {
				t.Errorf("the TaskManager's stdout lacks %q:\n%s", want, b)
			}
		}
	})
	if t.Failed() {
		return
	}

	// A checkpointed job survives a SIGKILLed TaskManager.
	var tm2 int
	t.Run("taskmanager-kill", func(t *testing.T) {
		id := c.submitREST(jar, "slow", strconv.Itoa(slowRecords), strconv.Itoa(slowDelayMs))
		c.waitFor("two completed checkpoints", 90*time.Second, func() bool {
			return c.checkpoints(id).Counts.Completed >= 2
		})
		if st := c.jobState(id); st != "RUNNING" {
			t.Fatalf("slow job is %s before the kill, want RUNNING (raise slowRecords)", st)
		}
		// make cancel's job listing (flink/jobs.sh) sees it by name.
		jobs := exec.Command("bash", "../jobs.sh", "running", "")
		jobs.Env = append(os.Environ(), "FLINK_REST="+strings.TrimSuffix(c.url(""), "/"))
		if out, err := jobs.CombinedOutput(); err != nil || !strings.Contains(string(out), id) {
			t.Errorf("flink/jobs.sh running: %v, output %q lacks job %s", err, out, id)
		}
		c.mustRun("taskmanager-kill")
		if alive(tm) {
			t.Fatalf("taskmanager pid %d still alive after taskmanager-kill", tm)
		}
		took := c.waitFor("the JobManager to drop the killed TaskManager", 60*time.Second, func() bool {
			return c.overview().TaskManagers == 0
		})
		t.Logf("the JobManager dropped the TaskManager %.1fs after SIGKILL (heartbeat timeout %s)", took.Seconds(), heartbeatTime)
		if st := c.jobState(id); st == "FINISHED" {
			t.Fatal("the slow job finished without a TaskManager")
		}
		// Keep the killed TaskManager's output apart: what the new one
		// prints comes after the restore.
		killedOut := c.tmOut()
		if err := os.Rename(killedOut, killedOut+".killed"); err != nil {
			t.Fatal(err)
		}

		c.mustRun("taskmanager-start")
		tm2 = c.pid("taskmanager")
		if o := c.overview(); o.TaskManagers != 1 || o.SlotsTotal != testSlots {
			t.Fatalf("overview after taskmanager-start: %+v", o)
		}
		took = c.waitFor("the slow job to finish after the restart", 3*time.Minute, func() bool {
			st := c.jobState(id)
			if st == "FAILED" || st == "CANCELED" {
				t.Fatalf("slow job %s", st)
			}
			return st == "FINISHED"
		})
		t.Logf("the slow job finished %.1fs after the new TaskManager registered", took.Seconds())

		cp := c.checkpoints(id)
		if cp.Counts.Restored < 1 || cp.Latest.Restored == nil {
			t.Fatalf("checkpoint stats show no restore: %+v", cp)
		}
		r := cp.Latest.Restored
		wantDir := "file:" + filepath.Join(c.state, "checkpoints", id) + "/chk-"
		if r.IsSavepoint || !strings.HasPrefix(r.ExternalPath, wantDir) {
			t.Errorf("restored from %q (savepoint %v), want a checkpoint under %s", r.ExternalPath, r.IsSavepoint, wantDir)
		}
		t.Logf("restored from checkpoint %d (%s); %d checkpoints completed, %d failed", r.ID, r.ExternalPath, cp.Counts.Completed, cp.Counts.Failed)
		checkSums(t, c.tmOut())
	})

	t.Run("web-ui", func(t *testing.T) { c.screenshotUI(t) })

	c.mustRun("down")
	for name, pid := range map[string]int{"jobmanager": jm, "restarted taskmanager": tm2} {
		if pid != 0 && alive(pid) {
			t.Errorf("%s (pid %d) still runs after down", name, pid)
		}
	}
	if out, _ := c.run("status"); !strings.Contains(out, "jobmanager       not running") {
		t.Errorf("status after down does not say the jobmanager is stopped")
	}
}

// alive reports whether pid runs: it exists and is not a zombie.
func alive(pid int) bool {
	if syscall.Kill(pid, 0) != nil {
		return false
	}
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return true
	}
	_, rest, _ := strings.Cut(string(b), ") ")
	return !strings.HasPrefix(rest, "Z")
}

// submitREST uploads the job jar through the REST API (once) and runs it
// with args; it returns the job id.
func (c *cluster) submitREST(jar string, args ...string) string {
	c.t.Helper()
	var body bytes.Buffer
	w := multipart.NewWriter(&body)
	part, err := w.CreateFormFile("jarfile", filepath.Base(jar))
	if err != nil {
		c.t.Fatal(err)
	}
	b, err := os.ReadFile(jar)
	if err != nil {
		c.t.Fatal(err)
	}
	_, _ = part.Write(b)
	_ = w.Close()
	resp, err := http.Post(c.url("/jars/upload"), w.FormDataContentType(), &body)
	if err != nil {
		c.t.Fatal(err)
	}
	var up struct {
		Filename string `json:"filename"`
		Status   string `json:"status"`
	}
	err = json.NewDecoder(resp.Body).Decode(&up)
	resp.Body.Close()
	if err != nil || up.Status != "success" {
		c.t.Fatalf("jar upload: %v %+v", err, up)
	}
	req, _ := json.Marshal(map[string]any{"programArgsList": args})
	resp, err = http.Post(c.url("/jars/"+filepath.Base(up.Filename)+"/run"), "application/json", bytes.NewReader(req))
	if err != nil {
		c.t.Fatal(err)
	}
	defer resp.Body.Close()
	var run struct {
		JobID  string   `json:"jobid"`
		Errors []string `json:"errors"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&run); err != nil || run.JobID == "" {
		c.t.Fatalf("jar run: %v %+v", err, run)
	}
	return run.JobID
}

// buildJob compiles testdata/ClusterCheck.java against Flink's own jars.
func buildJob(t *testing.T, flinkHome string) string {
	t.Helper()
	dir := t.TempDir()
	classes := filepath.Join(dir, "classes")
	dist := filepath.Join(flinkHome, "lib", "flink-dist-"+flinkVersion+".jar")
	for _, args := range [][]string{
		{"javac", "-d", classes, "-cp", dist, filepath.Join("testdata", "ClusterCheck.java")},
		{"jar", "--create", "--file", filepath.Join(dir, "clustercheck.jar"), "--main-class", "ClusterCheck", "-C", classes, "."},
	} {
		if out, err := exec.Command(args[0], args[1:]...).CombinedOutput(); err != nil {
			t.Fatalf("%s: %v\n%s", strings.Join(args, " "), err, out)
		}
	}
	return filepath.Join(dir, "clustercheck.jar")
}

// checkSums reads what the restarted TaskManager printed for the slow job:
// the last sum of every key must be exact (the keyed state was restored, not
// lost or double counted), and the first sum of key 1 after the restore must
// be more than the key's first record (the state came from the checkpoint,
// the job did not start over).
func checkSums(t *testing.T, outFile string) {
	t.Helper()
	want := map[int64]int64{}
	for x := int64(1); x <= slowRecords; x++ {
		want[x%4] += x
	}
	f, err := os.Open(outFile)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	re := regexp.MustCompile(`^slow> sum k=(\d) (\d+)$`)
	last := map[int64]int64{}
	first := map[int64]int64{}
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		m := re.FindStringSubmatch(sc.Text())
		if m == nil {
			continue
		}
		k, _ := strconv.ParseInt(m[1], 10, 64)
		v, _ := strconv.ParseInt(m[2], 10, 64)
		if _, ok := first[k]; !ok {
			first[k] = v
		}
		last[k] = v
	}
	for k, w := range want {
		if last[k] != w {
			t.Errorf("after the restore, key %d ends at %d, want %d", k, last[k], w)
		}
	}
	if first[1] <= 1 {
		t.Errorf("the restarted TaskManager's first sum for key 1 is %d: the job started over instead of restoring its state", first[1])
	}
	t.Logf("restarted TaskManager: first sums %v, last sums %v", first, last)
}

// screenshotUI opens the Flink web UI in headless Chromium, waits for the
// overview to list the finished jobs and the TaskManager's slots, and with
// UPDATE_SCREENSHOT=1 saves it as docs/flink-ui.png.
func (c *cluster) screenshotUI(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	bctx := dashtest.Browser(t, ctx)
	dashtest.OpenShowing(t, bctx, c.url("/#/overview"), 60*time.Second, "clustercheck-slow", "clustercheck-wordcount", "Available Task Slots")
	dashtest.Screenshot(t, bctx, filepath.Join("..", "..", "docs", "flink-ui.png"))
}
