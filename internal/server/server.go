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
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"entgo.io/ent/dialect"
	"github.com/99designs/gqlgen/graphql/handler/transport"

	"github.com/paygraph/paygraph/ent/order"
	"github.com/paygraph/paygraph/graph"
	"github.com/paygraph/paygraph/internal/account"
	"github.com/paygraph/paygraph/internal/auth"
	"github.com/paygraph/paygraph/internal/callback"
	"github.com/paygraph/paygraph/internal/catalog"
	"github.com/paygraph/paygraph/internal/clock"
	"github.com/paygraph/paygraph/internal/config"
	"github.com/paygraph/paygraph/internal/db"
	"github.com/paygraph/paygraph/internal/escrow"
	"github.com/paygraph/paygraph/internal/events"
	"github.com/paygraph/paygraph/internal/idempotency"
	"github.com/paygraph/paygraph/internal/idgen"
	"github.com/paygraph/paygraph/internal/ledger"
	"github.com/paygraph/paygraph/internal/live"
	"github.com/paygraph/paygraph/internal/metrics"
	"github.com/paygraph/paygraph/internal/money"
	"github.com/paygraph/paygraph/internal/payment"
	"github.com/paygraph/paygraph/internal/paypass"
	"github.com/paygraph/paygraph/internal/provider/game"
	"github.com/paygraph/paygraph/internal/ratelimit"
	epaysandbox "github.com/paygraph/paygraph/internal/sandbox/epay"
	sandboxpingpp "github.com/paygraph/paygraph/internal/sandbox/pingpp"
	"github.com/paygraph/paygraph/internal/scheduler"
	"github.com/paygraph/paygraph/internal/twofactor"
	"github.com/paygraph/paygraph/internal/txn"
	"github.com/paygraph/paygraph/internal/web/admin"
	"github.com/paygraph/paygraph/internal/web/graphiql"
	"github.com/paygraph/paygraph/internal/webhook"
)

// Server is a running paygraph, minus its listener.
type Server struct {
	Config   *config.Config
	Log      *slog.Logger
	DB       *db.DB
	Metrics  *metrics.Metrics
	Tokens   *auth.Tokens
	Accounts *account.Service
	Catalog  *catalog.Catalog
	Assets   *money.Registry
	Bus      events.Bus
	Tx       *txn.Runner
	Idem     *idempotency.Store
	Ledger   *ledger.Ledger
	Payments *payment.Service
	Live     *live.Service
	Shim     *callback.Shim
	// GameGoods and GameSandbox are the game goods flow.
	GameGoods   *payment.GameGoods
	GameSandbox *game.Sandbox
	// Passwords is the bcrypt cost in use (tests lower it).
	Passwords auth.Passwords
	// Secrets counts wrong tries of the secrets a user re-enters (login
	// and pay passwords) and locks them after too many.
	Secrets *paypass.Guard
	// Escrow is the escrow marketplace; PingppSandbox the embedded Ping++ gateway
	// (nil when a real Ping++ is configured).
	Escrow        *escrow.Service
	PingppSandbox *sandboxpingpp.Gateway
	// TwoFactor is the token checkout's second factor.
	TwoFactor *twofactor.Service
	// Epay holds the flows paid through 易支付 (the app store and points);
	// EpaySandbox is the embedded gateway, nil when a real one is configured.
	Epay        *payment.Epay
	EpaySandbox *epaysandbox.Gateway
	// Webhooks is merchants' endpoints and the events API; Dispatcher
	// delivers the events.
	Webhooks   *webhook.Service
	Dispatcher *webhook.Dispatcher
	// Scheduler runs expiry and other timed work; tests drive it by hand.
	Scheduler *scheduler.Scheduler
	Clock     clock.Clock

	stopScheduler func()
	// tokenRecheck is how often an open WebSocket's token is checked again,
	// so a rotated SERVICE token stops streaming.
	tokenRecheck time.Duration

	handler  http.Handler
	resolver *graph.Resolver
	// publicURL overrides Config.PublicURL once the listener's address is
	// known (a test server, or PAYGRAPH_ADDR with port 0).
	publicURL atomic.Pointer[string]
	// closers release what flows opened (gateway clients, sandboxes).
	closers []func()
	// wsCtx ends every WebSocket and SSE stream when the server shuts down.
	wsCtx    context.Context
	wsCancel context.CancelFunc
	// openStreams counts the open WebSockets and SSE streams.
	openStreams atomic.Int64
	// ready caches the outcome of /readyz's write.
	ready readiness
}

