package portable

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/trendstream/trendstream/internal/core/recentposts"
	"github.com/trendstream/trendstream/internal/readside/store"
	"github.com/trendstream/trendstream/internal/services/freeport"
	"github.com/trendstream/trendstream/internal/testenv"
	"github.com/trendstream/trendstream/internal/testenv/dashtest"
	"github.com/trendstream/trendstream/internal/testenv/replaytest"
	tsv1 "github.com/trendstream/trendstream/proto/trendstream/v1"
)

// flinkCluster is a Flink session cluster (JobManager with the web UI, a
// separate TaskManager) and Beam's Flink job server, started by
// flink/cluster/cluster.sh for one test on free loopback ports.
type flinkCluster struct {
	t          testing.TB
	state      string
	rest, jobs int
	env        []string
}

func startFlink(t testing.TB) *flinkCluster {
	t.Helper()
	c := &flinkCluster{t: t, state: t.TempDir()}
	base := append(hermeticEnv(),
		"FLINK_CLUSTER_DIR="+c.state,
		"FLINK_TM_SLOTS=2",
		// Checkpoints every 2 s, so a killed TaskManager costs a few
		// seconds of replay; a short heartbeat notices the kill quickly.
		"FLINK_CHECKPOINT_INTERVAL=2s",
		"FLINK_HEARTBEAT_INTERVAL=1s",
		"FLINK_HEARTBEAT_TIMEOUT=6s",
		// The harnesses run as PROCESS environments started by the
		// TaskManager: the worker pool's port 50000 is hard-coded and
		// taken by this package's Prism test. Kafka is the test's own.
		"CLUSTER_WORKER_POOL=0",
		"CLUSTER_KAFKA=0",
	)
	c.env = base // "down" at cleanup must find this state directory, whatever happens below
	t.Cleanup(func() {
		if t.Failed() {
			c.dumpLogs()
		}
		if out, err := c.sh("down"); err != nil {
			t.Errorf("cluster.sh down: %v\n%s", err, out)
		}
	})
	// Up on free ports, and on others when another process took one first
	// (cluster.sh's exit status 4).
	err := freeport.Retry(4, 3, func(ports []int) error {
		c.rest, c.jobs = ports[0], ports[2]
		c.env = append(slices.Clone(base),
			"FLINK_REST_PORT="+strconv.Itoa(ports[0]), "FLINK_RPC_PORT="+strconv.Itoa(ports[1]),
			"BEAM_JOB_PORT="+strconv.Itoa(ports[2]), "BEAM_ARTIFACT_PORT="+strconv.Itoa(ports[3]))
		out, err := c.sh("up")
		if exit := (*exec.ExitError)(nil); errors.As(err, &exit) && exit.ExitCode() == 4 {
			t.Logf("cluster.sh up: a port was taken; on others:\n%s", out)
			return fmt.Errorf("cluster.sh up: %w", freeport.ErrTaken)
		}
		if err != nil {
			return fmt.Errorf("%w\n%s", err, out)
		}
		return nil
	})
	if err != nil {
		t.Fatalf("cluster.sh up: %v", err)
	}
	return c
}

// sh runs cluster.sh with the cluster's settings.
func (c *flinkCluster) sh(args ...string) (string, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, "bash", append([]string{filepath.Join("..", "cluster", "cluster.sh")}, args...)...)
	cmd.Env = c.env
	start := time.Now()
	out, err := cmd.CombinedOutput()
	c.t.Logf("cluster.sh %s (%.1fs):\n%s", strings.Join(args, " "), time.Since(start).Seconds(), out)
	return string(out), err
}

func (c *flinkCluster) url(path string) string {
	return fmt.Sprintf("http://127.0.0.1:%d%s", c.rest, path)
}

// dumpLogs logs the end of every log of the cluster and keeps a copy of
// the logs, which the test's temporary directory would take with it.
func (c *flinkCluster) dumpLogs() {
	keep, err := os.MkdirTemp("", "trendstream-flink-logs-")
	if err == nil {
		if err := exec.Command("cp", "-r", filepath.Join(c.state, "log"), keep).Run(); err == nil {
			c.t.Logf("the cluster's logs are kept in %s", keep)
		}
	}
	files, _ := filepath.Glob(filepath.Join(c.state, "log", "*"))
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil || len(b) == 0 {
			continue
		}
		if len(b) > 6000 {
			b = b[len(b)-6000:]
		}
		c.t.Logf("--- %s (end):\n%s", filepath.Base(f), b)
	}
}

