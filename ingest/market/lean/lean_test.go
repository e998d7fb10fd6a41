package lean

import (
	"context"
	"errors"
	"io"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/trendstream/trendstream/ingest/market"
	v1 "github.com/trendstream/trendstream/proto/trendstream/v1"
)

// recorder is a market.Handler that keeps everything it is given.
type recorder struct {
	mu     sync.Mutex
	trades []*v1.MarketEvent
	bad    []market.BadInput
	// failAfter, if > 0, makes the Nth trade fail (a broken sink).
	failAfter int
}

var errSink = errors.New("sink broke")

func (r *recorder) Trade(_ context.Context, ev *v1.MarketEvent) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.failAfter > 0 && len(r.trades)+1 == r.failAfter {
		return errSink
	}
	r.trades = append(r.trades, ev)
	return nil
}

func (r *recorder) Bad(_ context.Context, b market.BadInput) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.bad = append(r.bad, b)
	return nil
}

func utc(s string) time.Time {
	t, err := time.Parse(time.RFC3339Nano, s)
	if err != nil {
		panic(err)
	}
	return t
}

func TestDecodeRow(t *testing.T) {
	oct7 := FileInfo{Symbol: "AIG", Day: time.Date(2013, 10, 7, 0, 0, 0, 0, Eastern)}
	tests := []struct {
		name      string
		row       string
		wantErr   string // substring; empty = success
		wantField int
		check     func(t *testing.T, ev *v1.MarketEvent)
	}{
		{name: "first AIG trade of 2013-10-07", row: "14400688,491800,300,P,2000,0", check: func(t *testing.T, ev *v1.MarketEvent) {
			// 04:00:00.688 EDT (UTC-4) is 08:00:00.688 UTC.
			if got, want := ev.GetEventTime().AsTime(), utc("2013-10-07T08:00:00.688Z"); !got.Equal(want) {
				t.Errorf("event time %v, want %v", got, want)
			}
			if ev.GetPrice() != 491800 || ev.GetPriceScale() != 4 || ev.GetCurrency() != "USD" || market.FormatPrice(ev.GetPrice()) != "49.1800" {
				t.Errorf("price %d scale %d %s", ev.GetPrice(), ev.GetPriceScale(), ev.GetCurrency())
			}
			if ev.GetSize() != 300 || ev.GetExchange() != "P" || len(ev.GetConditions()) != 1 || ev.GetConditions()[0] != "2000" || ev.GetSuspicious() || ev.GetSymbol() != "AIG" || ev.GetSequence() != 7 {
				t.Errorf("fields: %v", ev)
			}
			if ev.GetSource() != v1.MarketSource_MARKET_SOURCE_LEAN_REPLAY {
				t.Errorf("source %v", ev.GetSource())
			}
		}},
		{name: "suspicious", row: "34200000,487000,100,Q,20000020,1", check: func(t *testing.T, ev *v1.MarketEvent) {
			if !ev.GetSuspicious() {
				t.Error("suspicious flag lost")
			}
			if got, want := ev.GetEventTime().AsTime(), utc("2013-10-07T13:30:00Z"); !got.Equal(want) {
				t.Errorf("09:30 EDT: %v, want %v", got, want)
			}
		}},
		{name: "CRLF line end", row: "34200000,487000,100,Q,0,0\r", check: func(*testing.T, *v1.MarketEvent) {}},
		{name: "too few fields", row: "1,2,3", wantErr: "want 6 comma-separated fields, got 3"},
		{name: "too many fields", row: "1,2,3,4,5,6,7", wantErr: "got 7"},
		{name: "time not a number", row: "x,487000,100,Q,0,0", wantErr: "field 1 (ms since midnight ET)", wantField: 1},
		{name: "time past the day", row: "86400000,487000,100,Q,0,0", wantErr: "outside one day", wantField: 1},
		{name: "negative time", row: "-1,487000,100,Q,0,0", wantErr: "outside one day", wantField: 1},
		{name: "price not an integer", row: "1,48.7,100,Q,0,0", wantErr: "field 2 (price×10000)", wantField: 2},
		{name: "zero price", row: "1,0,100,Q,0,0", wantErr: "want > 0", wantField: 2},
		{name: "zero size", row: "1,487000,0,Q,0,0", wantErr: "field 3 (quantity)", wantField: 3},
		{name: "no exchange", row: "1,487000,1,,0,0", wantErr: "field 4 (exchange): empty", wantField: 4},
		{name: "bad suspicious flag", row: "1,487000,1,Q,0,yes", wantErr: `field 6 (suspicious): "yes": want 0 or 1`, wantField: 6},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ev, err := DecodeRow(oct7, 7, []byte(tt.row))
			if tt.wantErr == "" {
				if err != nil {
					t.Fatal(err)
				}
				tt.check(t, ev)
				return
			}
			var re *RowError
			if !errors.As(err, &re) || !strings.Contains(err.Error(), tt.wantErr) || re.Line != 7 || re.Field != tt.wantField {
				t.Fatalf("err %v (field %v), want a RowError at line 7 field %d containing %q", err, re, tt.wantField, tt.wantErr)
			}
		})
	}
}

