package kafkabroker_test

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"github.com/trendstream/trendstream/internal/platform/kafkatopics"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/IBM/sarama"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/timestamppb"

	"github.com/trendstream/trendstream/internal/platform/kafkaconf"
	"github.com/trendstream/trendstream/internal/services/kafkabroker"
	"github.com/trendstream/trendstream/internal/testenv"
	tsv1 "github.com/trendstream/trendstream/proto/trendstream/v1"
)

// One broker for the package: a JVM start costs seconds.
var (
	brokerOnce sync.Once
	broker     *kafkabroker.Broker
	brokerErr  error
)

func TestMain(m *testing.M) {
	code := m.Run()
	if broker != nil {
		if err := broker.Close(); err != nil {
			fmt.Fprintln(os.Stderr, err)
			code = 1
		}
	}
	os.Exit(code)
}

func sharedBroker(t *testing.T) *kafkabroker.Broker {
	t.Helper()
	brokerOnce.Do(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
		defer cancel()
		broker, brokerErr = kafkabroker.Start(ctx, kafkabroker.Options{})
	})
	if brokerErr != nil {
		t.Fatalf("a real Kafka broker is required for this test: %v", brokerErr)
	}
	return broker
}

// TestPinnedSums: the version broker.sh pins has a committed sums file
// covering Kafka itself and the log4j binding, so a version bump without
// re-recording the sums fails here rather than on a fresh machine.
func TestPinnedSums(t *testing.T) {
	script, err := os.ReadFile("../../../deploy/kafka/broker.sh")
	if err != nil {
		t.Fatal(err)
	}
	m := regexp.MustCompile(`(?m)^KAFKA_VERSION=(\S+)$`).FindSubmatch(script)
	if m == nil {
		t.Fatal("no KAFKA_VERSION= line in broker.sh")
	}
	version := string(m[1])
	sums, err := os.ReadFile(filepath.Join("../../../deploy/kafka", "kafka-"+version+".sha256"))
	if err != nil {
		t.Fatalf("broker.sh pins Kafka %s but its sums file is missing: %v", version, err)
	}
	jars := map[string]bool{}
	sc := bufio.NewScanner(bytes.NewReader(sums))
	for sc.Scan() {
		f := strings.Fields(sc.Text())
		if len(f) != 2 || len(f[0]) != 64 {
			t.Fatalf("malformed sums line %q", sc.Text())
		}
		jars[f[1]] = true
	}
	for _, want := range []string{"kafka_2.13-" + version + ".jar", "kafka-clients-" + version + ".jar", "kafka-server-" + version + ".jar"} {
		if !jars[want] {
			t.Errorf("sums file lacks %s", want)
		}
	}
	binding := false
	for j := range jars {
		binding = binding || strings.HasPrefix(j, "log4j-slf4j-impl-")
	}
	if !binding {
		t.Error("sums file lacks the slf4j binding log4j-slf4j-impl: the broker would log nothing")
	}
}

// TestRestartKeepsDataAndPorts produces with the production sarama config,
// restarts the broker, and finds the same records at the same offsets on the
// same address; committed group offsets survive too.
func TestRestartKeepsDataAndPorts(t *testing.T) {
	b := sharedBroker(t)
	ctx := context.Background()
	topic := kafkatopics.DataTopic("restart-"+fmt.Sprint(time.Now().UnixNano()), 2, kafkatopics.PostsRetention)
	if err := b.CreateTopics(ctx, topic); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = b.DeleteTopics(context.Background(), topic.Name) })
	if err := b.CreateTopics(ctx, topic); err == nil || !strings.Contains(err.Error(), "TOPIC_ALREADY_EXISTS") {
		t.Errorf("creating an existing topic: err = %v, want TOPIC_ALREADY_EXISTS", err)
	}

	prod, err := sarama.NewSyncProducer(b.Addrs(), kafkaconf.Producer("kafkabroker-test"))
	if err != nil {
		t.Fatal(err)
	}
	// A timestamp months in the past: Kafka 4 checks record timestamps
	// against the broker clock, and recordings are old.
	old := time.Date(2024, 1, 2, 3, 4, 5, 0, time.UTC)
	var msgs []*sarama.ProducerMessage
	for i := range 50 {
		msgs = append(msgs, &sarama.ProducerMessage{Topic: topic.Name, Key: sarama.StringEncoder(fmt.Sprintf("k%d", i%7)),
			Value: sarama.StringEncoder(fmt.Sprintf("v%d", i)), Timestamp: old.Add(time.Duration(i) * time.Second)})
	}
	// And one far in the future, beyond Kafka 4's default one-hour limit.
	msgs = append(msgs, &sarama.ProducerMessage{Topic: topic.Name, Key: sarama.StringEncoder("future"),
		Value: sarama.StringEncoder("future"), Timestamp: time.Now().Add(48 * time.Hour)})
	if err := prod.SendMessages(msgs); err != nil {
		t.Fatalf("produce: %v", err)
	}
	prod.Close()
	want := map[string]string{}
	for _, m := range msgs {
		k, _ := m.Key.Encode()
		v, _ := m.Value.Encode()
		want[fmt.Sprintf("%d/%d", m.Partition, m.Offset)] = string(k) + "=" + string(v)
	}
	commit(t, b.Addrs(), "g", topic.Name, 0, 7)

	addr, pid := b.Addr(), b.PID()
	t0 := time.Now()
	if err := b.Restart(ctx); err != nil {
		t.Fatal(err)
	}
	t.Logf("restart took %v", time.Since(t0).Round(time.Millisecond))
	if b.Addr() != addr || b.PID() == pid || b.PID() == 0 {
		t.Fatalf("after restart addr %s pid %d; before %s pid %d", b.Addr(), b.PID(), addr, pid)
	}
	got := readTopic(t, b.Addrs(), topic.Name)
	if len(got) != len(want) {
		t.Fatalf("after restart %d records, want %d", len(got), len(want))
	}
	for pos, kv := range want {
		if got[pos] != kv {
			t.Errorf("record at %s = %q, want %q", pos, got[pos], kv)
		}
	}
	if off := committed(t, b.Addrs(), "g", topic.Name, 0); off != 7 {
		t.Errorf("committed offset after restart = %d, want 7", off)
	}
}

