package store_test

import (
	"context"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/trendstream/trendstream/internal/readside/store"
	tsv1 "github.com/trendstream/trendstream/proto/trendstream/v1"
)

func deleted(e *tsv1.ExamplePost, author string, at time.Time) store.DeletedPost {
	return store.DeletedPost{Source: tsv1.Source_SOURCE_BLUESKY, URI: e.GetUri(), AuthorDID: author, DeletedAt: at}
}

// exampleRows counts the example rows of uri, in every window.
func exampleRows(t *testing.T, s *store.Store, uri string) int {
	t.Helper()
	var n int
	if err := s.Pool().QueryRow(context.Background(), `SELECT count(*) FROM example_posts WHERE uri = $1`, uri).Scan(&n); err != nil {
		t.Fatal(err)
	}
	return n
}

// TestDeletedPostsAreNoExamples checks that a deleted post leaves the
// example posts of every window already written, is not written into
// later ones, and that a delete by someone else, a delete of a post never
// shown and a repeated delete change nothing.
func TestDeletedPostsAreNoExamples(t *testing.T) {
	s := open(t)
	ctx := context.Background()
	// Terms eclipse (example 0), totality (1) and moon (2); the topic's
	// example is 7.
	write(t, s,
		withTopic(snap("en", at(1), time.Second, "hashtag:eclipse", "totality"), "t1"),
		withTopic(snap("en", at(2), time.Second, "hashtag:eclipse", "totality", "moon"), "t1"))
	gone, kept := example(0, "", at(0)), example(1, "", at(0))
	if exampleRows(t, s, gone.GetUri()) != 2 || exampleRows(t, s, kept.GetUri()) != 2 {
		t.Fatalf("set-up: examples %s and %s should be in both windows", gone.GetUri(), kept.GetUri())
	}

	removed, err := s.WriteDeletes(ctx, []store.DeletedPost{
		deleted(gone, gone.GetAuthorDid(), at(2)),
		deleted(kept, "did:plc:someoneelse", at(2)), // not the author: hides nothing
		{Source: tsv1.Source_SOURCE_BLUESKY, URI: "at://did:plc:x/app.bsky.feed.post/never", AuthorDID: "did:plc:x", DeletedAt: at(2)},
	})
	if err != nil {
		t.Fatal(err)
	}
	if removed != 2 || exampleRows(t, s, gone.GetUri()) != 0 || exampleRows(t, s, kept.GetUri()) != 2 {
		t.Errorf("removed %d rows; rows left of the deleted post %d (want 0), of the other %d (want 2)",
			removed, exampleRows(t, s, gone.GetUri()), exampleRows(t, s, kept.GetUri()))
	}
	if ex, err := s.TermExamples(ctx, "eclipse", store.HistoryFilter{Lang: "en"}); err != nil || len(ex) != 0 {
		t.Errorf("eclipse's examples after its post was deleted: %+v, %v", ex, err)
	}
	if ex, err := s.TermExamples(ctx, "totality", store.HistoryFilter{Lang: "en"}); err != nil || len(ex) != 1 || ex[0].URI != kept.GetUri() {
		t.Errorf("totality's examples: %+v, %v; want its post, deleted only by someone else", ex, err)
	}

	// A later window (or a correction of an old one) that picked the
	// deleted post does not store it; the others' examples are written.
	write(t, s, withTopic(snap("en", at(3), time.Second, "hashtag:eclipse", "totality"), "t1"))
	if n := exampleRows(t, s, gone.GetUri()); n != 0 {
		t.Errorf("a window written after the delete stored the deleted post %d times", n)
	}
	if n := exampleRows(t, s, kept.GetUri()); n != 3 {
		t.Errorf("the other post is an example in %d windows, want 3", n)
	}

	// Again: nothing left to remove.
	if removed, err := s.WriteDeletes(ctx, []store.DeletedPost{deleted(gone, gone.GetAuthorDid(), at(2))}); err != nil || removed != 0 {
		t.Errorf("a repeated delete removed %d rows, %v", removed, err)
	}

	// Tombstones go with the windows (retention after the newest window,
	// at(3)): one at(2) survives a retention of 5 minutes, not of 30 s.
	tombstones := func() (n int) {
		if err := s.Pool().QueryRow(ctx, `SELECT count(*) FROM deleted_posts`).Scan(&n); err != nil {
			t.Fatal(err)
		}
		return n
	}
	if _, err := s.PruneRetention(ctx, 5*time.Minute); err != nil || tombstones() != 3 {
		t.Errorf("retention 5m kept %d tombstones (want 3), %v", tombstones(), err)
	}
	if _, err := s.PruneRetention(ctx, 30*time.Second); err != nil || tombstones() != 0 {
		t.Errorf("retention 30s kept %d tombstones (want 0), %v", tombstones(), err)
	}
}

// TestDeleteRacesExampleWrite deletes a post while a window whose example
// it is is being written: a trigger holds the window's example insert for
// half a second, after the insert has looked for tombstones, and the delete
// comes during it. Without examplesLock the delete would see no example
// row to remove (it is not committed yet) and the insert no tombstone (its
// snapshot predates it), and the deleted post would stay an example.
func TestDeleteRacesExampleWrite(t *testing.T) {
	s := open(t)
	ctx := context.Background()
	if _, err := s.Pool().Exec(ctx, `
CREATE FUNCTION slow_example() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN PERFORM pg_sleep(0.5); RETURN NEW; END $$;
CREATE TRIGGER slow_example BEFORE INSERT ON example_posts FOR EACH ROW EXECUTE FUNCTION slow_example();`); err != nil {
		t.Fatal(err)
	}
	for i := range 3 {
		sn := snap("en", at(i+1), time.Second, fmt.Sprintf("term%d", i))
		e := &tsv1.ExamplePost{Uri: fmt.Sprintf("at://did:plc:race/app.bsky.feed.post/r%d", i), AuthorDid: "did:plc:race",
			Text: "racing", ObservedAt: sn.GetWindowEnd()}
		sn.Terms[0].Examples = []*tsv1.ExamplePost{e}
		var wg sync.WaitGroup
		var werr error
		wg.Go(func() { werr = s.WriteSnapshots(ctx, []*tsv1.WindowSnapshot{sn}) })
		time.Sleep(150 * time.Millisecond) // into the trigger's sleep
		if _, err := s.WriteDeletes(ctx, []store.DeletedPost{deleted(e, "did:plc:race", at(i+1))}); err != nil {
			t.Fatal(err)
		}
		wg.Wait()
		if werr != nil {
			t.Fatal(werr)
		}
		if n := exampleRows(t, s, e.GetUri()); n != 0 {
			t.Fatalf("round %d: the post deleted during the write was left as an example", i)
		}
	}
}
