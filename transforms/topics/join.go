package topics

import (
	"cmp"
	"context"
	"fmt"
	"math/rand/v2"
	"reflect"
	"slices"
	"strconv"
	"strings"

	"github.com/apache/beam/sdks/v2/go/pkg/beam"
	"github.com/apache/beam/sdks/v2/go/pkg/beam/core/graph/mtime"
	"github.com/apache/beam/sdks/v2/go/pkg/beam/core/state"
	"github.com/apache/beam/sdks/v2/go/pkg/beam/core/timers"
	"github.com/apache/beam/sdks/v2/go/pkg/beam/register"
	"google.golang.org/protobuf/proto"

	grouping "github.com/trendstream/trendstream/internal/core/topics"
	tsv1 "github.com/trendstream/trendstream/proto/trendstream/v1"
)

func init() {
	beam.RegisterType(reflect.TypeOf((*JoinMeta)(nil)).Elem())
	register.DoFn6x1[context.Context, state.Provider, timers.Provider, string, JoinIn, func(string, GatherIn), error](&joinFn{})
}

// JoinMeta is the join's small state: when its collection timer fires.
type JoinMeta struct {
	GCAt int64
}

const gcTag = "gc"

// windowTag is the tag of the timer that answers window end's requests.
func windowTag(end int64) string { return "w" + strconv.FormatInt(end, 10) }

// joinFn keeps one term language's period samples and answers the
// requests of the windows that end, once the watermark has passed them.
// Samples go to a bag (no read when one arrives); a collection timer
// drops the periods no window needs any more, every window size, so a
// language holds at most KeepMs plus a window size of periods.
//
// Every window's timer needs the periods decoded, and reading and decoding
// all of them (31 at the defaults, up to 12 MB for a busy language) at
// every firing was most of the join's cost. So the DoFn instance keeps the
// decoded periods it last read or wrote per language, tagged with the
// bag's generation: a random number that Gen (Value state) changes to
// whenever the bag changes. A timer uses its copy only while its
// generation is the state's; otherwise (another instance or a retried
// bundle changed the bag, a restore rolled it back, a new instance) it
// reads the bag. Flink's portable runner has no Map or OrderedList state,
// and the periods change as one (samples arrive and are dropped a period
// at a time), so this keeps Bag state and still decodes each sample once
// per instance.
type joinFn struct {
	Cfg grouping.Config
	// SizeMs is the window size; KeepMs how long after its period ends a
	// sample is kept: a window size (the windows that contain it) plus
	// the allowed lateness (their corrections) and a period.
	SizeMs, KeepMs int64

	// Periods holds the samples as they arrive, encoded
	// (grouping.Sample.AppendBinary): a sample is decoded only for a copy
	// that is in use, never to be stored.
	Periods state.Bag[[]byte]
	Pending state.Bag[[]byte]
	Meta    state.Value[JoinMeta]
	// Gen is the bag's generation (0: not known).
	Gen state.Value[uint64]
	// One family, tagged per window and gcTag (Prism v2.77 stalls a DoFn
	// with a second timer family that is not set).
	Timer timers.EventTime

	// cache holds, per language, the decoded periods at one generation of
	// the bag.
	cache map[string]*decoded
}

// decoded is a language's periods as joinFn.samples returns them, at
// generation gen of its bag.
type decoded struct {
	gen     uint64
	samples []grouping.Sample
}

// newGen returns a generation: random, so that no two states or instances
// share one by chance (a counter would repeat after a restore rolled the
// state back).
func newGen() uint64 {
	for {
		if g := rand.Uint64(); g != 0 {
			return g
		}
	}
}

