package pgsink

import (
	"context"
	"time"

	"github.com/trendstream/trendstream/internal/readside/store"
)

// batch is the part the read-model writers (writeFn, marketWriteFn) share,
// embedded in each: the connection, opened in Setup and closed in
// Teardown, and the bundle's buffer, written in one call when it holds
// maxBuffered elements and when the bundle ends, so that the bundle's
// writes are durable before the runner commits it. It has no exported
// fields, so it adds nothing to a DoFn's encoding.
type batch[T any] struct {
	st  *store.Store
	buf []T
}

// open connects to the read model (Connect) for the DoFn's Setup.
func (b *batch[T]) open(ctx context.Context, databaseURL string, retryFor time.Duration) (err error) {
	b.st, err = Connect(ctx, databaseURL, retryFor)
	return err
}

func (b *batch[T]) StartBundle(context.Context) { b.buf = b.buf[:0] }

// add buffers v, and writes the buffer with write once it is full.
func (b *batch[T]) add(ctx context.Context, v T, write func(context.Context, []T) error) error {
	b.buf = append(b.buf, v)
	if len(b.buf) >= maxBuffered {
		return b.flush(ctx, write)
	}
	return nil
}

// flush writes the buffer, if it holds anything, with write and empties
// it; on an error the buffer is kept and the error fails the bundle, which
// the runner retries.
func (b *batch[T]) flush(ctx context.Context, write func(context.Context, []T) error) error {
	if len(b.buf) == 0 {
		return nil
	}
	if err := write(ctx, b.buf); err != nil {
		return err
	}
	b.buf = b.buf[:0]
	return nil
}

func (b *batch[T]) Teardown() {
	if b.st != nil {
		b.st.Close()
	}
}
