// Package lean decodes and replays QuantConnect LEAN equity tick trade
// files as MarketEvent messages.
//
// A LEAN trade file is a zip (<ticker>/<yyyymmdd>_trade.zip upstream;
// <ticker>_<yyyymmdd>_trade.zip in /work/shared/data) holding one headerless
// CSV named <yyyymmdd>_<ticker>_Trade_Tick.csv, one trade per line:
//
//	ms since midnight US/Eastern, price×10000, quantity, exchange, sale condition, suspicious (0/1)
//
// The symbol and the trading day come from the CSV's name (the zip's name
// is the fallback), so both layouts work. Times are wall-clock times in
// America/New_York: LEAN adds the milliseconds to the local midnight as a
// wall clock (DateTime.AddMilliseconds on an unzoned date), so 09:30 is
// 13:30 UTC in summer and 14:30 UTC in winter, DST included.
package lean

import (
	"archive/zip"
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"time"
	_ "time/tzdata" // America/New_York must resolve on images without zoneinfo.

	"google.golang.org/protobuf/types/known/timestamppb"

	"github.com/trendstream/trendstream/ingest/market"
	v1 "github.com/trendstream/trendstream/proto/trendstream/v1"
)

// Eastern is the time zone LEAN US equity times are recorded in.
var Eastern = mustLoad("America/New_York")

func mustLoad(name string) *time.Location {
	loc, err := time.LoadLocation(name)
	if err != nil {
		panic(fmt.Sprintf("lean: time zone %s: %v (time/tzdata is embedded, so this is a build problem)", name, err))
	}
	return loc
}

const msPerDay = 24 * 60 * 60 * 1000

var (
	csvName = regexp.MustCompile(`(?i)^(\d{8})_([a-z0-9.\-]+)_trade_tick\.csv$`)
	zipName = regexp.MustCompile(`(?i)^([a-z0-9.\-]+)_(\d{8})_trade\.zip$`)
)

// FileInfo is what a file name says: the symbol and the trading day.
type FileInfo struct {
	Symbol string
	// Day is local midnight in Eastern.
	Day time.Time
}

// ParseCSVName reads <yyyymmdd>_<ticker>_Trade_Tick.csv.
func ParseCSVName(name string) (FileInfo, error) {
	m := csvName.FindStringSubmatch(filepath.Base(name))
	if m == nil {
		return FileInfo{}, fmt.Errorf("lean: file name %q: want <yyyymmdd>_<ticker>_Trade_Tick.csv", name)
	}
	return fileInfo(m[2], m[1], name)
}

// ParseZipName reads <ticker>_<yyyymmdd>_trade.zip.
func ParseZipName(name string) (FileInfo, error) {
	m := zipName.FindStringSubmatch(filepath.Base(name))
	if m == nil {
		return FileInfo{}, fmt.Errorf("lean: file name %q: want <ticker>_<yyyymmdd>_trade.zip", name)
	}
	return fileInfo(m[1], m[2], name)
}

func fileInfo(ticker, day, name string) (FileInfo, error) {
	d, err := time.ParseInLocation("20060102", day, Eastern)
	if err != nil {
		return FileInfo{}, fmt.Errorf("lean: file name %q: date %q: %w", name, day, err)
	}
	return FileInfo{Symbol: strings.ToUpper(ticker), Day: d}, nil
}

// RowError is a CSV row that did not decode.
type RowError struct {
	// Line is 1-based.
	Line int
	// Field is the 1-based column at fault, 0 for the row as a whole.
	Field int
	Err   error
}

func (e *RowError) Error() string {
	if e.Field == 0 {
		return fmt.Sprintf("line %d: %v", e.Line, e.Err)
	}
	return fmt.Sprintf("line %d: field %d (%s): %v", e.Line, e.Field, fieldNames[e.Field-1], e.Err)
}

func (e *RowError) Unwrap() error { return e.Err }

var fieldNames = [...]string{"ms since midnight ET", "price×10000", "quantity", "exchange", "sale condition", "suspicious"}

// ErrFieldCount is the error of a row without exactly six fields.
var ErrFieldCount = errors.New("want 6 comma-separated fields")

// DecodeRow decodes one CSV line of the file described by fi. line is the
// 1-based line number, used as the event's sequence and in errors.
func DecodeRow(fi FileInfo, line int, row []byte) (*v1.MarketEvent, error) {
	row = bytes.TrimRight(row, "\r")
	f := bytes.Split(row, []byte{','})
	if len(f) != 6 {
		return nil, &RowError{Line: line, Err: fmt.Errorf("%w, got %d", ErrFieldCount, len(f))}
	}
	ms, err := strconv.ParseInt(string(f[0]), 10, 64)
	if err != nil {
		return nil, &RowError{Line: line, Field: 1, Err: err}
	}
	if ms < 0 || ms >= msPerDay {
		return nil, &RowError{Line: line, Field: 1, Err: fmt.Errorf("%d outside one day [0, %d)", ms, msPerDay)}
	}
	price, err := strconv.ParseInt(string(f[1]), 10, 64)
	if err != nil {
		return nil, &RowError{Line: line, Field: 2, Err: err}
	}
	if price <= 0 {
		return nil, &RowError{Line: line, Field: 2, Err: fmt.Errorf("%d: want > 0", price)}
	}
	size, err := strconv.ParseInt(string(f[2]), 10, 64)
	if err != nil {
		return nil, &RowError{Line: line, Field: 3, Err: err}
	}
	if size <= 0 {
		return nil, &RowError{Line: line, Field: 3, Err: fmt.Errorf("%d: want > 0", size)}
	}
	exch := strings.TrimSpace(string(f[3]))
	if exch == "" {
		return nil, &RowError{Line: line, Field: 4, Err: errors.New("empty")}
	}
	var suspicious bool
	switch string(f[5]) {
	case "0":
	case "1":
		suspicious = true
	default:
		return nil, &RowError{Line: line, Field: 6, Err: fmt.Errorf("%q: want 0 or 1", f[5])}
	}
	ev := &v1.MarketEvent{
		Symbol:     fi.Symbol,
		Price:      price, // LEAN's scale is ours: 1/10000 USD
		PriceScale: market.PriceScale,
		Currency:   "USD",
		Size:       size,
		Exchange:   exch,
		EventTime:  timestamppb.New(WallClock(fi.Day, ms)),
		Source:     v1.MarketSource_MARKET_SOURCE_LEAN_REPLAY,
		Suspicious: suspicious,
		Sequence:   int64(line),
	}
	if c := strings.TrimSpace(string(f[4])); c != "" {
		ev.Conditions = []string{c}
	}
	return ev, nil
}