// submitArgs are the submitter's flags for a job on c: the Flink runner
// through the job server, each SDK harness a PROCESS the TaskManager
// starts from Beam's boot program.
func (c *flinkCluster) submitArgs(bins binaries, worker, name string) []string {
	env := fmt.Sprintf(`{"command":%q}`, bins.boot)
	return []string{
		"--runner=flink",
		"--endpoint=127.0.0.1:" + strconv.Itoa(c.jobs),
		"--environment_type=PROCESS",
		"--environment_config=" + env,
		"--worker_binary=" + worker,
		"--job_name=" + name,
		// As the cluster's execution.checkpointing.interval.
		"-flink-checkpointing-interval=2s",
	}
}

// TestPipelinesOnFlink runs the real trending, watchlist and market pipelines on
// a real Flink session cluster through Beam's Flink job server, reading a
// real Kafka broker and writing PostgreSQL and their Kafka topics:
//
//   - replay: a bounded replay of real posts, whose results must equal
//     internal/core/trendcalc's reference window by window; its harnesses
//     come from an EXTERNAL worker pool (boot --worker_pool), as in
//     production, the other jobs' from PROCESS environments;
//   - live: an unbounded job fed posts stamped with the wall clock at about
//     11 posts/s. While it runs without a fault, every window must reach
//     PostgreSQL within liveBound of its end (this failed before
//     internal/platform/flinkrunner sent finishBundleBeforeCheckpointing: no window
//     at all until a restore). Then, while posts still come, the job is
//     stopped with a savepoint and submitted again from it (an upgrade:
//     flink/jobs.sh stop, -flink-savepoint-path), and the new job's
//     TaskManager is killed with SIGKILL and restarted mid-stream; every
//     window must still equal the reference (nothing lost, nothing counted
//     twice), and the new job must have restored its savepoint and a
//     checkpoint. The web UI must list the job as RUNNING;
//   - watchlist, market: the watchlist pipeline (a bounded replay,
//     flinkWatchlist) and the streaming market pipeline (live,
//     flinkMarket) on the same cluster.
func TestPipelinesOnFlink(t *testing.T) {
	for _, tool := range []string{"bash", "java", "python3", "mvn"} {
		if _, err := exec.LookPath(tool); err != nil {
			t.Fatalf("%s not found: flink/cluster/cluster.sh needs it to start Flink and Beam's job server (make deps)", tool)
		}
	}
	dir := t.TempDir()
	buildCtx, cancelBuild := context.WithTimeout(context.Background(), 8*time.Minute)
	bins := buildBinaries(buildCtx, t, dir)
	cancelBuild()
	before := bootLeftovers()
	t.Cleanup(func() {
		cleanupBootFiles(t, before, bins.pipeline)
		cleanupBootFiles(t, before, bins.watchlist)
		cleanupBootFiles(t, before, bins.market)
	})

	fc := startFlink(t)
	t.Run("replay", func(t *testing.T) { flinkReplay(t, fc, bins, dir) })
	t.Run("live", func(t *testing.T) { flinkLive(t, fc, bins, dir) })
	t.Run("watchlist", func(t *testing.T) { flinkWatchlist(t, fc, bins, dir) })
	t.Run("market", func(t *testing.T) { flinkMarket(t, fc, bins, dir) })
}

