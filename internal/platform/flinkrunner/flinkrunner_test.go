package flinkrunner

import (
	"flag"
	"testing"
	"time"
)

func TestOptions(t *testing.T) {
	tests := []struct {
		name    string
		args    []string
		wantErr bool
		wantTop map[string]any
	}{
		{name: "default", wantTop: map[string]any{"checkpointing_interval": 10000.0, "finish_bundle_before_checkpointing": true}},
		{name: "interval", args: []string{"-flink-checkpointing-interval=2s"}, wantTop: map[string]any{"checkpointing_interval": 2000.0, "finish_bundle_before_checkpointing": true}},
		{name: "off", args: []string{"-flink-checkpointing-interval=0"}, wantTop: map[string]any{}},
		{name: "savepoint", args: []string{"-flink-savepoint-path=file:///tmp/sp/savepoint-1"}, wantTop: map[string]any{"checkpointing_interval": 10000.0, "finish_bundle_before_checkpointing": true, "savepoint_path": "file:///tmp/sp/savepoint-1"}},
		{name: "negative", args: []string{"-flink-checkpointing-interval=-1s"}, wantErr: true},
		{name: "too short", args: []string{"-flink-checkpointing-interval=1ms"}, wantErr: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			o := DefaultOptions()
			fs := flag.NewFlagSet("x", flag.ContinueOnError)
			o.RegisterFlags(fs)
			if err := fs.Parse(tt.args); err != nil {
				t.Fatal(err)
			}
			if err := o.Validate(); (err != nil) != tt.wantErr {
				t.Fatalf("Validate() = %v, want error %v", err, tt.wantErr)
			}
			if tt.wantErr {
				return
			}
			top := o.top()
			if len(top) != len(tt.wantTop) {
				t.Fatalf("top() = %v, want %v", top, tt.wantTop)
			}
			for k, v := range tt.wantTop {
				if got := top[k].AsInterface(); got != v {
					t.Errorf("top()[%q] = %v, want %v", k, got, v)
				}
			}
		})
	}
	if d := DefaultOptions().CheckpointingInterval; d != 10*time.Second {
		t.Errorf("default interval %v: flink/cluster/cluster.sh and flink/conf/config.yaml checkpoint every 10 s", d)
	}
}
