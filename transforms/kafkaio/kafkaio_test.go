package kafkaio

import (
	"context"
	"fmt"
	"net"
	"os"
	"sort"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/IBM/sarama"
	"github.com/apache/beam/sdks/v2/go/pkg/beam"
	"github.com/apache/beam/sdks/v2/go/pkg/beam/core/graph/window"
	"github.com/apache/beam/sdks/v2/go/pkg/beam/core/metrics"
	jobpb "github.com/apache/beam/sdks/v2/go/pkg/beam/model/jobmanagement_v1"
	"github.com/apache/beam/sdks/v2/go/pkg/beam/options/jobopts"
	"github.com/apache/beam/sdks/v2/go/pkg/beam/register"
	"github.com/apache/beam/sdks/v2/go/pkg/beam/runners/prism"
	_ "github.com/apache/beam/sdks/v2/go/pkg/beam/runners/universal"
	"github.com/apache/beam/sdks/v2/go/pkg/beam/testing/passert"
	"github.com/apache/beam/sdks/v2/go/pkg/beam/testing/ptest"

	"github.com/trendstream/trendstream/internal/platform/kafkaconf"
	"github.com/trendstream/trendstream/internal/platform/kafkaoffsets"
	"github.com/trendstream/trendstream/internal/testenv"
)