func flinkReplay(t *testing.T, fc *flinkCluster, bins binaries, dir string) {
	const postsTopic, trendsTopic = "replay.posts", "replay.trends"
	kc := testenv.RealKafka(t, 4, postsTopic, trendsTopic)
	db := testenv.Postgres(t)
	posts := replaytest.MustScenario(t, t0)
	replaytest.MustProduce(t, kc.Addrs(), postsTopic, posts)
	sc := testScenario()

	// This job's harnesses come from an EXTERNAL worker pool, as in
	// production (the Compose stack's go-worker-pool sidecar, make
	// cluster-submit): the TaskManager asks boot --worker_pool on
	// localhost:50000 for each one. The other jobs use PROCESS
	// environments; the pool's port is hard-coded, and only this
	// package's tests, which run one at a time, take it.
	before := bootLeftovers()
	t.Cleanup(func() { cleanupBootFiles(t, before, bins.pipeline) })
	requirePortFree(t, workerPoolPort)
	pool := startProc(t, "worker-pool-replay", dir, bins.boot, "--worker_pool")
	waitListening(t, pool, fmt.Sprintf("localhost:%d", workerPoolPort), 30*time.Second)
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("worker pool:\n%s", pool.logTail(4000))
		}
	})
	args := fc.submitArgs(bins, bins.pipeline, "trendstream-flink-replay")
	for i, a := range args {
		switch {
		case strings.HasPrefix(a, "--environment_type="):
			args[i] = "--environment_type=EXTERNAL"
		case strings.HasPrefix(a, "--environment_config="):
			args[i] = fmt.Sprintf("--environment_config=localhost:%d", workerPoolPort)
		}
	}
	args = append(args,
		"-brokers="+strings.Join(kc.Addrs(), ","),
		"-posts-topic="+postsTopic,
		"-trends-topic="+trendsTopic,
		"-database-url="+db,
		"-start=earliest",
		"-group=trendstream-flink-replay",
		"-bounded",
	)
	args = append(args, sc.flags()...)
	ctx, cancel := context.WithTimeout(context.Background(), 6*time.Minute)
	defer cancel()
	took := runToEnd(t, "submitter-replay", dir, bins.pipeline, 6*time.Minute, args...)
	t.Logf("the replay ran on Flink in %v", took)
	if n := strings.Count(pool.logTail(1<<20), "starting worker"); n == 0 {
		t.Errorf("the worker pool started no harness: the job did not use the EXTERNAL environment")
	} else {
		t.Logf("the worker pool started %d harness(es)", n)
	}

	want := sc.reference(posts)
	gotDB := readDB(ctx, t, db)
	if d := diffWindows(gotDB, want); d != "" {
		t.Errorf("PostgreSQL differs from the reference:\n%s", d)
	}
	if d := diffWindows(readTopic(t, kc.Addrs(), trendsTopic), want); d != "" {
		t.Errorf("results topic differs from the reference:\n%s", d)
	}
	if d := diffTopics(readSnapshots(t, kc.Addrs(), trendsTopic), sc.snapshots(posts)); d != "" {
		t.Errorf("results topic's topics and examples differ from the reference:\n%s", d)
	}
	burstEnd := t0.Add(13 * time.Minute)
	w := gotDB[windowKey{Source: "bluesky", Lang: "", End: burstEnd}]
	if len(w.Terms) == 0 || w.Terms[0].Term != "solareclipse" {
		t.Errorf("window ending %v: terms %+v, want hashtag solareclipse on top", burstEnd, w.Terms)
	}
	t.Logf("%d windows equal the reference", len(want))
	checkDeletedExample(t, db, "at://did:plc:burst00/app.bsky.feed.post/b0")
}

// checkDeletedExample checks that the scenario's delete of uri (one of the
// first burst posts, an example post of its windows) reached the read
// model through the job (pgsink.WriteDeletes): its tombstone is there and
// it is no example in any window, while other posts are.
func checkDeletedExample(t *testing.T, db, uri string) {
	t.Helper()
	count := func(q string) int64 { return testenv.Rows(t, db, q)[0][0].(int64) }
	tombstones := count(`SELECT count(*) FROM deleted_posts WHERE uri = '` + uri + `'`)
	left := count(`SELECT count(*) FROM example_posts WHERE uri = '` + uri + `'`)
	examples := count(`SELECT count(*) FROM example_posts`)
	if tombstones != 1 || left != 0 || examples == 0 {
		t.Errorf("deleted post %s: %d tombstones (want 1), %d example rows left (want 0), %d example rows in all (want some)",
			uri, tombstones, left, examples)
	}
}

// liveSpeed compresses the replay scenario's 20 minutes of event time into
// a minute of wall clock: about 11 posts/s, long enough for the windows of
// the run's fault-free first 40 s to be checked for freshness.
const liveSpeed = 20

// liveScenario is testScenario with its durations divided by liveSpeed.
func liveScenario() scenarioConfig {
	sc := testScenario()
	sc.Size /= liveSpeed
	sc.Period /= liveSpeed
	sc.Score.WarmUp /= liveSpeed
	return sc
}

