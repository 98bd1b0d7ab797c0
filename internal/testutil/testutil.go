// Package testutil starts paygraph for tests: on a temporary SQLite file,
// or on PostgreSQL (a fresh schema per test) when PAYGRAPH_TEST_POSTGRES_URL
// is set, and talks GraphQL to it over real HTTP.
package testutil

import (
	"bytes"
	"context"
	"crypto/rand"
	"database/sql"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"path/filepath"
	"strings"
	"testing"
	"time"

	_ "github.com/jackc/pgx/v5/stdlib" // the "pgx" driver

	"github.com/paygraph/paygraph/internal/auth"
	"github.com/paygraph/paygraph/internal/config"
	"github.com/paygraph/paygraph/internal/logx"
	"github.com/paygraph/paygraph/internal/server"
)

// PostgresURL is the test database, or "" to use SQLite.
func PostgresURL() string { return getenv("PAYGRAPH_TEST_POSTGRES_URL") }

// Secret is the token key test servers use.
const Secret = "test-secret-test-secret-test-secret-0123456789"

// NewDatabaseURL returns a database URL no other test uses: a SQLite file
// in t's temporary folder, or a fresh PostgreSQL schema dropped at the end.
func NewDatabaseURL(t testing.TB) string {
	t.Helper()
	pg := PostgresURL()
	if pg == "" {
		return "sqlite://" + filepath.Join(t.TempDir(), "paygraph.db")
	}
	return NewPostgresSchema(t, pg)
}

