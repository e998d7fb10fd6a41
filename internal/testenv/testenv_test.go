package testenv

import (
	"bytes"
	"context"
	"fmt"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/IBM/sarama"
	"github.com/jackc/pgx/v5"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/timestamppb"

	"github.com/trendstream/trendstream/internal/platform/kafkaconf"
	tsv1 "github.com/trendstream/trendstream/proto/trendstream/v1"
)

func TestMain(m *testing.M) { Main(m) }

// TestKafkaRoundTripWithKcat produces protobuf Posts with the production
// sarama settings to the in-process cluster and reads them back with an
// independent client (librdkafka's kcat), comparing keys and values byte for
// byte and checking the record timestamp carries the post's event time.
func TestKafkaRoundTripWithKcat(t *testing.T) {
	kcat, err := exec.LookPath("kcat")
	if err != nil {
		t.Fatal("kcat is required for this test (apt-get install kcat)")
	}
	const topic = "posts"
	kc := Kafka(t, 1, topic)
	brokers := kc.Addrs()

	base := time.Date(2026, 7, 4, 14, 38, 6, 0, time.UTC)
	var sent []*sarama.ProducerMessage
	var want [][]byte
	for i := range 20 {
		p := &tsv1.Post{
			Uri:        fmt.Sprintf("at://did:plc:author%d/app.bsky.feed.post/3k%d", i%3, i),
			AuthorDid:  fmt.Sprintf("did:plc:author%d", i%3),
			Rkey:       fmt.Sprintf("3k%d", i),
			Text:       fmt.Sprintf("post %d über #Beam 日本語 🚀", i),
			Langs:      []string{"en", "de"},
			ObservedAt: timestamppb.New(base.Add(time.Duration(i) * time.Second)),
			Hashtags:   []string{"Beam"},
			Cursor:     int64(31527015322 + i),
			Source:     tsv1.Source_SOURCE_BLUESKY,
			Operation:  tsv1.Operation_OPERATION_CREATE,
		}
		b, err := proto.Marshal(p)
		if err != nil {
			t.Fatal(err)
		}
		want = append(want, b)
		sent = append(sent, &sarama.ProducerMessage{
			Topic:     topic,
			Key:       sarama.StringEncoder(p.AuthorDid),
			Value:     sarama.ByteEncoder(b),
			Timestamp: p.ObservedAt.AsTime(),
		})
	}
	cfg := kafkaconf.Producer("testenv-test")
	prod, err := sarama.NewSyncProducer(brokers, cfg)
	if err != nil {
		t.Fatal(err)
	}
	if err := prod.SendMessages(sent); err != nil {
		t.Fatal(err)
	}
	if err := prod.Close(); err != nil {
		t.Fatal(err)
	}

	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	// -e exits at the end of the partition. Each record is printed as
	// key, timestamp (ms) and value length, then the raw value bytes, so
	// binary protobuf values are compared exactly.
	cmd := exec.CommandContext(ctx, kcat, "-C", "-b", strings.Join(brokers, ","), "-t", topic,
		"-o", "beginning", "-e", "-q", "-f", "%k\t%T\t%S\t%s")
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("kcat: %v\n%s", err, stderr.String())
	}
	for i := range want {
		var key string
		var ts, n int64
		hdr := bytes.SplitN(out, []byte("\t"), 4)
		if len(hdr) != 4 {
			t.Fatalf("kcat output ended after %d records, want %d", i, len(want))
		}
		key = string(hdr[0])
		fmt.Sscan(string(hdr[1]), &ts)
		fmt.Sscan(string(hdr[2]), &n)
		if int64(len(hdr[3])) < n {
			t.Fatalf("record %d: short value", i)
		}
		got := hdr[3][:n]
		out = hdr[3][n:]
		if !bytes.Equal(got, want[i]) {
			t.Errorf("record %d differs from what was produced", i)
		}
		if wantKey := fmt.Sprintf("did:plc:author%d", i%3); key != wantKey {
			t.Errorf("record %d key %q, want %q", i, key, wantKey)
		}
		if wantTS := base.Add(time.Duration(i) * time.Second).UnixMilli(); ts != wantTS {
			t.Errorf("record %d timestamp %d, want %d", i, ts, wantTS)
		}
		var p tsv1.Post
		if err := proto.Unmarshal(got, &p); err != nil || p.Rkey != fmt.Sprintf("3k%d", i) {
			t.Errorf("record %d does not decode as the Post sent: %v %v", i, err, p.Rkey)
		}
	}
	if len(out) != 0 {
		t.Errorf("kcat returned %d bytes beyond the %d records produced", len(out), len(want))
	}
}

func TestPostgresRowRoundTrip(t *testing.T) {
	url := Postgres(t)
	ctx := context.Background()
	conn, err := pgx.Connect(ctx, url)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(ctx)
	if _, err := conn.Exec(ctx, `CREATE TABLE probe (term text PRIMARY KEY, n bigint)`); err != nil {
		t.Fatal(err)
	}
	if _, err := conn.Exec(ctx, `INSERT INTO probe VALUES ($1, $2)`, "日本語 #tag", 42); err != nil {
		t.Fatal(err)
	}
	var term string
	var n int64
	if err := conn.QueryRow(ctx, `SELECT term, n FROM probe`).Scan(&term, &n); err != nil {
		t.Fatal(err)
	}
	if term != "日本語 #tag" || n != 42 {
		t.Fatalf("got (%q, %d)", term, n)
	}
	// Each call gets its own database.
	if other := Postgres(t); other == url {
		t.Fatal("two Postgres calls returned the same database")
	}
}
