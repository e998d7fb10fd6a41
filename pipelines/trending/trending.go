// Package trending is the trending-terms pipeline: Bluesky posts from the
// Kafka posts topic → sliding event-time windows → baseline-relative term
// scores → per-language rankings, written to the Kafka results topic and to
// the PostgreSQL read model.
//
// The program in cmd/trending runs it on any Beam runner (Prism in-process
// by default, Flink through the portable runner); `trendstream run` embeds
// it on Prism.
package trending

import (
	"context"
	"flag"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/apache/beam/sdks/v2/go/pkg/beam"
	"github.com/apache/beam/sdks/v2/go/pkg/beam/log"
	"github.com/apache/beam/sdks/v2/go/pkg/beam/register"
	"google.golang.org/protobuf/proto"

	"github.com/trendstream/trendstream/internal/core/terms"
	"github.com/trendstream/trendstream/internal/core/topics"
	"github.com/trendstream/trendstream/internal/core/trendscore"
	tsv1 "github.com/trendstream/trendstream/proto/trendstream/v1"
	"github.com/trendstream/trendstream/transforms/kafkaio"
	"github.com/trendstream/trendstream/transforms/pgsink"
	topicstage "github.com/trendstream/trendstream/transforms/topics"
	"github.com/trendstream/trendstream/transforms/trend"
)

func init() {
	register.DoFn3x0[context.Context, kafkaio.Record, func(*tsv1.Post)](&decodePostFn{})
	register.Emitter1[*tsv1.Post]()
	register.DoFn3x1[context.Context, *tsv1.WindowSnapshot, func(kafkaio.Message), error](&encodeSnapshotFn{})
	register.Emitter1[kafkaio.Message]()
}

// Options configure the pipeline. The zero value is not useful; start from
// DefaultOptions or RegisterFlags.
type Options struct {
	// ReadConfig is the read of the posts topic (Topic), shared with the
	// other pipelines: brokers, start, group, bounded, out-of-order bound,
	// idle watermark, topic faults, Kafka retries (also of the results
	// writer) and read batch.
	kafkaio.ReadConfig
	TrendsTopic  string
	DatabaseURL  string
	WindowSize   time.Duration
	WindowPeriod time.Duration
	TopK         int
	// Shards is how many keys the scorer's state is split over, the
	// parallelism of the scoring stage (trend.Config.Shards).
	Shards int
	// AllowedLateness is how long after a window was released posts that
	// arrive late still correct it (trend.Config.AllowedLateness).
	AllowedLateness time.Duration
	// RetractDeletes makes a delete retract the post it deletes from the
	// windows still open when it comes, those that hold both their periods
	// (trend.Config.RetractDeletes, docs/pipeline.md "Deletes"), if the
	// delete carries the post (Post.deleted, attached by the ingest). On by
	// default: nothing is kept per post and no window is corrected, so it
	// costs next to nothing (BENCHMARKS.md, "Retraction on time").
	RetractDeletes bool
	// SinkRetryFor is how long a PostgreSQL write keeps retrying while the
	// database is unreachable before the pipeline fails.
	SinkRetryFor time.Duration
	Terms        terms.Options
	Score        trendscore.Params
	// Source is the source whose posts are ranked (Post.source), and the
	// source every result names. The pipeline ranks one source: posts of
	// another in the topic are skipped and counted
	// (trending/posts_other_source), so a second producer writing into the
	// topic cannot leak into this ranking (docs/extending.md, "One
	// pipeline per source topic"). A post that names no source counts as
	// this one's.
	Source tsv1.Source
	// Topics groups each ranking's terms into topics and picks example
	// posts (transforms/topics); SamplePosts 0 turns it off.
	Topics topics.Config
	// StreamStart is the event time the read begins at, which ends the
	// scorer's warm-up Score.WarmUp later. Zero: Build asks Kafka for the
	// timestamp of the first record it will read.
	StreamStart time.Time
	// EmitFrom drops the windows that begin before it: a read that begins
	// inside the topic (-start committed after a stop, latest, a time)
	// has not seen their earlier posts, and emitting them would overwrite
	// the complete windows of an earlier run with partial counts (each run
	// writes a higher revision). Zero emits every window. Build sets it
	// with StreamStart.
	EmitFrom time.Time
}

// DefaultOptions returns the documented defaults: the shared read's
// (kafkaio.DefaultReadConfig), resuming from the group's committed offsets.
func DefaultOptions() Options {
	read := kafkaio.DefaultReadConfig()
	read.Start = kafkaio.Start{Kind: kafkaio.StartCommitted}
	read.Group = "trendstream-trending"
	return Options{
		ReadConfig:      read,
		TrendsTopic:     "trendstream.trends",
		WindowSize:      10 * time.Minute,
		WindowPeriod:    time.Minute,
		TopK:            20,
		Shards:          trend.DefaultShards,
		AllowedLateness: 10 * time.Minute,
		RetractDeletes:  true,
		SinkRetryFor:    pgsink.DefaultRetryFor,
		Terms:           terms.DefaultOptions(),
		Score:           trendscore.DefaultParams(),
		Source:          tsv1.Source_SOURCE_BLUESKY,
		Topics:          topics.DefaultConfig(),
	}
}

