package watchlist

import (
	"cmp"
	"context"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/apache/beam/sdks/v2/go/pkg/beam"
	"google.golang.org/protobuf/proto"

	"github.com/trendstream/trendstream/internal/replaytest"
	"github.com/trendstream/trendstream/internal/store"
	"github.com/trendstream/trendstream/internal/testenv"
	"github.com/trendstream/trendstream/internal/watchlist"
	"github.com/trendstream/trendstream/internal/watchlist/watchtest"
	tsv1 "github.com/trendstream/trendstream/proto/trendstream/v1"
	"github.com/trendstream/trendstream/transforms/kafkaio"
)

func TestMain(m *testing.M) {
	beam.Init()
	testenv.Main(m)
}

var t0 = time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)

const postsTopic, alertsTopic = "trendstream.posts", "trendstream.watchlist.alerts"

// receiver is a local webhook endpoint. While down it answers 503; after
// that it fails the first failFirst requests of each alert with 503, then
// accepts. It records every request.
type receiver struct {
	mu        sync.Mutex
	down      bool
	failFirst int
	tries     map[string]int // requests per Idempotency-Key
	accepted  []string       // keys, in order
	failed    int
}

func newReceiver(failFirst int) *receiver {
	return &receiver{failFirst: failFirst, tries: map[string]int{}}
}

func (r *receiver) ServeHTTP(w http.ResponseWriter, req *http.Request) {
	key := req.Header.Get("Idempotency-Key")
	r.mu.Lock()
	defer r.mu.Unlock()
	r.tries[key]++
	if r.down || r.tries[key] <= r.failFirst {
		r.failed++
		w.WriteHeader(http.StatusServiceUnavailable)
		return
	}
	r.accepted = append(r.accepted, key)
	w.WriteHeader(http.StatusOK)
}

func (r *receiver) setDown(down bool) {
	r.mu.Lock()
	r.down = down
	r.mu.Unlock()
}

func testOptions(brokers []string, db, hook string) Options {
	o := DefaultOptions()
	o.Brokers = strings.Join(brokers, ",")
	o.Topic, o.AlertsTopic, o.DatabaseURL = postsTopic, alertsTopic, db
	o.Bounded = true
	o.Start = kafkaio.Start{Kind: kafkaio.StartEarliest}
	o.Entries = watchtest.Entries()
	o.Webhook.URL = hook
	o.Webhook.FirstBackoff, o.Webhook.MaxBackoff, o.Webhook.Attempts = 10*time.Millisecond, 50*time.Millisecond, 4
	return o
}

func run(t testing.TB, o Options) {
	t.Helper()
	p, err := Build(o)
	if err != nil {
		t.Fatal(err)
	}
	testenv.RunOnPrism(t, p)
}

// reference computes what the pipeline o configures must produce from
// posts; the stream starts at t0, where Build finds it in Kafka.
func reference(t testing.TB, o Options, posts []*tsv1.Post) ([]watchlist.Status, []watchlist.Alert) {
	t.Helper()
	c := o.Reference()
	c.StreamStart = t0
	st, al, err := watchlist.Compute(c, o.Entries, posts)
	if err != nil {
		t.Fatal(err)
	}
	return st, al
}

func storedStatuses(t testing.TB, st *store.Store, entries []watchlist.Entry) []watchlist.Status {
	t.Helper()
	var out []watchlist.Status
	for _, e := range entries {
		ss, err := st.WatchWindows(context.Background(), e.ID, time.Unix(0, 0), t0.Add(24*time.Hour))
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, ss...)
	}
	slices.SortFunc(out, func(a, b watchlist.Status) int {
		return cmp.Or(strings.Compare(a.EntryID, b.EntryID), cmp.Compare(a.WindowEnd, b.WindowEnd))
	})
	return out
}

func storedAlerts(t testing.TB, st *store.Store) []store.AlertRecord {
	t.Helper()
	rs, err := st.Alerts(context.Background(), store.AlertFilter{Limit: 1000})
	if err != nil {
		t.Fatal(err)
	}
	slices.SortFunc(rs, func(a, b store.AlertRecord) int {
		return cmp.Or(strings.Compare(a.EntryID, b.EntryID), cmp.Compare(a.WindowEnd, b.WindowEnd))
	})
	return rs
}

