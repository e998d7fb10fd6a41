package ingest_test

import (
	"context"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	comatproto "github.com/bluesky-social/indigo/api/atproto"
	bsky "github.com/bluesky-social/indigo/api/bsky"
	lexutil "github.com/bluesky-social/indigo/lex/util"
	"github.com/bluesky-social/indigo/xrpc"

	"github.com/trendstream/trendstream/ingest"
	"github.com/trendstream/trendstream/ingest/internal/pdslocal"
	"github.com/trendstream/trendstream/internal/testenv"
	v1 "github.com/trendstream/trendstream/proto/trendstream/v1"
)

// author is one PDS account with an authenticated client.
type author struct {
	did, handle string
	c           *xrpc.Client
}

func newAuthor(ctx context.Context, t *testing.T, pdsURL, name string) *author {
	t.Helper()
	c := &xrpc.Client{Host: pdsURL, Client: &http.Client{Timeout: 30 * time.Second}}
	email, password := name+"@example.com", "hunter2-"+name
	out, err := comatproto.ServerCreateAccount(ctx, c, &comatproto.ServerCreateAccount_Input{
		Handle: name + ".test", Email: &email, Password: &password,
	})
	if err != nil {
		t.Fatalf("create account %s: %v", name, err)
	}
	c.Auth = &xrpc.AuthInfo{AccessJwt: out.AccessJwt, RefreshJwt: out.RefreshJwt, Handle: out.Handle, Did: out.Did}
	return &author{did: out.Did, handle: out.Handle, c: c}
}

// written is what the test wrote, to compare with what Kafka holds.
type written struct {
	uri, cid                string
	rec                     *bsky.FeedPost
	hashtags, links, mentns []string
	deleted                 bool
}

// tagFacet builds a facet over the first occurrence of s in text.
func facet(text, s string, feat *bsky.RichtextFacet_Features_Elem) *bsky.RichtextFacet {
	i := strings.Index(text, s)
	return &bsky.RichtextFacet{Index: &bsky.RichtextFacet_ByteSlice{ByteStart: int64(i), ByteEnd: int64(i + len(s))}, Features: []*bsky.RichtextFacet_Features_Elem{feat}}
}

func (a *author) post(ctx context.Context, t *testing.T, fp *bsky.FeedPost) *written {
	t.Helper()
	fp.LexiconTypeID = "app.bsky.feed.post"
	if fp.CreatedAt == "" {
		fp.CreatedAt = time.Now().UTC().Format("2006-01-02T15:04:05.000Z")
	}
	out, err := comatproto.RepoCreateRecord(ctx, a.c, &comatproto.RepoCreateRecord_Input{
		Repo: a.did, Collection: "app.bsky.feed.post", Record: &lexutil.LexiconTypeDecoder{Val: fp},
	})
	if err != nil {
		t.Fatalf("create post by %s: %v", a.handle, err)
	}
	w := &written{uri: out.Uri, cid: out.Cid, rec: fp}
	for _, f := range fp.Facets {
		for _, ft := range f.Features {
			switch {
			case ft.RichtextFacet_Tag != nil:
				w.hashtags = append(w.hashtags, ft.RichtextFacet_Tag.Tag)
			case ft.RichtextFacet_Link != nil:
				w.links = append(w.links, "example.org")
			case ft.RichtextFacet_Mention != nil:
				w.mentns = append(w.mentns, ft.RichtextFacet_Mention.Did)
			}
		}
	}
	return w
}

func (a *author) delete(ctx context.Context, t *testing.T, w *written) {
	t.Helper()
	rkey := w.uri[strings.LastIndexByte(w.uri, '/')+1:]
	if _, err := comatproto.RepoDeleteRecord(ctx, a.c, &comatproto.RepoDeleteRecord_Input{Repo: a.did, Collection: "app.bsky.feed.post", Rkey: rkey}); err != nil {
		t.Fatalf("delete %s: %v", w.uri, err)
	}
	w.deleted = true
}

// child is the ingest running as its own process.
type child struct {
	cmd  *exec.Cmd
	done chan struct{} // closed when the process has exited
	err  error
	log  string
}

// wait waits for the process to exit and returns its exit error.
func (c *child) wait() error {
	<-c.done
	return c.err
}

func startChild(t *testing.T, relay string, brokers []string, cursor, logName string, env ...string) *child {
	t.Helper()
	logPath := filepath.Join(t.TempDir(), logName)
	lf, err := os.Create(logPath)
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(), childEnv+"=1", "CHILD_RELAY="+relay, "CHILD_BROKERS="+strings.Join(brokers, ","), "CHILD_CURSOR="+cursor)
	cmd.Env = append(cmd.Env, env...)
	cmd.Stdout, cmd.Stderr = lf, lf
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	c := &child{cmd: cmd, done: make(chan struct{}), log: logPath}
	go func() { c.err = cmd.Wait(); lf.Close(); close(c.done) }()
	t.Cleanup(func() {
		_ = cmd.Process.Kill()
		_ = c.wait()
		if t.Failed() {
			b, _ := os.ReadFile(logPath)
			t.Logf("%s:\n%s", logName, tailStr(string(b), 6000))
		}
	})
	return c
}