// NewPostgresSchema creates a schema in the database at base and returns a
// URL whose connections use it; the schema is dropped when t ends.
func NewPostgresSchema(t testing.TB, base string) string {
	t.Helper()
	var b [6]byte
	_, _ = rand.Read(b[:])
	schema := "t_" + hex.EncodeToString(b[:])
	admin, err := sql.Open("pgx", base)
	if err != nil {
		t.Fatalf("PostgreSQL: %v", err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if _, err := admin.ExecContext(ctx, "CREATE SCHEMA "+schema); err != nil {
		admin.Close()
		t.Fatalf("PostgreSQL at %s could not be used: %v", base, err)
	}
	t.Cleanup(func() {
		defer admin.Close()
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		if _, err := admin.ExecContext(ctx, "DROP SCHEMA "+schema+" CASCADE"); err != nil {
			t.Logf("dropping schema %s: %v", schema, err)
		}
	})
	u, err := url.Parse(base)
	if err != nil {
		t.Fatal(err)
	}
	q := u.Query()
	q.Set("search_path", schema)
	u.RawQuery = q.Encode()
	return u.String()
}

// Env is a configuration environment for tests, on top of Base.
type Env map[string]string

// Base returns the environment every test server starts from.
func Base(t testing.TB) Env {
	return Env{
		"PAYGRAPH_DATABASE_URL": NewDatabaseURL(t),
		"PAYGRAPH_JWT_SECRET":   Secret,
		"PAYGRAPH_ADMIN":        "admin:admin-password",
		"PAYGRAPH_LOG_LEVEL":    "error",
		// Every test client comes from 127.0.0.1 and many sign in.
		"PAYGRAPH_AUTH_RATE_PER_MINUTE": "1000000",
	}
}

// Getenv reads from e.
func (e Env) Getenv(k string) string { return e[k] }

// Server is paygraph listening on a loopback port.
type Server struct {
	*server.Server
	HTTP *httptest.Server
	URL  string
	t    testing.TB
}

// Start runs paygraph with env until t ends.
func Start(t testing.TB, env Env) *Server {
	t.Helper()
	return StartWith(t, env, server.Options{})
}

// StartWith runs paygraph with env and options until t ends. The bcrypt
// cost is the minimum and WebSocket pings come every half second.
func StartWith(t testing.TB, env Env, opts server.Options) *Server {
	t.Helper()
	return StartLogged(t, env, opts, nil)
}

// StartLogged is StartWith with the server's log written to w, as the
// process writes it (text, at PAYGRAPH_LOG_LEVEL), when w is not nil.
func StartLogged(t testing.TB, env Env, opts server.Options, w io.Writer) *Server {
	t.Helper()
	cfg, err := config.Load(env.Getenv)
	if err != nil {
		t.Fatalf("config: %v", err)
	}
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	switch {
	case w != nil:
		log = logx.New(w, "text", cfg.LogLevel)
	case testing.Verbose():
		log = slog.New(slog.NewTextHandler(testWriter{t}, &slog.HandlerOptions{Level: slog.LevelWarn}))
	}
	pw := auth.Passwords{Cost: 4}
	opts.Passwords = &pw
	if opts.KeepAlive == 0 {
		opts.KeepAlive = 500 * time.Millisecond
	}
	srv, err := server.New(context.Background(), cfg, log, opts)
	if err != nil {
		t.Fatalf("starting server: %v", err)
	}
	// The listener, handler and timeouts production uses.
	hs := httptest.NewUnstartedServer(nil)
	hs.Listener = srv.ConfigureHTTP(hs.Config, hs.Listener)
	hs.Start()
	if env.Getenv("PAYGRAPH_PUBLIC_URL") == "" {
		// Providers and the embedded sandboxes reach the server here.
		srv.SetPublicURL(hs.URL)
	}
	s := &Server{Server: srv, HTTP: hs, URL: hs.URL, t: t}
	t.Cleanup(func() {
		srv.Shutdown()
		hs.Close()
		srv.Close()
	})
	return s
}

type testWriter struct{ t testing.TB }

func (w testWriter) Write(p []byte) (int, error) {
	w.t.Log(strings.TrimRight(string(p), "\n"))
	return len(p), nil
}

// GQLError is one GraphQL error.
type GQLError struct {
	Message    string         `json:"message"`
	Path       []any          `json:"path"`
	Extensions map[string]any `json:"extensions"`
}

// Code returns extensions.code.
func (e GQLError) Code() string { s, _ := e.Extensions["code"].(string); return s }

// Response is a GraphQL response.
type Response struct {
	Status     int
	Header     http.Header
	Data       json.RawMessage `json:"data"`
	Errors     []GQLError      `json:"errors"`
	Extensions map[string]any  `json:"extensions"`
}

// Code returns the first error's code, or "".
func (r *Response) Code() string {
	if len(r.Errors) == 0 {
		return ""
	}
	return r.Errors[0].Code()
}

// Decode unmarshals data into v.
func (r *Response) Decode(t testing.TB, v any) {
	t.Helper()
	if len(r.Errors) > 0 {
		t.Fatalf("unexpected errors: %+v", r.Errors)
	}
	if err := json.Unmarshal(r.Data, v); err != nil {
		t.Fatalf("decoding %s: %v", r.Data, err)
	}
}

// Client sends GraphQL requests as one caller.
type Client struct {
	URL     string
	Token   string
	Headers map[string]string
	HTTP    *http.Client
}

// Client returns an anonymous client of s.
func (s *Server) Client() *Client { return &Client{URL: s.URL, HTTP: s.HTTP.Client()} }

// As returns a copy of c sending token.
func (c *Client) As(token string) *Client {
	n := *c
	n.Token = token
	return &n
}

// Do posts a query and returns the response; transport errors fail t.
func (c *Client) Do(t testing.TB, query string, vars map[string]any) *Response {
	t.Helper()
	r, err := c.Post(query, vars)
	if err != nil {
		t.Fatal(err)
	}
	return r
}

// Post posts a query; it is safe from many goroutines.
func (c *Client) Post(query string, vars map[string]any) (*Response, error) {
	body, err := json.Marshal(map[string]any{"query": query, "variables": vars})
	if err != nil {
		return nil, err
	}
	return c.Raw(http.MethodPost, "/query", "application/json", body)
}

// Raw sends any request to path and parses a GraphQL response if there is one.
func (c *Client) Raw(method, path, contentType string, body []byte) (*Response, error) {
	req, err := http.NewRequest(method, c.URL+path, bytes.NewReader(body))
	if err != nil {
		return nil, err
	}
	if contentType != "" {
		req.Header.Set("Content-Type", contentType)
	}
	if c.Token != "" {
		req.Header.Set("Authorization", "Bearer "+c.Token)
	}
	for k, v := range c.Headers {
		req.Header.Set(k, v)
	}
	hc := c.HTTP
	if hc == nil {
		hc = http.DefaultClient
	}
	resp, err := hc.Do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	raw, err := io.ReadAll(resp.Body)
	if err != nil {
		return nil, err
	}
	out := &Response{Status: resp.StatusCode, Header: resp.Header}
	if strings.Contains(resp.Header.Get("Content-Type"), "json") {
		if err := json.Unmarshal(raw, out); err != nil {
			return nil, fmt.Errorf("status %d, body %q: %w", resp.StatusCode, raw, err)
		}
	}
	return out, nil
}

// Login returns a token for username, failing t otherwise.
func (c *Client) Login(t testing.TB, username, password string) string {
	t.Helper()
	var out struct {
		Login struct{ Token string } `json:"login"`
	}
	c.Do(t, `mutation($u:String!,$p:String!){login(username:$u,password:$p){token}}`,
		map[string]any{"u": username, "p": password}).Decode(t, &out)
	return out.Login.Token
}

// NewUser registers a user and returns its id and token.
func (c *Client) NewUser(t testing.TB, username string) (id, token string) {
	t.Helper()
	var out struct {
		Register struct{ ID string } `json:"register"`
	}
	c.Do(t, `mutation($in:RegisterInput!){register(input:$in){id}}`,
		map[string]any{"in": map[string]any{"username": username, "password": "password-" + username}}).Decode(t, &out)
	return out.Register.ID, c.Login(t, username, "password-"+username)
}

// AdminToken logs in as the bootstrap admin of Base.
func (c *Client) AdminToken(t testing.TB) string {
	return c.Login(t, "admin", "admin-password")
}

// AssertLedger fails t unless the books balance: every asset and journal
// sums to zero, no wallet is negative, every wallet equals its postings.
func (s *Server) AssertLedger(t testing.TB) {
	t.Helper()
	c, err := s.Ledger.Check(context.Background())
	if err != nil {
		t.Fatalf("ledger check: %v", err)
	}
	if !c.OK {
		t.Fatalf("ledger invariant broken: sums %+v, negative %d, mismatched %d, unbalanced journals %v",
			c.Assets, len(c.NegativeWallets), len(c.MismatchedWallets), c.UnbalancedJournals)
	}
}