// topicAlerts reads the alerts topic: every record, repeats included.
func topicAlerts(t testing.TB, brokers []string) []*tsv1.WatchlistAlert {
	t.Helper()
	var out []*tsv1.WatchlistAlert
	for _, r := range testenv.ReadTopic(t, brokers, alertsTopic) {
		var a tsv1.WatchlistAlert
		if err := proto.Unmarshal(r.Value, &a); err != nil {
			t.Fatal(err)
		}
		if string(r.Key) != a.GetAlertId() {
			t.Errorf("record key %q, alert id %q", r.Key, a.GetAlertId())
		}
		out = append(out, &a)
	}
	return out
}

// checkAlerts compares everything alerts reached with want: PostgreSQL,
// the topic (each exactly once) and the webhook (each accepted exactly
// once).
func checkAlerts(t *testing.T, st *store.Store, brokers []string, rcv *receiver, want []watchlist.Alert, entries []watchlist.Entry) {
	t.Helper()
	byID := map[string]watchlist.Entry{}
	for _, e := range entries {
		byID[e.ID] = e
	}
	got := storedAlerts(t, st)
	if len(got) != len(want) {
		t.Errorf("%d alerts stored, the reference has %d", len(got), len(want))
	}
	for i := range min(len(got), len(want)) {
		if got[i].Alert != want[i] {
			t.Errorf("alert %d:\n got  %+v\n want %+v", i, got[i].Alert, want[i])
		}
		if got[i].PublishedAt == nil || got[i].DeliveredAt == nil {
			t.Errorf("alert %s: published %v, delivered %v (error %q)", got[i].ID, got[i].PublishedAt, got[i].DeliveredAt, got[i].WebhookError)
		}
	}
	onTopic := map[string]int{}
	for _, a := range topicAlerts(t, brokers) {
		onTopic[a.GetAlertId()]++
	}
	for _, w := range want {
		if onTopic[w.ID] != 1 {
			t.Errorf("alert %s on the topic %d times, want once", w.ID, onTopic[w.ID])
		}
		delete(onTopic, w.ID)
	}
	for id, n := range onTopic {
		t.Errorf("alert %s on the topic %d times: not in the reference", id, n)
	}
	var wantIDs []string
	for _, w := range want {
		wantIDs = append(wantIDs, w.ID)
	}
	rcv.mu.Lock()
	accepted := slices.Clone(rcv.accepted)
	rcv.mu.Unlock()
	slices.Sort(accepted)
	slices.Sort(wantIDs)
	if !slices.Equal(accepted, wantIDs) {
		t.Errorf("webhook accepted %v, want each of %v once", accepted, wantIDs)
	}
}

// TestPipelineEqualsReference replays real posts with injected surges
// through Kafka and the pipeline on Prism: every entry's per-window status
// in PostgreSQL and every alert equal the single-process reference's, each
// surge alerts exactly once and nothing else does, and every alert reaches
// the topic once and the webhook once although the receiver fails each
// alert's first two requests.
func TestPipelineEqualsReference(t *testing.T) {
	kc := testenv.Kafka(t, 3, postsTopic, alertsTopic)
	db := testenv.Postgres(t)
	posts, err := watchtest.Scenario(t0)
	if err != nil {
		t.Fatal(err)
	}
	replaytest.MustProduce(t, kc.Addrs(), postsTopic, posts)
	rcv := newReceiver(2)
	hook := httptest.NewServer(rcv)
	defer hook.Close()

	o := testOptions(kc.Addrs(), db, hook.URL)
	run(t, o)

	wantStatuses, wantAlerts := reference(t, o, posts)
	watchtest.CheckSurgeAlerts(t, t0, o.WindowPeriod, wantAlerts)
	st, err := store.Open(context.Background(), db)
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	gotStatuses := storedStatuses(t, st, o.Entries)
	if len(gotStatuses) != len(wantStatuses) {
		t.Errorf("%d statuses stored, the reference has %d", len(gotStatuses), len(wantStatuses))
	}
	for i := range min(len(gotStatuses), len(wantStatuses)) {
		if gotStatuses[i] != wantStatuses[i] {
			t.Fatalf("status %d:\n got  %+v\n want %+v", i, gotStatuses[i], wantStatuses[i])
		}
	}
	checkAlerts(t, st, kc.Addrs(), rcv, wantAlerts, o.Entries)
	rcv.mu.Lock()
	if rcv.failed != 2*len(wantAlerts) {
		t.Errorf("receiver failed %d requests, want 2 per alert (%d)", rcv.failed, 2*len(wantAlerts))
	}
	rcv.mu.Unlock()
}

