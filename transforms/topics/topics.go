// Package topics holds the Beam stages that group each ranking's trending
// terms into topics and attach example posts (internal/core/topics has the
// logic):
//
//  1. Sample: the counting stage (transforms/trend.BucketTerms) keeps per
//     bundle, per (term language, period), the posts whose URI hashes
//     lowest (internal/core/topics.Sampler), with the terms it extracted to
//     count them; a combine in fixed windows here merges the bundles'
//     samples of a period.
//  2. Join, keyed by term language: keeps the periods' samples in bag
//     state; each ranking's snapshot asks (one request per term language
//     in it) for its window, and an event-time timer at the window's end,
//     which fires once every sample of the window is in, answers with the
//     language's part: its terms' examples and topics.
//  3. Gather, keyed by (source, ranking, window): waits for the snapshot
//     and the part of each of its term languages, of the same revision,
//     and emits the snapshot with its topics and examples.
//
// State is Bag and Value only, timers event-time only, as Flink's portable
// runner requires.
package topics

import (
	"context"
	"fmt"
	"reflect"
	"strconv"
	"strings"
	"time"

	"github.com/apache/beam/sdks/v2/go/pkg/beam"
	"github.com/apache/beam/sdks/v2/go/pkg/beam/core/graph/window"
	"github.com/apache/beam/sdks/v2/go/pkg/beam/register"
	"google.golang.org/protobuf/proto"

	grouping "github.com/trendstream/trendstream/internal/core/topics"
	tsv1 "github.com/trendstream/trendstream/proto/trendstream/v1"
)

func init() {
	beam.RegisterType(reflect.TypeOf((*JoinIn)(nil)).Elem())
	beam.RegisterType(reflect.TypeOf((*GatherIn)(nil)).Elem())
	register.Combiner1[grouping.Sample](&mergeSampleFn{})
	register.Function2x2(sampleIn)
	register.DoFn3x1[context.Context, *tsv1.WindowSnapshot, func(string, JoinIn), error](&requestFn{})
	register.DoFn3x1[context.Context, *tsv1.WindowSnapshot, func(string, GatherIn), error](&wholeFn{})
	register.Emitter2[string, JoinIn]()
	register.Emitter2[string, GatherIn]()
}

// Config sets the topic stages.
type Config struct {
	Topics grouping.Config
	// Size and Period of the ranking's windows, and its allowed lateness.
	Size, Period, Lateness time.Duration
}

// decodeSample decodes a sample the join receives as bytes (JoinIn).
func decodeSample(b []byte) (grouping.Sample, error) {
	s, _, err := grouping.DecodeSample(b)
	return s, err
}

// mergeSampleFn merges the bundles' samples of one period.
type mergeSampleFn struct{ K int }

func (fn *mergeSampleFn) MergeAccumulators(a, b grouping.Sample) grouping.Sample {
	return grouping.Sample{Lang: a.Lang, End: max(a.End, b.End), Posts: grouping.Merge(a.Posts, b.Posts, fn.K)}
}

// JoinIn is the join's input: a period's sample or a request (a snapshot
// with one language's terms, marshalled).
type JoinIn struct {
	Sample  []byte
	Request []byte
}

// GatherIn is the gather's input: the snapshot or one language's part,
// marshalled.
type GatherIn struct {
	Part bool
	Msg  []byte
}

func sampleIn(lang string, s grouping.Sample) (string, JoinIn) {
	return lang, JoinIn{Sample: s.AppendBinary(nil)}
}

// requestFn sends one request per term language of each snapshot to the
// join.
//
// It and wholeFn are two single-output DoFns over the same snapshots, not
// one DoFn with two outputs: on Flink's portable runner (Beam 2.62) a
// multi-output stage whose outputs each feed a Flatten sent records that
// the downstream task could not read ("java.io.IOException: Corrupt stream,
// found tag: -128" in the join's input), failing the job in a loop; see
// docs/local-cluster.md.
type requestFn struct{}

func (requestFn) ProcessElement(_ context.Context, snap *tsv1.WindowSnapshot, join func(string, JoinIn)) error {
	for _, lang := range grouping.Langs(snap) {
		r, err := proto.Marshal(grouping.Only(snap, lang))
		if err != nil {
			return fmt.Errorf("topics: marshal request: %w", err)
		}
		join(lang, JoinIn{Request: r})
	}
	return nil
}

// wholeFn sends each snapshot to the gather.
type wholeFn struct{}

func (wholeFn) ProcessElement(_ context.Context, snap *tsv1.WindowSnapshot, gather func(string, GatherIn)) error {
	b, err := proto.Marshal(snap)
	if err != nil {
		return fmt.Errorf("topics: marshal snapshot: %w", err)
	}
	gather(gatherKey(snap), GatherIn{Msg: b})
	return nil
}

// gatherKey keys a ranking's window: "<source>|<ranking lang>|<end, Unix ms>".
func gatherKey(s *tsv1.WindowSnapshot) string {
	return strconv.Itoa(int(s.GetSource())) + "|" + s.GetLang() + "|" + strconv.FormatInt(s.GetWindowEnd().AsTime().UnixMilli(), 10)
}

// keyEnd returns the window end (Unix ms) of a gatherKey.
func keyEnd(key string) (int64, error) {
	i := strings.LastIndexByte(key, '|')
	end, err := strconv.ParseInt(key[i+1:], 10, 64)
	if i < 0 || err != nil {
		return 0, fmt.Errorf("topics: gather key %q has no window end", key)
	}
	return end, nil
}

// Enrich returns snaps with topics and example posts, computed from the
// posts' partial samples (KV<term language, internal/core/topics.Sample> of at
// most c.Topics.SamplePosts posts, timestamped at the last instant of
// their period: transforms/trend.TrendsSampled). With c.Topics disabled it
// returns snaps as they are.
func Enrich(s beam.Scope, partial, snaps beam.PCollection, c Config) beam.PCollection {
	if !c.Topics.Enabled() {
		return snaps
	}
	s = s.Scope("Topics")
	k := c.Topics.SamplePosts
	fixed := beam.WindowInto(s, window.NewFixedWindows(c.Period), partial, beam.AllowedLateness(c.Lateness))
	samples := beam.ParDo(s, sampleIn, beam.CombinePerKey(s, &mergeSampleFn{K: k}, fixed))
	global := window.NewGlobalWindows()
	globalSnaps := beam.WindowInto(s, global, snaps)
	reqs := beam.ParDo(s, &requestFn{}, globalSnaps)
	whole := beam.ParDo(s, &wholeFn{}, globalSnaps)
	parts := join(s, beam.Flatten(s, beam.WindowInto(s, global, samples), reqs), c)
	return gather(s, beam.Flatten(s, whole, parts), c)
}
