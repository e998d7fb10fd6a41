// Package alpaca is the live market.Source for the Alpaca market data v2
// websocket stream (https://docs.alpaca.markets/docs/real-time-stock-pricing-data).
//
// Why Alpaca: its stock stream is widely used, has a free feed (IEX; SIP
// with a paid plan, and a test stream at wss://stream.data.alpaca.markets/v2/test
// with the symbol FAKEPACA), and its JSON protocol is fully documented and
// explicit: the server greets, the client authenticates and subscribes,
// and every trade carries a venue trade id and an RFC 3339 nanosecond time.
//
// The protocol: every server message is a JSON array of objects whose "T"
// field says the kind.
//
//	server: [{"T":"success","msg":"connected"}]
//	client: {"action":"auth","key":"…","secret":"…"}
//	server: [{"T":"success","msg":"authenticated"}]
//	client: {"action":"subscribe","trades":["AAPL","MSFT"]}
//	server: [{"T":"subscription","trades":["AAPL","MSFT"],"quotes":[],"bars":[]}]
//	server: [{"T":"t","S":"AAPL","i":96921,"x":"D","p":126.55,"s":1,"t":"2021-02-22T15:51:44.208Z","c":["@","I"],"z":"C"}, …]
//	server: [{"T":"error","code":402,"msg":"auth failed"}]
//
// Run keeps the stream up: when the server drops the connection or goes
// silent it redials with exponential backoff and jitter, authenticates and
// subscribes again. A message that is not JSON, or an array element that
// is not a valid trade, is reported as a market.BadInput on its own: the
// other trades of the same message still go through.
package alpaca

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"math/big"
	"math/rand/v2"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/gorilla/websocket"
	"google.golang.org/protobuf/types/known/timestamppb"

	"github.com/trendstream/trendstream/ingest/market"
	v1 "github.com/trendstream/trendstream/proto/trendstream/v1"
)

// Defaults, in one place.
const (
	// DefaultURL is the free IEX feed.
	DefaultURL          = "wss://stream.data.alpaca.markets/v2/iex"
	DefaultBackoffMin   = 500 * time.Millisecond
	DefaultBackoffMax   = 30 * time.Second
	DefaultStallTimeout = 60 * time.Second
	// DefaultHandshakeTimeout bounds dial, auth and subscribe together.
	DefaultHandshakeTimeout = 15 * time.Second
	// MaxMessageBytes bounds one server message.
	MaxMessageBytes = 4 << 20
)

// Config configures a Stream.
type Config struct {
	URL string
	// Key and Secret are the API key pair (APCA-API-KEY-ID / -SECRET-KEY).
	Key, Secret string
	// Symbols to subscribe to trades of; "*" is every symbol.
	Symbols []string
	// BackoffMin is the first redial delay; it doubles, with jitter, up to
	// BackoffMax, and starts over after a session that got subscribed.
	BackoffMin, BackoffMax time.Duration
	// StallTimeout drops a connection that delivered nothing, not even a
	// pong to our pings (sent every StallTimeout/3), for this long.
	StallTimeout     time.Duration
	HandshakeTimeout time.Duration
	Logger           *slog.Logger
	// Now is the clock for observed_at; nil is time.Now.
	Now func() time.Time
}

func (c Config) withDefaults() Config {
	if c.URL == "" {
		c.URL = DefaultURL
	}
	if c.BackoffMin <= 0 {
		c.BackoffMin = DefaultBackoffMin
	}
	if c.BackoffMax <= 0 {
		c.BackoffMax = DefaultBackoffMax
	}
	if c.StallTimeout <= 0 {
		c.StallTimeout = DefaultStallTimeout
	}
	if c.HandshakeTimeout <= 0 {
		c.HandshakeTimeout = DefaultHandshakeTimeout
	}
	if c.Logger == nil {
		c.Logger = slog.Default()
	}
	if c.Now == nil {
		c.Now = time.Now
	}
	return c
}

func (c Config) validate() error {
	switch {
	case !strings.HasPrefix(c.URL, "ws://") && !strings.HasPrefix(c.URL, "wss://"):
		return fmt.Errorf("alpaca: url %q: want ws:// or wss://", c.URL)
	case c.Key == "" || c.Secret == "":
		return errors.New("alpaca: key and secret are required")
	case len(c.Symbols) == 0:
		return errors.New("alpaca: no symbols to subscribe to")
	case c.BackoffMax < c.BackoffMin:
		return fmt.Errorf("alpaca: backoff max %v < min %v", c.BackoffMax, c.BackoffMin)
	}
	return nil
}

