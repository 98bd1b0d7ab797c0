package server_test

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"log"
	"net/http"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/coder/websocket"

	"github.com/paygraph/paygraph/internal/testutil"
)

const (
	shop  = "https://shop.example.com"
	other = "https://evil.example.net"
)

func startCORS(t *testing.T, origins string) *testutil.Server {
	t.Helper()
	env := testutil.Base(t)
	if origins != "" {
		env["PAYGRAPH_CORS_ORIGINS"] = origins
	}
	return testutil.Start(t, env)
}

// preflight sends the OPTIONS request a browser sends before a POST with
// a token from a page on origin.
func preflight(t *testing.T, srv *testutil.Server, origin string) *http.Response {
	t.Helper()
	req, _ := http.NewRequest(http.MethodOptions, srv.URL+"/query", nil)
	req.Header.Set("Origin", origin)
	req.Header.Set("Access-Control-Request-Method", "POST")
	req.Header.Set("Access-Control-Request-Headers", "authorization,content-type,idempotency-key")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	return resp
}

// post sends {__typename} as a page on origin would.
func post(t *testing.T, srv *testutil.Server, origin string) *http.Response {
	t.Helper()
	req, _ := http.NewRequest(http.MethodPost, srv.URL+"/query", strings.NewReader(`{"query":"{__typename}"}`))
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Origin", origin)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var out struct {
		Data struct {
			Typename string `json:"__typename"`
		}
	}
	if err := json.NewDecoder(resp.Body).Decode(&out); err != nil || resp.StatusCode != 200 || out.Data.Typename != "Query" {
		t.Fatalf("POST from %s: %d %+v %v", origin, resp.StatusCode, out, err)
	}
	return resp
}

func hasVary(h http.Header, v string) bool {
	for _, line := range h.Values("Vary") {
		for _, f := range strings.Split(line, ",") {
			if strings.EqualFold(strings.TrimSpace(f), v) {
				return true
			}
		}
	}
	return false
}

func noCORSHeaders(t *testing.T, what string, h http.Header) {
	t.Helper()
	for k := range h {
		if strings.HasPrefix(strings.ToLower(k), "access-control-") {
			t.Errorf("%s: %s: %s", what, k, h.Get(k))
		}
	}
}

