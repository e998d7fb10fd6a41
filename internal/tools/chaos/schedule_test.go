package chaos

import (
	"reflect"
	"strings"
	"testing"
	"time"
)

func TestSchedule(t *testing.T) {
	base := ScheduleOptions{Seed: 1, From: 15 * time.Second, To: 135 * time.Second, Count: 6, MinOutage: 6 * time.Second, MaxOutage: 20 * time.Second}
	tests := []struct {
		name    string
		edit    func(*ScheduleOptions)
		wantErr string
	}{
		{name: "one of each kind", edit: func(*ScheduleOptions) {}},
		{name: "more faults than kinds", edit: func(o *ScheduleOptions) { o.To = 15 * time.Minute; o.Count = 20 }},
		{name: "another seed", edit: func(o *ScheduleOptions) { o.Seed = 99 }},
		{name: "too few faults", edit: func(o *ScheduleOptions) { o.Count = 5 }, wantErr: "cannot cover"},
		{name: "empty span", edit: func(o *ScheduleOptions) { o.To = o.From }, wantErr: "empty"},
		{name: "bad outages", edit: func(o *ScheduleOptions) { o.MaxOutage = time.Second }, wantErr: "outage bounds"},
		{name: "slots too short", edit: func(o *ScheduleOptions) { o.Count = 60 }, wantErr: "do not fit"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			o := base
			tc.edit(&o)
			got, err := Schedule(o)
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
					t.Fatalf("err = %v, want one containing %q", err, tc.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if len(got) != o.Count {
				t.Fatalf("%d faults, want %d", len(got), o.Count)
			}
			by := CountByKind(got)
			for _, k := range Kinds {
				if by[k] == 0 {
					t.Errorf("no %s in %v", k, got)
				}
			}
			slot := (o.To - o.From) / time.Duration(o.Count)
			for i, f := range got {
				if f.At < o.From || f.At >= o.To {
					t.Errorf("fault %d at %s, outside [%s, %s)", i, f.At, o.From, o.To)
				}
				if i > 0 && f.At <= got[i-1].At {
					t.Errorf("fault %d at %s not after fault %d at %s", i, f.At, i-1, got[i-1].At)
				}
				switch {
				case f.Kind == RelayDrop && f.Outage != 0:
					t.Errorf("a drop with outage %s", f.Outage)
				case f.Kind != RelayDrop && (f.Outage < o.MinOutage-50*time.Millisecond || f.Outage > min(o.MaxOutage, slot/2)+50*time.Millisecond):
					t.Errorf("%s outage %s outside [%s, %s]", f.Kind, f.Outage, o.MinOutage, min(o.MaxOutage, slot/2))
				}
				// Each fault ends within its slot: the next one finds the
				// system recovered.
				if f.At+f.Outage > o.From+time.Duration(i+1)*slot {
					t.Errorf("fault %d (%s + %s) overruns its slot", i, f.At, f.Outage)
				}
			}
			again, _ := Schedule(o)
			if !reflect.DeepEqual(got, again) {
				t.Error("the same options gave another schedule")
			}
		})
	}
}

func TestScheduleSeedsDiffer(t *testing.T) {
	o := ScheduleOptions{Seed: 1, From: 0, To: 10 * time.Minute, Count: 12, MinOutage: 5 * time.Second, MaxOutage: 20 * time.Second}
	a, err := Schedule(o)
	if err != nil {
		t.Fatal(err)
	}
	o.Seed = 2
	b, err := Schedule(o)
	if err != nil {
		t.Fatal(err)
	}
	if reflect.DeepEqual(a, b) {
		t.Fatal("seeds 1 and 2 gave the same schedule")
	}
}
