package testenv

import (
	"context"
	"fmt"
	"github.com/trendstream/trendstream/internal/platform/kafkatopics"
	"io"
	"log/slog"
	"net"
	"os"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kfake"

	"github.com/trendstream/trendstream/internal/services/kafkabroker"
	"github.com/trendstream/trendstream/internal/services/kafkalocal"
)

// A real Apache Kafka broker costs a JVM start (several seconds on two
// cores), so one is shared by all tests of a test binary; tests keep apart
// by using topics of their own (Topic). It is stopped by Main, or by
// RunWithRealKafka for packages whose TestMain cannot use Main.
var (
	realMu     sync.Mutex
	realBroker *kafkabroker.Broker
	realErr    error
	realMain   atomic.Bool
)

// RealKafkaBroker is the shared real Kafka broker as one test sees it.
type RealKafkaBroker struct {
	t testing.TB
	b *kafkabroker.Broker
}

// RealKafka returns the test binary's real Apache Kafka broker (started on
// first use from deploy/kafka/broker.sh: KRaft, one node, loopback, free
// ports) with the given topics created, configured like the Compose stack's
// data topics. The topics are deleted when the test ends; names must be
// unique within the test binary (see Topic). If java or the Kafka jars are
// missing (and cannot be fetched) the test fails, naming what is missing.
func RealKafka(t testing.TB, partitions int32, topics ...string) *RealKafkaBroker {
	t.Helper()
	if !inMain.Load() && !realMain.Load() {
		t.Fatal("testenv: RealKafka needs the package's TestMain to call testenv.Main(m) or testenv.RunWithRealKafka, which stop the shared broker")
	}
	b, err := sharedRealKafka()
	if err != nil {
		t.Fatalf("testenv: a real Kafka broker is required for this test and could not be started: %v", err)
	}
	k := &RealKafkaBroker{t: t, b: b}
	// A test that stopped the shared broker and failed before starting it
	// again must not take it away from the tests after it.
	t.Cleanup(k.ensureRunning)
	k.CreateTopics(partitions, topics...)
	return k
}