// dialFrom opens a graphql-transport-ws WebSocket as a page on origin
// would, and initialises it. It returns the refusal's status and body
// when the server refuses the upgrade.
func dialFrom(t *testing.T, srv *testutil.Server, origin string) (ok bool, status int, body string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	conn, resp, err := websocket.Dial(ctx, testutil.WSURL(srv.URL), &websocket.DialOptions{
		Subprotocols: []string{testutil.GraphQLTransportWS},
		HTTPHeader:   http.Header{"Origin": {origin}},
	})
	if err != nil {
		if resp == nil {
			t.Fatalf("dialing from %s: %v", origin, err)
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		return false, resp.StatusCode, string(b)
	}
	defer conn.CloseNow()
	if err := conn.Write(ctx, websocket.MessageText, []byte(`{"type":"connection_init"}`)); err != nil {
		t.Fatalf("connection_init from %s: %v", origin, err)
	}
	_, msg, err := conn.Read(ctx)
	if err != nil || !bytes.Contains(msg, []byte(`"connection_ack"`)) {
		t.Fatalf("from %s: got %s, %v; want connection_ack", origin, msg, err)
	}
	conn.Close(websocket.StatusNormalClosure, "")
	return true, 0, ""
}

// stdLog collects what is written to the standard logger (where net/http
// reports a superfluous WriteHeader) while the test runs.
func stdLog(t *testing.T) func() string {
	var mu sync.Mutex
	var buf bytes.Buffer
	log.SetOutput(writerFunc(func(p []byte) (int, error) {
		mu.Lock()
		defer mu.Unlock()
		return buf.Write(p)
	}))
	t.Cleanup(func() { log.SetOutput(os.Stderr) })
	return func() string {
		mu.Lock()
		defer mu.Unlock()
		return buf.String()
	}
}

type writerFunc func([]byte) (int, error)

func (f writerFunc) Write(p []byte) (int, error) { return f(p) }

func TestCORSListedOrigin(t *testing.T) {
	srv := startCORS(t, shop+", http://localhost:5173")

	resp := preflight(t, srv, shop)
	h := resp.Header
	if resp.StatusCode != http.StatusNoContent || h.Get("Access-Control-Allow-Origin") != shop ||
		h.Get("Access-Control-Allow-Credentials") != "true" || !hasVary(h, "Origin") ||
		h.Get("Access-Control-Allow-Methods") != "GET, POST, OPTIONS" ||
		h.Get("Access-Control-Allow-Headers") != "Authorization, Content-Type, Idempotency-Key, X-Request-Id" ||
		h.Get("Access-Control-Max-Age") != "600" {
		t.Fatalf("preflight from %s: %d %v", shop, resp.StatusCode, h)
	}

	resp = preflight(t, srv, other)
	if resp.StatusCode != http.StatusForbidden {
		t.Errorf("preflight from %s: %d", other, resp.StatusCode)
	}
	noCORSHeaders(t, "preflight from "+other, resp.Header)

	h = post(t, srv, shop).Header
	if h.Get("Access-Control-Allow-Origin") != shop || h.Get("Access-Control-Allow-Credentials") != "true" ||
		!hasVary(h, "Origin") || !strings.Contains(h.Get("Access-Control-Expose-Headers"), "X-Request-Id") {
		t.Errorf("POST from %s: %v", shop, h)
	}
	// Another origin's request is answered, but without CORS headers its
	// page's scripts cannot read the answer.
	h = post(t, srv, other).Header
	noCORSHeaders(t, "POST from "+other, h)
	if !hasVary(h, "Origin") {
		t.Errorf("POST from %s: no Vary: Origin", other)
	}
	noCORSHeaders(t, "the GraphiQL page", post(t, srv, srv.URL).Header)
}

func TestCORSWebSocketOrigins(t *testing.T) {
	logged := stdLog(t)
	srv := startCORS(t, shop)
	if ok, status, body := dialFrom(t, srv, shop); !ok {
		t.Fatalf("WebSocket from %s refused: %d %s", shop, status, body)
	}
	// The server's own pages (GraphiQL) connect too.
	if ok, status, body := dialFrom(t, srv, srv.URL); !ok {
		t.Fatalf("WebSocket from %s refused: %d %s", srv.URL, status, body)
	}
	for _, origin := range []string{other, "http://shop.example.com", shop + ":8443"} {
		ok, status, body := dialFrom(t, srv, origin)
		if ok || status != http.StatusForbidden {
			t.Fatalf("WebSocket from %s: accepted %v, status %d", origin, ok, status)
		}
		// One refusal, not gqlgen's "unable to upgrade" after it.
		if strings.Count(body, "\n") != 1 || strings.Contains(body, "unable to upgrade") {
			t.Errorf("WebSocket from %s: refused with %q", origin, body)
		}
	}
	if l := logged(); strings.Contains(l, "superfluous") {
		t.Errorf("log:\n%s", l)
	}
}

func TestCORSAnyOrigin(t *testing.T) {
	srv := startCORS(t, "*")
	resp := preflight(t, srv, other)
	h := resp.Header
	if resp.StatusCode != http.StatusNoContent || h.Get("Access-Control-Allow-Origin") != "*" ||
		h.Get("Access-Control-Allow-Credentials") != "" || h.Get("Access-Control-Allow-Headers") == "" {
		t.Fatalf("preflight from %s: %d %v", other, resp.StatusCode, h)
	}
	h = post(t, srv, other).Header
	if h.Get("Access-Control-Allow-Origin") != "*" || h.Get("Access-Control-Allow-Credentials") != "" {
		t.Errorf("POST from %s: %v", other, h)
	}
	if ok, status, body := dialFrom(t, srv, other); !ok {
		t.Fatalf("WebSocket from %s refused: %d %s", other, status, body)
	}

	// A listed origin keeps its credentials beside "*".
	srv = startCORS(t, "*,"+shop)
	if h := post(t, srv, shop).Header; h.Get("Access-Control-Allow-Origin") != shop || h.Get("Access-Control-Allow-Credentials") != "true" {
		t.Errorf("POST from %s beside *: %v", shop, h)
	}
}

func TestCORSDefaultSameOriginOnly(t *testing.T) {
	logged := stdLog(t)
	srv := startCORS(t, "")
	h := post(t, srv, shop).Header
	noCORSHeaders(t, "POST from "+shop, h)
	if hasVary(h, "Origin") {
		t.Errorf("Vary: Origin with no CORS origins")
	}
	resp := preflight(t, srv, shop)
	if resp.StatusCode != http.StatusForbidden {
		t.Errorf("preflight from %s: %d", shop, resp.StatusCode)
	}
	noCORSHeaders(t, "preflight", resp.Header)
	if ok, _, _ := dialFrom(t, srv, shop); ok {
		t.Fatalf("WebSocket from %s accepted with no CORS origins", shop)
	}
	if ok, status, body := dialFrom(t, srv, srv.URL); !ok {
		t.Fatalf("same-origin WebSocket refused: %d %s", status, body)
	}
	if l := logged(); strings.Contains(l, "superfluous") {
		t.Errorf("log:\n%s", l)
	}
}