// Options adjust a server for tests.
type Options struct {
	// Passwords overrides the bcrypt cost (tests use the minimum).
	Passwords *auth.Passwords
	// KeepAlive overrides the WebSocket ping interval
	// (PAYGRAPH_WS_PING_INTERVAL).
	KeepAlive time.Duration
	// Clock overrides the wall clock (tests of expiry and auto-confirm).
	Clock clock.Clock
	// NoScheduler leaves the scheduler stopped; tests call RunOnce.
	NoScheduler bool
	// TokenRecheck overrides how often an open WebSocket's token is checked
	// again (default 30 s).
	TokenRecheck time.Duration
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
		// Release what init started (the scheduler, flows' clients, the bus).
		_ = s.Close()
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
	s.Passwords = pw
	if err := s.initMoney(ctx, opts); err != nil {
		return err
	}

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
	s.tokenRecheck = opts.TokenRecheck
	if s.tokenRecheck == 0 {
		s.tokenRecheck = 30 * time.Second
	}
	s.resolver = &graph.Resolver{
		Client: s.DB.Ent, Dialect: s.DB.Dialect, Assets: s.Assets, Accounts: s.Accounts, Catalog: s.Catalog,
		Ledger: s.Ledger, Payments: s.Payments, Live: s.Live,
	}
	keepAlive := opts.KeepAlive
	if keepAlive == 0 {
		keepAlive = s.Config.Conns.WSPingInterval
	}
	s.ready = readiness{timeout: s.Config.Conns.ReadyTimeout, fresh: time.Second, probe: s.probeWrite}
	gql := graph.NewHandler(s.resolver, graph.Options{
		MaxDepth:      s.Config.QueryDepth,
		MaxComplexity: s.Config.Complexity,
		MaxTokens:     s.Config.Requests.MaxTokens,
		MaxNesting:    s.Config.Requests.MaxNesting,
		MaxFields:     s.Config.Requests.MaxFields,
		MaxSyncs:      s.Config.Requests.MaxSyncs,
		Metrics:       s.Metrics,
		Log:           s.Log,
		WebsocketInit: s.websocketInit,
		KeepAlive:     keepAlive,
		WSInitTimeout: s.Config.Conns.WSInitTimeout,
		WSPongTimeout: s.Config.Conns.WSPongTimeout,
		WSOrigins:     s.Config.CORS.Origins,
	})

	mux := http.NewServeMux()
	mux.Handle("/query", s.cors(s.streams(gql)))
	mux.Handle("GET /{$}", graphiql.Page())
	mux.Handle("GET "+graphiql.Prefix, graphiql.Assets())
	mux.Handle("GET /admin", admin.Page())
	mux.Handle("GET "+admin.Prefix, admin.Assets())
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		_, _ = w.Write([]byte("ok\n"))
	})
	mux.HandleFunc("GET /readyz", s.readyz)
	mux.Handle("GET /metrics", s.Metrics.Handler())

	// Each flow adds its services, scheduler jobs and routes.
	for _, initFlow := range []func(*http.ServeMux) error{
		s.initEpayFlows,  // the app store and points
		s.initTokenFlow,  // the token checkout's second factor
		s.initEscrowFlow, // the escrow marketplace
		s.initGameFlow,   // the game goods flow
		s.initWebhooks,   // merchants' webhook endpoints and the events API
	} {
		if err := initFlow(mux); err != nil {
			return err
		}
	}
	// The flows' services exist now: hand them to the resolvers.
	r := s.resolver
	r.Epay, r.Escrow, r.TwoFactor = s.Epay, s.Escrow, s.TwoFactor
	r.GameGoods, r.GameSandbox = s.GameGoods, s.GameSandbox
	r.Webhooks = s.Webhooks
	s.handler = s.middleware(mux)
	return nil
}

