package dashtest

import (
	"context"
	"encoding/json"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/trendstream/trendstream/internal/readside/store"
)

// Shown is a term as the pages show it: hashtags with '#', as stored
// without.
func Shown(kind, term string) string {
	if kind == "hashtag" {
		return "#" + term
	}
	return term
}

// TermTexts is what a ranking's term cells show for terms, in order.
func TermTexts(terms []store.Term) []string {
	var out []string
	for _, term := range terms {
		out = append(out, Shown(term.Kind, term.Term))
	}
	return out
}

// Ranking is the read model's overall ranking at at (the window ending
// then or the one before), as the dashboard must show it. A missing
// ranking fails the test: every caller asks for a window it knows exists.
func Ranking(t testing.TB, ctx context.Context, st *store.Store, at time.Time) []string {
	t.Helper()
	ws, err := st.CurrentTrends(ctx, store.Filter{At: at, Limit: 20})
	if err != nil || len(ws) == 0 {
		t.Fatalf("the read model has no overall ranking at %v (%v)", at, err)
	}
	return TermTexts(ws[0].Terms)
}

// CheckInert fails the test, going on, if the page shows signs of data
// parsed as markup; page names it in the message.
func CheckInert(t testing.TB, bctx context.Context, page string) {
	t.Helper()
	if in, err := Inert(bctx); err != nil || in != (Inertness{}) {
		t.Errorf("%s: data interpreted as markup: %+v (%v)", page, in, err)
	}
}

// CardsOf is what the topics view shows of a window's topics: each topic's
// id and member terms, in rank order.
func CardsOf(tw store.TopicWindow) []string {
	var out []string
	for _, tp := range tw.Topics {
		var ms []string
		for _, m := range tp.Members {
			ms = append(ms, m.Term)
		}
		out = append(out, tp.ID+" "+strings.Join(ms, ","))
	}
	return out
}

// cardsJS evaluates to the topics view's cards in the form of CardsOf.
const cardsJS = `Array.from(document.querySelectorAll('#topics article.topic')).map(a =>
	a.dataset.id + ' ' + Array.from(a.querySelectorAll('a.member')).map(m => m.dataset.term).join(','))`

// WaitCards waits until the topics view shows the cards want (CardsOf):
// it loads after the ranking, and again when the page pins the window it
// opens on, so one look could catch the cards of the window before.
func WaitCards(t testing.TB, bctx context.Context, want []string) {
	t.Helper()
	// JSON of the JSON: a JavaScript string literal of the array's JSON,
	// whatever the terms hold.
	js, err := json.Marshal(want)
	if err == nil {
		js, err = json.Marshal(string(js))
	}
	if err != nil {
		t.Fatal(err)
	}
	if Poll(bctx, `document.body.dataset.topics !== undefined && JSON.stringify(`+cardsJS+`) === `+string(js)) {
		return
	}
	got, err := chromedp.Run(bctx, chromedp.Evaluate[[]string](cardsJS))
	t.Fatalf("topics view %q (%v), want the read model's %q", got, err, want)
}

