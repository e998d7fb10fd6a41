package trending

import (
	"flag"
	"math/rand/v2"
	"strings"
	"testing"
	"time"

	"github.com/apache/beam/sdks/v2/go/pkg/beam/options/jobopts"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/timestamppb"

	"github.com/trendstream/trendstream/internal/core/recentposts"
	"github.com/trendstream/trendstream/internal/core/trendcalc"
	"github.com/trendstream/trendstream/internal/testenv"
	"github.com/trendstream/trendstream/internal/testenv/replaytest"
	tsv1 "github.com/trendstream/trendstream/proto/trendstream/v1"
	"github.com/trendstream/trendstream/transforms/kafkaio"
)

// The benchmark replays 100,000 real post texts over 10,000 s of event time
// by default: enough that job start-up (about half a second) is a small
// part of the measurement, past the scorer's warm-up (15 min), with bursts
// after it. The pipeline's cost per post depends on the density (posts per
// window), so BENCHMARKS.md gives the rate with every number.
var (
	benchN      = flag.Int("trending.bench-posts", 100000, "posts replayed per benchmark iteration")
	benchRate   = flag.Float64("trending.bench-rate", 10, "posts per second of event time in the benchmark replay")
	benchShards = flag.Int("trending.bench-shards", 0, "scorer shards in the benchmark (0: the pipeline's default)")
	benchLate   = flag.Duration("trending.bench-lateness", -1, "allowed lateness in the benchmark (negative: the pipeline's default)")
	// Topics are measured against the same binary with them off, so a
	// side-by-side run isolates their cost from every other change.
	benchTopicSample = flag.Int("trending.bench-topic-sample", -1, "posts sampled per language and period for topics in the benchmark (-topic-sample; 0 turns topics off; negative: the pipeline's default)")
	benchRetract     = flag.String("trending.bench-retract", "", "retract deletes in the benchmark (true/false; empty: the pipeline's default)")
	// The firehose deletes about one post for every 17 it creates (the
	// production Jetstream recording in ingest/frame/testdata).
	benchDeletes = flag.Float64("trending.bench-deletes", 0.06, "share of the benchmark's posts deleted by their authors, 0–5 minutes later, each delete carrying its post as the ingest writes it")
)

// benchT0 is the event time the benchmark replay starts at.
var benchT0 = time.Date(2026, 4, 1, 0, 0, 0, 0, time.UTC)

// benchPosts is replaytest.Dense's replay from benchT0: the bundled corpus
// cycled to n posts, with planted stories, and deletes of a share of them
// (-trending.bench-deletes) on top.
func benchPosts(tb testing.TB, n int, rate float64) []*tsv1.Post {
	tb.Helper()
	posts := replaytest.Dense(tb, n, rate, benchT0)
	if *benchDeletes <= 0 {
		return posts
	}
	rng := rand.New(rand.NewPCG(1, 2))
	var deletes []*tsv1.Post
	for _, p := range posts {
		if p.GetUri() != "" && rng.Float64() < *benchDeletes {
			after := time.Duration(rng.Int64N(int64(5 * time.Minute)))
			deletes = append(deletes, &tsv1.Post{Uri: p.GetUri(), AuthorDid: p.GetAuthorDid(), Source: p.GetSource(),
				ObservedAt: timestamppb.New(p.GetObservedAt().AsTime().Add(after)), Operation: tsv1.Operation_OPERATION_DELETE})
		}
	}
	posts = append(posts, deletes...)
	replaytest.SortByEventTime(posts)
	recentposts.Attach(posts)
	return posts
}

// benchOptions are the production defaults (10-minute windows every minute,
// top 20, default scorer) for a bounded replay of the posts topic.
func benchOptions(brokers []string, dbURL string) Options {
	o := DefaultOptions()
	o.Brokers = strings.Join(brokers, ",")
	o.DatabaseURL = dbURL
	o.Bounded = true
	o.Start = kafkaio.Start{Kind: kafkaio.StartEarliest}
	o.StreamStart = benchT0
	if *benchShards > 0 {
		o.Shards = *benchShards
	}
	if *benchLate >= 0 {
		o.AllowedLateness = *benchLate
	}
	if *benchRetract != "" {
		o.RetractDeletes = *benchRetract == "true"
	}
	if *benchTopicSample >= 0 {
		o.Topics.SamplePosts = *benchTopicSample
	}
	return o
}

