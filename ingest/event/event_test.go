package event

import (
	"slices"
	"testing"
	"time"

	comatproto "github.com/bluesky-social/indigo/api/atproto"
	bsky "github.com/bluesky-social/indigo/api/bsky"

	v1 "github.com/trendstream/trendstream/proto/trendstream/v1"
)

func TestClampCreatedAt(t *testing.T) {
	obs := time.Date(2026, 7, 4, 14, 38, 7, 0, time.UTC)
	tests := []struct {
		raw        string
		want       time.Time
		wantReason string
	}{
		{"2026-07-04T14:38:06.240Z", time.Date(2026, 7, 4, 14, 38, 6, 240e6, time.UTC), ""},
		{"2026-07-04T16:38:06+02:00", time.Date(2026, 7, 4, 14, 38, 6, 0, time.UTC), ""},
		{"2026-07-04T14:38:06.240", time.Date(2026, 7, 4, 14, 38, 6, 240e6, time.UTC), ""}, // no zone: read as UTC
		{"2026-07-04T14:38:09Z", obs, ReasonClampedCreated},                                // client clock ahead
		{"1970-01-01T00:00:00Z", obs.Add(-MaxClockSkew), ReasonClampedCreated},             // absurdly old
		{"9999-12-31T23:59:59Z", obs, ReasonClampedCreated},                                // absurdly new
		{"yesterday", obs, ReasonBadCreatedAt},
		{"", obs, ReasonBadCreatedAt},
	}
	for _, tt := range tests {
		got, prob := ClampCreatedAt(tt.raw, obs)
		if !got.Equal(tt.want) {
			t.Errorf("ClampCreatedAt(%q) = %v, want %v", tt.raw, got, tt.want)
		}
		reason := ""
		if prob != nil {
			reason = prob.Reason
		}
		if reason != tt.wantReason {
			t.Errorf("ClampCreatedAt(%q) problem = %q, want %q", tt.raw, reason, tt.wantReason)
		}
	}
}

func TestHost(t *testing.T) {
	tests := map[string]string{
		"https://WWW.Example.org/path?q=1": "www.example.org",
		"example.com/x":                    "example.com",
		"http://[::1]:8080/":               "::1",
		"":                                 "",
		"mailto:someone@example.org":       "",
	}
	for in, want := range tests {
		if got := Host(in); got != want {
			t.Errorf("Host(%q) = %q, want %q", in, got, want)
		}
	}
}

func TestFromFeedPost(t *testing.T) {
	obs := time.Date(2026, 7, 4, 14, 38, 7, 0, time.UTC)
	m := Meta{DID: "did:plc:abc", Rkey: "3kxyz", CID: "bafycid", ObservedAt: obs, Cursor: 42}
	tag := func(s string) *bsky.RichtextFacet_Features_Elem {
		return &bsky.RichtextFacet_Features_Elem{RichtextFacet_Tag: &bsky.RichtextFacet_Tag{Tag: s}}
	}
	fp := &bsky.FeedPost{
		Text:      "bad \xff utf8 #Go #go",
		CreatedAt: "2026-07-04T14:38:06Z",
		Langs:     []string{"en", "de"},
		Tags:      []string{"#Extra", "go"},
		Facets: []*bsky.RichtextFacet{
			{Features: []*bsky.RichtextFacet_Features_Elem{tag("Go"), tag("go")}},
			{Features: []*bsky.RichtextFacet_Features_Elem{{RichtextFacet_Mention: &bsky.RichtextFacet_Mention{Did: "did:plc:bob"}}}},
			{Features: []*bsky.RichtextFacet_Features_Elem{{RichtextFacet_Link: &bsky.RichtextFacet_Link{Uri: "https://News.example/a"}}}},
			nil,
		},
		Reply: &bsky.FeedPost_ReplyRef{Parent: &comatproto.RepoStrongRef{Uri: "at://p"}, Root: &comatproto.RepoStrongRef{Uri: "at://r"}},
		Embed: &bsky.FeedPost_Embed{EmbedRecordWithMedia: &bsky.EmbedRecordWithMedia{
			Record: &bsky.EmbedRecord{Record: &comatproto.RepoStrongRef{Uri: "at://q"}},
			Media:  &bsky.EmbedRecordWithMedia_Media{EmbedExternal: &bsky.EmbedExternal{External: &bsky.EmbedExternal_External{Uri: "https://card.example/x"}}},
		}},
	}
	p, probs := FromFeedPost(m, fp)
	if p.Text != "bad \uFFFD utf8 #Go #go" || len(probs) != 1 || probs[0].Reason != ReasonInvalidUTF8 {
		t.Errorf("text %q, problems %+v", p.Text, probs)
	}
	checks := []struct {
		name      string
		got, want []string
	}{
		{"hashtags", p.Hashtags, []string{"Go", "Extra"}},
		{"mentions", p.Mentions, []string{"did:plc:bob"}},
		{"link_domains", p.LinkDomains, []string{"news.example", "card.example"}},
		{"langs", p.Langs, []string{"en", "de"}},
	}
	for _, c := range checks {
		if !slices.Equal(c.got, c.want) {
			t.Errorf("%s = %q, want %q", c.name, c.got, c.want)
		}
	}
	if p.Uri != "at://did:plc:abc/app.bsky.feed.post/3kxyz" || p.ReplyParentUri != "at://p" || p.ReplyRootUri != "at://r" ||
		p.QuotedUri != "at://q" || p.EmbedKind != v1.EmbedKind_EMBED_KIND_RECORD_WITH_MEDIA || p.Cursor != 42 ||
		p.Operation != v1.Operation_OPERATION_CREATE || p.Source != v1.Source_SOURCE_BLUESKY || !p.ObservedAt.AsTime().Equal(obs) {
		t.Errorf("post = %v", p)
	}
	d := Delete(m)
	if d.Cid != "" || d.Text != "" || d.Operation != v1.Operation_OPERATION_DELETE || d.Uri != p.Uri {
		t.Errorf("delete = %v", d)
	}
}
