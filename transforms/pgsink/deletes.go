package pgsink

import (
	"context"
	"fmt"
	"time"

	"github.com/apache/beam/sdks/v2/go/pkg/beam"
	"github.com/apache/beam/sdks/v2/go/pkg/beam/log"
	"github.com/apache/beam/sdks/v2/go/pkg/beam/register"

	"github.com/trendstream/trendstream/internal/readside/store"
	tsv1 "github.com/trendstream/trendstream/proto/trendstream/v1"
)

func init() {
	register.DoFn2x1[context.Context, *tsv1.Post, error](&deleteFn{})
}

var (
	deletesWritten  = beam.NewCounter("pgsink", "deletes_written")
	examplesRemoved = beam.NewCounter("pgsink", "examples_removed")
	// deletesUnusable counts deletes without a URI or author: nothing
	// identifies the post they delete.
	deletesUnusable = beam.NewCounter("pgsink", "deletes_unusable")
)

// deleteFn writes the deletes among the posts it reads to the read model
// (store.WriteDeletes), per bundle like writeFn; creates pass by.
type deleteFn struct {
	DatabaseURL string
	RetryFor    time.Duration

	batch[store.DeletedPost]
}

func (fn *deleteFn) Setup(ctx context.Context) error {
	return fn.open(ctx, fn.DatabaseURL, fn.RetryFor)
}

func (fn *deleteFn) ProcessElement(ctx context.Context, p *tsv1.Post) error {
	if p.GetOperation() != tsv1.Operation_OPERATION_DELETE {
		return nil
	}
	d, ok := store.DeletedPostOf(p)
	if !ok {
		deletesUnusable.Inc(ctx, 1)
		log.Warnf(ctx, "pgsink: skipping a delete without a URI or author: %v", p)
		return nil
	}
	return fn.add(ctx, d, fn.write)
}

// FinishBundle makes the bundle's tombstones durable before the runner
// commits it.
func (fn *deleteFn) FinishBundle(ctx context.Context) error { return fn.flush(ctx, fn.write) }

func (fn *deleteFn) write(ctx context.Context, ds []store.DeletedPost) error {
	var removed int64
	err := Retry(ctx, fn.RetryFor, "write deletes", func() (err error) {
		removed, err = fn.st.WriteDeletes(ctx, ds)
		return err
	})
	if err != nil {
		return fmt.Errorf("pgsink: write %d deletes: %w", len(ds), err)
	}
	deletesWritten.Inc(ctx, int64(len(ds)))
	examplesRemoved.Inc(ctx, removed)
	return nil
}

// WriteDeletes stores the deletes among posts (a PCollection of
// *tsv1.Post) in the read model at databaseURL: each keeps its post out of
// the example posts there, in windows already written and in windows to
// come, whether or not the counts retract it (docs/pipeline.md, "Deletes").
// While PostgreSQL is unreachable each write retries for up to retryFor
// (DefaultRetryFor if 0).
func WriteDeletes(s beam.Scope, databaseURL string, posts beam.PCollection, retryFor time.Duration) {
	s = s.Scope("pgsink.WriteDeletes")
	if retryFor <= 0 {
		retryFor = DefaultRetryFor
	}
	beam.ParDo0(s, &deleteFn{DatabaseURL: databaseURL, RetryFor: retryFor}, posts)
}