// Stream is the Alpaca market.Source.
type Stream struct {
	cfg Config
	// seq numbers trades over the Stream's life (MarketEvent.sequence).
	seq atomic.Int64
	// Sessions counts connections dialed, for tests and logs.
	sessions atomic.Int64
}

var _ market.Source = (*Stream)(nil)

// New checks cfg.
func New(cfg Config) (*Stream, error) {
	cfg = cfg.withDefaults()
	if err := cfg.validate(); err != nil {
		return nil, err
	}
	syms := make([]string, len(cfg.Symbols))
	for i, s := range cfg.Symbols {
		syms[i] = strings.ToUpper(strings.TrimSpace(s))
	}
	cfg.Symbols = syms
	return &Stream{cfg: cfg}, nil
}

// Name implements market.Source.
func (s *Stream) Name() string { return "alpaca:" + s.cfg.URL }

// Sessions is the number of connections dialed so far.
func (s *Stream) Sessions() int64 { return s.sessions.Load() }

// ServerError is an {"T":"error"} message.
type ServerError struct {
	Code int    `json:"code"`
	Msg  string `json:"msg"`
}

func (e *ServerError) Error() string {
	return fmt.Sprintf("alpaca: server error %d: %s", e.Code, e.Msg)
}

// Fatal says whether redialing cannot help: bad credentials, a plan that
// does not include the feed, too many symbols. Those stop Run.
func (e *ServerError) Fatal() bool {
	switch e.Code {
	case 401, 402, 405, 409:
		return true
	}
	return false
}

// handlerError marks an error from the Handler: the sink failed, and Run
// stops with it rather than redialing.
type handlerError struct{ err error }

func (e handlerError) Error() string { return e.err.Error() }
func (e handlerError) Unwrap() error { return e.err }

// Run implements market.Source: it streams until ctx is done (returning
// ctx.Err()), the handler fails, or the server answers with a fatal error.
func (s *Stream) Run(ctx context.Context, h market.Handler) error {
	backoff := s.cfg.BackoffMin
	for {
		subscribed, err := s.session(ctx, h)
		if ctx.Err() != nil {
			return ctx.Err()
		}
		var he handlerError
		if errors.As(err, &he) {
			return he.err
		}
		var se *ServerError
		if errors.As(err, &se) && se.Fatal() {
			return err
		}
		if subscribed {
			backoff = s.cfg.BackoffMin
		}
		// Full jitter in [backoff/2, backoff): many ingesters dropped at
		// once must not redial in lockstep.
		d := backoff/2 + time.Duration(rand.Int64N(int64(backoff/2)+1))
		s.cfg.Logger.Warn("alpaca: connection lost; redialing", "url", s.cfg.URL, "err", err, "in", d)
		t := time.NewTimer(d)
		select {
		case <-ctx.Done():
			t.Stop()
			return ctx.Err()
		case <-t.C:
		}
		backoff = min(backoff*2, s.cfg.BackoffMax)
	}
}

