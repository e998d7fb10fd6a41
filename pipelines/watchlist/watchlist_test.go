package watchlist

import (
	"context"
	"net/http/httptest"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/apache/beam/sdks/v2/go/pkg/beam"

	"github.com/trendstream/trendstream/internal/core/watchlist"
	"github.com/trendstream/trendstream/internal/readside/store"
	"github.com/trendstream/trendstream/internal/testenv"
	"github.com/trendstream/trendstream/internal/testenv/replaytest"
	"github.com/trendstream/trendstream/internal/testenv/watchtest"
	tsv1 "github.com/trendstream/trendstream/proto/trendstream/v1"
	"github.com/trendstream/trendstream/transforms/kafkaio"
)

func TestMain(m *testing.M) {
	beam.Init()
	testenv.Main(m)
}

var t0 = time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)

const postsTopic, alertsTopic = "trendstream.posts", "trendstream.watchlist.alerts"

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
	rcv := watchtest.NewReceiver(2)
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
	watchtest.CheckStatuses(t, watchtest.StoredStatuses(t, st, o.Entries, t0.Add(24*time.Hour)), wantStatuses)
	watchtest.CheckAlerts(t, st, kc.Addrs(), alertsTopic, rcv, wantAlerts)
	if n := rcv.Failed(); n != 2*len(wantAlerts) {
		t.Errorf("receiver failed %d requests, want 2 per alert (%d)", n, 2*len(wantAlerts))
	}
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

	rcv := watchtest.NewReceiver(1)
	rcv.SetDown(true)
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
	before := watchtest.StoredAlerts(t, st)
	if len(wantFirst) < 3 || len(before) != len(wantFirst) {
		t.Fatalf("first run: %d alerts stored, reference %d (want at least 3 to test a restart)", len(before), len(wantFirst))
	}
	for _, a := range before {
		if a.PublishedAt == nil || a.DeliveredAt != nil || a.WebhookAttempts != o.Webhook.Attempts {
			t.Errorf("first run, receiver down: alert %s published %v, delivered %v after %d attempts", a.ID, a.PublishedAt, a.DeliveredAt, a.WebhookAttempts)
		}
	}

	// The restart.
	rcv.SetDown(false)
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
	watchtest.CheckAlerts(t, st, kc.Addrs(), alertsTopic, rcv, want)
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