// TestWallClockDST checks that LEAN's ms-since-midnight is read as an
// Eastern wall clock on both sides of, and across, DST changes.
func TestWallClockDST(t *testing.T) {
	tests := []struct {
		day  time.Time
		ms   int64
		want string
	}{
		{time.Date(2013, 10, 7, 0, 0, 0, 0, Eastern), 34_200_000, "2013-10-07T13:30:00Z"},     // EDT
		{time.Date(2013, 12, 2, 0, 0, 0, 0, Eastern), 34_200_000, "2013-12-02T14:30:00Z"},     // EST
		{time.Date(2013, 3, 10, 0, 0, 0, 0, Eastern), 34_200_000, "2013-03-10T13:30:00Z"},     // spring-forward day, after the change
		{time.Date(2013, 3, 10, 0, 0, 0, 0, Eastern), 3_600_000, "2013-03-10T06:00:00Z"},      // before it: 01:00 EST
		{time.Date(2013, 11, 3, 0, 0, 0, 0, Eastern), 1_800_000, "2013-11-03T04:30:00Z"},      // fall-back day, 00:30 EDT
		{time.Date(2013, 11, 3, 0, 0, 0, 0, Eastern), 10_800_000, "2013-11-03T08:00:00Z"},     // 03:00 EST: a wall clock, not midnight+3h elapsed (07:00Z)
		{time.Date(2013, 11, 3, 0, 0, 0, 0, Eastern), 72_000_123, "2013-11-04T01:00:00.123Z"}, // 20:00:00.123 EST
	}
	for _, tt := range tests {
		if got := WallClock(tt.day, tt.ms); !got.Equal(utc(tt.want)) {
			t.Errorf("WallClock(%s, %d) = %v, want %s", tt.day.Format("2006-01-02"), tt.ms, got.UTC(), tt.want)
		}
	}
}

func TestFileNames(t *testing.T) {
	tests := []struct {
		name, sym, day string
		zip            bool
		wantErr        bool
	}{
		{name: "20131007_aig_Trade_Tick.csv", sym: "AIG", day: "2013-10-07"},
		{name: "dir/20131007_BRK.B_trade_tick.CSV", sym: "BRK.B", day: "2013-10-07"},
		{name: "aig_20131007_trade.zip", sym: "AIG", day: "2013-10-07", zip: true},
		{name: "20131007_trade.zip", zip: true, wantErr: true},
		{name: "20131399_aig_Trade_Tick.csv", wantErr: true},
		{name: "aig.csv", wantErr: true},
	}
	for _, tt := range tests {
		parse := ParseCSVName
		if tt.zip {
			parse = ParseZipName
		}
		fi, err := parse(tt.name)
		if (err != nil) != tt.wantErr {
			t.Errorf("%s: err %v, wantErr %v", tt.name, err, tt.wantErr)
			continue
		}
		if err == nil && (fi.Symbol != tt.sym || fi.Day.Format("2006-01-02") != tt.day || fi.Day.Location() != Eastern) {
			t.Errorf("%s: %+v", tt.name, fi)
		}
	}
}

// TestReplayRealFile replays the recorded AIG day: every one of its trades
// arrives, in file order, none is reported bad.
func TestReplayRealFile(t *testing.T) {
	r, err := New(Config{Path: "testdata/aig_20131007_trade.zip"})
	if err != nil {
		t.Fatal(err)
	}
	var rec recorder
	if err := r.Run(context.Background(), &rec); err != nil {
		t.Fatal(err)
	}
	if len(rec.trades) != 25351 || len(rec.bad) != 0 { // SOURCES.md §6
		t.Fatalf("%d trades, %d bad; want 25351, 0", len(rec.trades), len(rec.bad))
	}
	first, last := rec.trades[0], rec.trades[len(rec.trades)-1]
	if !market.EventTime(first).Equal(utc("2013-10-07T08:00:00.688Z")) || first.GetPrice() != 491800 {
		t.Errorf("first trade %v", first)
	}
	if !market.EventTime(last).Equal(utc("2013-10-07T23:59:57.520Z")) || last.GetPrice() != 487900 || last.GetSequence() != 25351 {
		t.Errorf("last trade %v at %v", last, market.EventTime(last))
	}
	for i, ev := range rec.trades {
		if err := market.Validate(ev); err != nil {
			t.Fatalf("trade %d: %v", i, err)
		}
		if ev.GetObservedAt() == nil {
			t.Fatalf("trade %d: no observed_at", i)
		}
	}
}