// session runs one connection. subscribed says whether it got as far as a
// subscription confirmation (so the backoff starts over).
func (s *Stream) session(ctx context.Context, h market.Handler) (subscribed bool, err error) {
	conn := s.sessions.Add(1)
	hctx, cancel := context.WithTimeout(ctx, s.cfg.HandshakeTimeout)
	defer cancel()
	c, resp, err := websocket.DefaultDialer.DialContext(hctx, s.cfg.URL, http.Header{})
	if err != nil {
		if resp != nil {
			return false, fmt.Errorf("alpaca: dial %s: %w (HTTP %s)", s.cfg.URL, err, resp.Status)
		}
		return false, fmt.Errorf("alpaca: dial %s: %w", s.cfg.URL, err)
	}
	c.SetReadLimit(MaxMessageBytes)
	// Closing the socket is how a blocked read learns of ctx.
	var once sync.Once
	closeConn := func() { once.Do(func() { c.Close() }) }
	defer closeConn()
	stop := context.AfterFunc(ctx, closeConn)
	defer stop()
	handshakeDeadline, _ := hctx.Deadline()

	// Greeting, auth, subscribe: each waits for its answer.
	if err := s.expect(c, handshakeDeadline, "success", "connected"); err != nil {
		return false, err
	}
	if err := c.WriteJSON(map[string]string{"action": "auth", "key": s.cfg.Key, "secret": s.cfg.Secret}); err != nil {
		return false, fmt.Errorf("alpaca: send auth: %w", err)
	}
	if err := s.expect(c, handshakeDeadline, "success", "authenticated"); err != nil {
		return false, err
	}
	if err := c.WriteJSON(map[string]any{"action": "subscribe", "trades": s.cfg.Symbols}); err != nil {
		return false, fmt.Errorf("alpaca: send subscribe: %w", err)
	}
	if err := s.expect(c, handshakeDeadline, "subscription", ""); err != nil {
		return false, err
	}
	s.cfg.Logger.Info("alpaca: subscribed", "url", s.cfg.URL, "conn", conn, "symbols", len(s.cfg.Symbols))

	// Watchdog: any message or pong pushes the read deadline out; pings
	// make a quiet but healthy server answer.
	stall := s.cfg.StallTimeout
	_ = c.SetReadDeadline(time.Now().Add(stall))
	c.SetPongHandler(func(string) error { return c.SetReadDeadline(time.Now().Add(stall)) })
	pingDone := make(chan struct{})
	defer close(pingDone)
	go func() {
		tk := time.NewTicker(stall / 3)
		defer tk.Stop()
		for {
			select {
			case <-pingDone:
				return
			case <-tk.C:
				// WriteControl may run concurrently with the reader.
				if c.WriteControl(websocket.PingMessage, nil, time.Now().Add(stall/3)) != nil {
					return
				}
			}
		}
	}()
	for msgNo := 1; ; msgNo++ {
		_, data, err := c.ReadMessage()
		if err != nil {
			return true, fmt.Errorf("alpaca: read (conn %d): %w", conn, err)
		}
		_ = c.SetReadDeadline(time.Now().Add(stall))
		if err := s.handle(ctx, h, conn, msgNo, data); err != nil {
			return true, err
		}
	}
}

type envelope struct {
	T string `json:"T"`
	// encoding/json matches keys case-insensitively when no field has the
	// exact name: without this field a trade's "t" (its time) would land
	// in T.
	LowerT json.RawMessage `json:"t"`
	ServerError
}

// expect reads messages until one holds an element of kind t (and, if
// msg is set, that msg). An error message ends the wait with its error.
func (s *Stream) expect(c *websocket.Conn, deadline time.Time, t, msg string) error {
	_ = c.SetReadDeadline(deadline)
	for {
		_, data, err := c.ReadMessage()
		if err != nil {
			return fmt.Errorf("alpaca: waiting for %s %s: %w", t, msg, err)
		}
		var items []envelope
		if err := json.Unmarshal(data, &items); err != nil {
			return fmt.Errorf("alpaca: waiting for %s %s: message %.200q: %w", t, msg, data, err)
		}
		for _, it := range items {
			if it.T == "error" {
				return &ServerError{Code: it.Code, Msg: it.Msg}
			}
			if it.T == t && (msg == "" || it.Msg == msg) {
				return nil
			}
		}
	}
}

// handle delivers one streamed message.
func (s *Stream) handle(ctx context.Context, h market.Handler, conn int64, msgNo int, data []byte) error {
	var items []json.RawMessage
	if err := json.Unmarshal(data, &items); err != nil {
		return s.bad(ctx, h, fmt.Sprintf("conn %d msg %d", conn, msgNo), data, fmt.Errorf("message is not a JSON array: %w", err))
	}
	for i, raw := range items {
		pos := fmt.Sprintf("conn %d msg %d item %d", conn, msgNo, i)
		var env envelope
		if err := json.Unmarshal(raw, &env); err != nil {
			if err := s.bad(ctx, h, pos, raw, fmt.Errorf("element is not an object with a string T: %w", err)); err != nil {
				return err
			}
			continue
		}
		switch env.T {
		case "t":
			ev, err := DecodeTrade(raw)
			if err != nil {
				if err := s.bad(ctx, h, pos, raw, err); err != nil {
					return err
				}
				continue
			}
			ev.Sequence = s.seq.Add(1)
			ev.ObservedAt = timestamppb.New(s.cfg.Now())
			if err := h.Trade(ctx, ev); err != nil {
				return handlerError{err}
			}
		case "error":
			se := &ServerError{Code: env.Code, Msg: env.Msg}
			if se.Fatal() {
				return se
			}
			// e.g. 407 slow client: the server goes on (or drops us).
			s.cfg.Logger.Warn("alpaca: server error", "code", se.Code, "msg", se.Msg, "conn", conn)
		default:
			// Quotes, bars, corrections, status: not subscribed to or not
			// used; the protocol adds kinds, so an unknown kind is no error.
		}
	}
	return nil
}

