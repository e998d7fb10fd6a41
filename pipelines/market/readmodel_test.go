package market

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
	"google.golang.org/protobuf/types/known/timestamppb"

	"github.com/trendstream/trendstream/internal/core/marketcalc"
	"github.com/trendstream/trendstream/internal/core/terms"
	"github.com/trendstream/trendstream/internal/readside/api"
	"github.com/trendstream/trendstream/internal/readside/store"
	"github.com/trendstream/trendstream/internal/testenv"
	"github.com/trendstream/trendstream/internal/testenv/dashtest"
	"github.com/trendstream/trendstream/internal/testenv/markettest"
	v1 "github.com/trendstream/trendstream/proto/trendstream/v1"
)

// TestReadModelAndSymbolPage runs the pipeline over the recorded AIG and
// IBM day with the PostgreSQL sink, checks every stored window against the
// reference (rankings) and the trades (every symbol's activity per window),
// then serves the read model and checks the API and, in headless Chromium,
// the symbol page: AIG's market activity beside its Bluesky cashtag
// mentions.
func TestReadModelAndSymbolPage(t *testing.T) {
	in, out := testenv.Topic(t, "trendstream.market"), testenv.Topic(t, "trendstream.market.trends")
	k := testenv.FakeKafka(t, 3, in, out)
	db := testenv.Postgres(t)
	trades := replay(t, k.Addrs(), in)
	o := DefaultOptions()
	o.Brokers = strings.Join(k.Addrs(), ",")
	o.Topic, o.ResultsTopic, o.DatabaseURL, o.Bounded = in, out, db, true
	runShape(t, BuildBounded, o)

	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	st, err := store.Open(ctx, db)
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()

	ref, err := marketcalc.Compute(o.Score, trades)
	if err != nil {
		t.Fatal(err)
	}
	var windows int
	if err := st.Pool().QueryRow(ctx, `SELECT count(*) FROM market_windows`).Scan(&windows); err != nil {
		t.Fatal(err)
	}
	if windows != len(ref) {
		t.Errorf("read model has %d market windows, reference %d", windows, len(ref))
	}
	diffs := 0
	for _, r := range ref {
		w, err := st.MarketRanking(ctx, r.End)
		if err != nil || w == nil || !w.End.Equal(r.End) || !w.Start.Equal(r.Start) {
			t.Fatalf("window ending %v: got %+v (%v)", r.End, w, err)
		}
		ok := len(w.Ranked) == len(r.Symbols)
		for i := 0; ok && i < len(r.Symbols); i++ {
			g, s := w.Ranked[i], r.Symbols[i]
			ok = g.Symbol == s.Symbol && *g.Score == s.Score && g.Reason == s.Reason && g.Trades == s.Stats.Trades &&
				g.Volume == s.Stats.Volume && g.Open == s.Stats.Open && g.Close == s.Stats.Close && int(*g.BaselineWindows) == s.Baseline
		}
		if !ok {
			t.Errorf("window ending %v ranks %+v, reference %+v", r.End, w.Ranked, r.Symbols)
			if diffs++; diffs > 5 {
				t.Fatal("too many differences")
			}
		}
	}
	want := markettest.WindowStats(o.Score, trades)
	rows, err := st.Pool().Query(ctx, `SELECT symbol, window_end, trades, volume, open_price, close_price, high_price, low_price FROM market_activity`)
	if err != nil {
		t.Fatal(err)
	}
	got := 0
	for rows.Next() {
		var sym string
		var end time.Time
		var s marketcalc.Stats
		if err := rows.Scan(&sym, &end, &s.Trades, &s.Volume, &s.Open, &s.Close, &s.High, &s.Low); err != nil {
			t.Fatal(err)
		}
		got++
		w := want[sym+"@"+end.UTC().Format(time.RFC3339)]
		if s.Trades != w.Trades || s.Volume != w.Volume || s.Open != w.Open || s.Close != w.Close || s.High != w.High || s.Low != w.Low {
			t.Errorf("%s window ending %v: stored %+v, trades give %+v", sym, end, s, w)
		}
	}
	rows.Close()
	if got != len(want) || got < 1000 {
		t.Errorf("%d activity rows, the trades give %d", got, len(want))
	}

	// Bluesky mentions of $AIG in a trending window within the market
	// day: the term as the extraction makes it from a real-looking post.
	var cashtag terms.Term
	for _, term := range terms.Extract(&v1.Post{Text: "$AIG up 3% at the open, bank stocks rallying", Langs: []string{"en"}}) {
		if term.Kind == v1.TermKind_TERM_KIND_CASHTAG {
			cashtag = term
		}
	}
	if cashtag.Text != "AIG" {
		t.Fatalf("no cashtag AIG extracted: %+v", cashtag)
	}
	mentionEnd := time.Date(2013, 10, 7, 13, 40, 0, 0, time.UTC) // 09:40 ET
	if err := st.WriteSnapshots(ctx, []*v1.WindowSnapshot{{
		Source: v1.Source_SOURCE_BLUESKY, WindowStart: timestamppb.New(mentionEnd.Add(-10 * time.Minute)), WindowEnd: timestamppb.New(mentionEnd),
		Posts: 900,
		Terms: []*v1.TrendingTerm{{Term: cashtag.Text, Kind: cashtag.Kind, Lang: cashtag.Lang, Rank: 1, Count: 42, UniqueAuthors: 40, Baseline: 2, Score: 9.5,
			WindowStart: timestamppb.New(mentionEnd.Add(-10 * time.Minute)), WindowEnd: timestamppb.New(mentionEnd)}},
	}}); err != nil {
		t.Fatal(err)
	}

	base := dashtest.Serve(t, ctx, api.New(st, api.Options{}))
	until := time.Date(2013, 10, 7, 15, 0, 0, 0, time.UTC)

	var sym api.SymbolResponse
	getJSON(t, base+"/api/symbols/aig?hours=2&until="+until.Format(time.RFC3339), &sym)
	hist, err := st.SymbolHistory(ctx, "AIG", until, 2*time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	if sym.Symbol != "AIG" || len(sym.Activity) != len(hist) || len(hist) < 100 || len(sym.Mentions) == 0 {
		t.Fatalf("GET /api/symbols/aig: symbol %q, %d activity rows (store %d), %d mention points", sym.Symbol, len(sym.Activity), len(hist), len(sym.Mentions))
	}
	unusual := 0
	for _, a := range hist {
		if a.Rank != nil {
			unusual++
		}
	}
	for _, bad := range []string{"/api/symbols/ABCDEFGHIJKLMNOPQ", "/api/symbols/AIG?hours=x", "/api/symbols/AIG?until=yesterday", "/api/market?at=soon"} {
		resp, err := http.Get(base + bad)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusBadRequest {
			t.Errorf("GET %s: %s, want 400", bad, resp.Status)
		}
	}
	var mk api.MarketResponse
	getJSON(t, base+"/api/market?at="+mentionEnd.Format(time.RFC3339), &mk)
	if mk.Window == nil || !mk.Window.End.Equal(mentionEnd) {
		t.Fatalf("GET /api/market?at=%v: %+v", mentionEnd, mk.Window)
	}

	bctx := dashtest.Browser(t, ctx)
	if err := chromedp.Do(bctx,
		chromedp.Navigate(base+"/symbol/AIG?hours=2&until="+until.Format(time.RFC3339)),
		chromedp.WaitVisible(chromedp.CSS(`body[data-loaded="true"]`)),
	); err != nil {
		t.Fatalf("symbol page: %v", err)
	}
	type page struct {
		Heading  string `json:"heading"`
		Activity int    `json:"activity"`
		Unusual  int    `json:"unusual"`
		Mentions []string
		First    string `json:"first"`
	}
	p, err := chromedp.Run(bctx, chromedp.Evaluate[page](`({
		heading: document.getElementById('symbol').textContent,
		activity: document.querySelectorAll('#activity tbody tr').length,
		unusual: document.querySelectorAll('#activity tbody tr.unusual').length,
		mentions: Array.from(document.querySelectorAll('#mentions tbody tr td.count')).map(e => e.textContent),
		first: document.querySelector('#activity tbody tr td.trades').textContent,
	})`))
	if err != nil {
		t.Fatal(err)
	}
	newest := hist[len(hist)-1]
	if p.Heading != "$AIG" || p.Activity != len(hist) || p.Unusual != unusual || fmt.Sprint(p.Mentions) != "[42]" || strings.ReplaceAll(p.First, ",", "") != fmt.Sprint(newest.Trades) {
		t.Errorf("symbol page shows %+v; want $AIG, %d windows (%d unusual), mentions [42], newest window %d trades", p, len(hist), unusual, newest.Trades)
	}
	if inert, err := dashtest.Inert(bctx); err != nil || inert.Pwned || inert.Injected != 0 {
		t.Errorf("symbol page: %+v (%v)", inert, err)
	}
	// A hostile symbol in the address stays text (and is too long: 400).
	if err := chromedp.Do(bctx,
		chromedp.Navigate(base+"/symbol/%3Cimg%20src=x%20onerror=window.pwned=1%3E"),
		chromedp.WaitVisible(chromedp.CSS(`#symbol`)),
	); err != nil {
		t.Fatal(err)
	}
	// The heading is set from the address before anything is fetched.
	if h, err := chromedp.Run(bctx, chromedp.Evaluate[string](`document.getElementById('symbol').textContent`)); err != nil || h != "$<IMG SRC=X ONERROR=WINDOW.PWNED=1>" {
		t.Errorf("hostile symbol heading %q (%v)", h, err)
	}
	if inert, err := dashtest.Inert(bctx); err != nil || inert.Pwned || inert.Injected != 0 {
		t.Errorf("hostile symbol page: %+v (%v)", inert, err)
	}
}

func getJSON(t *testing.T, url string, v any) {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("GET %s: %s", url, resp.Status)
	}
	if err := json.NewDecoder(resp.Body).Decode(v); err != nil {
		t.Fatalf("GET %s: %v", url, err)
	}
}
