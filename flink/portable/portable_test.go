package portable

import (
	"context"
	"fmt"
	"os"
	"strconv"
	"strings"
	"testing"
	"time"

	grouping "github.com/trendstream/trendstream/internal/core/topics"
	"github.com/trendstream/trendstream/internal/core/trendscore"
	"github.com/trendstream/trendstream/internal/testenv"
	"github.com/trendstream/trendstream/internal/testenv/replaytest"
)

func TestMain(m *testing.M) { testenv.Main(m) }

// TestTrendingOnPrismJobServerWithWorkerPool submits the real pipeline
// binary through the portable runner to Prism running as a standalone job
// server, with the SDK harness started by an external worker pool (the
// EXTERNAL environment production uses with Flink), and checks that
// PostgreSQL and the trends topic hold exactly the reference's rankings.
func TestTrendingOnPrismJobServerWithWorkerPool(t *testing.T) {
	// Fail fast, before the builds, if the pool's fixed port is taken.
	requirePortFree(t, workerPoolPort)

	dir := t.TempDir()
	// Cold, the builds compile Beam and its dependencies (minutes on two
	// busy cores); warm, they only link.
	buildCtx, cancelBuild := context.WithTimeout(context.Background(), 8*time.Minute)
	bins := buildBinaries(buildCtx, t, dir)
	cancelBuild()

	const postsTopic, trendsTopic = "trendstream.posts", "trendstream.trends"
	kc := testenv.Kafka(t, 4, postsTopic, trendsTopic)
	db := testenv.Postgres(t)
	posts := replaytest.MustScenario(t, t0)
	replaytest.MustProduce(t, kc.Addrs(), postsTopic, posts)

	sc := testScenario()

	// The standalone job server, as `make submit` finds the Flink job
	// server: a separate process reached only through the Job API.
	jobPort := freePort(t)
	prism := startProc(t, "prism", dir, bins.prism,
		"--job_port="+strconv.Itoa(jobPort), "--serve_http=false",
		// A backstop should cleanup fail: exit once idle.
		"--idle_shutdown_timeout=3m")
	endpoint := "localhost:" + strconv.Itoa(jobPort)
	waitListening(t, prism, endpoint, 30*time.Second)

	// The external worker pool, as the go-worker-pool sidecar runs it.
	before := bootLeftovers()
	t.Cleanup(func() { cleanupBootFiles(t, before, bins.pipeline) })
	requirePortFree(t, workerPoolPort)
	pool := startProc(t, "worker-pool", dir, bins.boot, "--worker_pool")
	waitListening(t, pool, fmt.Sprintf("localhost:%d", workerPoolPort), 30*time.Second)

	args := append([]string{
		"--runner=universal",
		"--endpoint=" + endpoint,
		"--environment_type=EXTERNAL",
		fmt.Sprintf("--environment_config=localhost:%d", workerPoolPort),
		"--worker_binary=" + bins.pipeline,
		"--job_name=trendstream-portable-test",
		"-brokers=" + strings.Join(kc.Addrs(), ","),
		"-posts-topic=" + postsTopic,
		"-trends-topic=" + trendsTopic,
		"-database-url=" + db,
		"-start=earliest",
		"-group=trendstream-portable-test",
		"-bounded",
	}, sc.flags()...)
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("prism:\n%s\nworker pool:\n%s", prism.logTail(4000), pool.logTail(4000))
		}
	})
	t.Logf("job ran in %v", runToEnd(t, "submitter", dir, bins.pipeline, 3*time.Minute, args...))

	// The work ran in harnesses the pool started, not in the submitter:
	// the pool logs each StartWorker request from the job server.
	poolLog, err := os.ReadFile(pool.log)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(poolLog), "starting worker") {
		t.Errorf("the worker pool never started a harness; its log:\n%s", pool.logTail(4000))
	}

	want := sc.reference(posts)
	if len(want) == 0 {
		t.Fatal("the reference computed no windows: the scenario is broken")
	}

	gotDB := readDB(ctx, t, db)
	if d := diffWindows(gotDB, want); d != "" {
		t.Errorf("PostgreSQL differs from the reference:\n%s", d)
	}
	gotKafka := readTopic(t, kc.Addrs(), trendsTopic)
	if d := diffWindows(gotKafka, want); d != "" {
		t.Errorf("results topic differs from the reference:\n%s", d)
	}
	if d := diffTopics(readSnapshots(t, kc.Addrs(), trendsTopic), sc.snapshots(posts)); d != "" {
		t.Errorf("results topic's topics and examples differ from the reference:\n%s", d)
	}

	// The planted burst must actually trend, so that equality with the
	// reference is not equality of two empty rankings.
	burstEnd := t0.Add(13 * time.Minute)
	w, ok := gotDB[windowKey{Source: "bluesky", Lang: "", End: burstEnd}]
	if !ok || len(w.Terms) == 0 {
		t.Fatalf("no overall ranking in PostgreSQL for the window ending %v", burstEnd)
	}
	// 15 authors, one of whose posts the scenario deletes at minute 13:
	// the window ending then closed before the delete and keeps the post;
	// the next holds the delete's period, and the post is retracted there
	// (docs/pipeline.md, "Deletes").
	if top := w.Terms[0]; top.Term != "solareclipse" || top.Kind != "hashtag" || top.UniqueAuthors != 15 {
		t.Errorf("window ending %v: top term %+v, want hashtag solareclipse by 15 authors", burstEnd, top)
	}
	next := burstEnd.Add(time.Minute)
	if w, ok := gotDB[windowKey{Source: "bluesky", Lang: "", End: next}]; !ok || len(w.Terms) == 0 ||
		w.Terms[0].Term != "solareclipse" || w.Terms[0].UniqueAuthors != 14 {
		t.Errorf("window ending %v: %+v, want hashtag solareclipse by 14 authors first (one post retracted)", next, w.Terms)
	}
	for k, w := range gotDB {
		for _, term := range w.Terms {
			if strings.Contains(term.Term, "followers") {
				t.Errorf("%v: single-author spam term %q ranked", k, term.Term)
			}
		}
	}
}

// testScenario is the pipeline configuration of the test: short windows so
// a 20-minute replay yields many of them, and scoring knobs small enough
// for a few hundred posts.
func testScenario() scenarioConfig {
	sc := scenarioConfig{Size: 5 * time.Minute, Period: time.Minute, TopK: 5, Score: trendscore.DefaultParams(), Lateness: 10 * time.Minute,
		Topics: grouping.DefaultConfig()}
	sc.Score.MinAuthors = 3
	sc.Score.NoiseFloor = 2
	sc.Score.HalfLife = 10
	// Equal to the window size, so the warm-up counts from the stream
	// start the submitter reads from Kafka; the reference uses the first
	// post's time.
	sc.Score.WarmUp = 5 * time.Minute
	return sc
}
