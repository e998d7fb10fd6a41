package beamrun

import (
	"context"
	"log/slog"
	"strings"
)

// cancelLog passes Prism's log records on, except that it reports a bundle
// that failed only because its job was cancelled at INFO, not ERROR.
//
// Prism v2.77 logs every bundle still running when a job is cancelled as
// `level=ERROR msg="Bundle Failed." error="pipeline canceled"`
// (runners/prism/internal/execute.go), so a clean Ctrl-C of `trendstream
// run` looked like a failure. Prism takes its logger from slog.Default when
// the job server is created (jobservices.NewServer), so StartPrism hands it
// this handler around the process's own. A bundle that fails for any other
// reason is still an ERROR.
type cancelLog struct{ slog.Handler }

// prismCancelled is the text of Prism's jobservices.ErrCancel.
const prismCancelled = "pipeline canceled"

func (h cancelLog) Handle(ctx context.Context, r slog.Record) error {
	if r.Level != slog.LevelError || r.Message != "Bundle Failed." || !cancelledBundle(r) {
		return h.Handler.Handle(ctx, r)
	}
	quiet := slog.NewRecord(r.Time, slog.LevelInfo, "bundle stopped: its job was cancelled", r.PC)
	r.Attrs(func(a slog.Attr) bool { quiet.AddAttrs(a); return true })
	if !h.Handler.Enabled(ctx, quiet.Level) {
		return nil
	}
	return h.Handler.Handle(ctx, quiet)
}

func (h cancelLog) WithAttrs(as []slog.Attr) slog.Handler { return cancelLog{h.Handler.WithAttrs(as)} }
func (h cancelLog) WithGroup(name string) slog.Handler    { return cancelLog{h.Handler.WithGroup(name)} }

// cancelledBundle reports whether r's error attribute is only the job's
// cancellation.
func cancelledBundle(r slog.Record) bool {
	found := false
	r.Attrs(func(a slog.Attr) bool {
		if a.Key != "error" {
			return true
		}
		var msg string
		if err, ok := a.Value.Any().(error); ok {
			msg = err.Error()
		} else {
			msg = a.Value.String()
		}
		found = strings.TrimSpace(msg) == prismCancelled || strings.HasSuffix(msg, ": "+prismCancelled)
		return false
	})
	return found
}
