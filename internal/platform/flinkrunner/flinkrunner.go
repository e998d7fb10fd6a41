// Package flinkrunner submits a Beam Go pipeline to Flink through Beam's
// Flink job server, as the Go SDK's universal runner does, but with the
// Flink runner's own pipeline options, which the Go SDK cannot send.
//
// Why: the Go SDK puts its flags under one nested option
// (beam:option:go_options:v1) and sends only a few top-level ones (job
// name, experiments, parallelism), so Beam's FlinkPipelineOptions keep
// their defaults. With checkpointingInterval at its default (-1) the Flink
// runner believes checkpointing is off and shuts the Impulse source down
// at once (FlinkExecutionEnvironments.configureCheckpointing sets
// shutdownSourcesAfterIdleMs to 0), while execution.checkpointing.interval
// in the cluster's configuration does trigger checkpoints: every trigger
// then failed ("Checkpoint triggering task Source: Impulse ... is not
// being executed at the moment") or hung in progress, no checkpoint ever
// completed, and a killed TaskManager restarted the job from its start
// position instead of a checkpoint. Sending checkpointing_interval makes
// the runner keep the source alive and checkpoint as Beam's own Flink
// tests do. apache/beam#21318 tracks the missing Go option plumbing.
//
// With checkpoints on, the runner must also finish bundles before a
// checkpoint (finishBundleBeforeCheckpointing). Otherwise a bundle still
// open at a checkpoint is finished inside DoFnOperator.snapshotState, its
// output held in a buffer that is only flushed by the operator's next
// element or watermark. The Kafka reader's first stage (Impulse, then the
// partition listing) never gets another one: its final watermark passed,
// and the partitions it had listed stayed in the buffer, so a live job read
// nothing and emitted no window until a restore replayed the buffer
// (2026-12-02, flink/portable TestPipelinesOnFlink; REST showed the stage
// with 1 record in, 0 out, and its output watermark at the maximum).
package flinkrunner

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"log/slog"
	"time"

	"github.com/apache/beam/sdks/v2/go/container/tools"
	"github.com/apache/beam/sdks/v2/go/pkg/beam"
	"github.com/apache/beam/sdks/v2/go/pkg/beam/core/runtime"
	"github.com/apache/beam/sdks/v2/go/pkg/beam/core/runtime/graphx"
	"github.com/apache/beam/sdks/v2/go/pkg/beam/core/runtime/xlangx"
	"github.com/apache/beam/sdks/v2/go/pkg/beam/core/util/hooks"
	jobpb "github.com/apache/beam/sdks/v2/go/pkg/beam/model/jobmanagement_v1"
	pipepb "github.com/apache/beam/sdks/v2/go/pkg/beam/model/pipeline_v1"
	"github.com/apache/beam/sdks/v2/go/pkg/beam/options/jobopts"
	"github.com/apache/beam/sdks/v2/go/pkg/beam/runners/universal/runnerlib"
	"github.com/apache/beam/sdks/v2/go/pkg/beam/util/grpcx"
	"github.com/apache/beam/sdks/v2/go/pkg/beam/x/beamx"
	"google.golang.org/protobuf/types/known/structpb"
)

// Options are the Flink runner options sent with the job.
type Options struct {
	// CheckpointingInterval is Flink's checkpoint interval for the job
	// (Beam's checkpointingInterval). It should equal the cluster's
	// execution.checkpointing.interval; 0 leaves checkpointing off.
	CheckpointingInterval time.Duration
	// SavepointPath restores the job's state from a savepoint (Beam's
	// savepointPath): the path Flink printed when a savepoint of an
	// earlier run of the same pipeline was taken (flink/jobs.sh stop).
	// The job then continues with its windows, baselines and read
	// positions as they were, instead of starting from -start.
	SavepointPath string
}

// DefaultOptions returns the defaults: a checkpoint every 10 s, as
// flink/cluster/cluster.sh and the Compose stack configure the cluster.
func DefaultOptions() Options { return Options{CheckpointingInterval: 10 * time.Second} }

// RegisterFlags registers the options on fs.
func (o *Options) RegisterFlags(fs *flag.FlagSet) {
	fs.DurationVar(&o.CheckpointingInterval, "flink-checkpointing-interval", o.CheckpointingInterval,
		"with --runner=flink: the job's checkpoint interval, sent to Beam's Flink runner; keep it equal to the cluster's execution.checkpointing.interval (0: no checkpoints, and a killed TaskManager restarts the job from -start; -bounded reads always run without, since Beam keeps checkpointed sources alive)")
	fs.StringVar(&o.SavepointPath, "flink-savepoint-path", o.SavepointPath,
		"with --runner=flink: restore the job from this savepoint of an earlier run of the same pipeline (the path `flink/jobs.sh stop` prints), keeping its windows, baselines and read positions; -start is then not used (empty: a fresh job)")
}

// Validate checks o.
func (o Options) Validate() error {
	if o.CheckpointingInterval < 0 || (o.CheckpointingInterval > 0 && o.CheckpointingInterval < 10*time.Millisecond) {
		return fmt.Errorf("flinkrunner: -flink-checkpointing-interval %v: want 0 or at least 10ms", o.CheckpointingInterval)
	}
	return nil
}

// Selected reports whether the command line chose the Flink runner
// (--runner=flink), the runner Execute replaces.
func Selected() bool {
	f := flag.Lookup("runner")
	return f != nil && f.Value.String() == "flink"
}