func tailStr(s string, n int) string {
	if len(s) > n {
		return s[len(s)-n:]
	}
	return s
}

// TestPDSEndToEnd runs the real Bluesky reference PDS locally. Accounts post
// in several languages with hashtags, a mention, a link, a reply, a quote
// and a delete; the ingest, a separate process, is SIGKILLed mid-stream and
// restarted from its persisted cursor; afterwards every post is in Kafka
// exactly as written, exactly once, and the delete is there too.
func TestPDSEndToEnd(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 12*time.Minute)
	defer cancel()
	rt, err := pdslocal.RuntimeDir()
	if err != nil {
		t.Fatal(err)
	}
	if err := pdslocal.Install(ctx, rt, t.Logf); err != nil {
		t.Fatalf("install the reference PDS runtime: %v", err)
	}
	pds, err := pdslocal.Start(ctx, rt, filepath.Join(t.TempDir(), "pds"))
	if err != nil {
		t.Fatal(err)
	}
	defer pds.Stop()
	k := testenv.Kafka(t, 4, ingest.DefaultTopic)

	alice := newAuthor(ctx, t, pds.URL, "alice")
	bob := newAuthor(ctx, t, pds.URL, "bob")
	carol := newAuthor(ctx, t, pds.URL, "carol")
	authors := []*author{alice, bob, carol}

	// First ingest: a fresh deployment backfills from cursor 0.
	c1 := startChild(t, pds.WS, k.Addrs(), "0", "ingest-1.log")

	var all []*written
	texts := []struct {
		text  string
		langs []string
		tag   string
	}{
		{"Hello from the local PDS #trendstream", []string{"en"}, "trendstream"},
		{"Guten Morgen, schönes Wetter heute #Wetter äöüß", []string{"de"}, "Wetter"},
		{"今日はいい天気ですね #日本語", []string{"ja"}, "日本語"},
		{"Bonjour à tous 🎉 #fête", []string{"fr"}, "fête"},
		{"Mixed languages, mixed feelings 🙂", []string{"en", "de"}, ""},
		{"¿Qué tal? #hola", []string{"es"}, "hola"},
	}
	mk := func(i int) *written {
		a := authors[i%len(authors)]
		tx := texts[i%len(texts)]
		text := fmt.Sprintf("%s (n=%d)", tx.text, i)
		fp := &bsky.FeedPost{Text: text, Langs: tx.langs}
		if tx.tag != "" {
			fp.Facets = append(fp.Facets, facet(text, "#"+tx.tag, &bsky.RichtextFacet_Features_Elem{RichtextFacet_Tag: &bsky.RichtextFacet_Tag{LexiconTypeID: "app.bsky.richtext.facet#tag", Tag: tx.tag}}))
		}
		return a.post(ctx, t, fp)
	}
	for i := range 12 {
		all = append(all, mk(i))
	}
	// Special posts: mention + link, reply, quote.
	ml := "hey @bob.test see https://example.org/page"
	mention := alice.post(ctx, t, &bsky.FeedPost{Text: ml, Langs: []string{"en"}, Facets: []*bsky.RichtextFacet{
		facet(ml, "@bob.test", &bsky.RichtextFacet_Features_Elem{RichtextFacet_Mention: &bsky.RichtextFacet_Mention{LexiconTypeID: "app.bsky.richtext.facet#mention", Did: bob.did}}),
		facet(ml, "https://example.org/page", &bsky.RichtextFacet_Features_Elem{RichtextFacet_Link: &bsky.RichtextFacet_Link{LexiconTypeID: "app.bsky.richtext.facet#link", Uri: "https://example.org/page"}}),
	}})
	all = append(all, mention)
	root := all[0]
	reply := bob.post(ctx, t, &bsky.FeedPost{Text: "a reply to alice", Langs: []string{"en"}, Reply: &bsky.FeedPost_ReplyRef{
		Parent: &comatproto.RepoStrongRef{Uri: root.uri, Cid: root.cid}, Root: &comatproto.RepoStrongRef{Uri: root.uri, Cid: root.cid}}})
	all = append(all, reply)

	// Wait until the first posts are in Kafka, then crash the ingest while
	// more posts are being written.
	waitFor(t, 60*time.Second, "first posts in Kafka", func() bool { return len(readTopic(t, k.Addrs(), ingest.DefaultTopic)) >= 5 })
	writing := make(chan []*written)
	go func() {
		var ws []*written
		for i := 100; i < 130; i++ {
			ws = append(ws, mk(i))
		}
		writing <- ws
	}()
	time.Sleep(300 * time.Millisecond)
	if err := c1.cmd.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	_ = c1.wait()
	t.Log("ingest killed")
	all = append(all, <-writing...)

	// Written while no ingest runs.
	quote := carol.post(ctx, t, &bsky.FeedPost{Text: "quoting this one", Langs: []string{"en"}, Embed: &bsky.FeedPost_Embed{
		EmbedRecord: &bsky.EmbedRecord{LexiconTypeID: "app.bsky.embed.record", Record: &comatproto.RepoStrongRef{Uri: reply.uri, Cid: reply.cid}}}})
	all = append(all, quote)
	victim := all[3]
	authorOf(authors, victim).delete(ctx, t, victim)

	// Restart: resumes from the cursor persisted in Kafka.
	c2 := startChild(t, pds.WS, k.Addrs(), "", "ingest-2.log")
	for i := 200; i < 210; i++ {
		all = append(all, mk(i))
	}
	// Deleted while the ingest that read it runs: its delete must carry it
	// (Post.deleted, -delete-lookback), for the pipelines to retract it.
	late := all[len(all)-1]
	authorOf(authors, late).delete(ctx, t, late)

	wantCreates := len(all)
	var got []*v1.Post
	waitFor(t, 90*time.Second, fmt.Sprintf("%d creates and 2 deletes in Kafka", wantCreates), func() bool {
		got = decodePosts(t, readTopic(t, k.Addrs(), ingest.DefaultTopic))
		creates, deletes := map[string]bool{}, 0
		for _, p := range got {
			if p.Operation == v1.Operation_OPERATION_CREATE {
				creates[p.Uri] = true
			} else {
				deletes++
			}
		}
		return len(creates) == wantCreates && deletes >= 2
	})
	// Graceful stop of the second ingest.
	_ = c2.cmd.Process.Signal(syscall.SIGTERM)
	if err := c2.wait(); err != nil {
		t.Errorf("ingest exited with %v after SIGTERM", err)
	}

	byURI := map[string][]*v1.Post{}
	for _, p := range got {
		byURI[p.Uri] = append(byURI[p.Uri], p)
	}
	dups := 0
	for _, w := range all {
		ps := byURI[w.uri]
		var creates []*v1.Post
		var deletes int
		for _, p := range ps {
			if p.Operation == v1.Operation_OPERATION_CREATE {
				creates = append(creates, p)
			} else {
				deletes++
			}
		}
		if len(creates) == 0 {
			t.Errorf("post %s (%q) missing from Kafka", w.uri, w.rec.Text)
			continue
		}
		dups += len(creates) - 1
		p := creates[0]
		a := authorOf(authors, w)
		if p.AuthorDid != a.did || p.Cid != w.cid || p.Text != w.rec.Text || !slices.Equal(p.Langs, w.rec.Langs) ||
			p.CreatedAtRaw != w.rec.CreatedAt || !slices.Equal(p.Hashtags, w.hashtags) || !slices.Equal(p.LinkDomains, w.links) ||
			!slices.Equal(p.Mentions, w.mentns) || p.Source != v1.Source_SOURCE_BLUESKY {
			t.Errorf("post %s differs from what was written:\n got %v\n wrote %+v tags=%q links=%q mentions=%q", w.uri, p, w.rec, w.hashtags, w.links, w.mentns)
		}
		if ca := p.CreatedAt.AsTime(); ca.After(p.ObservedAt.AsTime()) {
			t.Errorf("%s: created_at after observed_at", w.uri)
		}
		if (deletes > 0) != w.deleted {
			t.Errorf("post %s: %d deletes in Kafka, deleted=%v", w.uri, deletes, w.deleted)
		}
		if w == late {
			checkCarried(t, p, ps)
		}
		switch w {
		case reply:
			if p.ReplyParentUri != root.uri || p.ReplyRootUri != root.uri {
				t.Errorf("reply refs = %q, %q; want %q", p.ReplyParentUri, p.ReplyRootUri, root.uri)
			}
		case quote:
			if p.QuotedUri != reply.uri || p.EmbedKind != v1.EmbedKind_EMBED_KIND_RECORD {
				t.Errorf("quote: quoted %q kind %v; want %q RECORD", p.QuotedUri, p.EmbedKind, reply.uri)
			}
		}
	}
	t.Logf("%d posts written, %d messages in Kafka, %d duplicate creates after the crash", len(all), len(got), dups)
	// The restarted ingest reads back what the killed one delivered after
	// its last cursor save and does not write it again.
	if dups > 0 {
		t.Errorf("%d posts written twice across the crash", dups)
	}
}

func authorOf(as []*author, w *written) *author {
	for _, a := range as {
		if strings.HasPrefix(w.uri, "at://"+a.did+"/") {
			return a
		}
	}
	panic("no author for " + w.uri)
}

// checkCarried checks that the delete among ps carries the post p as the
// ingest read it.
func checkCarried(t *testing.T, p *v1.Post, ps []*v1.Post) {
	t.Helper()
	for _, d := range ps {
		if d.Operation != v1.Operation_OPERATION_DELETE {
			continue
		}
		c := d.GetDeleted()
		if c == nil {
			t.Errorf("the delete of %s, read by the ingest that read the post, does not carry it", p.Uri)
			continue
		}
		if c.GetText() != p.Text || !slices.Equal(c.GetLangs(), p.Langs) || !slices.Equal(c.GetHashtags(), p.Hashtags) ||
			!c.GetObservedAt().AsTime().Equal(p.ObservedAt.AsTime()) {
			t.Errorf("the delete of %s carries %v, want the post as read: %v", p.Uri, c, p)
		}
	}
}