// ensureRunning starts the shared broker if a test left it stopped.
func (k *RealKafkaBroker) ensureRunning() {
	if k.b.PID() != 0 {
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	if err := k.b.Start(ctx); err != nil {
		k.t.Errorf("testenv: restart the shared Kafka broker after the test: %v", err)
	}
}

// Addrs returns the bootstrap address.
func (k *RealKafkaBroker) Addrs() []string { return k.b.Addrs() }

// Broker exposes the process for what the test helpers do not cover.
func (k *RealKafkaBroker) Broker() *kafkabroker.Broker { return k.b }

// Stop stops the broker gracefully (as an outage); Start brings it back.
func (k *RealKafkaBroker) Stop() {
	k.t.Helper()
	if err := k.b.Stop(); err != nil {
		k.t.Fatalf("testenv: stop Kafka: %v", err)
	}
}

// Start starts the stopped broker again on the same port with its data.
func (k *RealKafkaBroker) Start() {
	k.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	if err := k.b.Start(ctx); err != nil {
		k.t.Fatalf("testenv: restart Kafka: %v", err)
	}
}

// CreateTopics creates more topics for the test, deleted when it ends. They
// keep their records whatever their age, as kfake does: tests write
// recordings and fixtures with their original event times (July 2026 and
// older), and with a time-based retention the broker's retention check
// (every 5 minutes) deleted whole partitions of a test's topic mid-test.
func (k *RealKafkaBroker) CreateTopics(partitions int32, topics ...string) {
	k.t.Helper()
	if len(topics) == 0 {
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	var specs []kafkatopics.Topic
	for _, name := range topics {
		specs = append(specs, kafkatopics.DataTopic(name, partitions, kafkatopics.RetainForever))
	}
	if err := k.b.CreateTopics(ctx, specs...); err != nil {
		k.t.Fatalf("testenv: create topics on the shared Kafka broker (names must be unique per test binary: use testenv.Topic): %v", err)
	}
	k.t.Cleanup(func() {
		// Cleanups run last-registered first, so this may come before the
		// restart registered by RealKafka.
		k.ensureRunning()
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		if err := k.b.DeleteTopics(ctx, topics...); err != nil {
			k.t.Logf("testenv: delete topics %v: %v", topics, err)
		}
	})
}

func sharedRealKafka() (*kafkabroker.Broker, error) {
	realMu.Lock()
	defer realMu.Unlock()
	if realBroker != nil || realErr != nil {
		return realBroker, realErr
	}
	// Fetching the jars on a fresh machine takes up to a minute on top.
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	realBroker, realErr = kafkabroker.Start(ctx, kafkabroker.Options{
		StartTimeout: 5 * time.Minute,
		Logger:       slog.New(slog.NewTextHandler(io.Discard, nil)),
	})
	return realBroker, realErr
}

// StopRealKafka stops the shared real broker, if one was started, and
// removes its data. Main calls it.
func StopRealKafka() {
	realMu.Lock()
	defer realMu.Unlock()
	if realBroker == nil {
		return
	}
	if err := realBroker.Close(); err != nil {
		fmt.Fprintln(os.Stderr, "testenv:", err)
	}
	realBroker, realErr = nil, nil
}

// RunWithRealKafka runs the tests through run (m.Run, or a wrapper such as
// Beam's ptest.MainRet) and then stops the shared real broker; it returns
// run's exit code. For TestMains that cannot use Main.
func RunWithRealKafka(run func() int) int {
	realMain.Store(true)
	defer StopRealKafka()
	return run()
}

var (
	topicSeq    atomic.Int64
	topicUnsafe = regexp.MustCompile(`[^a-zA-Z0-9-]+`)
)

// Topic returns a topic name unique in this test binary, derived from base
// and the test's name, so tests sharing the real broker (and -count=N
// reruns) never see each other's records. The name keeps base's '.' but
// maps the test name's other characters to '-', because Kafka refuses two
// topics that differ only in '.' versus '_'.
func Topic(t testing.TB, base string) string {
	name := strings.Trim(topicUnsafe.ReplaceAllString(t.Name(), "-"), "-")
	if len(name) > 120 {
		name = name[:120]
	}
	return base + "-" + name + "-" + strconv.FormatInt(topicSeq.Add(1), 10)
}

// KafkaServer is the Kafka-protocol server a test talks to: the in-process
// kfake cluster or the real broker.
type KafkaServer interface {
	Addrs() []string
	// Stop takes the server down, as an outage.
	Stop()
	// Start brings it back on the same address with the data it had.
	Start()
}

// KafkaKind is one implementation of Kafka that tests run against.
type KafkaKind struct {
	// Name is "kfake" or "kafka", the subtest name.
	Name string
	// Real is true for Apache Kafka.
	Real bool
	// New starts (kfake) or shares (real) a server and creates topics.
	New func(t testing.TB, partitions int32, topics ...string) KafkaServer
}

// KafkaKinds are the Kafka implementations tests run against: kfake, which
// is fast and can inject faults, and a real Apache Kafka broker, which is
// what production runs. TRENDSTREAM_TEST_KAFKA=kfake or =kafka narrows it to
// one while working on a test; the default (and CI) runs both.
func KafkaKinds() []KafkaKind {
	all := []KafkaKind{
		{Name: "kfake", New: func(t testing.TB, partitions int32, topics ...string) KafkaServer {
			return FakeKafka(t, partitions, topics...)
		}},
		{Name: "kafka", Real: true, New: func(t testing.TB, partitions int32, topics ...string) KafkaServer {
			return RealKafka(t, partitions, topics...)
		}},
	}
	only := os.Getenv("TRENDSTREAM_TEST_KAFKA")
	if only == "" || only == "both" {
		return all
	}
	for _, k := range all {
		if k.Name == only {
			return []KafkaKind{k}
		}
	}
	panic(fmt.Sprintf("testenv: TRENDSTREAM_TEST_KAFKA=%q: want kfake, kafka or both", only))
}

// ForEachKafka runs body as one subtest per Kafka kind.
func ForEachKafka(t *testing.T, body func(t *testing.T, kind KafkaKind)) {
	t.Helper()
	for _, k := range KafkaKinds() {
		t.Run(k.Name, func(t *testing.T) { body(t, k) })
	}
}

// FakeKafkaCluster is an in-process kfake cluster that can be stopped and
// started again on the same port with its data, like the real broker.
type FakeKafkaCluster struct {
	t    testing.TB
	dir  string
	port int
	mu   sync.Mutex
	c    *kafkalocal.Cluster
}

// FakeKafka starts a kfake cluster persisted in a temporary directory (so
// Stop and Start keep its data) with the topics created.
func FakeKafka(t testing.TB, partitions int32, topics ...string) *FakeKafkaCluster {
	t.Helper()
	f := &FakeKafkaCluster{t: t, dir: t.TempDir()}
	opts := []kafkalocal.Option{kafkalocal.DataDir(f.dir)}
	if len(topics) > 0 {
		opts = append(opts, kafkalocal.Topics(partitions, topics...))
	}
	c, err := kafkalocal.Start(opts...)
	if err != nil {
		t.Fatalf("testenv: start Kafka-protocol cluster: %v", err)
	}
	f.c = c
	_, port, _ := net.SplitHostPort(c.Addrs()[0])
	f.port, _ = strconv.Atoi(port)
	t.Cleanup(func() {
		f.mu.Lock()
		defer f.mu.Unlock()
		if f.c != nil {
			f.c.Close()
			f.c = nil
		}
	})
	return f
}

// Addrs returns the bootstrap address; it stays the same across Stop/Start.
func (f *FakeKafkaCluster) Addrs() []string {
	return []string{net.JoinHostPort("127.0.0.1", strconv.Itoa(f.port))}
}

// Kfake exposes the running cluster for fault injection.
func (f *FakeKafkaCluster) Kfake() *kfake.Cluster {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.c == nil {
		return nil
	}
	return f.c.Kfake()
}

// Stop closes the cluster, flushing its data to disk.
func (f *FakeKafkaCluster) Stop() {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.c != nil {
		f.c.Close()
		f.c = nil
	}
}

// Start reopens the cluster on the same port from its data.
func (f *FakeKafkaCluster) Start() {
	f.t.Helper()
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.c != nil {
		return
	}
	c, err := kafkalocal.Start(kafkalocal.Port(f.port), kafkalocal.DataDir(f.dir))
	if err != nil {
		f.t.Fatalf("testenv: restart Kafka-protocol cluster on port %d: %v", f.port, err)
	}
	f.c = c
}