func TestMain(m *testing.M) {
	// Every LOOPBACK run leaves a beamloopbackworker-* file in os.TempDir();
	// keep them in a directory of our own and remove it afterwards.
	dir, err := os.MkdirTemp("", "kafkaio-test-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	os.Setenv("TMPDIR", dir)
	// The real Kafka broker shared by the tests is stopped before exit.
	code := testenv.RunWithRealKafka(func() int { return ptest.MainRet(m) })
	os.RemoveAll(dir)
	os.Exit(code)
}

func init() {
	register.Function2x1(formatRecord)
	register.Function1x2(toKV)
	register.Function1x2(windowKey)
	register.DoFn4x0[context.Context, beam.Window, string, func(*int64) bool](&recordFiringFn{})
	register.Iter1[int64]()
}

// formatRecord renders everything a reader must get right, including the
// element's event time, so passert can compare whole records.
func formatRecord(et beam.EventTime, r Record) string {
	return fmt.Sprintf("%s/%d@%d %s=%s ts=%d et=%d", r.Topic, r.Partition, r.Offset, r.Key, r.Value,
		r.Timestamp.UnixMilli(), et.Milliseconds())
}

func toKV(m Message) ([]byte, []byte) { return m.Key, m.Value }

func windowKey(r Record) (string, int64) { return "all", r.Timestamp.UnixMilli() }

// produced is a record written by a test, with the position the broker gave it.
type produced struct {
	partition int32
	offset    int64
	key, val  string
	ts        time.Time
}

func (p produced) format(topic string) string {
	ms := p.ts.UnixMilli()
	return fmt.Sprintf("%s/%d@%d %s=%s ts=%d et=%d", topic, p.partition, p.offset, p.key, p.val, ms, ms)
}

// produce writes perPartition records to each of the first n partitions of
// topic, with timestamps base + i seconds (+ partition ms), in order.
func produce(t *testing.T, brokers []string, topic string, partitions []int32, perPartition int, base time.Time) []produced {
	t.Helper()
	cfg := kafkaconf.Producer("kafkaio-test")
	cfg.Producer.Partitioner = sarama.NewManualPartitioner
	prod, err := sarama.NewSyncProducer(brokers, cfg)
	if err != nil {
		t.Fatal(err)
	}
	defer prod.Close()
	var msgs []*sarama.ProducerMessage
	for _, p := range partitions {
		for i := range perPartition {
			msgs = append(msgs, &sarama.ProducerMessage{
				Topic: topic, Partition: p,
				Key:       sarama.StringEncoder(fmt.Sprintf("k%d-%d", p, i)),
				Value:     sarama.StringEncoder(fmt.Sprintf("v%d-%d", p, i)),
				Timestamp: base.Add(time.Duration(i)*time.Second + time.Duration(p)*time.Millisecond),
			})
		}
	}
	if err := prod.SendMessages(msgs); err != nil {
		t.Fatal(err)
	}
	out := make([]produced, len(msgs))
	for i, m := range msgs {
		k, _ := m.Key.Encode()
		v, _ := m.Value.Encode()
		out[i] = produced{partition: m.Partition, offset: m.Offset, key: string(k), val: string(v), ts: m.Timestamp}
	}
	return out
}

// commitBefore commits offsets for group the way Read does (an admin-style
// commit); the test then checks them with sarama's independent admin API.
func commitBefore(t *testing.T, brokers []string, group, topic string, offsets map[int32]int64) {
	t.Helper()
	client, err := sarama.NewClient(brokers, kafkaconf.Consumer("kafkaio-test"))
	if err != nil {
		t.Fatal(err)
	}
	defer client.Close()
	if err := kafkaoffsets.Commit(context.Background(), client, group, topic, offsets); err != nil {
		t.Fatal(err)
	}
}

func committedWithSarama(t *testing.T, brokers []string, group, topic string, parts []int32) map[int32]int64 {
	t.Helper()
	admin, err := sarama.NewClusterAdmin(brokers, kafkaconf.Consumer("kafkaio-test"))
	if err != nil {
		t.Fatal(err)
	}
	defer admin.Close()
	resp, err := admin.ListConsumerGroupOffsets(group, map[string][]int32{topic: parts})
	if err != nil {
		t.Fatal(err)
	}
	out := map[int32]int64{}
	for _, p := range parts {
		out[p] = resp.GetBlock(topic, p).Offset
	}
	return out
}

func counter(res beam.PipelineResult, name string) int64 {
	var sum int64
	for _, c := range res.Metrics().Query(func(r metrics.SingleResult) bool {
		return r.Namespace() == "kafkaio" && r.Name() == name
	}).Counters() {
		sum += c.Result()
	}
	return sum
}

// TestReadBounded reads a topic of four partitions, one of them empty, up to
// the end offsets seen at start, from each kind of start position, and
// checks that exactly the expected records arrive with their Kafka record
// timestamp as Beam event time; on kfake and on a real broker.
func TestReadBounded(t *testing.T) {
	testenv.ForEachKafka(t, testReadBounded)
}

func testReadBounded(t *testing.T, kind testenv.KafkaKind) {
	const perPartition = 15
	base := time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)
	parts := []int32{0, 1, 2, 3}
	tests := []struct {
		name string
		opts []ReadOption
		// commit is what the group has committed before the run.
		commit map[int32]int64
		keep   func(p produced) bool
	}{
		{
			name: "earliest",
			opts: []ReadOption{ReadStart(Start{Kind: StartEarliest})},
			keep: func(produced) bool { return true },
		},
		{
			name: "latest reads nothing that existed at start",
			opts: []ReadOption{ReadStart(Start{Kind: StartLatest})},
			keep: func(produced) bool { return false },
		},
		{
			name: "replay from a timestamp",
			opts: []ReadOption{ReadStart(StartAt(base.Add(9 * time.Second)))},
			// Partition p's record i has timestamp base + i s + p ms.
			keep: func(p produced) bool { return !p.ts.Before(base.Add(9 * time.Second)) },
		},
		{
			name:   "committed offsets, earliest where none",
			opts:   []ReadOption{ReadStart(Start{Kind: StartCommitted}), ReadGroup("g-committed")},
			commit: map[int32]int64{0: 4, 1: perPartition},
			keep: func(p produced) bool {
				switch p.partition {
				case 0:
					return p.offset >= 4
				case 1:
					return false
				}
				return true
			},
		},
		{
			name: "small calls self-checkpoint many times",
			opts: []ReadOption{ReadStart(Start{Kind: StartEarliest}), ReadMaxRecords(2), ReadFetchBytes(64)},
			keep: func(produced) bool { return true },
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			topic := testenv.Topic(t, "posts")
			kafka := kind.New(t, int32(len(parts)), topic)
			brokers := kafka.Addrs()
			all := produce(t, brokers, topic, parts[:3], perPartition, base)
			var group string
			if tt.commit != nil {
				group = "g-committed"
				commitBefore(t, brokers, group, topic, tt.commit)
				if got := committedWithSarama(t, brokers, group, topic, []int32{0, 1}); got[0] != tt.commit[0] || got[1] != tt.commit[1] {
					t.Fatalf("setup commit: sarama sees %v, want %v", got, tt.commit)
				}
			}
			var want []any
			for _, p := range all {
				if tt.keep(p) {
					want = append(want, p.format(topic))
				}
			}

			p, s := beam.NewPipelineWithRoot()
			recs := Read(s, brokers, topic, append([]ReadOption{ReadBounded()}, tt.opts...)...)
			got := beam.ParDo(s, formatRecord, recs)
			passert.Equals(s, got, want...)
			res, err := ptest.RunWithMetrics(p)
			if err != nil {
				t.Fatalf("pipeline failed: %v", err)
			}
			if n := counter(res, "records_read"); n != int64(len(want)) {
				t.Errorf("records_read counter = %d, want %d", n, len(want))
			}
			if group != "" {
				// A finished bounded read commits its end: a cold restart from
				// the group resumes after everything it read.
				got := committedWithSarama(t, brokers, group, topic, parts)
				wantEnd := map[int32]int64{0: perPartition, 1: perPartition, 2: perPartition, 3: 0}
				for _, p := range parts {
					if got[p] != wantEnd[p] {
						t.Errorf("partition %d committed offset = %d, want %d", p, got[p], wantEnd[p])
					}
				}
			}
		})
	}
}