// TestReplayMergesFilesByTime replays two symbols' days as one stream in
// event-time order.
func TestReplayMergesFilesByTime(t *testing.T) {
	r, err := New(Config{Path: "testdata", Symbols: []string{"aig", "IBM"}})
	if err != nil {
		t.Fatal(err)
	}
	var rec recorder
	if err := r.Run(context.Background(), &rec); err != nil {
		t.Fatal(err)
	}
	if len(rec.bad) != 0 {
		t.Fatalf("bad inputs: %v", rec.bad)
	}
	count := map[string]int{}
	for i, ev := range rec.trades {
		count[ev.GetSymbol()]++
		if i > 0 && market.EventTime(ev).Before(market.EventTime(rec.trades[i-1])) {
			t.Fatalf("trade %d (%s %v) before trade %d", i, ev.GetSymbol(), market.EventTime(ev), i-1)
		}
	}
	if count["AIG"] != 25351 || count["IBM"] != 24293 || len(count) != 2 {
		t.Fatalf("counts %v, want AIG 25351, IBM 24293", count)
	}
}

// TestReplayBadRows: every bad row is reported with its position and raw
// bytes, and every good row around it still arrives.
func TestReplayBadRows(t *testing.T) {
	r, err := New(Config{Path: "testdata/20131103_xyz_Trade_Tick.csv"})
	if err != nil {
		t.Fatal(err)
	}
	var rec recorder
	if err := r.Run(context.Background(), &rec); err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, ev := range rec.trades {
		got = append(got, market.EventTime(ev).UTC().Format(time.RFC3339)+" "+market.FormatPrice(ev.GetPrice()))
	}
	want := []string{"2013-11-03T04:30:00Z 10.0000", "2013-11-03T08:00:00Z 10.0100", "2013-11-03T08:30:00Z 10.0300"}
	if strings.Join(got, "|") != strings.Join(want, "|") {
		t.Errorf("trades %v, want %v", got, want)
	}
	if !rec.trades[2].GetSuspicious() || rec.trades[2].GetSequence() != 10 {
		t.Errorf("last trade %v", rec.trades[2])
	}
	wantBad := []struct {
		line, raw, err string
	}{
		{":3", "not,a,row", "want 6 comma-separated fields"},
		{":4", "10800001,abc,5,Q,0,0", "field 2"},
		{":5", "10800002,100200,0,Q,0,0", "field 3"},
		{":6", "10800003,100200,5,,0,0", "field 4"},
		{":7", "10800004,100200,5,Q,0,2", "field 6"},
		{":8", "86400000,100200,5,Q,0,0", "field 1"},
	}
	if len(rec.bad) != len(wantBad) {
		t.Fatalf("%d bad inputs, want %d: %v", len(rec.bad), len(wantBad), rec.bad)
	}
	for i, w := range wantBad {
		b := rec.bad[i]
		if !strings.HasSuffix(b.Position, w.line) || string(b.Raw) != w.raw || !strings.Contains(b.Err.Error(), w.err) || b.Source != r.Name() {
			t.Errorf("bad %d: %+v, want position …%s raw %q err ~%q", i, b, w.line, w.raw, w.err)
		}
	}
}

// TestReplayUnreadableFileIsReported: a file that is not a zip is one bad
// input; the other files still play.
func TestReplayUnreadableFileIsReported(t *testing.T) {
	dir := t.TempDir()
	copyFile(t, "testdata/ibm_20131007_trade.zip", dir+"/ibm_20131007_trade.zip")
	writeFile(t, dir+"/aig_20131008_trade.zip", "this is not a zip")
	r, err := New(Config{Path: dir})
	if err != nil {
		t.Fatal(err)
	}
	var rec recorder
	if err := r.Run(context.Background(), &rec); err != nil {
		t.Fatal(err)
	}
	if len(rec.trades) != 24293 || len(rec.bad) != 1 || !strings.Contains(rec.bad[0].Err.Error(), "aig_20131008_trade.zip") {
		t.Fatalf("%d trades, bad %v", len(rec.trades), rec.bad)
	}
}

