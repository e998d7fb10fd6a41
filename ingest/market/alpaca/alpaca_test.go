package alpaca

import (
	"context"
	"encoding/json"
	"errors"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/gorilla/websocket"

	"github.com/trendstream/trendstream/ingest/market"
	v1 "github.com/trendstream/trendstream/proto/trendstream/v1"
)

// server speaks the Alpaca v2 stream protocol on a local port. Each
// connection runs the handshake (checking the credentials and the
// subscription) and then script(conn number, socket).
type server struct {
	t      *testing.T
	url    string
	mu     sync.Mutex
	subs   [][]string // the trades subscription of each connection
	script func(n int, c *websocket.Conn)
	// authFail makes the server refuse the credentials.
	authFail bool
}

func newServer(t *testing.T, script func(n int, c *websocket.Conn)) *server {
	s := &server{t: t, script: script}
	up := websocket.Upgrader{}
	hs := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		c, err := up.Upgrade(w, r, nil)
		if err != nil {
			t.Errorf("upgrade: %v", err)
			return
		}
		defer c.Close()
		send := func(s string) { _ = c.WriteMessage(websocket.TextMessage, []byte(s)) }
		send(`[{"T":"success","msg":"connected"}]`)
		var auth map[string]string
		if err := c.ReadJSON(&auth); err != nil {
			return
		}
		if s.authFail || auth["action"] != "auth" || auth["key"] != "k" || auth["secret"] != "s3cret" {
			send(`[{"T":"error","code":402,"msg":"auth failed"}]`)
			return
		}
		send(`[{"T":"success","msg":"authenticated"}]`)
		var sub struct {
			Action string   `json:"action"`
			Trades []string `json:"trades"`
		}
		if err := c.ReadJSON(&sub); err != nil || sub.Action != "subscribe" {
			send(`[{"T":"error","code":400,"msg":"invalid syntax"}]`)
			return
		}
		s.mu.Lock()
		s.subs = append(s.subs, sub.Trades)
		n := len(s.subs)
		s.mu.Unlock()
		b, _ := json.Marshal(sub.Trades)
		send(`[{"T":"subscription","trades":` + string(b) + `,"quotes":[],"bars":[]}]`)
		s.script(n, c)
	}))
	t.Cleanup(hs.Close)
	s.url = "ws" + strings.TrimPrefix(hs.URL, "http") + "/v2/iex"
	return s
}

func (s *server) subscriptions() [][]string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([][]string(nil), s.subs...)
}

// recorder is a market.Handler; it calls onTrade after each trade.
type recorder struct {
	mu      sync.Mutex
	trades  []*v1.MarketEvent
	bad     []market.BadInput
	onTrade func(n int)
}

func (r *recorder) Trade(_ context.Context, ev *v1.MarketEvent) error {
	r.mu.Lock()
	r.trades = append(r.trades, ev)
	n := len(r.trades)
	r.mu.Unlock()
	if r.onTrade != nil {
		r.onTrade(n)
	}
	return nil
}

func (r *recorder) Bad(_ context.Context, b market.BadInput) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.bad = append(r.bad, b)
	return nil
}

func testConfig(url string) Config {
	return Config{URL: url, Key: "k", Secret: "s3cret", Symbols: []string{"aapl", "MSFT"},
		BackoffMin: time.Millisecond, BackoffMax: 4 * time.Millisecond,
		StallTimeout: 10 * time.Second, Logger: slog.New(slog.DiscardHandler)}
}

func tradeMsg(sym string, id int, price string) string {
	return `{"T":"t","S":"` + sym + `","i":` + itoa(id) + `,"x":"V","p":` + price + `,"s":100,"t":"2026-12-01T15:51:44.208123456Z","c":["@","I"],"z":"C"}`
}

func itoa(i int) string { b, _ := json.Marshal(i); return string(b) }

