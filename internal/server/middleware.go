package server

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"runtime/debug"
	"strings"
	"time"

	"github.com/paygraph/paygraph/internal/access"
	"github.com/paygraph/paygraph/internal/auth"
	"github.com/paygraph/paygraph/internal/clientip"
	"github.com/paygraph/paygraph/internal/idempotency"
	"github.com/paygraph/paygraph/internal/payment"
	"github.com/paygraph/paygraph/internal/trace"
)

// middleware wraps every route: request id, panic recovery, access log and
// metrics, the per-address connection cap, body deadline and size limit,
// and the caller's identity.
func (s *Server) middleware(next http.Handler) http.Handler {
	h := s.authenticate(next)
	h = s.readBody(h)
	h = s.refuseOverCap(h)
	h = s.observe(h)
	return s.requestID(h)
}

func (s *Server) requestID(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		id := r.Header.Get("X-Request-Id")
		if !trace.Valid(id) {
			id = trace.NewID()
		}
		w.Header().Set("X-Request-Id", id)
		ctx := trace.WithID(r.Context(), id)
		if host, _, err := net.SplitHostPort(r.RemoteAddr); err == nil {
			ctx = payment.WithClientIP(ctx, host)
		}
		next.ServeHTTP(w, r.WithContext(ctx))
	})
}

type statusWriter struct {
	http.ResponseWriter
	status int
}

func (w *statusWriter) WriteHeader(code int) {
	if w.status == 0 {
		w.status = code
	}
	w.ResponseWriter.WriteHeader(code)
}

func (w *statusWriter) Write(b []byte) (int, error) {
	if w.status == 0 {
		w.status = http.StatusOK
	}
	return w.ResponseWriter.Write(b)
}

// Unwrap lets http.ResponseController reach Flush and Hijack (SSE, WebSocket).
func (w *statusWriter) Unwrap() http.ResponseWriter { return w.ResponseWriter }

// Flush forwards to the underlying writer, for SSE.
func (w *statusWriter) Flush() {
	if f, ok := w.ResponseWriter.(http.Flusher); ok {
		f.Flush()
	}
}

func routeOf(path string) string {
	switch {
	case path == "/query", path == "/", path == "/healthz", path == "/readyz", path == "/metrics":
		return path
	case strings.HasPrefix(path, "/sandbox/"):
		return "/sandbox"
	case strings.HasPrefix(path, "/payment/"), strings.HasPrefix(path, "/api/pay/"), strings.HasPrefix(path, "/callbacks/"):
		return path
	}
	return "other"
}

func (s *Server) observe(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		start := time.Now()
		sw := &statusWriter{ResponseWriter: w}
		defer func() {
			if v := recover(); v != nil {
				if v == http.ErrAbortHandler {
					panic(v)
				}
				s.Log.ErrorContext(r.Context(), "panic", "panic", fmt.Sprint(v), "stack", string(debug.Stack()))
				if sw.status == 0 {
					http.Error(sw, "internal error (trace "+trace.ID(r.Context())+")", http.StatusInternalServerError)
				}
			}
			status := sw.status
			if status == 0 {
				status = http.StatusOK
			}
			route := routeOf(r.URL.Path)
			s.Metrics.HTTP.WithLabelValues(route, fmt.Sprintf("%dxx", status/100)).Inc()
			s.Log.LogAttrs(r.Context(), slog.LevelDebug, "http", slog.String("method", r.Method),
				slog.String("path", r.URL.Path), slog.Int("status", status),
				slog.Duration("took", time.Since(start)))
		}()
		next.ServeHTTP(sw, r)
	})
}

// readBody reads the request body before any handler sees it: it refuses
// bodies over the configured size with 413, so an oversized request never
// reaches GraphQL, and a body that is not all there within
// PAYGRAPH_BODY_TIMEOUT with 408 (a client sending a byte now and then
// would otherwise hold the connection for ever). The read deadline is
// lifted once the body is in, so a long handler and a stream are not cut;
// from then on an ordinary response has PAYGRAPH_WRITE_TIMEOUT to be
// written.
func (s *Server) readBody(next http.Handler) http.Handler {
	bound := s.Config.Conns.BodyTimeout
	limit := s.Config.MaxBodyBytes
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Body == nil || r.Body == http.NoBody {
			s.setWriteDeadline(w, r)
			next.ServeHTTP(w, r)
			return
		}
		if r.ContentLength > limit {
			s.setWriteDeadline(w, r)
			tooLarge(w, limit)
			return
		}
		rc := http.NewResponseController(w)
		_ = rc.SetReadDeadline(time.Now().Add(bound))
		body, err := io.ReadAll(io.LimitReader(r.Body, limit+1))
		s.setWriteDeadline(w, r)
		if err != nil {
			// The deadline stays, so that net/http does not wait for the
			// rest of the body before closing.
			w.Header().Set("Connection", "close")
			if isTimeout(err) {
				http.Error(w, fmt.Sprintf("request body not received within %v", bound), http.StatusRequestTimeout)
			} else {
				http.Error(w, "could not read request body", http.StatusBadRequest)
			}
			return
		}
		_ = rc.SetReadDeadline(time.Time{})
		if int64(len(body)) > limit {
			tooLarge(w, limit)
			return
		}
		r.Body = io.NopCloser(bytes.NewReader(body))
		next.ServeHTTP(w, r)
	})
}

func tooLarge(w http.ResponseWriter, max int64) {
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Connection", "close")
	w.WriteHeader(http.StatusRequestEntityTooLarge)
	fmt.Fprintf(w, `{"errors":[{"message":"request body larger than %d bytes","extensions":{"code":"BAD_USER_INPUT"}}]}`, max)
}

// authenticate reads a bearer token. A valid one puts its principal in the
// context; a bad one puts the reason, which @auth reports as
// UNAUTHENTICATED. Operations that need no token (register, login) still run.
func (s *Server) authenticate(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		ctx := clientip.With(r.Context(), r.RemoteAddr)
		ctx = access.WithRequest(ctx, s.DB.Ent)
		if k := r.Header.Get("Idempotency-Key"); k != "" {
			ctx = idempotency.WithHeader(ctx, k)
		}
		h := r.Header.Get("Authorization")
		if h == "" {
			next.ServeHTTP(w, r.WithContext(ctx))
			return
		}
		tok := bearer(h)
		if tok != "" && strings.EqualFold(r.Header.Get("Upgrade"), "websocket") {
			// websocketInit holds a socket to this token's expiry and
			// revocation as it does one given in connection_init.
			ctx = context.WithValue(ctx, upgradeTokenKey{}, tok)
		}
		if tok == "" {
			ctx = auth.WithAuthError(ctx, auth.ErrTokenInvalid)
		} else if p, err := s.Accounts.Authenticate(ctx, tok); err != nil {
			ctx = auth.WithAuthError(ctx, err)
		} else {
			ctx = auth.WithPrincipal(ctx, p)
		}
		next.ServeHTTP(w, r.WithContext(ctx))
	})
}

// upgradeTokenKey holds the bearer token of a WebSocket upgrade request.
type upgradeTokenKey struct{}

// bearer returns the token of an "Authorization: Bearer <token>" value.
func bearer(h string) string {
	scheme, tok, ok := strings.Cut(strings.TrimSpace(h), " ")
	if !ok || !strings.EqualFold(scheme, "Bearer") {
		return ""
	}
	return strings.TrimSpace(tok)
}