func (fn *joinFn) ProcessElement(ctx context.Context, sp state.Provider, tp timers.Provider, lang string, in JoinIn, _ func(string, GatherIn)) error {
	if in.Request != nil {
		var req tsv1.WindowSnapshot
		if err := proto.Unmarshal(in.Request, &req); err != nil {
			return fmt.Errorf("topics: join: request: %w", err)
		}
		// The timer fires at the window's end, once the watermark has
		// passed the last instant of its last period: a firing at end-1
		// could come while that period's sample, held at end-1 upstream,
		// is still on its way. The answer is held at end-1, the window's
		// timestamp.
		end := req.GetWindowEnd().AsTime().UnixMilli()
		fn.Timer.Set(tp, mtime.FromMilliseconds(end).ToTime(), timers.WithTag(windowTag(end)),
			timers.WithOutputTimestamp(mtime.FromMilliseconds(end-1).ToTime()))
		return fn.Pending.Add(sp, in.Request)
	}
	if err := fn.Periods.Add(sp, in.Sample); err != nil {
		return err
	}
	prev, _, err := fn.Gen.Read(sp)
	if err != nil {
		return err
	}
	gen := newGen()
	if err := fn.Gen.Write(sp, gen); err != nil {
		return err
	}
	if c := fn.cache[lang]; c != nil && prev != 0 && c.gen == prev {
		// The copy was the bag's content before this sample: keep it so.
		s, err := decodeSample(in.Sample)
		if err != nil {
			return fmt.Errorf("topics: join: %w", err)
		}
		c.samples, c.gen = insert(c.samples, s, fn.Cfg.SamplePosts), gen
	} else {
		delete(fn.cache, lang)
	}
	meta, _, err := fn.Meta.Read(sp)
	if err != nil {
		return err
	}
	if meta.GCAt == 0 {
		end, err := grouping.SampleEnd(in.Sample)
		if err != nil {
			return fmt.Errorf("topics: join: %w", err)
		}
		meta.GCAt = end + fn.KeepMs
		fn.Timer.Set(tp, mtime.FromMilliseconds(meta.GCAt).ToTime(), timers.WithTag(gcTag))
		return fn.Meta.Write(sp, meta)
	}
	return nil
}

func (fn *joinFn) OnTimer(ctx context.Context, sp state.Provider, tp timers.Provider, lang string, tc timers.Context, emit func(string, GatherIn)) error {
	if tc.Tag == gcTag {
		return fn.collect(sp, tp, lang)
	}
	end, err := strconv.ParseInt(strings.TrimPrefix(tc.Tag, "w"), 10, 64)
	if err != nil {
		return fmt.Errorf("topics: join: timer tag %q: %w", tc.Tag, err)
	}
	pending, _, err := fn.Pending.Read(sp)
	if err != nil {
		return err
	}
	var keep [][]byte
	var posts []grouping.Post
	read := false
	for _, b := range pending {
		var req tsv1.WindowSnapshot
		if err := proto.Unmarshal(b, &req); err != nil {
			return fmt.Errorf("topics: join: request: %w", err)
		}
		if req.GetWindowEnd().AsTime().UnixMilli() != end {
			keep = append(keep, b)
			continue
		}
		if !read {
			samples, err := fn.samples(sp, lang)
			if err != nil {
				return err
			}
			posts, read = grouping.WindowPosts(samples, end, fn.SizeMs), true
		}
		part := grouping.Part(lang, req.GetTerms(), posts, fn.Cfg)
		part.Source, part.Revision = req.GetSource(), req.GetRevision()
		part.WindowStart, part.WindowEnd = req.GetWindowStart(), req.GetWindowEnd()
		msg, err := proto.Marshal(part)
		if err != nil {
			return fmt.Errorf("topics: join: part: %w", err)
		}
		emit(gatherKey(&req), GatherIn{Part: true, Msg: msg})
	}
	if len(keep) == len(pending) {
		return nil
	}
	if err := fn.Pending.Clear(sp); err != nil {
		return err
	}
	for _, b := range keep {
		if err := fn.Pending.Add(sp, b); err != nil {
			return err
		}
	}
	return nil
}

