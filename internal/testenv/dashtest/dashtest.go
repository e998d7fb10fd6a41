// Package dashtest drives the trendstream dashboard in headless Chromium for
// tests: the API package's own browser test and end-to-end tests that feed
// the dashboard from a real pipeline run.
package dashtest

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
)

// ChromiumPath finds the browser: $CHROMIUM, else Debian's chromium. A
// missing browser fails the test with the package to install.
func ChromiumPath(t testing.TB) string {
	t.Helper()
	for _, p := range []string{os.Getenv("CHROMIUM"), "/usr/bin/chromium", "chromium"} {
		if p == "" {
			continue
		}
		if path, err := exec.LookPath(p); err == nil {
			return path
		}
	}
	t.Fatal("headless Chromium is required for dashboard tests: apt-get install chromium (or set CHROMIUM to its path)")
	return ""
}

// Browser starts headless Chromium with the flags a root, offline, GPU-less
// machine needs, and returns a chromedp context for one tab. The browser
// is closed when the test ends.
func Browser(t testing.TB, ctx context.Context) context.Context {
	t.Helper()
	opts := append(slices.Clone(chromedp.DefaultExecAllocatorOptions[:]),
		chromedp.ExecPath(ChromiumPath(t)),
		chromedp.NoSandbox,
		chromedp.DisableGPU,
		chromedp.NoFirstRun,
		chromedp.Flag("disable-background-networking", true),
		chromedp.Flag("disable-component-update", true),
		chromedp.Flag("disable-sync", true),
		chromedp.Flag("disable-quic", true),
		chromedp.WindowSize(1280, 1000),
	)
	actx, cancelAlloc := chromedp.NewExecAllocator(ctx, opts...)
	t.Cleanup(cancelAlloc)
	bctx, cancel := chromedp.NewContext(actx)
	t.Cleanup(cancel)
	return bctx
}

// rankingSel is the CSS selector of a ranking's section; lang "" is the
// overall ranking.
func rankingSel(lang string) string {
	return fmt.Sprintf("#rankings section[data-lang=%s]", cssString(lang))
}

// WaitTerm waits until the ranking of lang shows a row for term (the stored
// term text: hashtags without '#').
func WaitTerm(bctx context.Context, lang, term string) error {
	sel := fmt.Sprintf("%s tr[data-term=%s]", rankingSel(lang), cssString(term))
	return chromedp.Do(bctx, chromedp.WaitVisible(chromedp.CSS(sel)))
}

// Terms returns the term cells of lang's ranking as the page shows them
// (textContent, hashtags with '#'), in rank order.
func Terms(bctx context.Context, lang string) ([]string, error) {
	return chromedp.Run(bctx, chromedp.Evaluate[[]string](
		`Array.from(document.querySelectorAll(`+jsString(rankingSel(lang)+" td.term")+`)).map(e => e.textContent)`))
}

// SelectLang picks lang in the dashboard's language filter and waits for
// its ranking to render.
func SelectLang(bctx context.Context, lang string) error {
	return chromedp.Do(bctx,
		chromedp.WaitReady(chromedp.CSS(fmt.Sprintf("#lang option[value=%s]", cssString(lang)))),
		chromedp.SetValue(chromedp.CSS(`#lang`), lang),
		chromedp.Func(func(ctx context.Context, tg *chromedp.Target) error {
			_, err := chromedp.Evaluate[bool](`document.getElementById('lang').dispatchEvent(new Event('change'))`)(ctx, tg)
			return err
		}),
		chromedp.WaitVisible(chromedp.CSS(rankingSel(lang))),
	)
}

// Inertness is what a page reveals about hostile terms having been
// interpreted rather than shown.
type Inertness struct {
	// Pwned is true if any script set window.pwned.
	Pwned bool `json:"pwned"`
	// Injected counts script, img and on-handler elements in the page's
	// main part (rankings, timeline, term page), none of which the
	// dashboard itself creates.
	Injected int `json:"injected"`
	// TermChildren counts elements inside term cells, overview labels and
	// the term page's heading, other than the one link a term is shown in:
	// they hold text only.
	TermChildren int `json:"children"`
}

