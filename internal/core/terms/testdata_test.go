package terms

import (
	"bufio"
	"encoding/json"
	"os"
	"strings"
	"testing"

	tsv1 "github.com/trendstream/trendstream/proto/trendstream/v1"
)

// samplePost is one line of testdata/posts.jsonl (see ATTRIBUTION.md).
type samplePost struct {
	URI       string  `json:"uri"`
	AuthorDID string  `json:"author_did"`
	Langs     string  `json:"langs"`
	Text      string  `json:"text"`
	Facets    *string `json:"facets"`
	Tags      *string `json:"tags"`
}

// loadSample reads the recorded posts as the ingest would have produced
// them: hashtags from tag facets and the tags field, languages split.
func loadSample(tb testing.TB) []*tsv1.Post {
	tb.Helper()
	f, err := os.Open("testdata/posts.jsonl")
	if err != nil {
		tb.Fatalf("open sample: %v", err)
	}
	defer f.Close()
	var posts []*tsv1.Post
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 0, 1<<16), 1<<20)
	for sc.Scan() {
		var s samplePost
		if err := json.Unmarshal(sc.Bytes(), &s); err != nil {
			tb.Fatalf("decode sample line %d: %v", len(posts)+1, err)
		}
		p := &tsv1.Post{Uri: s.URI, AuthorDid: s.AuthorDID, Text: s.Text, Operation: tsv1.Operation_OPERATION_CREATE}
		if s.Langs != "" {
			p.Langs = strings.Split(s.Langs, ";")
		}
		if s.Facets != nil {
			for _, f := range strings.Split(*s.Facets, ";") {
				if tag, ok := strings.CutPrefix(f, "tag:"); ok {
					p.Hashtags = append(p.Hashtags, tag)
				}
			}
		}
		if s.Tags != nil {
			p.Hashtags = append(p.Hashtags, strings.Split(*s.Tags, ";")...)
		}
		posts = append(posts, p)
	}
	if err := sc.Err(); err != nil {
		tb.Fatalf("read sample: %v", err)
	}
	return posts
}
