package jetstream

import (
	"errors"
	"testing"

	"github.com/trendstream/trendstream/ingest/event"
	v1 "github.com/trendstream/trendstream/proto/trendstream/v1"
)

func TestDecode(t *testing.T) {
	tests := []struct {
		name     string
		in       string
		wantErr  error
		wantKind event.Kind
		posts    int
		problems int
	}{
		{"not json", `{"did":`, ErrMalformed, "", 0, 0},
		{"no time", `{"did":"did:plc:a","kind":"identity"}`, ErrMalformed, "", 0, 0},
		{"commit without collection", `{"did":"did:plc:a","time_us":5,"kind":"commit","commit":{}}`, ErrMalformed, "", 0, 0},
		{"identity", `{"did":"did:plc:a","time_us":5,"kind":"identity","identity":{}}`, nil, event.KindIdentity, 0, 0},
		{"account", `{"did":"did:plc:a","time_us":5,"kind":"account","account":{}}`, nil, event.KindAccount, 0, 0},
		{"unknown kind is counted, not fatal", `{"did":"did:plc:a","time_us":5,"kind":"weird"}`, nil, event.KindUnknown, 0, 1},
		{"like is skipped", `{"did":"did:plc:a","time_us":5,"kind":"commit","commit":{"operation":"create","collection":"app.bsky.feed.like","rkey":"x","record":{}}}`, nil, event.KindCommit, 0, 0},
		{"post delete", `{"did":"did:plc:a","time_us":5,"kind":"commit","commit":{"operation":"delete","collection":"app.bsky.feed.post","rkey":"x"}}`, nil, event.KindCommit, 1, 0},
		{"post with bad record is a problem", `{"did":"did:plc:a","time_us":5,"kind":"commit","commit":{"operation":"create","collection":"app.bsky.feed.post","rkey":"x","record":{"text":7}}}`, nil, event.KindCommit, 0, 1},
		// encoding/json turns the invalid bytes into U+FFFD; the event
		// must not become a post by an author named "did:plc:\uFFFD".
		{"did not UTF-8", "{\"did\":\"did:plc:\xff\",\"time_us\":5,\"kind\":\"commit\",\"commit\":{\"operation\":\"delete\",\"collection\":\"app.bsky.feed.post\",\"rkey\":\"x\"}}", ErrMalformed, "", 0, 0},
		{"did with an escaped lone surrogate", `{"did":"did:plc:\ud800","time_us":5,"kind":"identity"}`, ErrMalformed, "", 0, 0},
		{"rkey not UTF-8", "{\"did\":\"did:plc:a\",\"time_us\":5,\"kind\":\"commit\",\"commit\":{\"operation\":\"delete\",\"collection\":\"app.bsky.feed.post\",\"rkey\":\"x\xc3\"}}", ErrMalformed, "", 0, 0},
		{"post", `{"did":"did:plc:a","time_us":1783175888090631,"kind":"commit","commit":{"operation":"create","collection":"app.bsky.feed.post","rkey":"x","cid":"bafy","record":{"$type":"app.bsky.feed.post","text":"hi #x","createdAt":"2026-07-04T14:38:06.240Z","facets":[{"features":[{"$type":"app.bsky.richtext.facet#tag","tag":"x"}],"index":{"byteStart":3,"byteEnd":5}}]}}}`, nil, event.KindCommit, 1, 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ev, err := Decode([]byte(tt.in))
			if !errors.Is(err, tt.wantErr) || (err == nil) != (tt.wantErr == nil) {
				t.Fatalf("err = %v, want %v", err, tt.wantErr)
			}
			if err != nil {
				return
			}
			if ev.Kind != tt.wantKind || len(ev.Posts) != tt.posts || len(ev.Problems) != tt.problems {
				t.Fatalf("kind %s posts %d problems %+v", ev.Kind, len(ev.Posts), ev.Problems)
			}
			for _, p := range ev.Posts {
				if p.Cursor != ev.Cursor || p.AuthorDid != "did:plc:a" {
					t.Errorf("post %v", p)
				}
				if p.Operation == v1.Operation_OPERATION_CREATE && (p.Text != "hi #x" || len(p.Hashtags) != 1 || p.Cid != "bafy") {
					t.Errorf("post %v", p)
				}
			}
		})
	}
}