// Handler is the whole HTTP surface.
func (s *Server) Handler() http.Handler { return s.handler }

// Shutdown closes every WebSocket; call it when the listener shuts down
// (http.Server.RegisterOnShutdown).
func (s *Server) Shutdown() { s.wsCancel() }

// SetPublicURL sets the base of the URLs handed to providers (notify and
// return URLs, the embedded sandboxes' pages) when PAYGRAPH_PUBLIC_URL is
// unset and the listener's address is known only now.
func (s *Server) SetPublicURL(u string) { s.publicURL.Store(&u) }

// PublicURL is the base of the URLs handed to providers, without a
// trailing slash.
func (s *Server) PublicURL() string {
	if u := s.publicURL.Load(); u != nil {
		return strings.TrimRight(*u, "/")
	}
	return strings.TrimRight(s.Config.PublicURL, "/")
}

// onClose registers a release to run at Close.
func (s *Server) onClose(f func()) { s.closers = append(s.closers, f) }

// Close stops the scheduler and releases the event bus and the database.
func (s *Server) Close() error {
	if s.wsCancel != nil {
		s.wsCancel()
	}
	if s.stopScheduler != nil {
		s.stopScheduler()
	}
	for i := len(s.closers) - 1; i >= 0; i-- {
		s.closers[i]()
	}
	if s.Tx != nil {
		s.Tx.Close()
	}
	if s.Bus != nil {
		_ = s.Bus.Close()
	}
	return s.DB.Close()
}

// initMoney builds the ledger, the order services, live events, the
// callback shim and the scheduler.
func (s *Server) initMoney(ctx context.Context, opts Options) error {
	s.Clock = opts.Clock
	if s.Clock == nil {
		s.Clock = clock.Real{}
	}
	assets := make([]money.Asset, len(s.Config.Assets))
	for i, a := range s.Config.Assets {
		assets[i] = money.Asset{Code: a.Code, Scale: a.Scale}
	}
	s.Assets = money.NewRegistry(assets...)
	if err := ledger.StoreScales(ctx, s.DB.Ent, s.Assets, s.Clock.Now()); err != nil {
		var se *ledger.ScaleError
		if errors.As(err, &se) {
			return &config.Error{Var: "PAYGRAPH_ASSETS", Reason: se.Reason}
		}
		return err
	}
	if s.DB.Config.Driver == "postgres" {
		bus, err := events.NewPostgres(ctx, s.DB.Config.URL, s.Log)
		if err != nil {
			return &config.Error{Var: "PAYGRAPH_DATABASE_URL", Reason: "listening for events: " + err.Error()}
		}
		s.Bus = bus
	} else {
		s.Bus = events.NewLocal()
	}
	s.Tx = &txn.Runner{Client: s.DB.Ent, Bus: s.Bus, Log: s.Log, Group: s.DB.Dialect == dialect.SQLite}
	s.Idem = idempotency.New(s.DB.Ent, s.Clock)
	s.Secrets = &paypass.Guard{Client: s.DB.Ent, Tx: s.Tx, Passwords: s.Passwords, Clock: s.Clock}
	s.Accounts.Logins = s.Secrets
	s.Accounts.PerAddress = ratelimit.New(s.Config.Requests.AuthPerMinute)
	s.Accounts.Now = s.Clock.Now
	s.Ledger = ledger.New(s.DB.Ent, s.DB.Dialect, s.Assets, s.Tx, s.Idem)
	s.Ledger.Events = s.eventRecorder()
	s.Payments = &payment.Service{
		Client: s.DB.Ent, Tx: s.Tx, Ledger: s.Ledger, Idem: s.Idem, Clock: s.Clock,
		OrderTTL: s.Config.OrderTTL, SecondFactor: payment.NoSecondFactor{}, Log: s.Log, Events: s.Ledger.Events,
		OnPaid:  map[order.Type]payment.OnPaid{},
		Refunds: map[order.Type]payment.RefundHandler{},
	}
	s.Payments.OnPaid[order.TypeRECHARGE] = s.Payments.SettleRecharge
	s.Payments.Refunds[order.TypePAYMENT] = payment.PaymentRefunds{Service: s.Payments}
	s.Catalog = &catalog.Catalog{Client: s.DB.Ent, Assets: s.Assets}
	s.Live = &live.Service{Client: s.DB.Ent, Bus: s.Bus, Log: s.Log, Limits: live.Limits{
		PerConnection: s.Config.Conns.SubscriptionsPerConn,
		PerPrincipal:  s.Config.Conns.SubscriptionsPerUser,
	}}
	if s.DB.Dialect == dialect.Postgres {
		// Steps commit concurrently, not in id order: see ResumeOverlap.
		s.Live.ResumeOverlap = live.PostgresResumeOverlap
	}
	s.Shim = &callback.Shim{Client: s.DB.Ent, Tx: s.Tx, Payments: s.Payments, Clock: s.Clock, Log: s.Log,
		Rejected: ratelimit.New(s.Config.Requests.CallbackRejectsPerMinute)}

	s.Scheduler = &scheduler.Scheduler{Interval: 5 * time.Second, Log: s.Log}
	s.Scheduler.Add(scheduler.Job{Name: "expire-orders", Run: func(ctx context.Context) error {
		for {
			n, err := s.Payments.ExpireDue(ctx, 200)
			if err != nil || n < 200 {
				return err
			}
		}
	}})
	s.Scheduler.Add(scheduler.Job{Name: "purge-idempotency-keys", Run: func(ctx context.Context) error {
		_, err := s.Idem.Purge(ctx)
		return err
	}})
	if !opts.NoScheduler {
		s.stopScheduler = s.Scheduler.Start(context.Background())
	}
	return nil
}