// TestReplaySinkErrorStops: a failing handler stops the replay with its
// error rather than reading on.
func TestReplaySinkErrorStops(t *testing.T) {
	r, err := New(Config{Path: "testdata/aig_20131007_trade.zip"})
	if err != nil {
		t.Fatal(err)
	}
	rec := recorder{failAfter: 100}
	if err := r.Run(context.Background(), &rec); !errors.Is(err, errSink) {
		t.Fatalf("err %v, want %v", err, errSink)
	}
	if len(rec.trades) != 99 {
		t.Fatalf("%d trades before the failure, want 99", len(rec.trades))
	}
}

// TestReplayPacing checks the schedule against a fake clock: at speed 60
// a recorded minute takes a second.
func TestReplayPacing(t *testing.T) {
	dir := t.TempDir()
	writeFile(t, dir+"/20131007_abc_Trade_Tick.csv", "34200000,10000,1,Q,0,0\n34260000,10000,1,Q,0,0\n34260000,10000,1,Q,0,0\n34320000,10000,1,Q,0,0\n")
	now := time.Date(2026, 12, 2, 0, 0, 0, 0, time.UTC)
	var slept []time.Duration
	r, err := New(Config{Path: dir, Speed: 60,
		Now: func() time.Time { return now },
		Sleep: func(_ context.Context, d time.Duration) error {
			slept = append(slept, d)
			now = now.Add(d)
			return nil
		}})
	if err != nil {
		t.Fatal(err)
	}
	var rec recorder
	if err := r.Run(context.Background(), &rec); err != nil {
		t.Fatal(err)
	}
	if len(rec.trades) != 4 || len(slept) != 2 || slept[0] != time.Second || slept[1] != time.Second {
		t.Fatalf("%d trades, slept %v; want 4 trades and [1s 1s]", len(rec.trades), slept)
	}
	if got := rec.trades[3].GetObservedAt().AsTime(); !got.Equal(time.Date(2026, 12, 2, 0, 0, 2, 0, time.UTC)) {
		t.Errorf("observed_at of the last trade %v", got)
	}
}

func TestReplayCancel(t *testing.T) {
	r, err := New(Config{Path: "testdata/aig_20131007_trade.zip", Speed: 1})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	var rec recorder
	if err := r.Run(ctx, &rec); !errors.Is(err, context.Canceled) {
		t.Fatalf("err %v, want context.Canceled", err)
	}
}

func TestConfigValidate(t *testing.T) {
	for _, c := range []Config{{}, {Path: "testdata", Speed: -1}, {Path: "testdata/missing.zip"}, {Path: t.TempDir()}} {
		if _, err := New(c); err == nil {
			t.Errorf("New(%+v): no error", c)
		}
	}
}

func copyFile(t *testing.T, from, to string) {
	t.Helper()
	b, err := os.ReadFile(from)
	if err != nil {
		t.Fatal(err)
	}
	writeFile(t, to, string(b))
}

func writeFile(t *testing.T, path, s string) {
	t.Helper()
	if err := os.WriteFile(path, []byte(s), 0o644); err != nil {
		t.Fatal(err)
	}
}

// TestReaderLongRowAndNoFinalNewline: a row far longer than any real one
// is one bad row and the rows after it still arrive, and a last row
// without a newline is a row.
func TestReaderLongRowAndNoFinalNewline(t *testing.T) {
	long := "34200000," + strings.Repeat("9", 200_000) + ",1,Q,0,0"
	in := "34200000,10000,1,Q,0,0\n" + long + "\n\n34200001,10001,2,Q,0,0\r\n34200002,10002,3,Q,0,0"
	rd := NewReader(FileInfo{Symbol: "ABC", Day: time.Date(2013, 10, 7, 0, 0, 0, 0, Eastern)}, strings.NewReader(in))
	var prices []int64
	var bad []*RowError
	for {
		ev, raw, err := rd.Next()
		if errors.Is(err, io.EOF) {
			break
		}
		var re *RowError
		if errors.As(err, &re) {
			if len(raw) != MaxRowBytes {
				t.Errorf("bad row raw is %d bytes, want the first %d", len(raw), MaxRowBytes)
			}
			bad = append(bad, re)
			continue
		}
		if err != nil {
			t.Fatal(err)
		}
		prices = append(prices, ev.GetPrice())
	}
	if len(prices) != 3 || prices[0] != 10000 || prices[1] != 10001 || prices[2] != 10002 {
		t.Errorf("prices %v, want [10000 10001 10002]", prices)
	}
	if len(bad) != 1 || bad[0].Line != 2 || !strings.Contains(bad[0].Error(), "longer than 4096 bytes") {
		t.Errorf("bad rows %v, want line 2 too long", bad)
	}
}