// TestStackTopics creates the Compose stack's topics (under a prefix) and
// checks the broker applied create-topics.sh's partitions and configs.
func TestStackTopics(t *testing.T) {
	b := sharedBroker(t)
	ctx := context.Background()
	prefix := fmt.Sprintf("stack%d.", time.Now().UnixNano())
	var topics []kafkatopics.Topic
	var names []string
	for _, tp := range kafkatopics.StackTopics() {
		tp.Name = prefix + tp.Name
		topics = append(topics, tp)
		names = append(names, tp.Name)
	}
	if err := b.CreateTopics(ctx, topics...); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = b.DeleteTopics(context.Background(), names...) })
	admin, err := sarama.NewClusterAdmin(b.Addrs(), kafkaconf.Consumer("kafkabroker-test"))
	if err != nil {
		t.Fatal(err)
	}
	defer admin.Close()
	meta, err := admin.DescribeTopics(names)
	if err != nil {
		t.Fatal(err)
	}
	parts := map[string]int{}
	for _, m := range meta {
		parts[m.Name] = len(m.Partitions)
	}
	for _, tp := range topics {
		if parts[tp.Name] != int(tp.Partitions) {
			t.Errorf("%s has %d partitions, want %d", tp.Name, parts[tp.Name], tp.Partitions)
		}
		res, err := admin.DescribeConfigs([]*sarama.ConfigResource{{Type: sarama.TopicResource, Name: tp.Name}}, sarama.DescribeConfigsOptions{})
		if err != nil {
			t.Fatal(err)
		}
		if len(res) != 1 || res[0].ErrorCode != sarama.ErrNoError {
			t.Fatalf("describe configs of %s: %+v", tp.Name, res)
		}
		have := map[string]string{}
		for _, e := range res[0].Configs {
			have[e.Name] = e.Value
		}
		for k, v := range tp.Configs {
			if have[k] != v {
				t.Errorf("%s: %s = %q, want %q", tp.Name, k, have[k], v)
			}
		}
	}
}

