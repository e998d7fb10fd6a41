package trending

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/IBM/sarama"

	"github.com/trendstream/trendstream/internal/platform/kafkaconf"
	"github.com/trendstream/trendstream/internal/platform/kafkaoffsets"
	"github.com/trendstream/trendstream/internal/testenv"
	"github.com/trendstream/trendstream/internal/testenv/replaytest"
	"github.com/trendstream/trendstream/transforms/kafkaio"
)

// TestCommittedResumeKeepsCompleteWindows replays the scenario once from
// the earliest offset, then again from commits halfway through each
// partition, as a restart with -start committed does. The second run holds
// no state from the first, so the windows that begin before its start miss
// posts: it must not emit them (each run writes a higher revision, so they
// would overwrite the first run's complete windows), and the windows it
// does emit must count every post. The read model's window rows must end
// as the reference's.
func TestCommittedResumeKeepsCompleteWindows(t *testing.T) {
	const postsTopic, trendsFirst, trendsResumed = "resume.posts", "resume.trends.first", "resume.trends.resumed"
	kc := testenv.Kafka(t, 4, postsTopic, trendsFirst, trendsResumed)
	db := testenv.Postgres(t)
	posts := replaytest.MustScenario(t, t0)
	replaytest.MustProduce(t, kc.Addrs(), postsTopic, posts)

	o := testOptions(kc.Addrs(), db)
	o.Topic, o.TrendsTopic = postsTopic, trendsFirst
	run(t, o)
	want := expected(t, posts, o)

	const group = "resume-group"
	client, err := sarama.NewClient(kc.Addrs(), kafkaconf.Consumer("resume-test"))
	if err != nil {
		t.Fatal(err)
	}
	defer client.Close()
	ends, err := kafkaoffsets.End(context.Background(), client, postsTopic)
	if err != nil {
		t.Fatal(err)
	}
	half := map[int32]int64{}
	for p, end := range ends {
		half[p] = end / 2
	}
	if err := kafkaoffsets.Commit(context.Background(), client, group, postsTopic, half); err != nil {
		t.Fatal(err)
	}
	resumed := o
	resumed.TrendsTopic, resumed.Group = trendsResumed, group
	resumed.Start = kafkaio.Start{Kind: kafkaio.StartCommitted}
	rs, err := kafkaio.StreamStart(kc.Addrs(), postsTopic, resumed.Start, group, time.Minute)
	if err != nil {
		t.Fatal(err)
	}
	if rs.Complete.IsZero() {
		t.Fatal("a read from commits halfway through is not mid-stream")
	}
	run(t, resumed)

	got := readSnapshots(t, kc.Addrs(), trendsResumed)
	whole := 0
	for key, w := range want {
		if w.WindowStart.AsTime().Before(rs.Complete) {
			if _, ok := got[key]; ok {
				t.Errorf("window %s begins at %v, before the resumed read's complete windows (%v), and was emitted", key, w.WindowStart.AsTime(), rs.Complete)
			}
			continue
		}
		whole++
		g, ok := got[key]
		switch {
		case !ok:
			t.Errorf("window %s begins after the resumed read's start and was not emitted", key)
		case g.Posts != w.Posts:
			t.Errorf("window %s: %d posts, want %d", key, g.Posts, w.Posts)
		}
	}
	if whole == 0 {
		t.Fatalf("no reference window begins after %v: the test proves nothing", rs.Complete)
	}
	t.Logf("resumed at %v: %d of %d windows whole and emitted", rs.Complete, whole, len(want))

	var gotRows, wantRows []string
	for _, r := range dumpDB(t, db) {
		if strings.HasPrefix(r, "w") {
			gotRows = append(gotRows, r)
		}
	}
	for _, r := range rowsOf(want) {
		if strings.HasPrefix(r, "w") {
			wantRows = append(wantRows, r)
		}
	}
	if d := diffRows(gotRows, wantRows); d != "" {
		t.Errorf("the read model's windows differ from the reference after the resume:\n%s", d)
	}
}
