// Package logx builds the process logger (log/slog).
package logx

import (
	"context"
	"io"
	"log/slog"

	"github.com/paygraph/paygraph/internal/trace"
)

// New returns a text or JSON logger at the given level. Every line logged
// with a request's context carries its trace_id, the id the response's
// X-Request-Id and extensions.traceId show, so a client's report leads to
// the server's lines.
func New(w io.Writer, format, level string) *slog.Logger {
	var lv slog.Level
	_ = lv.UnmarshalText([]byte(level))
	opts := &slog.HandlerOptions{Level: lv}
	var h slog.Handler = slog.NewTextHandler(w, opts)
	if format == "json" {
		h = slog.NewJSONHandler(w, opts)
	}
	return slog.New(Traced(h))
}

// Traced wraps h so that records logged with a context holding a trace id
// carry it as trace_id.
func Traced(h slog.Handler) slog.Handler { return traced{h} }

type traced struct{ slog.Handler }

func (t traced) Handle(ctx context.Context, r slog.Record) error {
	if id := trace.ID(ctx); id != "" {
		r.AddAttrs(slog.String("trace_id", id))
	}
	return t.Handler.Handle(ctx, r)
}

func (t traced) WithAttrs(as []slog.Attr) slog.Handler { return traced{t.Handler.WithAttrs(as)} }

func (t traced) WithGroup(name string) slog.Handler { return traced{t.Handler.WithGroup(name)} }
