package portable

import (
	"context"
	"flag"
	"os/exec"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/trendstream/trendstream/internal/testenv"
	"github.com/trendstream/trendstream/internal/testenv/replaytest"
	"github.com/trendstream/trendstream/pipelines/trending"
	tsv1 "github.com/trendstream/trendstream/proto/trendstream/v1"
)

var (
	benchN    = flag.Int("flink.bench-posts", 100000, "posts replayed by BenchmarkTrendingOnFlink")
	benchRate = flag.Float64("flink.bench-rate", 50, "posts per second of event time in BenchmarkTrendingOnFlink's replay")
	// benchRounds > 1 repeats the runs, alternated, on the same cluster and
	// replay: the machines are noisy, and pairs run side by side compare
	// best (BENCHMARKS.md).
	benchRounds = flag.Int("flink.bench-rounds", 1, "rounds of BenchmarkTrendingOnFlink's runs, alternated")
)

// benchT0 is the event time the benchmark replay starts at.
var benchT0 = time.Date(2026, 4, 1, 0, 0, 0, 0, time.UTC)

// BenchmarkTrendingOnFlink measures posts/s through the trending pipeline
// with the product's defaults (10-minute windows every minute, top 20,
// topics on), a bounded replay of replaytest.Dense's posts from the real
// Kafka broker to the results topic, side by side in one run:
//
//   - prism: the pipeline binary on in-process Prism (what `trendstream run`
//     uses);
//   - flink-p1, flink-p2: the same binary submitted to a real Flink session
//     cluster (one TaskManager, 2 slots, PROCESS harnesses) at parallelism
//     1 and 2;
//   - prism-topics-off, flink-p1-topics-off: prism and flink-p1 with
//     -topic-sample 0, what the topic stages (#15) cost on each runner.
//
// Select runs with -bench (e.g. 'TrendingOnFlink/flink-p1'); with
// -flink.bench-rounds N each runs N times, alternated, as "<run>/round=<i>".
//
// Each is a complete job from submission to its last ranking, so start-up
// (about 30 s on Flink, most of it the harnesses) is included; the replay
// should be long enough for it to matter little. Each run's rankings are
// checked against the single-process reference. Run it with -benchtime 1x:
//
//	go test -run '^$' -bench TrendingOnFlink -benchtime 1x -timeout 60m ./flink/portable/
func BenchmarkTrendingOnFlink(b *testing.B) {
	for _, tool := range []string{"bash", "java", "python3", "mvn"} {
		if _, err := exec.LookPath(tool); err != nil {
			b.Fatalf("%s not found: flink/cluster/cluster.sh needs it (make deps)", tool)
		}
	}
	dir := b.TempDir()
	buildCtx, cancelBuild := context.WithTimeout(context.Background(), 8*time.Minute)
	bins := buildBinaries(buildCtx, b, dir)
	cancelBuild()
	before := bootLeftovers()
	b.Cleanup(func() { cleanupBootFiles(b, before, bins.pipeline) })
	fc := startFlink(b)

	const postsTopic = "bench.posts"
	runs := []struct {
		name, trends string
		flink        bool
		parallelism  int
		topicsOff    bool
	}{
		{"prism", "bench.trends.prism", false, 0, false},
		{"prism-topics-off", "bench.trends.prism-t0", false, 0, true},
		{"flink-p1", "bench.trends.p1", true, 1, false},
		{"flink-p1-topics-off", "bench.trends.p1-t0", true, 1, true},
		{"flink-p2", "bench.trends.p2", true, 2, false},
	}
	rounds := max(1, *benchRounds)
	topics := []string{postsTopic}
	for _, r := range runs {
		for i := range rounds {
			topics = append(topics, r.trends+"."+strconv.Itoa(i+1))
		}
	}
	kc := testenv.RealKafka(b, 4, topics...)
	posts := replaytest.Dense(b, *benchN, *benchRate, benchT0)
	replaytest.MustProduce(b, kc.Addrs(), postsTopic, posts)
	d := trending.DefaultOptions()
	sc := scenarioConfig{Size: d.WindowSize, Period: d.WindowPeriod, TopK: d.TopK, Score: d.Score, Lateness: d.AllowedLateness, Topics: d.Topics}
	want := sc.reference(posts)
	wantTopics := sc.snapshots(posts)

	for i := range rounds {
		round := strconv.Itoa(i + 1)
		for _, r := range runs {
			name, trends := r.name, r.trends+"."+round
			if rounds > 1 {
				name += "/round=" + round
			}
			b.Run(name, func(b *testing.B) {
				args := []string{
					"-brokers=" + strings.Join(kc.Addrs(), ","),
					"-posts-topic=" + postsTopic,
					"-trends-topic=" + trends,
					"-start=earliest",
					"-group=trendstream-bench-" + r.name + "-" + round,
					"-bounded",
				}
				if r.topicsOff {
					args = append(args, "-topic-sample=0")
				}
				if r.flink {
					args = append(fc.submitArgs(bins, bins.pipeline, "trendstream-bench-"+r.name+"-"+round),
						append(args, "--parallelism="+strconv.Itoa(r.parallelism))...)
				}
				var took time.Duration
				for b.Loop() {
					took += runToEnd(b, "submitter-"+r.name+"-"+round, dir, bins.pipeline, 30*time.Minute, args...)
				}
				rate := float64(len(posts)*b.N) / took.Seconds()
				b.ReportMetric(rate, "posts/s")
				b.Logf("%s: %d posts in %v: %.0f posts/s", name, len(posts)*b.N, took, rate)
				if diff := diffWindows(readTopic(b, kc.Addrs(), trends), want); diff != "" {
					b.Fatalf("%s: the results topic differs from the reference:\n%s", name, diff)
				}
				got := readSnapshots(b, kc.Addrs(), trends)
				if !r.topicsOff {
					if diff := diffTopics(got, wantTopics); diff != "" {
						b.Fatalf("%s: the results topic's topics and examples differ from the reference:\n%s", name, diff)
					}
				} else if n := countTopics(got); n > 0 {
					b.Fatalf("%s: topics off, but the results topic holds %d topics", name, n)
				}
			})
		}
	}
}

// countTopics is how many topics snaps hold in all.
func countTopics(snaps map[string]*tsv1.WindowSnapshot) int {
	n := 0
	for _, s := range snaps {
		n += len(s.GetTopics())
	}
	return n
}