// websocketInit authenticates a WebSocket from its connection_init payload
// ("Authorization": "Bearer …" or "token": "…"), or else from the upgrade
// request's Authorization header. A bad token closes the
// socket with 4403; no token leaves it anonymous, and @auth refuses what
// needs one. An authenticated socket's subscriptions end when its token
// expires or is revoked (checked every tokenRecheck). Its subscriptions
// count together against PAYGRAPH_MAX_SUBSCRIPTIONS_PER_CONN.
func (s *Server) websocketInit(ctx context.Context, payload transport.InitPayload) (context.Context, *transport.InitPayload, error) {
	ctx = live.WithConnection(ctx)
	tok := bearer(payload.Authorization())
	if tok == "" {
		tok = payload.GetString("token")
	}
	if tok == "" {
		// The upgrade request's own Authorization header, if any: its
		// principal is already in ctx, and it must end the socket when it
		// expires or is revoked too.
		tok, _ = ctx.Value(upgradeTokenKey{}).(string)
	}
	if tok == "" {
		return ctx, nil, nil
	}
	p, err := s.Accounts.Authenticate(ctx, tok)
	if err != nil {
		return transport.WithWebsocketCloseCode(ctx, 4403), nil, fmt.Errorf("connection_init: %w", err)
	}
	ctx, cancel := context.WithDeadline(ctx, p.ExpiresAt)
	s.recheckToken(ctx, cancel, tok)
	return auth.WithPrincipal(ctx, p), nil, nil
}

// recheckToken authenticates tok again every tokenRecheck while ctx lasts,
// and cancels ctx once it no longer does. It runs on a timer, not on a
// goroutine per connection that would wait between checks.
func (s *Server) recheckToken(ctx context.Context, cancel context.CancelFunc, tok string) {
	var mu sync.Mutex
	var t *time.Timer
	check := func() {
		if ctx.Err() != nil {
			return
		}
		if _, err := s.Accounts.Authenticate(ctx, tok); err != nil && ctx.Err() == nil {
			cancel()
			return
		}
		mu.Lock()
		if ctx.Err() == nil {
			t.Reset(s.tokenRecheck)
		}
		mu.Unlock()
	}
	mu.Lock()
	t = time.AfterFunc(s.tokenRecheck, check)
	mu.Unlock()
	context.AfterFunc(ctx, func() {
		mu.Lock()
		t.Stop()
		mu.Unlock()
		cancel()
	})
}
