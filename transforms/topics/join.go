package topics

import (
	"cmp"
	"context"
	"fmt"
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

	grouping "github.com/trendstream/trendstream/internal/topics"
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
type joinFn struct {
	Cfg grouping.Config
	// SizeMs is the window size; KeepMs how long after its period ends a
	// sample is kept: a window size (the windows that contain it) plus
	// the allowed lateness (their corrections) and a period.
	SizeMs, KeepMs int64

	Periods state.Bag[grouping.Sample]
	Pending state.Bag[[]byte]
	Meta    state.Value[JoinMeta]
	// One family, tagged per window and gcTag (Prism v2.77 stalls a DoFn
	// with a second timer family that is not set).
	Timer timers.EventTime
}

func (fn *joinFn) ProcessElement(ctx context.Context, sp state.Provider, tp timers.Provider, _ string, in JoinIn, _ func(string, GatherIn)) error {
	if in.Request != nil {
		var req tsv1.WindowSnapshot
		if err := proto.Unmarshal(in.Request, &req); err != nil {
			return fmt.Errorf("topics: join: request: %w", err)
		}
		end := req.GetWindowEnd().AsTime().UnixMilli()
		at := mtime.FromMilliseconds(end - 1).ToTime()
		fn.Timer.Set(tp, at, timers.WithTag(windowTag(end)), timers.WithOutputTimestamp(at))
		return fn.Pending.Add(sp, in.Request)
	}
	s, err := decodeSample(in.Sample)
	if err != nil {
		return fmt.Errorf("topics: join: %w", err)
	}
	if err := fn.Periods.Add(sp, s); err != nil {
		return err
	}
	meta, _, err := fn.Meta.Read(sp)
	if err != nil {
		return err
	}
	if meta.GCAt == 0 {
		meta.GCAt = s.End + fn.KeepMs
		fn.Timer.Set(tp, mtime.FromMilliseconds(meta.GCAt).ToTime(), timers.WithTag(gcTag))
		return fn.Meta.Write(sp, meta)
	}
	return nil
}

func (fn *joinFn) OnTimer(ctx context.Context, sp state.Provider, tp timers.Provider, lang string, tc timers.Context, emit func(string, GatherIn)) error {
	if tc.Tag == gcTag {
		return fn.collect(sp, tp)
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
			samples, err := fn.samples(sp)
			if err != nil {
				return err
			}
			posts, read = grouping.WindowPosts(samples, end, fn.SizeMs), true
		}
		part := grouping.Part(lang, req.GetTerms(), posts, fn.Cfg)
		part.Source, part.Revision = req.GetSource(), req.GetRevision()
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

// samples reads the periods, merging the samples of one period (late
// panes) into its bottom k, sorted by end.
func (fn *joinFn) samples(sp state.Provider) ([]grouping.Sample, error) {
	all, _, err := fn.Periods.Read(sp)
	if err != nil {
		return nil, err
	}
	slices.SortStableFunc(all, func(a, b grouping.Sample) int { return cmp.Compare(a.End, b.End) })
	var out []grouping.Sample
	for _, s := range all {
		if n := len(out); n > 0 && out[n-1].End == s.End {
			out[n-1].Posts = grouping.Merge(out[n-1].Posts, s.Posts, fn.Cfg.SamplePosts)
			continue
		}
		out = append(out, s)
	}
	return out, nil
}

// collect drops the periods ended KeepMs before now (the timer's time) and
// sets the next collection a window size later, or at the oldest period
// left's expiry if that is later.
func (fn *joinFn) collect(sp state.Provider, tp timers.Provider) error {
	meta, _, err := fn.Meta.Read(sp)
	if err != nil {
		return err
	}
	now := meta.GCAt
	samples, err := fn.samples(sp)
	if err != nil {
		return err
	}
	if err := fn.Periods.Clear(sp); err != nil {
		return err
	}
	oldest := int64(0)
	for _, s := range samples {
		if s.End+fn.KeepMs <= now {
			continue
		}
		if oldest == 0 || s.End < oldest {
			oldest = s.End
		}
		if err := fn.Periods.Add(sp, s); err != nil {
			return err
		}
	}
	if oldest == 0 {
		return fn.Meta.Clear(sp)
	}
	meta.GCAt = max(now+fn.SizeMs, oldest+fn.KeepMs)
	fn.Timer.Set(tp, mtime.FromMilliseconds(meta.GCAt).ToTime(), timers.WithTag(gcTag))
	return fn.Meta.Write(sp, meta)
}

func join(s beam.Scope, ins beam.PCollection, c Config) beam.PCollection {
	return beam.ParDo(s.Scope("Join"), &joinFn{
		Cfg: c.Topics, SizeMs: c.Size.Milliseconds(), KeepMs: (c.Size + c.Lateness + c.Period).Milliseconds(),
		Periods: state.MakeBagState[grouping.Sample]("periods"), Pending: state.MakeBagState[[]byte]("pending"),
		Meta: state.MakeValueState[JoinMeta]("meta"), Timer: timers.InEventTime("join"),
	}, ins)
}