// BenchmarkPipeline measures posts/s through the whole trending pipeline
// on Prism: a bounded replay of the posts topic (in-process Kafka-protocol
// cluster, 4 partitions) to the results topic, and optionally to
// PostgreSQL too. Each iteration is a complete job, from submission to the
// last ranking written, so job start-up is included. After the timed runs
// the results topic is checked against the single-process reference.
//
// Prism's dynamic splitting is turned off (-experiments
// prism_disable_sdf_split, unless -experiments is given): Prism v2.77 splits
// any bundle that shows no progress for 100 ms, including the scorer's timer
// bundles, which it cannot split correctly (apache/beam#35771); with it on,
// a 5,000-post replay does not finish in 5 minutes.
func BenchmarkPipeline(b *testing.B) {
	if *jobopts.Experiments == "" {
		*jobopts.Experiments = "prism_disable_sdf_split"
	}
	for _, withDB := range []bool{false, true} {
		name := "sink=kafka"
		if withDB {
			name = "sink=kafka+postgres"
		}
		b.Run(name, func(b *testing.B) {
			posts := benchPosts(b, *benchN, *benchRate)
			kc := testenv.Replay(b, 4, posts)
			db := ""
			if withDB {
				db = testenv.Postgres(b)
			}
			o := benchOptions(kc.Addrs(), db)
			b.ResetTimer()
			for b.Loop() {
				run(b, o)
			}
			b.StopTimer()
			rate := float64(len(posts)*b.N) / b.Elapsed().Seconds()
			b.ReportMetric(rate, "posts/s")
			// Logged as well: a failed check below hides the metric.
			b.Logf("%d posts in %v: %.0f posts/s", len(posts)*b.N, b.Elapsed(), rate)
			checkBench(b, kc.Addrs(), testenv.TrendsTopic, posts, o)
		})
	}
}

// checkBench makes sure the benchmark measured the real computation: the
// results topic holds the reference's rankings, window by window, with
// their topics and example posts (compareSnapshots), and topics are there
// exactly when they are on, so a topics-on run that lost its topic stages
// cannot pass for one that ran them.
func checkBench(b *testing.B, brokers []string, topic string, posts []*tsv1.Post, o Options) {
	b.Helper()
	got := readSnapshots(b, brokers, topic)
	want := expected(b, posts, o)
	compareSnapshots(b, got, want)
	if b.Failed() {
		b.FailNow()
	}
	ranked, topics := 0, 0
	for _, w := range want {
		ranked += len(w.GetTerms())
		topics += len(w.GetTopics())
	}
	switch {
	case ranked == 0:
		b.Fatal("nothing trended in the replay: the benchmark would not exercise ranking")
	case o.Topics.Enabled() && topics == 0:
		b.Fatal("topics are on but no ranking has one: the benchmark would not exercise the topic stages")
	case !o.Topics.Enabled() && topics > 0:
		b.Fatalf("topics are off but the reference has %d", topics)
	}
}

// BenchmarkReference measures the same computation in one goroutine with
// internal/core/trendcalc: decode the serialized posts as the pipeline receives
// them, count, score and rank. It is the floor the pipeline's overhead is
// measured against.
func BenchmarkReference(b *testing.B) {
	posts := benchPosts(b, *benchN, *benchRate)
	values := make([][]byte, len(posts))
	for i, p := range posts {
		v, err := proto.Marshal(p)
		if err != nil {
			b.Fatal(err)
		}
		values[i] = v
	}
	o := benchOptions([]string{"127.0.0.1:9092"}, "")
	cfg := o.Reference()
	ranked := 0
	for b.Loop() {
		c := trendcalc.New(cfg)
		for _, v := range values {
			var p tsv1.Post
			if err := proto.Unmarshal(v, &p); err != nil {
				b.Fatal(err)
			}
			c.Add(&p)
		}
		ranked = 0
		for _, s := range c.Snapshots() {
			ranked += len(s.GetTerms())
		}
	}
	b.ReportMetric(float64(len(posts)*b.N)/b.Elapsed().Seconds(), "posts/s")
	if ranked == 0 {
		b.Fatal("nothing trended in the replay")
	}
}