// TestReadCountsLateRecords produces records whose timestamps are older than
// the partition's watermark by the time it is read; such records are still
// emitted and show up in the late_records counter.
func TestReadCountsLateRecords(t *testing.T) {
	testenv.ForEachKafka(t, testReadCountsLateRecords)
}

func testReadCountsLateRecords(t *testing.T, kind testenv.KafkaKind) {
	topic := testenv.Topic(t, "posts")
	kafka := kind.New(t, 1, topic)
	base := time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)
	// Timestamps base+0s..base+9s, then two more from base+0s and base+1s:
	// 9 s and 8 s behind the newest, beyond the 5 s out-of-order bound.
	all := produce(t, kafka.Addrs(), topic, []int32{0}, 10, base)
	all = append(all, produce(t, kafka.Addrs(), topic, []int32{0}, 2, base)...)
	var want []any
	for _, p := range all {
		want = append(want, p.format(topic))
	}
	p, s := beam.NewPipelineWithRoot()
	recs := Read(s, kafka.Addrs(), topic, ReadBounded(), ReadOutOfOrder(5*time.Second))
	passert.Equals(s, beam.ParDo(s, formatRecord, recs), want...)
	res, err := ptest.RunWithMetrics(p)
	if err != nil {
		t.Fatal(err)
	}
	if n := counter(res, "late_records"); n != 2 {
		t.Fatalf("late_records = %d, want 2", n)
	}
}

// TestReadUnknownTopicFails: a misspelt topic fails the pipeline rather
// than being created (kfake allows auto-creation, the real broker here
// does not: the reader must not depend on either).
func TestReadUnknownTopicFails(t *testing.T) {
	testenv.ForEachKafka(t, func(t *testing.T, kind testenv.KafkaKind) {
		kafka := kind.New(t, 1, testenv.Topic(t, "exists"))
		p, s := beam.NewPipelineWithRoot()
		Read(s, kafka.Addrs(), testenv.Topic(t, "does-not-exist"), ReadBounded())
		if err := ptest.Run(p); err == nil {
			t.Fatal("reading a missing topic succeeded")
		}
	})
}

// firing is one pane seen by recordFiringFn.
type firing struct {
	end   time.Time // window end
	count int
	at    time.Time // wall clock when it fired
}

// runSeq makes recorder ids unique when a test runs more than once (-count).
var runSeq atomic.Int64

var firings = struct {
	sync.Mutex
	m map[string][]firing
}{m: map[string][]firing{}}

// recordFiringFn stores every fired window in process memory, which the
// test can read because Prism LOOPBACK runs DoFns in the test process.
type recordFiringFn struct{ ID string }

func (fn *recordFiringFn) ProcessElement(_ context.Context, w beam.Window, _ string, vals func(*int64) bool) {
	n := 0
	var v int64
	for vals(&v) {
		n++
	}
	firings.Lock()
	defer firings.Unlock()
	firings.m[fn.ID] = append(firings.m[fn.ID], firing{end: w.MaxTimestamp().ToTime(), count: n, at: time.Now()})
}

func freePort(t *testing.T) int {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}

// TestReadUnboundedFiresWindowsWhileReading runs an unbounded read of a
// two-partition topic where only partition 0 receives records (at the wall
// clock), windows them into 1 s fixed windows and checks that windows fire,
// with complete counts, while the source is still reading: the idle
// partition 1 must not hold the watermark. With idle advance switched off
// the same pipeline must fire nothing, which shows the idle partition is
// what would stall it.
func TestReadUnboundedFiresWindowsWhileReading(t *testing.T) {
	testenv.ForEachKafka(t, testReadUnboundedFiresWindowsWhileReading)
}