// Inert inspects the page (dashboard or term page) for signs that data was
// parsed as markup.
func Inert(bctx context.Context) (Inertness, error) {
	return chromedp.Run(bctx, chromedp.Evaluate[Inertness](`({
		pwned: window.pwned !== undefined,
		injected: document.querySelectorAll('main script, main img, main [onerror], main [onload], header script, header img, header [onerror]').length,
		children: Array.from(document.querySelectorAll('td.term, .ov-term, h1#term')).reduce((n, e) =>
			n + Array.from(e.querySelectorAll('*')).filter(c => !c.matches('a.term-link, span.ov-lang')).length
			  + Array.from(e.querySelectorAll('a.term-link, span.ov-lang')).reduce((m, c) => m + c.childElementCount, 0), 0),
	})`))
}

// cssString quotes s as a CSS string, hex-escaping quotes, backslashes and
// control characters (CSS does not know JSON's \u escapes).
func cssString(s string) string {
	var b strings.Builder
	b.WriteByte('"')
	for _, r := range s {
		if r == '"' || r == '\\' || r < 0x20 || r == 0x7f {
			fmt.Fprintf(&b, "\\%x ", r)
			continue
		}
		b.WriteRune(r)
	}
	b.WriteByte('"')
	return b.String()
}

func jsString(s string) string {
	b, _ := json.Marshal(s)
	return string(b)
}

// Poll evaluates the boolean JavaScript expression expr in the page until
// it holds or 20 s pass, and says whether it held: the dashboard renders
// after its fetches, which no DOM event marks. An evaluation error counts
// as not yet, since a navigation replaces the page's context.
func Poll(bctx context.Context, expr string) bool {
	deadline := time.Now().Add(20 * time.Second)
	for time.Now().Before(deadline) {
		if ok, err := chromedp.Run(bctx, chromedp.Evaluate[bool](expr)); err == nil && ok {
			return true
		}
		time.Sleep(50 * time.Millisecond)
	}
	return false
}

// WaitJS is Poll that fails the test, with the page's address and view,
// if expr never holds.
func WaitJS(t testing.TB, bctx context.Context, expr string) {
	t.Helper()
	if Poll(bctx, expr) {
		return
	}
	got, _ := chromedp.Run(bctx, chromedp.Evaluate[string](`location.href + ' view=' + document.body.dataset.view`))
	t.Fatalf("page never satisfied %s (at %s)", expr, got)
}

// UpdateScreenshots says whether the run should rewrite the pictures in
// docs/ (UPDATE_SCREENSHOT=1): they are committed, so an ordinary test run
// must not change them.
func UpdateScreenshots() bool { return os.Getenv("UPDATE_SCREENSHOT") == "1" }

// Screenshot writes a full-page PNG of the page to path when
// UpdateScreenshots says so.
func Screenshot(t testing.TB, bctx context.Context, path string) {
	t.Helper()
	if !UpdateScreenshots() {
		return
	}
	png, err := chromedp.Run(bctx, chromedp.FullScreenshot(100))
	if err != nil {
		t.Fatalf("screenshot %s: %v", path, err)
	}
	if err := os.WriteFile(path, png, 0o644); err != nil {
		t.Fatal(err)
	}
	t.Logf("wrote %s (%d bytes)", path, len(png))
}

// OpenShowing navigates to url and waits until the page's text holds every
// one of want, for up to timeout; it fails the test with the page's text if
// it never does. For pages that are not ours, such as Flink's web UI, which
// render from their own fetches.
func OpenShowing(t testing.TB, bctx context.Context, url string, timeout time.Duration, want ...string) {
	t.Helper()
	if err := chromedp.Do(bctx, chromedp.Navigate(url)); err != nil {
		t.Fatalf("load %s: %v", url, err)
	}
	var conds []string
	for _, w := range want {
		conds = append(conds, "t.includes("+jsString(w)+")")
	}
	expr := "(() => { const t = document.body.innerText; return " + strings.Join(conds, " && ") + "; })()"
	if _, err := chromedp.Run(bctx, chromedp.Poll[bool](expr,
		chromedp.WithPollingInterval(250*time.Millisecond), chromedp.WithPollingTimeout(timeout))); err != nil {
		text, _ := chromedp.Run(bctx, chromedp.Evaluate[string](`document.body.innerText`))
		t.Fatalf("%s never showed %q within %v: %v\npage text:\n%s", url, want, timeout, err, text)
	}
}
