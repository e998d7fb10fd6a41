// Package corpus serves a bundled set of real Bluesky posts for
// benchmarks, pipeline tests and the trend-quality evaluation.
//
// The posts are real text by real authors (see data/ATTRIBUTION.md); their
// timestamps are the clients' created_at, spread over weeks. Callers that
// need a dense stream re-time them onto a compressed clock with Retime.
package corpus

import (
	"bufio"
	"bytes"
	"compress/gzip"
	_ "embed"
	"encoding/json"
	"fmt"
	"strings"
	"sync"
	"time"

	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/timestamppb"

	tsv1 "github.com/trendstream/trendstream/proto/trendstream/v1"
)

//go:embed data/met-most-liked.jsonl.gz
var metMostLiked []byte

type row struct {
	URI       string   `json:"uri"`
	DID       string   `json:"did"`
	CreatedAt string   `json:"created_at"`
	Langs     []string `json:"langs"`
	Text      string   `json:"text"`
	Tags      []string `json:"tags"`
}

var (
	once  sync.Once
	posts []*tsv1.Post
	err   error
)

// Posts returns the bundled posts in created_at order. Their ObservedAt is
// the created_at time. The slice is shared: clone a post before changing it.
func Posts() ([]*tsv1.Post, error) {
	once.Do(func() { posts, err = load(metMostLiked) })
	return posts, err
}

func load(gz []byte) ([]*tsv1.Post, error) {
	zr, err := gzip.NewReader(bytes.NewReader(gz))
	if err != nil {
		return nil, fmt.Errorf("corpus: %w", err)
	}
	sc := bufio.NewScanner(zr)
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	var out []*tsv1.Post
	for sc.Scan() {
		var r row
		if err := json.Unmarshal(sc.Bytes(), &r); err != nil {
			return nil, fmt.Errorf("corpus: line %d: %w", len(out)+1, err)
		}
		t, err := time.Parse(time.RFC3339Nano, r.CreatedAt)
		if err != nil {
			return nil, fmt.Errorf("corpus: line %d: created_at: %w", len(out)+1, err)
		}
		rkey := r.URI[strings.LastIndexByte(r.URI, '/')+1:]
		out = append(out, &tsv1.Post{
			Uri: r.URI, AuthorDid: r.DID, Rkey: rkey, Text: r.Text, Langs: r.Langs,
			CreatedAt: timestamppb.New(t), CreatedAtRaw: r.CreatedAt, ObservedAt: timestamppb.New(t),
			Hashtags: r.Tags, Source: tsv1.Source_SOURCE_BLUESKY, Operation: tsv1.Operation_OPERATION_CREATE,
		})
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("corpus: %w", err)
	}
	return out, nil
}

// Retime returns copies of posts spaced evenly from start, rate per second,
// in their original order: a real mix of texts on a dense clock.
func Retime(posts []*tsv1.Post, start time.Time, rate float64) []*tsv1.Post {
	out := make([]*tsv1.Post, len(posts))
	step := time.Duration(float64(time.Second) / rate)
	for i, p := range posts {
		c := proto.Clone(p).(*tsv1.Post)
		c.ObservedAt = timestamppb.New(start.Add(time.Duration(i) * step))
		out[i] = c
	}
	return out
}