// TestRestartNeitherRepeatsNorLoses stops the stream in the middle: the
// first run sees the posts up to a point between two surges while the
// webhook receiver is down; then the rest of the posts arrive and the
// watchlist starts again as the command does (pending deliveries first,
// then the pipeline from the earliest offset). Every alert of the whole
// stream ends up stored, on the topic and accepted by the webhook exactly
// once: none repeated by the re-run, none lost to the outage or the stop.
func TestRestartNeitherRepeatsNorLoses(t *testing.T) {
	kc := testenv.Kafka(t, 3, postsTopic, alertsTopic)
	db := testenv.Postgres(t)
	posts, err := watchtest.Scenario(t0)
	if err != nil {
		t.Fatal(err)
	}
	cut := t0.Add(62 * time.Minute) // after the third surge, before the fourth
	i := slices.IndexFunc(posts, func(p *tsv1.Post) bool { return !p.GetObservedAt().AsTime().Before(cut) })
	first, rest := posts[:i], posts[i:]

	rcv := newReceiver(1)
	rcv.setDown(true)
	hook := httptest.NewServer(rcv)
	defer hook.Close()
	o := testOptions(kc.Addrs(), db, hook.URL)

	replaytest.MustProduce(t, kc.Addrs(), postsTopic, first)
	run(t, o)
	st, err := store.Open(context.Background(), db)
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	_, wantFirst := reference(t, o, first)
	before := storedAlerts(t, st)
	if len(wantFirst) < 3 || len(before) != len(wantFirst) {
		t.Fatalf("first run: %d alerts stored, reference %d (want at least 3 to test a restart)", len(before), len(wantFirst))
	}
	for _, a := range before {
		if a.PublishedAt == nil || a.DeliveredAt != nil || a.WebhookAttempts != o.Webhook.Attempts {
			t.Errorf("first run, receiver down: alert %s published %v, delivered %v after %d attempts", a.ID, a.PublishedAt, a.DeliveredAt, a.WebhookAttempts)
		}
	}

	// The restart.
	rcv.setDown(false)
	replaytest.MustProduce(t, kc.Addrs(), postsTopic, rest)
	n, err := DeliverPending(context.Background(), o)
	if err != nil {
		t.Fatal(err)
	}
	if n != len(before) {
		t.Errorf("delivered %d pending alerts, want %d", n, len(before))
	}
	run(t, o)

	_, want := reference(t, o, posts)
	watchtest.CheckSurgeAlerts(t, t0, o.WindowPeriod, want)
	checkAlerts(t, st, kc.Addrs(), rcv, want, o.Entries)
}

func TestOptionsValidate(t *testing.T) {
	for name, mut := range map[string]func(*Options){
		"no brokers":     func(o *Options) { o.Brokers = " , " },
		"no posts topic": func(o *Options) { o.Topic = "" },
		"nowhere to go":  func(o *Options) { o.AlertsTopic, o.DatabaseURL = "", "" },
		"no entries":     func(o *Options) { o.Entries = nil },
		"bad entry":      func(o *Options) { o.Entries = []watchlist.Entry{{ID: "x", Kind: "x", Text: "x"}} },
		"bad windows":    func(o *Options) { o.WindowSize = 90 * time.Second },
		"bad webhook":    func(o *Options) { o.Webhook.URL, o.Webhook.Attempts = "http://x", 0 },
		"read batch":     func(o *Options) { o.ReadBatch = 0 },
	} {
		o := DefaultOptions()
		o.Entries = watchtest.Entries()
		mut(&o)
		if err := o.Validate(); err == nil {
			t.Errorf("%s: no error", name)
		}
	}
	o := DefaultOptions()
	o.Entries = watchtest.Entries()
	if err := o.Validate(); err != nil {
		t.Errorf("defaults: %v", err)
	}
}