func flinkLive(t *testing.T, fc *flinkCluster, bins binaries, dir string) {
	const postsTopic, trendsTopic = "live.posts", "live.trends"
	kc := testenv.RealKafka(t, 4, postsTopic, trendsTopic)
	db := testenv.Postgres(t)
	sc := liveScenario()

	// The scenario's posts, re-stamped onto the wall clock. The first is
	// written before the job starts, so that the pipeline's stream start
	// (the first record's time) is the reference's; the rest follow from
	// a few seconds after the job runs, each at its time.
	orig := replaytest.MustScenario(t, t0)
	posts := make([]*tsv1.Post, len(orig))
	// Each delete carries its post as the ingest writes it, re-stamped.
	recent := recentposts.New(recentposts.DefaultConfig())
	restamp := func(i int, at time.Time) {
		posts[i] = replaytest.Restamp(orig[i], at)
		recent.Observe(posts[i])
	}
	restamp(0, time.Now())
	if err := replaytest.ProduceLive(context.Background(), kc.Addrs(), postsTopic, posts[:1], nil); err != nil {
		t.Fatal(err)
	}

	args := append([]string{
		"-brokers=" + strings.Join(kc.Addrs(), ","),
		"-posts-topic=" + postsTopic,
		"-trends-topic=" + trendsTopic,
		"-database-url=" + db,
		"-start=earliest",
		"-group=trendstream-flink-live",
		// A caught-up partition's watermark follows the wall clock: the
		// test's producer writes no watermark markers.
		"-idle-watermark=wallclock",
	}, sc.flags()...)
	jobID := fc.submitUnbounded(t, dir, bins, bins.pipeline, "trendstream-flink-live", args...)
	// The stream goes on once the job reads: a job RUNNING on Flink still
	// starts its SDK harnesses (12 s on CI), and the freshness check below
	// needs liveWindows windows after the first row, before a quarter of
	// the posts is left. Started 3 s after RUNNING, the stream had too few
	// on a loaded CI machine (CI stop 28).
	waitReading(t, kc.Addrs(), "trendstream-flink-live", postsTopic, 4, 2*time.Minute)
	base := time.Now().Add(3 * time.Second)
	for i := 1; i < len(orig); i++ {
		restamp(i, base.Add(orig[i].GetObservedAt().AsTime().Sub(t0)/liveSpeed))
	}

	ctx, cancel := context.WithTimeout(context.Background(), 8*time.Minute)
	defer cancel()
	seen := newArrivals(ctx, t, db)

	// Produce in real time. The job first runs without a fault, and its
	// windows must reach PostgreSQL live (liveCheck); then, with a quarter
	// of the posts or more still to come, the TaskManager is killed.
	want := sc.reference(posts)
	var sent atomic.Int64
	produced := make(chan error, 1)
	go func() {
		produced <- replaytest.ProduceLive(ctx, kc.Addrs(), postsTopic, posts[1:], func(i int) { sent.Store(int64(i + 1)) })
	}()
	var before string
	for tick := time.NewTicker(500 * time.Millisecond); ; <-tick.C {
		if done, summary := seen.liveCheck(t, want, time.Now()); done {
			before = summary
			tick.Stop()
			break
		}
		if n := sent.Load(); n > int64(len(posts))*3/4 {
			t.Fatalf("%d of %d posts produced and still fewer than %d windows to check for freshness: the job is not emitting live\n%s",
				n, len(posts), liveWindows, fc.watermarks(jobID))
		}
		select {
		case err := <-produced:
			t.Fatalf("producer ended before the kill: %v", err)
		default:
		}
	}
	if t.Failed() {
		t.Logf("the job's tasks before the kill:\n%s", fc.watermarks(jobID))
	}
	fc.screenshotJob(t, "trendstream0flink0live")
	fc.checkStateReport(t, jobID, time.Minute)

	// An upgrade: the job is stopped with a savepoint while posts still
	// come, and submitted again from it. The new job must go on with the
	// old one's windows, baselines and read positions: the final check
	// below finds any post lost or counted twice.
	sp := fc.savepointAndCancel(t, jobID, 2*time.Minute)
	left := int64(len(posts)) - sent.Load()
	fc.waitGone(t, jobID, time.Minute)
	jobID = fc.submitUnbounded(t, dir, bins, bins.pipeline, "trendstream-flink-live", append(args, "-flink-savepoint-path="+sp)...)
	fc.waitRestored(t, jobID, sp, time.Minute)
	t.Logf("stopped with a savepoint (%s) with %d of %d posts still to come, and resubmitted from it", sp, left, len(posts))

	// Killed only once the resubmitted job has a checkpoint of its own to
	// come back from: killed earlier (once, 0.5 s after the resubmission,
	// before its tasks were deployed), it came back from the savepoint
	// again and the restore from a checkpoint was never tested.
	fc.waitCheckpoint(t, jobID, 90*time.Second)
	if out, err := fc.sh("taskmanager-kill"); err != nil {
		t.Fatalf("taskmanager-kill: %v\n%s", err, out)
	}
	if out, err := fc.sh("taskmanager-start"); err != nil {
		t.Fatalf("taskmanager-start: %v\n%s", err, out)
	}
	if err := <-produced; err != nil {
		t.Fatal(err)
	}
	last := posts[len(posts)-1].GetObservedAt().AsTime()

	// Every window holding a post is final once the watermark passes its
	// end plus the allowed lateness: wait for the reference's last one.
	var lastEnd time.Time
	for k := range want {
		if k.End.After(lastEnd) {
			lastEnd = k.End
		}
	}
	deadline := time.Now().Add(3 * time.Minute)
	var got map[windowKey]store.Window
	for {
		if !readModelExists(ctx, t, db) {
			// The pipeline's Postgres sink creates the tables with its
			// first write.
			if time.Now().After(deadline) {
				t.Fatalf("no read model in PostgreSQL 3 minutes after the last post (%v)", last)
			}
			time.Sleep(time.Second)
			continue
		}
		got = readDB(ctx, t, db)
		if d := diffWindows(got, want); d == "" {
			break
		} else if time.Now().After(deadline) {
			t.Fatalf("PostgreSQL still differs from the reference 3 minutes after the last post (%v; last window ends %v):\n%s", last, lastEnd, d)
		}
		time.Sleep(time.Second)
	}
	if d := diffWindows(readTopic(t, kc.Addrs(), trendsTopic), want); d != "" {
		t.Errorf("results topic differs from the reference:\n%s", d)
	}
	// Topics too: the join's samples and its decoded copy came through the
	// savepoint, the resubmission and the kill.
	if d := diffTopics(readSnapshots(t, kc.Addrs(), trendsTopic), sc.snapshots(posts)); d != "" {
		t.Errorf("results topic's topics and examples differ from the reference:\n%s", d)
	}
	// The reader's state after the faults, while the job idles: flat.
	fc.checkReaderStateBounded(t, jobID, 10, time.Minute)
	cp := fc.checkpointCounts(t, jobID)
	// The resubmitted job restored twice: its savepoint at its start and
	// a checkpoint after the kill.
	if cp.Restored < 2 {
		t.Errorf("the resubmitted job shows %d restores, want its savepoint's and a checkpoint's after the TaskManager was killed", cp.Restored)
	}
	t.Logf("live on Flink: %d windows equal the reference after a stop with a savepoint, a resubmission from it and a TaskManager SIGKILL (checkpoints of the resubmitted job: %+v); window end → PostgreSQL row: before the kill %s; over the whole run %s",
		len(want), cp, before, seen.delays(want))
}