// RegisterFlags binds o's fields to flags on fs, with o's current values as
// defaults.
func (o *Options) RegisterFlags(fs *flag.FlagSet) {
	o.ReadConfig.RegisterFlags(fs, kafkaio.ReadFlags{Topic: "posts-topic", TopicUsage: "Kafka topic with protobuf trendstream.v1.Post records"})
	fs.StringVar(&o.TrendsTopic, "trends-topic", o.TrendsTopic, "Kafka topic for WindowSnapshot results; empty disables")
	fs.StringVar(&o.DatabaseURL, "database-url", o.DatabaseURL, "PostgreSQL URL of the read model; empty disables")
	fs.DurationVar(&o.WindowSize, "window-size", o.WindowSize, "sliding window length (a multiple of -window-period)")
	fs.DurationVar(&o.WindowPeriod, "window-period", o.WindowPeriod, "sliding window period: a ranking is emitted this often")
	fs.IntVar(&o.TopK, "top-k", o.TopK, "terms per ranking")
	fs.IntVar(&o.Shards, "shards", o.Shards, "keys the scoring state is split over: the scoring stage's parallelism (Flink: at least the job's parallelism)")
	fs.DurationVar(&o.AllowedLateness, "allowed-lateness", o.AllowedLateness, "how long after a window was emitted late posts still correct it (re-emitted to the results topic and PostgreSQL); 0 drops late posts")
	fs.BoolVar(&o.RetractDeletes, "retract-deletes", o.RetractDeletes, "a post deleted while some of its windows are still open no longer counts in those (the windows that hold both the post's period and the delete's); windows closed before the delete keep it. Needs deletes that carry their post, as the ingest writes them (its -delete-lookback); off, deletes are only counted")
	fs.DurationVar(&o.SinkRetryFor, "sink-retry-for", o.SinkRetryFor, "how long a PostgreSQL write retries while the database is unreachable (a restart) before the pipeline fails")
	fs.Var((*sourceFlag)(&o.Source), "post-source", "the source whose posts are ranked ("+sourceNames()+"); posts of another source in the topic are skipped and counted")
	o.Terms.RegisterFlags(fs)
	o.Score.RegisterFlags(fs)
	o.Topics.RegisterFlags(fs)
}

// sourceFlag is -post-source: a Source by its lower-case name ("bluesky").
type sourceFlag tsv1.Source

func (f *sourceFlag) String() string {
	return strings.ToLower(strings.TrimPrefix(tsv1.Source(*f).String(), "SOURCE_"))
}

func (f *sourceFlag) Set(v string) error {
	n, ok := tsv1.Source_value["SOURCE_"+strings.ToUpper(v)]
	if !ok || n == int32(tsv1.Source_SOURCE_UNSPECIFIED) {
		return fmt.Errorf("unknown source %q (%s)", v, sourceNames())
	}
	*f = sourceFlag(n)
	return nil
}

// sourceNames lists the sources -post-source takes.
func sourceNames() string {
	var names []string
	for n := int32(1); ; n++ {
		name, ok := tsv1.Source_name[n]
		if !ok {
			return strings.Join(names, ", ")
		}
		names = append(names, strings.ToLower(strings.TrimPrefix(name, "SOURCE_")))
	}
}

// Validate reports options the pipeline cannot run with.
func (o Options) Validate() error {
	if err := o.ReadConfig.Validate(); err != nil {
		return fmt.Errorf("trending: %w", err)
	}
	if o.Source == tsv1.Source_SOURCE_UNSPECIFIED {
		return fmt.Errorf("trending: no -post-source")
	}
	if o.TrendsTopic == "" && o.DatabaseURL == "" {
		return fmt.Errorf("trending: neither -trends-topic nor -database-url is set: results would go nowhere")
	}
	if err := o.Topics.Validate(); err != nil {
		return fmt.Errorf("trending: %w", err)
	}
	return o.trendConfig().Validate()
}

func (o Options) trendConfig() trend.Config {
	return trend.Config{
		Size: o.WindowSize, Period: o.WindowPeriod, TopK: o.TopK, Shards: o.Shards, AllowedLateness: o.AllowedLateness,
		RetractDeletes: o.RetractDeletes, SamplePosts: o.Topics.SamplePosts,
		// A live period's bucket can trail the wall clock by a window and
		// the reader's out-of-order bound (windowclock.Live).
		LiveLag: o.WindowSize + o.WindowPeriod + o.MaxOutOfOrder,
		Terms:   o.Terms, Score: o.Score.StartingAt(o.StreamStart), Source: o.Source,
	}
}