// CheckTopicPage opens the page of topic id from its card in the topics
// view the tab shows, for the window ending at at, and checks its label,
// history, members and example posts against the read model over the four
// hours the page asks for. It returns the read model's page, for checks of
// the caller's own.
func CheckTopicPage(t testing.TB, ctx context.Context, bctx context.Context, st *store.Store, id string, at time.Time) *store.TopicPage {
	t.Helper()
	card := `#topics article.topic[data-id=` + cssString(id) + `] a.topic-link`
	href, err := chromedp.Run(bctx, chromedp.Evaluate[string](`document.querySelector(`+jsString(card)+`).href`))
	if err != nil {
		t.Fatalf("the card of topic %s: %v", id, err)
	}
	Open(t, bctx, href)
	WaitJS(t, bctx, `document.body.dataset.loaded === 'true'`)
	page, err := st.TopicHistory(ctx, id, store.HistoryFilter{Windows: 1440, From: at.Add(-4 * time.Hour), Until: at})
	if err != nil || page == nil || len(page.History) == 0 {
		t.Fatalf("read model history of topic %s: %v (%v)", id, page, err)
	}
	last := page.History[len(page.History)-1]
	var members []string
	for _, m := range last.Members {
		members = append(members, m.Term)
	}
	want := []string{last.Label, fmt.Sprint(len(page.History)), strings.Join(members, ",")}
	for _, e := range page.Examples {
		want = append(want, e.Text)
	}
	got, err := chromedp.Run(bctx, chromedp.Evaluate[[]string](`[document.getElementById('label').textContent, document.body.dataset.points,
		Array.from(document.querySelectorAll('#members tbody tr')).map(tr => tr.dataset.term).join(','),
		...Array.from(document.querySelectorAll('#examples blockquote.post-text')).map(b => b.textContent)]`))
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(got, want) {
		t.Errorf("topic page %q, want the read model's %q", got, want)
	}
	if len(page.Examples) == 0 {
		t.Errorf("topic %s (%s) has no example posts", id, last.Label)
	}
	CheckInert(t, bctx, "topic page "+id)
	return page
}

// CheckTermPage opens the term page at href and checks it against the
// read model as of at, over the four hours before at that the page asks
// for: the heading, the number of windows, a table row per ranked window
// (newest first: end, rank, count, baseline and score), a drawn count line
// and the example posts. f says which term's history it is (source, kind,
// term language); its stretch is set here. It returns the read model's
// examples, for checks of the caller's own.
func CheckTermPage(t testing.TB, ctx context.Context, bctx context.Context, st *store.Store, href, term string, f store.HistoryFilter, at time.Time) []store.Example {
	t.Helper()
	Open(t, bctx, href)
	WaitJS(t, bctx, `document.body.dataset.loaded === 'true' && document.body.dataset.examples !== undefined`)
	f.Windows, f.From, f.Until = store.MaxHistory, at.Add(-4*time.Hour), at
	ps, err := st.TermHistory(ctx, term, f)
	if err != nil {
		t.Fatalf("read model history of %q: %v", term, err)
	}
	ex, err := st.TermExamples(ctx, term, f)
	if err != nil {
		t.Fatalf("read model examples of %q: %v", term, err)
	}
	want := []string{Shown(f.Kind, term), fmt.Sprint(len(ps))}
	for _, p := range slices.Backward(ps) {
		if p.Rank > 0 {
			want = append(want, fmt.Sprintf("%s %d %d %.1f %.1f", ISO(p.End), p.Rank, p.Count, p.Baseline, p.Score))
		}
	}
	for _, e := range ex {
		want = append(want, e.Text)
	}
	got, err := chromedp.Run(bctx, chromedp.Evaluate[[]string](`[document.getElementById('term').textContent, document.body.dataset.points,
		...Array.from(document.querySelectorAll('#windows tbody tr')).map(tr => [new Date(tr.dataset.end).toISOString(),
			tr.querySelector('.rank').textContent, tr.querySelector('.count').textContent.replaceAll(',', ''),
			tr.querySelector('.baseline').textContent, tr.querySelector('.score').textContent].join(' ')),
		...Array.from(document.querySelectorAll('#examples li.example blockquote.post-text')).map(b => b.textContent)]`))
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(got, want) {
		t.Errorf("term page of %q shows\n%q\nwant the read model's\n%q", term, got, want)
	}
	if lines, err := chromedp.Run(bctx, chromedp.Evaluate[int](`document.querySelectorAll('#history-chart polyline.count, #history-chart circle.count').length`)); err != nil || lines == 0 {
		t.Errorf("term page of %q draws no count line (%v)", term, err)
	}
	CheckInert(t, bctx, "term page of "+term)
	return ex
}