// flinkJob is a job of GET /jobs/overview.
type flinkJob struct {
	ID    string `json:"jid"`
	Name  string `json:"name"`
	State string `json:"state"`
}

func (c *flinkCluster) getJSON(path string, v any) error {
	resp, err := http.Get(c.url(path))
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("GET %s: %s", path, resp.Status)
	}
	return json.NewDecoder(resp.Body).Decode(v)
}

// waitRunning waits for a RUNNING job whose name holds name (the job
// server turns a job name's '-' into '0') and returns its id.
func (c *flinkCluster) waitRunning(t *testing.T, name string, timeout time.Duration) string {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for {
		var o struct{ Jobs []flinkJob }
		if err := c.getJSON("/jobs/overview", &o); err == nil {
			for _, j := range o.Jobs {
				if strings.Contains(j.Name, name) && j.State == "RUNNING" {
					return j.ID
				}
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("no RUNNING job named *%s* on Flink after %v (jobs: %+v)", name, timeout, o.Jobs)
		}
		time.Sleep(500 * time.Millisecond)
	}
}

// submitUnbounded submits bin's unbounded job named job, with the
// pipeline's flags args, with --async (the submitter returns once the job
// server has the job); it waits until Flink runs the job, cancels it when
// the test ends, and returns its id.
func (c *flinkCluster) submitUnbounded(t *testing.T, dir string, bins binaries, bin, job string, args ...string) string {
	t.Helper()
	args = append(append(c.submitArgs(bins, bin, job), args...), "--async")
	runToEnd(t, "submitter-"+job, dir, bin, 3*time.Minute, args...)
	id := c.waitRunning(t, strings.ReplaceAll(job, "-", "0"), 2*time.Minute)
	t.Cleanup(func() { c.cancel(t, id) })
	return id
}

// cancel cancels job id, as `make cluster-cancel` does through REST.
func (c *flinkCluster) cancel(t *testing.T, id string) {
	req, _ := http.NewRequest(http.MethodPatch, c.url("/jobs/"+id+"?mode=cancel"), nil)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Logf("cancel job %s: %v", id, err)
		return
	}
	resp.Body.Close()
}

