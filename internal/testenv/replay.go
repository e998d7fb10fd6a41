package testenv

import (
	"testing"

	"github.com/trendstream/trendstream/internal/services/kafkalocal"
	"github.com/trendstream/trendstream/internal/testenv/replaytest"
	tsv1 "github.com/trendstream/trendstream/proto/trendstream/v1"
)

// The topics of a pipeline test's Kafka: the ingest's posts and the
// pipeline's results, named as in production so the pipeline's defaults
// find them.
const (
	PostsTopic  = "trendstream.posts"
	TrendsTopic = "trendstream.trends"
)

// Replay starts a Kafka-protocol cluster (Kafka) with PostsTopic and
// TrendsTopic of the given partition count, and produces posts into
// PostsTopic as the ingest does (replaytest.Produce), in order: what a
// pipeline run then reads is a recording's replay.
func Replay(t testing.TB, partitions int32, posts []*tsv1.Post) *kafkalocal.Cluster {
	t.Helper()
	kc := Kafka(t, partitions, PostsTopic, TrendsTopic)
	replaytest.MustProduce(t, kc.Addrs(), PostsTopic, posts)
	return kc
}
