package flink

import (
	"fmt"
	"os"
	"strconv"
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
		{"execution.checkpointing.dir", "file:///flink-data/checkpoints"},
		{"execution.checkpointing.savepoint-dir", "file:///flink-data/savepoints"},
		{"execution.checkpointing.externalized-checkpoint-retention", "RETAIN_ON_CANCELLATION"},
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
	// Flink 2 removed the pre-1.20 names; a leftover would be silently ignored.
	for _, old := range []string{"state.checkpoints.dir", "state.savepoints.dir", "state.backend", "restart-strategy", "taskmanager.host"} {
		if _, ok := conf[old]; ok {
			t.Errorf("%s is a removed or unwanted Flink option", old)
		}
	}
}