// watermarks lists each task of job id with its input watermark, from the
// REST API: where a stalled watermark stops.
func (c *flinkCluster) watermarks(id string) string {
	var job struct {
		Vertices []struct{ ID, Name string }
	}
	err := c.getJSON("/jobs/"+id, &job)
	if err != nil {
		return err.Error()
	}
	var b strings.Builder
	for _, v := range job.Vertices {
		var marks []struct{ ID, Value string }
		// The REST metrics are fetched from the TaskManager on demand: the
		// first request may find none yet.
		for i := 0; i < 2 && len(marks) == 0; i++ {
			if i > 0 {
				time.Sleep(time.Second)
			}
			err = c.getJSON("/jobs/"+id+"/vertices/"+v.ID+"/watermarks", &marks)
		}
		if err != nil {
			fmt.Fprintf(&b, "  %s: %v\n", v.Name, err)
			continue
		}
		wm := "none"
		for _, m := range marks {
			if strings.HasSuffix(m.ID, "currentInputWatermark") {
				if ms, err := strconv.ParseInt(m.Value, 10, 64); err == nil && ms > math.MinInt64 && ms < math.MaxInt64 {
					wm = time.UnixMilli(ms).UTC().Format(time.TimeOnly + ".000")
				} else {
					wm = m.Value
				}
			}
		}
		fmt.Fprintf(&b, "  %s: input watermark %s\n", v.Name, wm)
	}
	return b.String()
}

// checkpointCounts are a job's checkpoint counts from the REST API.
type checkpointCounts struct {
	Restored   int `json:"restored"`
	Completed  int `json:"completed"`
	Failed     int `json:"failed"`
	InProgress int `json:"in_progress"`
}

func (c *flinkCluster) checkpointCounts(t *testing.T, id string) checkpointCounts {
	t.Helper()
	var cp struct {
		Counts checkpointCounts `json:"counts"`
	}
	if err := c.getJSON("/jobs/"+id+"/checkpoints", &cp); err != nil {
		t.Fatal(err)
	}
	return cp.Counts
}

// waitCheckpoint waits until job id has completed a checkpoint.
func (c *flinkCluster) waitCheckpoint(t *testing.T, id string, timeout time.Duration) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for c.checkpointCounts(t, id).Completed < 1 {
		if time.Now().After(deadline) {
			t.Fatalf("job %s completed no checkpoint in %v", id, timeout)
		}
		time.Sleep(500 * time.Millisecond)
	}
}

// screenshotJob opens the web UI's list of running jobs in Chromium and
// waits for the job named *name* to show as RUNNING; UPDATE_SCREENSHOT=1
// saves the page as docs/flink-trending-job.png.
func (c *flinkCluster) screenshotJob(t *testing.T, name string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	bctx := dashtest.Browser(t, ctx)
	dashtest.OpenShowing(t, bctx, c.url("/#/job/running"), 60*time.Second, name, "RUNNING")
	dashtest.Screenshot(t, bctx, filepath.Join("..", "..", "docs", "flink-trending-job.png"))
}

// arrivals records when each window's row first appears in PostgreSQL.
type arrivals struct {
	mu    sync.Mutex
	first map[windowKey]time.Time
}

// newArrivals polls the windows table every 100 ms until ctx ends.
func newArrivals(ctx context.Context, t *testing.T, url string) *arrivals {
	t.Helper()
	a := &arrivals{first: map[windowKey]time.Time{}}
	conn, err := pgx.Connect(ctx, url)
	if err != nil {
		t.Fatal(err)
	}
	go func() {
		defer conn.Close(context.Background())
		for ctx.Err() == nil {
			rows, err := conn.Query(ctx, `SELECT source, lang, window_end FROM windows`)
			if err == nil {
				now := time.Now()
				for rows.Next() {
					var k windowKey
					if rows.Scan(&k.Source, &k.Lang, &k.End) == nil {
						k.End = k.End.UTC()
						a.mu.Lock()
						if _, ok := a.first[k]; !ok {
							a.first[k] = now
						}
						a.mu.Unlock()
					}
				}
				rows.Close()
			}
			time.Sleep(100 * time.Millisecond)
		}
	}()
	return a
}

