package kafkaio

import (
	"flag"
	"io"
	"testing"
	"time"
)

func TestParseStart(t *testing.T) {
	at := time.Date(2026, 11, 27, 12, 30, 0, 0, time.UTC)
	tests := []struct {
		in      string
		want    Start
		wantErr bool
	}{
		{in: "committed", want: Start{Kind: StartCommitted}},
		{in: "", want: Start{Kind: StartCommitted}},
		{in: "EARLIEST", want: Start{Kind: StartEarliest}},
		{in: " latest ", want: Start{Kind: StartLatest}},
		{in: "2026-11-27T12:30:00Z", want: StartAt(at)},
		{in: "2026-11-27T13:30:00+01:00", want: StartAt(at)},
		{in: "yesterday", wantErr: true},
		{in: "2026-11-27", wantErr: true},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			got, err := ParseStart(tt.in)
			if (err != nil) != tt.wantErr {
				t.Fatalf("ParseStart(%q) error = %v, want error %v", tt.in, err, tt.wantErr)
			}
			if err != nil {
				return
			}
			if got.Kind != tt.want.Kind || !got.Time.Equal(tt.want.Time) {
				t.Fatalf("ParseStart(%q) = %+v, want %+v", tt.in, got, tt.want)
			}
			// String must round-trip through ParseStart.
			again, err := ParseStart(got.String())
			if err != nil || again.Kind != got.Kind || !again.Time.Equal(got.Time) {
				t.Fatalf("round trip of %q via %q = %+v, %v", tt.in, got.String(), again, err)
			}
		})
	}
}

func TestStartIsFlagValue(t *testing.T) {
	fs := flag.NewFlagSet("x", flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	s := Start{Kind: StartCommitted}
	fs.Var(&s, "start", "where to start")
	if err := fs.Parse([]string{"-start", "2026-01-02T03:04:05Z"}); err != nil {
		t.Fatal(err)
	}
	if s.Kind != StartAtTime || s.Time.Unix() != time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC).Unix() {
		t.Fatalf("got %+v", s)
	}
	if err := fs.Parse([]string{"-start", "bogus"}); err == nil {
		t.Fatal("bogus start accepted")
	}
}

func TestStartOffset(t *testing.T) {
	// A partition whose retained log is [100, 200).
	base := partitionOffsets{Earliest: 100, Latest: 200, Committed: -1, AtTime: -1}
	with := func(f func(*partitionOffsets)) partitionOffsets { o := base; f(&o); return o }
	at := StartAt(time.Unix(1, 0))
	tests := []struct {
		name  string
		start Start
		o     partitionOffsets
		want  int64
	}{
		{"earliest", Start{Kind: StartEarliest}, base, 100},
		{"latest", Start{Kind: StartLatest}, base, 200},
		{"committed inside the log", Start{Kind: StartCommitted}, with(func(o *partitionOffsets) { o.Committed = 150 }), 150},
		{"committed at the end", Start{Kind: StartCommitted}, with(func(o *partitionOffsets) { o.Committed = 200 }), 200},
		{"nothing committed falls back to earliest", Start{Kind: StartCommitted}, base, 100},
		{"commit deleted by retention falls back to earliest", Start{Kind: StartCommitted}, with(func(o *partitionOffsets) { o.Committed = 50 }), 100},
		{"commit beyond the log (topic recreated) falls back to earliest", Start{Kind: StartCommitted}, with(func(o *partitionOffsets) { o.Committed = 500 }), 100},
		{"time inside the log", at, with(func(o *partitionOffsets) { o.AtTime = 120 }), 120},
		{"time after every record starts at the end", at, base, 200},
		{"time before retention clamps to earliest", at, with(func(o *partitionOffsets) { o.AtTime = 10 }), 100},
		{"empty partition", Start{Kind: StartEarliest}, partitionOffsets{Earliest: 0, Latest: 0, Committed: -1, AtTime: -1}, 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := startOffset(tt.start, tt.o); got != tt.want {
				t.Fatalf("startOffset(%v, %+v) = %d, want %d", tt.start, tt.o, got, tt.want)
			}
		})
	}
}

func TestReadOptionsValidate(t *testing.T) {
	tests := []struct {
		name string
		opts []ReadOption
		ok   bool
	}{
		{"defaults", nil, true},
		{"committed without group", []ReadOption{ReadStart(Start{Kind: StartCommitted})}, false},
		{"committed with group", []ReadOption{ReadStart(Start{Kind: StartCommitted}), ReadGroup("g")}, true},
		{"time without time", []ReadOption{ReadStart(Start{Kind: StartAtTime})}, false},
		{"zero max records", []ReadOption{ReadMaxRecords(0)}, false},
		{"zero max duration", []ReadOption{ReadMaxDuration(0)}, false},
		{"negative out of order", []ReadOption{ReadOutOfOrder(-time.Second)}, false},
		{"zero fetch bytes", []ReadOption{ReadFetchBytes(0)}, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			o := defaultReadOptions()
			for _, opt := range tt.opts {
				opt(&o)
			}
			if err := o.validate(); (err == nil) != tt.ok {
				t.Fatalf("validate() = %v, want ok %v", err, tt.ok)
			}
		})
	}
}