// TestReconnectResubscribeAndBadMessages: the server sends good trades,
// a truncated message, a message with one bad element among good ones and
// a quote, then drops the connection; the stream redials, authenticates
// and subscribes again and gets the trades of the second connection. Every
// good trade arrives once, in order; each bad input is reported on its own.
func TestReconnectResubscribeAndBadMessages(t *testing.T) {
	srv := newServer(t, func(n int, c *websocket.Conn) {
		send := func(s string) { _ = c.WriteMessage(websocket.TextMessage, []byte(s)) }
		switch n {
		case 1:
			send(`[` + tradeMsg("AAPL", 1, "126.55") + `,` + tradeMsg("MSFT", 2, "310.1") + `]`)
			send(`[{"T":"t","S":"AAPL","i":3,"p":12`) // cut off mid-message
			send(`[` + tradeMsg("AAPL", 4, "126.56") + `,{"T":"t","S":"MSFT","i":5,"x":"V","s":10,"t":"2026-12-01T15:51:45Z"},{"T":"q","S":"AAPL","bp":126.5},` + tradeMsg("MSFT", 6, "0.00015") + `]`)
			send(`[{"T":"t","S":"AAPL","i":7,"x":"V","p":126.57,"s":1.5,"t":"2026-12-01T15:51:46Z"}]`)
			// Drop without a close frame, as a crashed server does.
			c.UnderlyingConn().Close()
		case 2:
			send(`[` + tradeMsg("AAPL", 8, "126.6") + `]`)
			// Stay open until the client goes.
			for {
				if _, _, err := c.ReadMessage(); err != nil {
					return
				}
			}
		}
	})
	st, err := New(testConfig(srv.url))
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	rec := &recorder{onTrade: func(n int) {
		if n == 5 {
			cancel()
		}
	}}
	if err := st.Run(ctx, rec); !errors.Is(err, context.Canceled) {
		t.Fatalf("Run: %v, want context.Canceled", err)
	}
	if subs := srv.subscriptions(); len(subs) != 2 || strings.Join(subs[1], ",") != "AAPL,MSFT" {
		t.Fatalf("subscriptions %v, want AAPL,MSFT twice", subs)
	}
	var got []string
	for _, ev := range rec.trades {
		got = append(got, ev.GetSymbol()+" "+market.FormatPrice(ev.GetPrice())+" #"+itoa(int(ev.GetTradeId())))
	}
	want := []string{"AAPL 126.5500 #1", "MSFT 310.1000 #2", "AAPL 126.5600 #4", "MSFT 0.0002 #6", "AAPL 126.6000 #8"}
	if strings.Join(got, "|") != strings.Join(want, "|") {
		t.Fatalf("trades %v, want %v", got, want)
	}
	if len(rec.bad) != 3 {
		t.Fatalf("bad inputs %v, want 3", rec.bad)
	}
	for i, w := range []struct{ pos, err string }{
		{"conn 1 msg 2", "message is not a JSON array"},
		{"conn 1 msg 3 item 1", "missing field(s) p"},
		{"conn 1 msg 4 item 0", "want a whole number of shares"},
	} {
		if rec.bad[i].Position != w.pos || !strings.Contains(rec.bad[i].Err.Error(), w.err) || len(rec.bad[i].Raw) == 0 {
			t.Errorf("bad %d: %v, want %s ~%q", i, rec.bad[i], w.pos, w.err)
		}
	}
	ev := rec.trades[0]
	if !ev.GetEventTime().AsTime().Equal(time.Date(2026, 12, 1, 15, 51, 44, 208123456, time.UTC)) || ev.GetExchange() != "V" || ev.GetTape() != "C" ||
		strings.Join(ev.GetConditions(), ",") != "@,I" || ev.GetSize() != 100 || ev.GetSource() != v1.MarketSource_MARKET_SOURCE_ALPACA || ev.GetSequence() != 1 || ev.GetCurrency() != "USD" {
		t.Errorf("first trade %v", ev)
	}
}

// TestRedialAfterDrop: after the server drops the connection the stream
// comes back on a new one, subscribed to the same symbols, and the trade
// sent there arrives.
func TestRedialAfterDrop(t *testing.T) {
	srv := newServer(t, func(n int, c *websocket.Conn) {
		send := func(s string) { _ = c.WriteMessage(websocket.TextMessage, []byte(s)) }
		if n < 3 {
			send(`[` + tradeMsg("AAPL", n, "1") + `]`)
			c.UnderlyingConn().Close()
			return
		}
		send(`[` + tradeMsg("MSFT", n, "2") + `]`)
		for {
			if _, _, err := c.ReadMessage(); err != nil {
				return
			}
		}
	})
	st, err := New(testConfig(srv.url))
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	rec := &recorder{onTrade: func(n int) {
		if n == 3 {
			cancel()
		}
	}}
	if err := st.Run(ctx, rec); !errors.Is(err, context.Canceled) {
		t.Fatalf("Run: %v", err)
	}
	if len(rec.trades) != 3 || rec.trades[2].GetSymbol() != "MSFT" || rec.trades[2].GetTradeId() != 3 || rec.trades[2].GetSequence() != 3 {
		t.Fatalf("trades %v", rec.trades)
	}
	subs := srv.subscriptions()
	if len(subs) != 3 || st.Sessions() != 3 {
		t.Fatalf("%d subscriptions, %d sessions; want 3, 3", len(subs), st.Sessions())
	}
	for i, s := range subs {
		if strings.Join(s, ",") != "AAPL,MSFT" {
			t.Errorf("subscription %d: %v", i, s)
		}
	}
}