// liveBound is how soon after its end a window must be in PostgreSQL
// while the job runs without a fault: the watermark trails the wall clock
// by -max-out-of-order (5 s), a caught-up reader polls every second
// (-read-poll-interval), and Flink finishes a bundle within a second.
const liveBound = 15 * time.Second

// liveWindows is how many windows the freshness check needs.
const liveWindows = 8

// liveCheck checks freshness once enough of the stream has passed: every
// window of want that ends after the job's first row reached PostgreSQL
// and liveBound or more before now must already be there, within
// liveBound of its end. Windows ending before the first row are the job's
// start-up (the first post is written before the job is submitted, and
// the harnesses take seconds to start); they are summarised, not checked.
// done is false until liveWindows windows are due.
func (a *arrivals) liveCheck(t *testing.T, want map[windowKey]store.Window, now time.Time) (done bool, summary string) {
	t.Helper()
	a.mu.Lock()
	defer a.mu.Unlock()
	var firstRow time.Time
	for _, at := range a.first {
		if firstRow.IsZero() || at.Before(firstRow) {
			firstRow = at
		}
	}
	if firstRow.IsZero() {
		return false, ""
	}
	var due, late []windowKey
	var ok, startup []time.Duration
	for k := range want {
		at, seen := a.first[k]
		switch {
		case !k.End.After(firstRow):
			if seen {
				startup = append(startup, at.Sub(k.End))
			}
		case k.End.After(now.Add(-liveBound)):
		default:
			due = append(due, k)
			if !seen || at.Sub(k.End) > liveBound {
				late = append(late, k)
			} else {
				ok = append(ok, at.Sub(k.End))
			}
		}
	}
	if len(due) < liveWindows {
		return false, ""
	}
	if len(late) > 0 {
		slices.SortFunc(late, func(x, y windowKey) int { return x.End.Compare(y.End) })
		var lines []string
		for _, k := range late {
			lines = append(lines, fmt.Sprintf("%s/%s ending %s: seen %s", k.Source, k.Lang, k.End.Format(time.TimeOnly+".000"), a.first[k].Format(time.TimeOnly+".000")))
		}
		t.Errorf("%d of %d windows ending between the first row (%s) and %s were not in PostgreSQL within %v of their end:\n  %s",
			len(late), len(due), firstRow.Format(time.TimeOnly+".000"), now.Add(-liveBound).Format(time.TimeOnly+".000"), liveBound, strings.Join(lines, "\n  "))
	}
	return true, fmt.Sprintf("%s (start-up, before the first row: %s)", summarize(ok), summarize(startup))
}

// delays summarises, over the windows of want, the time from a window's end
// to its row's first appearance.
func (a *arrivals) delays(want map[windowKey]store.Window) string {
	a.mu.Lock()
	defer a.mu.Unlock()
	var ds []time.Duration
	for k := range want {
		if at, ok := a.first[k]; ok {
			ds = append(ds, at.Sub(k.End))
		}
	}
	return summarize(ds)
}

// summarize gives the median, p95 and maximum of ds.
func summarize(ds []time.Duration) string {
	if len(ds) == 0 {
		return "no windows seen"
	}
	slices.Sort(ds)
	q := func(p float64) time.Duration { return ds[int(p*float64(len(ds)-1))].Round(10 * time.Millisecond) }
	return fmt.Sprintf("p50 %v, p95 %v, max %v over %d windows", q(0.5), q(0.95), ds[len(ds)-1].Round(10*time.Millisecond), len(ds))
}

// readModelExists reports whether the windows and trending_terms tables
// exist yet.
func readModelExists(ctx context.Context, t *testing.T, url string) bool {
	t.Helper()
	conn, err := pgx.Connect(ctx, url)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(ctx)
	var ok bool
	if err := conn.QueryRow(ctx, `SELECT to_regclass('windows') IS NOT NULL AND to_regclass('trending_terms') IS NOT NULL`).Scan(&ok); err != nil {
		t.Fatal(err)
	}
	return ok
}
