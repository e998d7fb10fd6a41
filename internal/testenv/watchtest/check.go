package watchtest

import (
	"cmp"
	"context"
	"net/http"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"google.golang.org/protobuf/proto"

	"github.com/trendstream/trendstream/internal/core/watchlist"
	"github.com/trendstream/trendstream/internal/readside/store"
	"github.com/trendstream/trendstream/internal/testenv"
	tsv1 "github.com/trendstream/trendstream/proto/trendstream/v1"
)

// Receiver is a local webhook endpoint. While down it answers 503; after
// that it fails the first FailFirst requests of each alert with 503, then
// accepts. It records every request.
type Receiver struct {
	mu        sync.Mutex
	down      bool
	failFirst int
	tries     map[string]int // requests per Idempotency-Key
	accepted  []string       // keys, in order
	failed    int
}

// NewReceiver returns a Receiver that fails each alert's first failFirst
// requests.
func NewReceiver(failFirst int) *Receiver {
	return &Receiver{failFirst: failFirst, tries: map[string]int{}}
}

func (r *Receiver) ServeHTTP(w http.ResponseWriter, req *http.Request) {
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

// SetDown makes r answer every request with 503 (down) or not.
func (r *Receiver) SetDown(down bool) {
	r.mu.Lock()
	r.down = down
	r.mu.Unlock()
}

// Failed is how many requests r has failed.
func (r *Receiver) Failed() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.failed
}

// Accepted are the alert ids r has accepted, sorted.
func (r *Receiver) Accepted() []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	a := slices.Clone(r.accepted)
	slices.Sort(a)
	return a
}

// StoredStatuses reads every per-window status of entries from the read
// model, ordered by entry and window end.
func StoredStatuses(t testing.TB, st *store.Store, entries []watchlist.Entry, until time.Time) []watchlist.Status {
	t.Helper()
	var out []watchlist.Status
	for _, e := range entries {
		ss, err := st.WatchWindows(context.Background(), e.ID, time.Unix(0, 0), until)
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

// StoredAlerts reads the stored alerts, ordered by entry and window end.
func StoredAlerts(t testing.TB, st *store.Store) []store.AlertRecord {
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

// TopicAlerts reads the alerts topic: every record, repeats included.
func TopicAlerts(t testing.TB, brokers []string, topic string) []*tsv1.WatchlistAlert {
	t.Helper()
	var out []*tsv1.WatchlistAlert
	for _, r := range testenv.ReadTopic(t, brokers, topic) {
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

// CheckStatuses compares the stored per-window statuses with want.
func CheckStatuses(t testing.TB, got, want []watchlist.Status) {
	t.Helper()
	if len(got) != len(want) {
		t.Errorf("%d statuses stored, the reference has %d", len(got), len(want))
	}
	for i := range min(len(got), len(want)) {
		if got[i] != want[i] {
			t.Fatalf("status %d:\n got  %+v\n want %+v", i, got[i], want[i])
		}
	}
}

// CheckAlerts compares everything alerts reached with want: PostgreSQL,
// the topic (each exactly once) and the webhook (each accepted exactly
// once).
func CheckAlerts(t testing.TB, st *store.Store, brokers []string, topic string, rcv *Receiver, want []watchlist.Alert) {
	t.Helper()
	got := StoredAlerts(t, st)
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
	for _, a := range TopicAlerts(t, brokers, topic) {
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
	slices.Sort(wantIDs)
	if accepted := rcv.Accepted(); !slices.Equal(accepted, wantIDs) {
		t.Errorf("webhook accepted %v, want each of %v once", accepted, wantIDs)
	}
}
