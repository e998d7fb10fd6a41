package flink

import (
	"fmt"
	"os"
	"strconv"
	"strings"
	"testing"

	"go.yaml.in/yaml/v3"
)

// flinkConfig reads flink/conf/config.yaml and flattens its nested keys into
// Flink's dotted option names.
func flinkConfig(t *testing.T) map[string]string {
	t.Helper()
	b, err := os.ReadFile("conf/config.yaml")
	if err != nil {
		t.Fatal(err)
	}
	var doc map[string]any
	if err := yaml.Unmarshal(b, &doc); err != nil {
		t.Fatalf("flink/conf/config.yaml: %v", err)
	}
	flat := map[string]string{}
	var walk func(prefix string, v any)
	walk = func(prefix string, v any) {
		if m, ok := v.(map[string]any); ok {
			for k, child := range m {
				if prefix != "" {
					k = prefix + "." + k
				}
				walk(k, child)
			}
			return
		}
		flat[prefix] = fmt.Sprint(v)
	}
	walk("", doc)
	return flat
}

func TestFlinkConfig(t *testing.T) {
	conf := flinkConfig(t)
	tests := []struct {
		key  string
		want string // "" means any non-empty value
	}{
		{"execution.checkpointing.interval", ""},
		{"execution.checkpointing.mode", "EXACTLY_ONCE"},
		{"state.checkpoints.dir", "file:///flink-data/checkpoints"},
		{"state.savepoints.dir", "file:///flink-data/savepoints"},
		{"state.checkpoints.num-retained", ""},
		{"execution.checkpointing.externalized-checkpoint-retention", "RETAIN_ON_CANCELLATION"},
		// Direct memory for Beam's gRPC buffers to the SDK harnesses, as in
		// flink/cluster/cluster.sh; without it the trending job fails with
		// "Cannot reserve ... bytes of direct buffer memory".
		{"taskmanager.memory.task.off-heap.size", "512m"},
		{"taskmanager.memory.process.size", ""},
		{"restart-strategy.type", "exponential-delay"},
		{"state.backend.type", "hashmap"},
		{"metrics.reporter.prom.factory.class", "org.apache.flink.metrics.prometheus.PrometheusReporterFactory"},
		{"metrics.reporter.prom.port", "9249"},
		{"rest.port", "8081"},
		{"jobmanager.rpc.address", "jobmanager"},
		{"jobmanager.bind-host", "0.0.0.0"},
		{"taskmanager.bind-host", "0.0.0.0"},
		{"rest.bind-address", "0.0.0.0"},
	}
	for _, tt := range tests {
		got, ok := conf[tt.key]
		switch {
		case !ok || got == "":
			t.Errorf("%s is not set", tt.key)
		case tt.want != "" && got != tt.want:
			t.Errorf("%s = %q, want %q", tt.key, got, tt.want)
		}
	}
	slots, err := strconv.Atoi(conf["taskmanager.numberOfTaskSlots"])
	if err != nil || slots < 1 {
		t.Errorf("taskmanager.numberOfTaskSlots = %q, want a positive number", conf["taskmanager.numberOfTaskSlots"])
	}
	par, err := strconv.Atoi(conf["parallelism.default"])
	if err != nil || par < 1 || par > slots {
		t.Errorf("parallelism.default = %q, want 1..%d so one taskmanager can run a job", conf["parallelism.default"], slots)
	}
	// The stack runs Flink 1.19 (cluster.sh's FLINK_VERSION, checked by
	// TestComposeVersionsMatch). Flink 2.x's names for the checkpoint options
	// do not exist in 1.19, which would silently ignore them.
	for _, key := range []string{
		"execution.checkpointing.dir", "execution.checkpointing.savepoint-dir", "execution.checkpointing.num-retained",
		"state.backend", "restart-strategy", "taskmanager.host",
	} {
		if _, ok := conf[key]; ok {
			t.Errorf("%s is not a Flink 1.19 option or is unwanted here", key)
		}
	}
	// Flink 1.19 reads heartbeats as plain milliseconds; "10s" stops the
	// JobManager from starting.
	for _, key := range []string{"heartbeat.interval", "heartbeat.timeout"} {
		if v, ok := conf[key]; ok {
			if _, err := strconv.ParseInt(v, 10, 64); err != nil {
				t.Errorf("%s = %q, want plain milliseconds for Flink 1.19", key, v)
			}
		}
	}
	// The TaskManager's process must leave heap beside the task off-heap
	// (TestComposeBeamOnFlink checks the container limit covers the process).
	process := megabytes(t, conf, "taskmanager.memory.process.size")
	if offHeap := megabytes(t, conf, "taskmanager.memory.task.off-heap.size"); process < offHeap+1024 {
		t.Errorf("taskmanager.memory.process.size %dm leaves too little beside %dm task off-heap", process, offHeap)
	}
	// This file replaces the image's own config.yaml, which carries the JVM
	// flags Flink needs on Java 17.
	if opts := conf["env.java.opts.all"]; !strings.Contains(opts, "--add-opens=java.base/java.util=ALL-UNNAMED") {
		t.Errorf("env.java.opts.all = %q lacks Flink's Java 17 --add-opens flags", opts)
	}
}

// megabytes reads a Flink memory size written as <n>m.
func megabytes(t *testing.T, conf map[string]string, key string) int {
	t.Helper()
	n, err := strconv.Atoi(strings.TrimSuffix(conf[key], "m"))
	if err != nil || !strings.HasSuffix(conf[key], "m") {
		t.Errorf("%s = %q, want <n>m", key, conf[key])
	}
	return n
}