func testReadUnboundedFiresWindowsWhileReading(t *testing.T, kind testenv.KafkaKind) {
	tests := []struct {
		name      string
		opts      []ReadOption
		wantFires bool
		runFor    time.Duration
	}{
		{name: "idle partition advances", wantFires: true, runFor: 20 * time.Second},
		{name: "idle partition stalls without idle advance", opts: []ReadOption{ReadIdle(IdleHold)}, runFor: 4 * time.Second},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			topic := testenv.Topic(t, "live")
			kafka := kind.New(t, 2, topic)
			brokers := kafka.Addrs()

			p, s := beam.NewPipelineWithRoot()
			recs := Read(s, brokers, topic, append([]ReadOption{
				ReadStart(Start{Kind: StartEarliest}), ReadOutOfOrder(200 * time.Millisecond),
				ReadPollWait(100 * time.Millisecond),
			}, tt.opts...)...)
			win := beam.WindowInto(s, window.NewFixedWindows(time.Second), beam.ParDo(s, windowKey, recs))
			id := fmt.Sprintf("%s#%d", t.Name(), runSeq.Add(1))
			beam.ParDo0(s, &recordFiringFn{ID: id}, beam.GroupByKey(s, win))

			// Produce to partition 0 only, stamped with the wall clock.
			ctx, stop := context.WithCancel(context.Background())
			defer stop()
			var mu sync.Mutex
			var sent []time.Time
			go func() {
				cfg := kafkaconf.Producer("kafkaio-test")
				cfg.Producer.Partitioner = sarama.NewManualPartitioner
				prod, err := sarama.NewSyncProducer(brokers, cfg)
				if err != nil {
					t.Error(err)
					return
				}
				defer prod.Close()
				for ctx.Err() == nil {
					now := time.Now().Truncate(time.Millisecond) // Kafka timestamps are ms
					if _, _, err := prod.SendMessage(&sarama.ProducerMessage{Topic: topic, Partition: 0, Value: sarama.StringEncoder("x"), Timestamp: now}); err != nil {
						if ctx.Err() == nil {
							t.Errorf("producer stopped early: %v", err)
						}
						return
					}
					mu.Lock()
					sent = append(sent, now)
					mu.Unlock()
					time.Sleep(20 * time.Millisecond)
				}
			}()

			fired := runAndCancel(t, p, id, tt.runFor, func() bool {
				firings.Lock()
				defer firings.Unlock()
				return len(firings.m[id]) >= 3
			})
			stop()

			if !tt.wantFires {
				if len(fired) != 0 {
					t.Fatalf("%d windows fired although partition 1 never advanced: %+v", len(fired), fired)
				}
				return
			}
			if len(fired) < 3 {
				t.Fatalf("only %d windows fired in %v while the source was reading", len(fired), tt.runFor)
			}
			mu.Lock()
			defer mu.Unlock()
			for _, f := range fired {
				// The window [end-1s, end] fired once the watermark passed it, so
				// it must hold every record produced with a timestamp inside it.
				want := 0
				for _, ts := range sent {
					if !ts.Before(f.end.Add(-time.Second+time.Millisecond)) && !ts.After(f.end) {
						want++
					}
				}
				if f.count != want {
					t.Errorf("window ending %v fired with %d records, want %d", f.end, f.count, want)
				}
			}
			// Windows fire while the source is still reading, not only once
			// it goes quiet. Only the first is held to it: on a loaded
			// machine a real broker can hold the producer's last send for a
			// few hundred ms, so later windows may fire during that send.
			if len(sent) == 0 {
				t.Fatal("windows fired but nothing was produced")
			}
			if last := sent[len(sent)-1]; !fired[0].at.Before(last) {
				t.Errorf("the first window (ending %v) fired at %v, after the producer's last record at %v", fired[0].end, fired[0].at, last)
			}
		})
	}
}