// samples returns lang's periods, the samples of one period (late panes)
// merged into its bottom k, sorted by end: the instance's copy if it is of
// the bag's generation, else read from the bag (and kept). The result
// must not be changed.
func (fn *joinFn) samples(sp state.Provider, lang string) ([]grouping.Sample, error) {
	gen, _, err := fn.Gen.Read(sp)
	if err != nil {
		return nil, err
	}
	if c := fn.cache[lang]; c != nil && gen != 0 && c.gen == gen {
		return c.samples, nil
	}
	encoded, _, err := fn.Periods.Read(sp)
	if err != nil {
		return nil, err
	}
	all := make([]grouping.Sample, len(encoded))
	for i, b := range encoded {
		if all[i], err = decodeSample(b); err != nil {
			return nil, fmt.Errorf("topics: join: %w", err)
		}
	}
	out := periods(all, fn.Cfg.SamplePosts)
	if gen == 0 {
		if len(encoded) == 0 {
			return out, nil // nothing to keep, and no state to leave behind
		}
		// A bag written before generations (an older version's state):
		// give it one, so the next firing can use the copy.
		gen = newGen()
		if err := fn.Gen.Write(sp, gen); err != nil {
			return nil, err
		}
	}
	fn.keep(lang, gen, out)
	return out, nil
}

// periods merges the samples of one period (late panes) into its bottom
// k, sorted by end. It sorts all.
func periods(all []grouping.Sample, k int) []grouping.Sample {
	slices.SortStableFunc(all, func(a, b grouping.Sample) int { return cmp.Compare(a.End, b.End) })
	var out []grouping.Sample
	for _, s := range all {
		if n := len(out); n > 0 && out[n-1].End == s.End {
			out[n-1].Posts = grouping.Merge(out[n-1].Posts, s.Posts, k)
			continue
		}
		out = append(out, s)
	}
	return out
}

// keep makes samples the instance's copy of lang's periods at gen.
func (fn *joinFn) keep(lang string, gen uint64, samples []grouping.Sample) {
	if fn.cache == nil {
		fn.cache = map[string]*decoded{}
	}
	fn.cache[lang] = &decoded{gen: gen, samples: samples}
}

// insert returns periods(append(all, s), k) given samples = periods(all, k),
// in a new slice: samples may still be in use by a timer's window.
func insert(samples []grouping.Sample, s grouping.Sample, k int) []grouping.Sample {
	i, found := slices.BinarySearchFunc(samples, s.End, func(a grouping.Sample, end int64) int { return cmp.Compare(a.End, end) })
	out := slices.Clone(samples)
	if found {
		out[i].Posts = grouping.Merge(out[i].Posts, s.Posts, k)
		return out
	}
	return slices.Insert(out, i, s)
}

// collect drops the periods ended KeepMs before now (the timer's time) and
// sets the next collection a window size later, or at the oldest period
// left's expiry if that is later.
func (fn *joinFn) collect(sp state.Provider, tp timers.Provider, lang string) error {
	meta, _, err := fn.Meta.Read(sp)
	if err != nil {
		return err
	}
	now := meta.GCAt
	samples, err := fn.samples(sp, lang)
	if err != nil {
		return err
	}
	if err := fn.Periods.Clear(sp); err != nil {
		return err
	}
	var left []grouping.Sample
	for _, s := range samples {
		if s.End+fn.KeepMs <= now {
			continue
		}
		left = append(left, s)
		if err := fn.Periods.Add(sp, s.AppendBinary(nil)); err != nil {
			return err
		}
	}
	if len(left) == 0 {
		delete(fn.cache, lang)
		if err := fn.Gen.Clear(sp); err != nil {
			return err
		}
		return fn.Meta.Clear(sp)
	}
	gen := newGen()
	if err := fn.Gen.Write(sp, gen); err != nil {
		return err
	}
	fn.keep(lang, gen, left)
	oldest := left[0].End // samples are sorted by end
	meta.GCAt = max(now+fn.SizeMs, oldest+fn.KeepMs)
	fn.Timer.Set(tp, mtime.FromMilliseconds(meta.GCAt).ToTime(), timers.WithTag(gcTag))
	return fn.Meta.Write(sp, meta)
}

func join(s beam.Scope, ins beam.PCollection, c Config) beam.PCollection {
	return beam.ParDo(s.Scope("Join"), &joinFn{
		Cfg: c.Topics, SizeMs: c.Size.Milliseconds(), KeepMs: (c.Size + c.Lateness + c.Period).Milliseconds(),
		Periods: state.MakeBagState[[]byte]("periods"), Pending: state.MakeBagState[[]byte]("pending"),
		Meta: state.MakeValueState[JoinMeta]("meta"), Gen: state.MakeValueState[uint64]("gen"), Timer: timers.InEventTime("join"),
	}, ins)
}
