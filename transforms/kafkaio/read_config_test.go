package kafkaio

import (
	"flag"
	"slices"
	"testing"
	"time"
)

// TestReadConfigFlags: the pipelines register their read flags from one
// ReadConfig.
func TestReadConfigFlags(t *testing.T) {
	all := []string{"bounded", "brokers", "group", "idle-watermark", "kafka-retry-for", "max-out-of-order", "posts-topic", "read-batch", "read-poll-interval", "start", "topic-fault-timeout"}
	tests := []struct {
		name  string
		flags ReadFlags
		want  []string
	}{
		{"posts pipeline", ReadFlags{Topic: "posts-topic"}, all},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := DefaultReadConfig()
			fs := flag.NewFlagSet("x", flag.ContinueOnError)
			c.RegisterFlags(fs, tt.flags)
			var got []string
			fs.VisitAll(func(f *flag.Flag) { got = append(got, f.Name) })
			if !slices.Equal(got, tt.want) {
				t.Errorf("flags %q, want %q", got, tt.want)
			}
		})
	}
	c := DefaultReadConfig()
	fs := flag.NewFlagSet("x", flag.ContinueOnError)
	c.RegisterFlags(fs, ReadFlags{Topic: "posts-topic"})
	args := []string{"-brokers", "a:1,b:2", "-posts-topic", "p", "-start", "latest", "-group", "g", "-bounded",
		"-max-out-of-order", "2s", "-idle-watermark", "hold", "-topic-fault-timeout", "3s", "-kafka-retry-for", "4s", "-read-batch", "5", "-read-poll-interval", "6s"}
	if err := fs.Parse(args); err != nil {
		t.Fatal(err)
	}
	want := ReadConfig{Brokers: "a:1,b:2", Topic: "p", Start: Start{Kind: StartLatest}, Group: "g", Bounded: true,
		MaxOutOfOrder: 2 * time.Second, IdleWatermark: IdleHold, TopicFaultTimeout: 3 * time.Second, KafkaRetryFor: 4 * time.Second, ReadBatch: 5, PollInterval: 6 * time.Second}
	if c != want {
		t.Errorf("parsed %+v, want %+v", c, want)
	}
	if !slices.Equal(c.BrokerList(), []string{"a:1", "b:2"}) {
		t.Errorf("BrokerList() = %q", c.BrokerList())
	}
	o := defaultReadOptions()
	for _, opt := range c.Options() {
		opt(&o)
	}
	if o.Start != c.Start || o.Group != "g" || !o.Bounded || o.OutOfOrder != 2*time.Second || o.Idle != IdleHold ||
		o.FaultTimeout != 3*time.Second || o.RetryFor != 4*time.Second || o.MaxRecords != 5 || o.PollInterval != 6*time.Second {
		t.Errorf("Options() gave %+v", o)
	}
}

func TestReadConfigValidate(t *testing.T) {
	tests := []struct {
		name string
		mut  func(*ReadConfig)
		ok   bool
	}{
		{"defaults", func(*ReadConfig) {}, true},
		{"no brokers", func(c *ReadConfig) { c.Brokers = " , " }, false},
		{"no topic", func(c *ReadConfig) { c.Topic = "" }, false},
		{"read batch", func(c *ReadConfig) { c.ReadBatch = 0 }, false},
		{"retry", func(c *ReadConfig) { c.KafkaRetryFor = 0 }, false},
		{"poll interval", func(c *ReadConfig) { c.PollInterval = -time.Second }, false},
		{"no poll interval", func(c *ReadConfig) { c.PollInterval = 0 }, true},
	}
	for _, tt := range tests {
		c := DefaultReadConfig()
		tt.mut(&c)
		if err := c.Validate(); (err == nil) != tt.ok {
			t.Errorf("%s: Validate() = %v, want ok=%v", tt.name, err, tt.ok)
		}
	}
}
