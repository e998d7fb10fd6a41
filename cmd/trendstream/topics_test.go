package main

import (
	"bytes"
	"fmt"
	"io"
	"strings"
	"testing"
	"time"

	"github.com/IBM/sarama"

	"github.com/trendstream/trendstream/internal/platform/kafkaconf"
	"github.com/trendstream/trendstream/internal/testenv"
)

// TestTopicsCommand creates the topics on a real broker, checks their
// partitions and retention, and runs again: the second run leaves them.
func TestTopicsCommand(t *testing.T) {
	kc := testenv.RealKafka(t, 1)
	p := fmt.Sprintf("topicscmd%d.", time.Now().UnixNano())
	args := []string{"topics", "-brokers", strings.Join(kc.Addrs(), ","),
		"-posts-topic", p + "posts", "-trends-topic", p + "trends", "-raw-topic", "",
		"-dead-letter-topic", p + "dead", "-cursor-topic", p + "cursors", "-posts-partitions", "4"}
	for i, want := range []string{"created: 4 partitions", "exists, left as it is"} {
		var errb bytes.Buffer
		if code := run(args, io.Discard, &errb); code != 0 {
			t.Fatalf("run %d: exit %d:\n%s", i, code, errb.String())
		}
		if !strings.Contains(errb.String(), want) {
			t.Errorf("run %d: output lacks %q:\n%s", i, want, errb.String())
		}
	}
	admin, err := sarama.NewClusterAdmin(kc.Addrs(), kafkaconf.Consumer("topics-test"))
	if err != nil {
		t.Fatal(err)
	}
	defer admin.Close()
	all, err := admin.ListTopics()
	if err != nil {
		t.Fatal(err)
	}
	for name, want := range map[string]struct {
		parts     int32
		retention string
	}{p + "posts": {4, "2592000000"}, p + "trends": {3, "604800000"}, p + "dead": {1, "2592000000"}, p + "cursors": {1, ""}} {
		d, ok := all[name]
		if !ok {
			t.Errorf("%s was not created", name)
			continue
		}
		if d.NumPartitions != want.parts {
			t.Errorf("%s: %d partitions, want %d", name, d.NumPartitions, want.parts)
		}
		if got := d.ConfigEntries["retention.ms"]; want.retention != "" && (got == nil || *got != want.retention) {
			t.Errorf("%s: retention.ms %v, want %s", name, got, want.retention)
		}
	}
	if _, ok := all[p+"raw"]; ok {
		t.Error("the raw topic was created although -raw-topic was empty")
	}
	var errb bytes.Buffer
	if code := run([]string{"topics", "-brokers", strings.Join(kc.Addrs(), ","), "-posts-partitions", "0"}, io.Discard, &errb); code != 1 || !strings.Contains(errb.String(), "-posts-partitions must be at least 1") {
		t.Errorf("-posts-partitions 0: exit %d, %s", code, errb.String())
	}
}