// WallClock is the instant of the Eastern wall-clock time ms after the
// local midnight of day. On a DST change day this is not midnight plus ms
// of elapsed time: LEAN's times are wall-clock readings.
func WallClock(day time.Time, ms int64) time.Time {
	y, mo, d := day.Date()
	return time.Date(y, mo, d, int(ms/3_600_000), int(ms/60_000%60), int(ms/1000%60), int(ms%1000)*int(time.Millisecond), Eastern)
}

// MaxRowBytes bounds one CSV row; a longer one is a bad row (reported
// with its first bytes), and the rows after it are still read.
const MaxRowBytes = 4096

// Reader decodes one LEAN CSV stream row by row.
type Reader struct {
	fi   FileInfo
	br   *bufio.Reader
	line int
}

// NewReader reads the CSV in r, described by fi.
func NewReader(fi FileInfo, r io.Reader) *Reader {
	return &Reader{fi: fi, br: bufio.NewReaderSize(r, 64<<10)}
}

// Next returns the next row: a trade, or a *RowError with the raw row (the
// caller reports it and calls Next again), or io.EOF at the end, or another
// error when the stream itself fails (truncated zip, I/O error).
func (r *Reader) Next() (ev *v1.MarketEvent, raw []byte, err error) {
	for {
		row, tooLong, rerr := r.readRow()
		if row != nil || tooLong {
			r.line++
			switch {
			case tooLong:
				return nil, row, &RowError{Line: r.line, Err: fmt.Errorf("longer than %d bytes", MaxRowBytes)}
			case len(bytes.TrimSpace(row)) > 0: // a trailing newline is not a row
				ev, err = DecodeRow(r.fi, r.line, row)
				return ev, row, err
			}
		}
		if rerr == io.EOF {
			return nil, nil, io.EOF
		}
		if rerr != nil {
			return nil, nil, fmt.Errorf("lean: read after line %d: %w", r.line, rerr)
		}
	}
}

// readRow reads up to the next newline. A row longer than MaxRowBytes is
// read to its end and dropped but for its first MaxRowBytes bytes.
func (r *Reader) readRow() (row []byte, tooLong bool, err error) {
	for {
		chunk, err := r.br.ReadSlice('\n')
		if !tooLong {
			row = append(row, chunk...)
			if len(row) > MaxRowBytes {
				row, tooLong = row[:MaxRowBytes], true
			}
		}
		if err == bufio.ErrBufferFull {
			continue
		}
		if err == nil || (err == io.EOF && (len(row) > 0 || tooLong)) {
			return bytes.TrimRight(row, "\n"), tooLong, nil
		}
		return nil, false, err
	}
}

// OpenZip opens the one CSV of a LEAN zip and says what its name means.
func OpenZip(path string) (FileInfo, io.ReadCloser, string, error) {
	zr, err := zip.OpenReader(path)
	if err != nil {
		return FileInfo{}, nil, "", fmt.Errorf("lean: open %s: %w", path, err)
	}
	var csvs []*zip.File
	for _, f := range zr.File {
		if strings.EqualFold(filepath.Ext(f.Name), ".csv") {
			csvs = append(csvs, f)
		}
	}
	if len(csvs) != 1 {
		zr.Close()
		return FileInfo{}, nil, "", fmt.Errorf("lean: %s: want exactly one .csv inside, found %d", path, len(csvs))
	}
	fi, err := ParseCSVName(csvs[0].Name)
	if err != nil {
		if fi, err = ParseZipName(path); err != nil {
			zr.Close()
			return FileInfo{}, nil, "", fmt.Errorf("lean: %s: neither the csv nor the zip name says symbol and day: %w", path, err)
		}
	}
	rc, err := csvs[0].Open()
	if err != nil {
		zr.Close()
		return FileInfo{}, nil, "", fmt.Errorf("lean: %s: open %s: %w", path, csvs[0].Name, err)
	}
	return fi, multiCloser{rc, zr}, csvs[0].Name, nil
}

type multiCloser struct {
	io.ReadCloser
	zr *zip.ReadCloser
}

func (m multiCloser) Close() error {
	return errors.Join(m.ReadCloser.Close(), m.zr.Close())
}