func (s *Stream) bad(ctx context.Context, h market.Handler, pos string, raw []byte, err error) error {
	if herr := h.Bad(ctx, market.BadInput{Source: s.Name(), Position: pos, Raw: append([]byte(nil), raw...), Err: err}); herr != nil {
		return handlerError{herr}
	}
	return nil
}

type trade struct {
	T    string      `json:"T"`
	S    string      `json:"S"`
	I    *int64      `json:"i"`
	X    string      `json:"x"`
	P    json.Number `json:"p"`
	Z    json.Number `json:"s"`
	Tm   string      `json:"t"`
	C    []string    `json:"c"`
	Tape string      `json:"z"`
}

// DecodeTrade decodes one {"T":"t"} element. The price is read as decimal
// text, never through float64, and rounded half away from zero to 1/10000.
func DecodeTrade(raw []byte) (*v1.MarketEvent, error) {
	var t trade
	if err := json.Unmarshal(raw, &t); err != nil {
		return nil, fmt.Errorf("trade: %w", err)
	}
	var missing []string
	for _, f := range []struct {
		name string
		ok   bool
	}{{"S", t.S != ""}, {"p", t.P != ""}, {"s", t.Z != ""}, {"t", t.Tm != ""}} {
		if !f.ok {
			missing = append(missing, f.name)
		}
	}
	if len(missing) > 0 {
		return nil, fmt.Errorf("trade: missing field(s) %s", strings.Join(missing, ", "))
	}
	price, err := ParsePrice(string(t.P))
	if err != nil {
		return nil, fmt.Errorf("trade %s: field p: %w", t.S, err)
	}
	size, err := strconv.ParseInt(string(t.Z), 10, 64)
	if err != nil || size <= 0 {
		return nil, fmt.Errorf("trade %s: field s %q: want a whole number of shares > 0", t.S, t.Z)
	}
	tm, err := time.Parse(time.RFC3339Nano, t.Tm)
	if err != nil {
		return nil, fmt.Errorf("trade %s: field t: %w", t.S, err)
	}
	ev := &v1.MarketEvent{
		Symbol:     strings.ToUpper(t.S),
		Price:      price,
		PriceScale: market.PriceScale,
		Currency:   "USD", // the stream is US equities only
		Size:       size,
		Exchange:   t.X,
		Conditions: t.C,
		EventTime:  timestamppb.New(tm),
		Source:     v1.MarketSource_MARKET_SOURCE_ALPACA,
		Tape:       t.Tape,
	}
	if t.I != nil {
		ev.TradeId = *t.I
	}
	if err := market.Validate(ev); err != nil {
		return nil, fmt.Errorf("trade %s: %w", t.S, err)
	}
	return ev, nil
}

// ParsePrice turns a JSON decimal (e.g. "126.55", "0.00015", "1.2e2") into
// 1/10000 units, rounding half away from zero.
func ParsePrice(s string) (int64, error) {
	r, ok := new(big.Rat).SetString(s)
	if !ok {
		return 0, fmt.Errorf("%q is not a decimal number", s)
	}
	r.Mul(r, big.NewRat(market.PriceUnit, 1))
	num, den := r.Num(), r.Denom()
	q, m := new(big.Int).QuoRem(num, den, new(big.Int))
	if new(big.Int).Mul(new(big.Int).Abs(m), big.NewInt(2)).Cmp(den) >= 0 {
		q.Add(q, big.NewInt(int64(num.Sign())))
	}
	if !q.IsInt64() || q.Int64() <= 0 {
		return 0, fmt.Errorf("%q: want a positive price below 2^63/10000", s)
	}
	return q.Int64(), nil
}