// Build constructs the pipeline.
func Build(o Options) (*beam.Pipeline, error) {
	if err := o.Validate(); err != nil {
		return nil, err
	}
	brokers := o.BrokerList()
	if o.StreamStart.IsZero() {
		rs, err := kafkaio.StreamStart(brokers, o.Topic, o.Start, o.Group, o.KafkaRetryFor)
		if err != nil {
			return nil, err
		}
		o.StreamStart, o.EmitFrom = rs.Stream, rs.Complete
	}
	p, s := beam.NewPipelineWithRoot()
	records := kafkaio.Read(s, brokers, o.Topic, o.ReadConfig.Options()...)
	posts := beam.ParDo(s.Scope("DecodePosts"), &decodePostFn{Source: int32(o.Source)}, records)
	// The counting stage also takes the topics' post samples, from the
	// terms it extracts anyway.
	snaps, samples := trend.TrendsSampled(s, posts, o.trendConfig())
	snaps = topicstage.Enrich(s, samples, snaps, o.topicsConfig())
	if !o.EmitFrom.IsZero() {
		snaps = beam.ParDo(s.Scope("DropPartialWindows"), &dropPartialFn{FromMs: o.EmitFrom.UnixMilli()}, snaps)
	}
	if o.TrendsTopic != "" {
		msgs := beam.ParDo(s.Scope("EncodeSnapshots"), &encodeSnapshotFn{}, snaps)
		kafkaio.Write(s, brokers, o.TrendsTopic, msgs, kafkaio.WriteRetryFor(o.KafkaRetryFor))
	}
	if o.DatabaseURL != "" {
		pgsink.Write(s, o.DatabaseURL, snaps, o.SinkRetryFor)
		// A deleted post is never served as an example post, whether or
		// not the counts retract it (-retract-deletes).
		pgsink.WriteDeletes(s, o.DatabaseURL, posts, o.SinkRetryFor)
	}
	return p, nil
}

var (
	malformedPosts   = beam.NewCounter("trending", "malformed_posts")
	otherSourcePosts = beam.NewCounter("trending", "posts_other_source")
)

// decodePostFn parses posts-topic records and keeps the posts of Source. A
// record that is not a Post is counted and logged, not fatal: one bad
// producer must not stop the trends. A post of another source is counted
// and logged once per bundle: it stays in the topic for the pipeline of
// its own source.
type decodePostFn struct {
	Source int32

	warned bool
}

func (fn *decodePostFn) StartBundle(context.Context, func(*tsv1.Post)) { fn.warned = false }

func (fn *decodePostFn) ProcessElement(ctx context.Context, r kafkaio.Record, emit func(*tsv1.Post)) {
	var p tsv1.Post
	if err := proto.Unmarshal(r.Value, &p); err != nil {
		malformedPosts.Inc(ctx, 1)
		log.Warnf(ctx, "trending: skipping malformed record %s/%d@%d: %v", r.Topic, r.Partition, r.Offset, err)
		return
	}
	if s := int32(p.GetSource()); s != fn.Source && s != int32(tsv1.Source_SOURCE_UNSPECIFIED) {
		otherSourcePosts.Inc(ctx, 1)
		if !fn.warned {
			fn.warned = true
			log.Warnf(ctx, "trending: skipping posts of source %v in %s (this pipeline ranks %v), e.g. %s/%d@%d",
				p.GetSource(), r.Topic, tsv1.Source(fn.Source), r.Topic, r.Partition, r.Offset)
		}
		return
	}
	emit(&p)
}

// encodeSnapshotFn serialises a snapshot for the results topic, keyed so
// that a compacted topic keeps the latest ranking of each window.
type encodeSnapshotFn struct{}

func (encodeSnapshotFn) ProcessElement(ctx context.Context, snap *tsv1.WindowSnapshot, emit func(kafkaio.Message)) error {
	b, err := proto.Marshal(snap)
	if err != nil {
		return fmt.Errorf("trending: encode snapshot: %w", err)
	}
	emit(kafkaio.Message{Key: []byte(SnapshotKey(snap)), Value: b, Timestamp: snap.GetWindowEnd().AsTime()})
	return nil
}

// SnapshotKey is the results-topic key of a snapshot:
// "<source>|<lang>|<window end, Unix ms>".
func SnapshotKey(s *tsv1.WindowSnapshot) string {
	return strconv.Itoa(int(s.GetSource())) + "|" + s.GetLang() + "|" + strconv.FormatInt(s.GetWindowEnd().AsTime().UnixMilli(), 10)
}