// TestStallRedial: a server that stops talking (and answering pings) is
// dropped after StallTimeout and redialed.
func TestStallRedial(t *testing.T) {
	release := make(chan struct{})
	defer close(release)
	srv := newServer(t, func(n int, c *websocket.Conn) {
		if n == 1 {
			<-release // silent: no messages, and no reads, so no pongs
			return
		}
		_ = c.WriteMessage(websocket.TextMessage, []byte(`[`+tradeMsg("AAPL", 1, "1")+`]`))
		for {
			if _, _, err := c.ReadMessage(); err != nil {
				return
			}
		}
	})
	cfg := testConfig(srv.url)
	cfg.StallTimeout = 150 * time.Millisecond
	st, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	rec := &recorder{onTrade: func(int) { cancel() }}
	if err := st.Run(ctx, rec); !errors.Is(err, context.Canceled) {
		t.Fatalf("Run: %v", err)
	}
	if len(rec.trades) != 1 || st.Sessions() != 2 {
		t.Fatalf("%d trades, %d sessions", len(rec.trades), st.Sessions())
	}
}

// TestAuthFailureIsFatal: wrong credentials stop Run with the server's
// error instead of redialing forever.
func TestAuthFailureIsFatal(t *testing.T) {
	srv := newServer(t, func(int, *websocket.Conn) {})
	srv.authFail = true
	st, err := New(testConfig(srv.url))
	if err != nil {
		t.Fatal(err)
	}
	var se *ServerError
	if err := st.Run(context.Background(), &recorder{}); !errors.As(err, &se) || se.Code != 402 || !strings.Contains(err.Error(), "auth failed") {
		t.Fatalf("Run: %v, want server error 402", err)
	}
	if st.Sessions() != 1 {
		t.Fatalf("%d sessions, want 1", st.Sessions())
	}
}

// TestHandlerErrorStops: a failing sink stops Run with its error.
func TestHandlerErrorStops(t *testing.T) {
	srv := newServer(t, func(_ int, c *websocket.Conn) {
		_ = c.WriteMessage(websocket.TextMessage, []byte(`[`+tradeMsg("AAPL", 1, "1")+`]`))
		_, _, _ = c.ReadMessage()
	})
	st, err := New(testConfig(srv.url))
	if err != nil {
		t.Fatal(err)
	}
	boom := errors.New("sink down")
	if err := st.Run(context.Background(), failing{boom}); !errors.Is(err, boom) {
		t.Fatalf("Run: %v, want %v", err, boom)
	}
}

type failing struct{ err error }

func (f failing) Trade(context.Context, *v1.MarketEvent) error { return f.err }
func (f failing) Bad(context.Context, market.BadInput) error   { return f.err }

func TestParsePrice(t *testing.T) {
	tests := []struct {
		in   string
		want int64
		err  bool
	}{
		{"126.55", 1265500, false},
		{"310.1", 3101000, false},
		{"1", 10000, false},
		{"0.00015", 2, false}, // half away from zero
		{"0.00014", 1, false},
		{"1.2e2", 1200000, false},
		{"0.00004", 0, true}, // rounds to nothing
		{"-1", 0, true},
		{"abc", 0, true},
	}
	for _, tt := range tests {
		got, err := ParsePrice(tt.in)
		if (err != nil) != tt.err || got != tt.want {
			t.Errorf("ParsePrice(%q) = %d, %v; want %d, err %v", tt.in, got, err, tt.want, tt.err)
		}
	}
}

func TestDecodeTradeErrors(t *testing.T) {
	tests := []struct{ in, want string }{
		{`{"T":"t"}`, "missing field(s) S, p, s, t"},
		{`{"T":"t","S":"A","p":"x","s":1,"t":"2026-12-01T00:00:00Z"}`, "invalid number literal"},
		{`{"T":"t","S":"A","p":1e400000,"s":1,"t":"2026-12-01T00:00:00Z"}`, "field p"},
		{`{"T":"t","S":"A","p":1,"s":1,"t":"yesterday"}`, "field t"},
		{`{"T":"t","S":"A","p":1,"s":0,"t":"2026-12-01T00:00:00Z"}`, "field s"},
		{`{"T":"t","S":7}`, "trade: json"},
	}
	for _, tt := range tests {
		if _, err := DecodeTrade([]byte(tt.in)); err == nil || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("DecodeTrade(%s): %v, want ~%q", tt.in, err, tt.want)
		}
	}
}

func TestConfigValidate(t *testing.T) {
	ok := testConfig("wss://x/v2/iex")
	for name, mut := range map[string]func(*Config){
		"http url":   func(c *Config) { c.URL = "http://x" },
		"no key":     func(c *Config) { c.Key = "" },
		"no symbols": func(c *Config) { c.Symbols = nil },
		"backoff":    func(c *Config) { c.BackoffMax = time.Microsecond },
	} {
		c := ok
		mut(&c)
		if _, err := New(c); err == nil {
			t.Errorf("%s: no error", name)
		}
	}
	if _, err := New(ok); err != nil {
		t.Error(err)
	}
}