// TestKcatCrossCheck: an independent client (librdkafka's kcat) reads what
// sarama produced to the real broker, byte for byte with key and timestamp,
// and sarama reads what kcat produced with librdkafka's idempotent lz4
// producer.
func TestKcatCrossCheck(t *testing.T) {
	kcat, err := exec.LookPath("kcat")
	if err != nil {
		t.Fatal("kcat is required for this test (apt-get install kcat, or make deps)")
	}
	b := sharedBroker(t)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	topic := fmt.Sprintf("kcat-%d", time.Now().UnixNano())
	if err := b.CreateTopics(ctx, kafkatopics.DataTopic(topic, 1, kafkatopics.PostsRetention)); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = b.DeleteTopics(context.Background(), topic) })

	base := time.Date(2025, 7, 4, 14, 38, 6, 0, time.UTC)
	var sent []*sarama.ProducerMessage
	var want [][]byte
	for i := range 20 {
		p := &tsv1.Post{
			Uri:        fmt.Sprintf("at://did:plc:author%d/app.bsky.feed.post/3k%d", i%3, i),
			AuthorDid:  fmt.Sprintf("did:plc:author%d", i%3),
			Text:       fmt.Sprintf("post %d über #Kafka 日本語 🚀", i),
			ObservedAt: timestamppb.New(base.Add(time.Duration(i) * time.Second)),
			Cursor:     int64(31527015322 + i),
		}
		v, err := proto.Marshal(p)
		if err != nil {
			t.Fatal(err)
		}
		want = append(want, v)
		sent = append(sent, &sarama.ProducerMessage{Topic: topic, Key: sarama.StringEncoder(p.AuthorDid),
			Value: sarama.ByteEncoder(v), Timestamp: p.ObservedAt.AsTime()})
	}
	prod, err := sarama.NewSyncProducer(b.Addrs(), kafkaconf.Producer("kafkabroker-test"))
	if err != nil {
		t.Fatal(err)
	}
	if err := prod.SendMessages(sent); err != nil {
		t.Fatal(err)
	}
	prod.Close()

	// Each record as key, timestamp (ms), value length, then the raw value.
	cmd := exec.CommandContext(ctx, kcat, "-C", "-b", b.Addr(), "-t", topic,
		"-o", "beginning", "-e", "-q", "-f", "%k\t%T\t%S\t%s")
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("kcat -C: %v\n%s", err, stderr.String())
	}
	for i := range want {
		hdr := bytes.SplitN(out, []byte("\t"), 4)
		if len(hdr) != 4 {
			t.Fatalf("kcat output ended after %d records, want %d", i, len(want))
		}
		var ts, n int64
		fmt.Sscan(string(hdr[1]), &ts)
		fmt.Sscan(string(hdr[2]), &n)
		if int64(len(hdr[3])) < n {
			t.Fatalf("record %d: short value", i)
		}
		if got := hdr[3][:n]; !bytes.Equal(got, want[i]) {
			t.Errorf("record %d value differs from what sarama produced", i)
		}
		if key := string(hdr[0]); key != fmt.Sprintf("did:plc:author%d", i%3) {
			t.Errorf("record %d key %q", i, key)
		}
		if wantTS := base.Add(time.Duration(i) * time.Second).UnixMilli(); ts != wantTS {
			t.Errorf("record %d timestamp %d, want %d", i, ts, wantTS)
		}
		out = hdr[3][n:]
	}
	if len(out) != 0 {
		t.Errorf("kcat returned %d bytes beyond the %d records", len(out), len(want))
	}

	// The other way round: kcat produces, sarama reads.
	cmd = exec.CommandContext(ctx, kcat, "-P", "-b", b.Addr(), "-t", topic, "-K", ":",
		"-X", "enable.idempotence=true", "-X", "compression.codec=lz4")
	cmd.Stdin = strings.NewReader("ka:one\nkb:two\nkc:three\n")
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("kcat -P: %v\n%s", err, out)
	}
	got := readTopic(t, b.Addrs(), topic)
	for i, kv := range []string{"ka=one", "kb=two", "kc=three"} {
		if pos := fmt.Sprintf("0/%d", 20+i); got[pos] != kv {
			t.Errorf("record at %s = %q, want %q (written by kcat)", pos, got[pos], kv)
		}
	}
}

func commit(t *testing.T, brokers []string, group, topic string, partition int32, offset int64) {
	t.Helper()
	cfg := kafkaconf.Consumer("kafkabroker-test")
	client, err := sarama.NewClient(brokers, cfg)
	if err != nil {
		t.Fatal(err)
	}
	defer client.Close()
	om, err := sarama.NewOffsetManagerFromClient(group, client)
	if err != nil {
		t.Fatal(err)
	}
	pom, err := om.ManagePartition(topic, partition)
	if err != nil {
		t.Fatal(err)
	}
	pom.MarkOffset(offset, "")
	om.Commit()
	pom.Close()
	if err := om.Close(); err != nil {
		t.Fatal(err)
	}
}

func committed(t *testing.T, brokers []string, group, topic string, partition int32) int64 {
	t.Helper()
	admin, err := sarama.NewClusterAdmin(brokers, kafkaconf.Consumer("kafkabroker-test"))
	if err != nil {
		t.Fatal(err)
	}
	defer admin.Close()
	resp, err := admin.ListConsumerGroupOffsets(group, map[string][]int32{topic: {partition}})
	if err != nil {
		t.Fatal(err)
	}
	return resp.GetBlock(topic, partition).Offset
}

// readTopic returns "key=value" by "partition/offset" for every record.
func readTopic(t *testing.T, brokers []string, topic string) map[string]string {
	out := map[string]string{}
	for _, m := range testenv.ReadTopic(t, brokers, topic) {
		out[fmt.Sprintf("%d/%d", m.Partition, m.Offset)] = string(m.Key) + "=" + string(m.Value)
	}
	return out
}
