// Package server wires paygraph together: configuration, database, services
// and the HTTP routes of contract §1. server.go at the repository root runs
// it; tests and the benchmark start it in-process.
package server

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"path/filepath"
	"time"

	"github.com/99designs/gqlgen/graphql/handler/transport"
	"github.com/99designs/gqlgen/graphql/playground"

	"github.com/paygraph/paygraph/graph"
	"github.com/paygraph/paygraph/internal/account"
	"github.com/paygraph/paygraph/internal/auth"
	"github.com/paygraph/paygraph/internal/config"
	"github.com/paygraph/paygraph/internal/db"
	"github.com/paygraph/paygraph/internal/idgen"
	"github.com/paygraph/paygraph/internal/metrics"
)

// Server is a running paygraph, minus its listener.
type Server struct {
	Config   *config.Config
	Log      *slog.Logger
	DB       *db.DB
	Metrics  *metrics.Metrics
	Tokens   *auth.Tokens
	Accounts *account.Service

	handler http.Handler
	// wsCtx ends every WebSocket when the server shuts down: hijacked
	// connections are not closed by http.Server.Shutdown.
	wsCtx    context.Context
	wsCancel context.CancelFunc
}

// Options adjust a server for tests.
type Options struct {
	// Passwords overrides the bcrypt cost (tests use the minimum).
	Passwords *auth.Passwords
	// KeepAlive overrides the WebSocket ping interval.
	KeepAlive time.Duration
}

// New opens the database, migrates it and builds the handler. Errors are
// one line; configuration errors name their variable.
func New(ctx context.Context, cfg *config.Config, log *slog.Logger, opts Options) (*Server, error) {
	if cfg.NodeID >= 0 {
		idgen.SetNode(cfg.NodeID)
	}
	d, err := db.Open(ctx, cfg.Database)
	if err != nil {
		return nil, &config.Error{Var: "PAYGRAPH_DATABASE_URL", Reason: err.Error()}
	}
	s := &Server{Config: cfg, Log: log, DB: d, Metrics: metrics.New()}
	if err := s.init(ctx, opts); err != nil {
		d.Close()
		return nil, err
	}
	return s, nil
}

func (s *Server) init(ctx context.Context, opts Options) error {
	secret := s.Config.JWTSecret
	if len(secret) == 0 {
		if s.Config.Database.Path == ":memory:" {
			return &config.Error{Var: "PAYGRAPH_JWT_SECRET", Reason: "must be set with an in-memory database"}
		}
		path := s.Config.Database.Path + ".jwt-secret"
		sec, created, err := auth.LoadOrCreateSecret(path)
		if err != nil {
			return &config.Error{Var: "PAYGRAPH_JWT_SECRET", Reason: "unset, and the kept key could not be used: " + err.Error()}
		}
		if created {
			abs, _ := filepath.Abs(path)
			s.Log.Warn("PAYGRAPH_JWT_SECRET is unset: generated a token key and kept it beside the database; set PAYGRAPH_JWT_SECRET in production", "file", abs)
		}
		secret = sec
	}
	s.Tokens = auth.NewTokens(secret, s.Config.TokenTTL)
	pw := auth.DefaultPasswords
	if opts.Passwords != nil {
		pw = *opts.Passwords
	}
	s.Accounts = account.New(s.DB.Ent, s.Tokens, pw)

	if s.Config.AdminUsername != "" {
		created, err := s.Accounts.EnsureAdmin(ctx, s.Config.AdminUsername, s.Config.AdminPassword)
		if err != nil {
			var cerr *config.Error
			if errors.As(err, &cerr) {
				return err
			}
			return &config.Error{Var: "PAYGRAPH_ADMIN", Reason: err.Error()}
		}
		if created {
			s.Log.Info("created admin", "username", s.Config.AdminUsername)
		}
	}

	s.wsCtx, s.wsCancel = context.WithCancel(context.Background())
	resolver := &graph.Resolver{Client: s.DB.Ent, Accounts: s.Accounts}
	gql := graph.NewHandler(resolver, graph.Options{
		MaxDepth:      s.Config.QueryDepth,
		MaxComplexity: s.Config.Complexity,
		Metrics:       s.Metrics,
		Log:           s.Log,
		WebsocketInit: s.websocketInit,
		KeepAlive:     opts.KeepAlive,
	})

	mux := http.NewServeMux()
	mux.Handle("/query", s.withWebsocketShutdown(gql))
	mux.Handle("GET /{$}", playground.Handler("paygraph", "/query"))
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		_, _ = w.Write([]byte("ok\n"))
	})
	mux.HandleFunc("GET /readyz", s.readyz)
	mux.Handle("GET /metrics", s.Metrics.Handler())

	s.handler = s.middleware(mux)
	return nil
}

// Handler is the whole HTTP surface.
func (s *Server) Handler() http.Handler { return s.handler }

// Shutdown closes every WebSocket; call it when the listener shuts down
// (http.Server.RegisterOnShutdown).
func (s *Server) Shutdown() { s.wsCancel() }

// Close releases the database.
func (s *Server) Close() error {
	s.wsCancel()
	return s.DB.Close()
}

func (s *Server) readyz(w http.ResponseWriter, r *http.Request) {
	ctx, cancel := context.WithTimeout(r.Context(), 2*time.Second)
	defer cancel()
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	if err := s.DB.Ping(ctx); err != nil {
		s.Log.WarnContext(ctx, "readiness check failed", "err", err)
		w.WriteHeader(http.StatusServiceUnavailable)
		_, _ = w.Write([]byte("database unreachable\n"))
		return
	}
	_, _ = w.Write([]byte("ready\n"))
}

// websocketInit authenticates a WebSocket from its connection_init payload
// ("Authorization": "Bearer …" or "token": "…"). A bad token closes the
// socket; no token leaves it anonymous, and @auth refuses what needs one.
func (s *Server) websocketInit(ctx context.Context, payload transport.InitPayload) (context.Context, *transport.InitPayload, error) {
	tok := bearer(payload.Authorization())
	if tok == "" {
		tok = payload.GetString("token")
	}
	if tok == "" {
		return ctx, nil, nil
	}
	p, err := s.Accounts.Authenticate(ctx, tok)
	if err != nil {
		return ctx, nil, fmt.Errorf("connection_init: %w", err)
	}
	return auth.WithPrincipal(ctx, p), nil, nil
}

func (s *Server) withWebsocketShutdown(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Header.Get("Upgrade") == "" {
			next.ServeHTTP(w, r)
			return
		}
		ctx, cancel := context.WithCancel(r.Context())
		defer cancel()
		stop := context.AfterFunc(s.wsCtx, cancel)
		defer stop()
		next.ServeHTTP(w, r.WithContext(ctx))
	})
}
