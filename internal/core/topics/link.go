package topics

import (
	"strings"
	"time"
)

func timeMs(ms int64) time.Time { return time.UnixMilli(ms).UTC() }

// PostURL is the bsky.app page of the post with at:// URI uri
// (at://<did>/app.bsky.feed.post/<rkey>), or "" when uri is not one.
func PostURL(uri string) string {
	rest, ok := strings.CutPrefix(uri, "at://")
	if !ok {
		return ""
	}
	parts := strings.Split(rest, "/")
	if len(parts) != 3 || parts[0] == "" || parts[1] != "app.bsky.feed.post" || parts[2] == "" {
		return ""
	}
	return "https://bsky.app/profile/" + parts[0] + "/post/" + parts[2]
}