// Run runs p on the runner the command line chose: through Execute with o
// for --runner=flink, through beamx.Run (Prism, by default) otherwise. A
// bounded read on Flink runs without checkpoints: while it checkpoints,
// Beam's Flink runner keeps its sources alive for good, so a bounded replay
// would never finish.
func Run(ctx context.Context, p *beam.Pipeline, o Options, bounded bool) error {
	if !Selected() {
		return beamx.Run(ctx, p)
	}
	if bounded && o.CheckpointingInterval > 0 {
		slog.InfoContext(ctx, "flinkrunner: a bounded read on Flink runs without checkpoints", "flink_checkpointing_interval", o.CheckpointingInterval)
		o.CheckpointingInterval = 0
	}
	return Execute(ctx, p, o)
}

// Execute submits p to the job server at --endpoint, with the universal
// runner's flags (--environment_type, --worker_binary, --async, ...) and
// o, and waits for the job unless --async.
func Execute(ctx context.Context, p *beam.Pipeline, o Options) error {
	if err := o.Validate(); err != nil {
		return err
	}
	endpoint, err := jobopts.GetEndpoint()
	if err != nil {
		return fmt.Errorf("flinkrunner: %w", err)
	}
	model, err := marshal(ctx, p)
	if err != nil {
		return err
	}
	bin := *jobopts.WorkerBinary
	if bin == "" {
		self, ok := runnerlib.IsWorkerCompatibleBinary()
		if !ok {
			return errors.New("flinkrunner: set --worker_binary to a linux/amd64 build of this program")
		}
		bin = self
	}
	if err := runnerlib.UpdateGoEnvironmentWorker(bin, model); err != nil {
		return fmt.Errorf("flinkrunner: worker binary: %w", err)
	}
	cc, err := grpcx.Dial(ctx, endpoint, 2*time.Minute)
	if err != nil {
		return fmt.Errorf("flinkrunner: connect to the job server at %s: %w", endpoint, err)
	}
	defer cc.Close()
	client := jobpb.NewJobServiceClient(cc)

	prep, err := prepare(ctx, client, model, o)
	if err != nil {
		return err
	}
	token, err := runnerlib.Stage(ctx, prep.GetPreparationId(), prep.GetArtifactStagingEndpoint().GetUrl(), bin, prep.GetStagingSessionToken())
	if err != nil {
		return fmt.Errorf("flinkrunner: stage the worker binary: %w", err)
	}
	jobID, err := runnerlib.Submit(ctx, client, prep.GetPreparationId(), token)
	if err != nil {
		return fmt.Errorf("flinkrunner: %w", err)
	}
	if *jobopts.Async {
		return nil
	}
	return runnerlib.WaitForCompletion(ctx, client, jobID)
}

// marshal turns p into its model, as the universal runner does.
func marshal(ctx context.Context, p *beam.Pipeline) (*pipepb.Pipeline, error) {
	edges, _, err := p.Build()
	if err != nil {
		return nil, fmt.Errorf("flinkrunner: build pipeline: %w", err)
	}
	xlangx.ResolveArtifacts(ctx, edges, nil)
	env, err := graphx.CreateEnvironment(ctx, jobopts.GetEnvironmentUrn(ctx), jobopts.GetEnvironmentConfig)
	if err != nil {
		return nil, fmt.Errorf("flinkrunner: environment: %w", err)
	}
	model, err := graphx.Marshal(edges, &graphx.Options{Environment: env, PipelineResourceHints: jobopts.GetPipelineResourceHints()})
	if err != nil {
		return nil, fmt.Errorf("flinkrunner: marshal pipeline: %w", err)
	}
	return model, nil
}

// prepare is runnerlib.Prepare with the Flink runner's options added at
// the top level, where the job server reads them.
func prepare(ctx context.Context, client jobpb.JobServiceClient, model *pipepb.Pipeline, o Options) (*jobpb.PrepareJobResponse, error) {
	hooks.SerializeHooksToOptions()
	beam.PipelineOptions.LoadOptionsFromFlags(nil)
	raw := runtime.RawOptionsWrapper{
		Options:     beam.PipelineOptions.Export(),
		AppName:     jobopts.GetJobName(),
		Experiments: append(jobopts.GetExperiments(), "beam_fn_api"),
		Parallelism: *jobopts.Parallelism,
	}
	opts, err := tools.OptionsToProto(raw)
	if err != nil {
		return nil, fmt.Errorf("flinkrunner: pipeline options: %w", err)
	}
	for k, v := range o.top() {
		opts.Fields["beam:option:"+k+":v1"] = v
	}
	resp, err := client.Prepare(ctx, &jobpb.PrepareJobRequest{Pipeline: model, PipelineOptions: opts, JobName: jobopts.GetJobName()})
	if err != nil {
		return nil, fmt.Errorf("flinkrunner: prepare job: %w", err)
	}
	return resp, nil
}

// top are o as FlinkPipelineOptions, named as the job server reads them
// (lower_underscore of the Java option's name).
func (o Options) top() map[string]*structpb.Value {
	m := map[string]*structpb.Value{}
	if o.CheckpointingInterval > 0 {
		m["checkpointing_interval"] = structpb.NewNumberValue(float64(o.CheckpointingInterval.Milliseconds()))
		m["finish_bundle_before_checkpointing"] = structpb.NewBoolValue(true)
	}
	if o.SavepointPath != "" {
		m["savepoint_path"] = structpb.NewStringValue(o.SavepointPath)
	}
	return m
}