// runAndCancel runs an unbounded pipeline on an in-process Prism job server
// until ready() or timeout, cancels it, and returns what fired.
func runAndCancel(t *testing.T, p *beam.Pipeline, id string, timeout time.Duration, ready func() bool) []firing {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	port := freePort(t)
	cli, err := prism.CreateJobServer(ctx, prism.Options{Port: port})
	if err != nil {
		t.Fatal(err)
	}
	oldEndpoint, oldEnv := *jobopts.Endpoint, *jobopts.EnvironmentType
	*jobopts.Endpoint, *jobopts.EnvironmentType = fmt.Sprintf("localhost:%d", port), "loopback"
	defer func() { *jobopts.Endpoint, *jobopts.EnvironmentType = oldEndpoint, oldEnv }()

	done := make(chan error, 1)
	go func() {
		_, err := beam.Run(ctx, "universal", p)
		done <- err
	}()
	deadline := time.Now().Add(timeout)
	for time.Now().Before(deadline) && !ready() {
		select {
		case err := <-done:
			t.Fatalf("unbounded pipeline ended on its own: %v", err)
		case <-time.After(100 * time.Millisecond):
		}
	}
	firings.Lock()
	fired := append([]firing(nil), firings.m[id]...)
	firings.Unlock()

	// The job may still be being submitted when ready() is already false
	// forever (the negative case); wait until the job service knows it.
	var jobs []*jobpb.JobInfo
	for wait := time.Now().Add(30 * time.Second); len(jobs) == 0; time.Sleep(100 * time.Millisecond) {
		resp, err := cli.GetJobs(ctx, &jobpb.GetJobsRequest{})
		if err != nil {
			t.Fatal(err)
		}
		jobs = resp.GetJobInfo()
		if time.Now().After(wait) {
			t.Fatal("job never appeared in the job service")
		}
	}
	for _, j := range jobs {
		if _, err := cli.Cancel(ctx, &jobpb.CancelJobRequest{JobId: j.GetJobId()}); err != nil {
			t.Logf("cancel %s: %v", j.GetJobId(), err)
		}
	}
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("cancelled pipeline returned %v", err)
		}
	case <-time.After(30 * time.Second):
		t.Fatal("pipeline did not stop after Cancel")
	}
	sort.Slice(fired, func(i, j int) bool { return fired[i].end.Before(fired[j].end) })
	return fired
}

// TestWriteRoundTrip writes messages through Write, from Message and from
// KV<[]byte, []byte>, and reads them back with a plain sarama consumer; on
// kfake and on a real broker.
func TestWriteRoundTrip(t *testing.T) {
	testenv.ForEachKafka(t, testWriteRoundTrip)
}

func testWriteRoundTrip(t *testing.T, kind testenv.KafkaKind) {
	const n = 23
	ts := time.Date(2026, 5, 4, 3, 2, 1, 0, time.UTC)
	var msgs []any
	for i := range n {
		msgs = append(msgs, Message{
			Key:       fmt.Appendf(nil, "key-%d", i),
			Value:     fmt.Appendf(nil, "value-%d", i),
			Timestamp: ts.Add(time.Duration(i) * time.Millisecond),
		})
	}
	tests := []struct {
		name   string
		asKV   bool
		wantTS func(i int) (lo, hi time.Time)
	}{
		{name: "Message", wantTS: func(i int) (time.Time, time.Time) {
			t := ts.Add(time.Duration(i) * time.Millisecond)
			return t, t
		}},
		{name: "KV", asKV: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			topic := testenv.Topic(t, "trends")
			kafka := kind.New(t, 3, topic)
			brokers := kafka.Addrs()

			p, s := beam.NewPipelineWithRoot()
			col := beam.Create(s, msgs...)
			if tt.asKV {
				col = beam.ParDo(s, toKV, col)
			}
			Write(s, brokers, topic, col, WriteMaxBatch(5))
			before := time.Now().Add(-time.Second)
			res, err := ptest.RunWithMetrics(p)
			if err != nil {
				t.Fatalf("pipeline failed: %v", err)
			}
			after := time.Now().Add(time.Second)
			if got := counter(res, "messages_written"); got != n {
				t.Errorf("messages_written counter = %d, want %d", got, n)
			}

			got := map[string]*sarama.ConsumerMessage{}
			for _, m := range testenv.ReadTopic(t, brokers, topic) {
				if _, dup := got[string(m.Key)]; dup {
					t.Errorf("message %s written twice", m.Key)
				}
				got[string(m.Key)] = m
			}
			if len(got) != n {
				t.Fatalf("read back %d messages, want %d", len(got), n)
			}
			for i := range n {
				key := fmt.Sprintf("key-%d", i)
				m, ok := got[key]
				if !ok {
					t.Errorf("message %s missing", key)
					continue
				}
				if string(m.Value) != fmt.Sprintf("value-%d", i) {
					t.Errorf("message %s value = %q", key, m.Value)
				}
				lo, hi := before, after
				if tt.wantTS != nil {
					lo, hi = tt.wantTS(i)
				}
				if m.Timestamp.Before(lo) || m.Timestamp.After(hi) {
					t.Errorf("message %s timestamp %v outside [%v, %v]", key, m.Timestamp, lo, hi)
				}
			}
		})
	}
}
