package server_test

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/coder/websocket"

	"github.com/paygraph/paygraph/internal/testutil"
)

// connEnv is the test environment with the given settings on top.
func connEnv(t *testing.T, kv ...string) testutil.Env {
	env := testutil.Base(t)
	for i := 0; i+1 < len(kv); i += 2 {
		env[kv[i]] = kv[i+1]
	}
	return env
}

// dialRaw opens a TCP connection to the server at serverURL, closed when t
// ends.
func dialRaw(t *testing.T, serverURL string) net.Conn {
	t.Helper()
	c, err := net.DialTimeout("tcp", strings.TrimPrefix(serverURL, "http://"), subWait)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

// waitEOF waits until the server closes c, discarding what it sends, and
// returns how long that took; it fails t after within.
func waitEOF(t *testing.T, c net.Conn, within time.Duration) (time.Duration, string) {
	t.Helper()
	start := time.Now()
	_ = c.SetReadDeadline(start.Add(within))
	got, err := io.ReadAll(c)
	if ne, ok := err.(net.Error); ok && ne.Timeout() {
		t.Fatalf("the server still holds the connection after %v (got %q)", within, got)
	}
	return time.Since(start), string(got)
}

// rawGet sends a GET of path on c and returns the status code.
func rawGet(t *testing.T, c net.Conn, path string) int {
	t.Helper()
	code, err := tryGet(c, path)
	if err != nil {
		t.Fatalf("GET %s: %v", path, err)
	}
	return code
}

// tryGet is rawGet reporting a connection that fails instead of failing t.
func tryGet(c net.Conn, path string) (int, error) {
	_ = c.SetDeadline(time.Now().Add(subWait))
	defer c.SetDeadline(time.Time{})
	if _, err := fmt.Fprintf(c, "GET %s HTTP/1.1\r\nHost: x\r\n\r\n", path); err != nil {
		return 0, err
	}
	resp, err := http.ReadResponse(bufio.NewReader(c), nil)
	if err != nil {
		return 0, err
	}
	_, _ = io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	return resp.StatusCode, nil
}

// waitStreams waits until the server holds n WebSockets and SSE streams.
func waitStreams(t *testing.T, srv *testutil.Server, n int64) {
	t.Helper()
	deadline := time.Now().Add(subWait)
	for srv.OpenStreams() != n {
		if time.Now().After(deadline) {
			t.Fatalf("the server holds %d streams; want %d", srv.OpenStreams(), n)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func TestSlowRequestsAreCut(t *testing.T) {
	srv := testutil.Start(t, connEnv(t,
		"PAYGRAPH_BODY_TIMEOUT", "1s", "PAYGRAPH_HEADER_TIMEOUT", "1s", "PAYGRAPH_WRITE_TIMEOUT", "1s"))

	t.Run("a body sent a byte at a time", func(t *testing.T) {
		c := dialRaw(t, srv.URL)
		body := `{"query":"{ __typename }"}`
		fmt.Fprintf(c, "POST /query HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: %d\r\n\r\n", len(body))
		start := time.Now()
		stop := make(chan struct{})
		var wg sync.WaitGroup
		wg.Add(1)
		go func() { // one byte every 200ms: the whole body would take 5s
			defer wg.Done()
			for i := 0; i < len(body); i++ {
				select {
				case <-stop:
					return
				case <-time.After(200 * time.Millisecond):
				}
				if _, err := c.Write([]byte{body[i]}); err != nil {
					return
				}
			}
		}()
		_, got := waitEOF(t, c, 4*time.Second)
		close(stop)
		wg.Wait()
		took := time.Since(start)
		if !strings.HasPrefix(got, "HTTP/1.1 408") {
			t.Fatalf("got %q; want 408", got)
		}
		if took > 3*time.Second {
			t.Fatalf("cut after %v; want about the 1s body timeout", took)
		}
	})

	t.Run("headers sent a byte at a time", func(t *testing.T) {
		c := dialRaw(t, srv.URL)
		fmt.Fprint(c, "GET /healthz HTTP/1.1\r\nHost: x\r\nX-Slow: ")
		stop := make(chan struct{})
		defer close(stop)
		go func() {
			for {
				select {
				case <-stop:
					return
				case <-time.After(200 * time.Millisecond):
				}
				if _, err := c.Write([]byte("a")); err != nil {
					return
				}
			}
		}()
		if took, _ := waitEOF(t, c, 4*time.Second); took > 3*time.Second {
			t.Fatalf("cut after %v", took)
		}
	})

	t.Run("streams outlive the body and write timeouts", func(t *testing.T) {
		c := srv.Client()
		admin := c.As(c.AdminToken(t))
		userID, tok := c.NewUser(t, "streamer")
		watch := testutil.WatchSubscriptions(srv)
		ws := testutil.DialWS(t, srv.URL, testutil.GraphQLTransportWS, subBearer(tok))
		var sse <-chan json.RawMessage
		watch.Settle(t)
		ws.Subscribe(t, "w", subWallet, nil)
		sse = testutil.SubscribeSSE(t.Context(), t, srv.URL, tok, subWallet, nil)
		watch.WaitTotal(t, 2)
		time.Sleep(2500 * time.Millisecond) // well past both timeouts
		admin.Do(t, `mutation($in:CreditInput!){credit(input:$in){id}}`,
			map[string]any{"in": map[string]any{"userId": userID, "asset": "CNY", "amount": "1.00"}}).Decode(t, &struct{}{})
		if ev := subDecodeWallet(t, ws.Next(t, subWait)); ev.Wallet.Available != "1.00" {
			t.Fatalf("WebSocket got %+v", ev)
		}
		var out struct{ WalletChanged subWalletEvent }
		subSSENext(t, sse).Decode(t, &out)
		if out.WalletChanged.Wallet.Available != "1.00" {
			t.Fatalf("SSE got %+v", out.WalletChanged)
		}
		srv.AssertLedger(t) // ordinary requests in time are served

	})
}

func TestConnectionsPerAddressAreCapped(t *testing.T) {
	srv := testutil.Start(t, connEnv(t, "PAYGRAPH_MAX_CONNS_PER_IP", "3", "PAYGRAPH_HEADER_TIMEOUT", "2s"))
	// The cap: two WebSockets and one idle keep-alive connection.
	ws1 := testutil.DialWS(t, srv.URL, testutil.GraphQLTransportWS, nil)
	ws2 := testutil.DialWS(t, srv.URL, testutil.GraphQLWS, nil)
	idle := dialRaw(t, srv.URL)
	if code := rawGet(t, idle, "/healthz"); code != http.StatusOK {
		t.Fatalf("third connection: %d", code)
	}

	// The next one is answered 429 and closed.
	over := dialRaw(t, srv.URL)
	if code := rawGet(t, over, "/healthz"); code != http.StatusTooManyRequests {
		t.Fatalf("fourth connection: %d; want 429", code)
	}
	waitEOF(t, over, subWait)
	ctx, cancel := context.WithTimeout(context.Background(), subWait)
	defer cancel()
	_, resp, err := websocket.Dial(ctx, testutil.WSURL(srv.URL), &websocket.DialOptions{Subprotocols: []string{testutil.GraphQLTransportWS}})
	if err == nil || resp == nil || resp.StatusCode != http.StatusTooManyRequests {
		t.Fatalf("a WebSocket over the cap: %v (%v); want 429", err, resp)
	}

	// Refused connections that send nothing are held only up to twice the
	// cap; beyond, new ones are closed at once.
	for range 3 {
		dialRaw(t, srv.URL)
	}
	start := time.Now()
	if took, got := waitEOF(t, dialRaw(t, srv.URL), time.Second); got != "" {
		t.Fatalf("got %q after %v; want a close without answer", got, took)
	}
	// The silent ones are dropped by the header timeout; then a new
	// connection is counted again (and refused), not closed unanswered.
	deadline := time.Now().Add(subWait)
	for {
		c := dialRaw(t, srv.URL)
		code, _ := tryGet(c, "/healthz")
		c.Close()
		if code == http.StatusTooManyRequests {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("no slot came back after %v", time.Since(start))
		}
		time.Sleep(50 * time.Millisecond)
	}

	// Closing one of the three frees a slot.
	ws1.Close()
	deadline = time.Now().Add(subWait)
	for {
		c := dialRaw(t, srv.URL)
		code, _ := tryGet(c, "/healthz")
		c.Close()
		if code == http.StatusOK {
			break
		}
		if code != http.StatusTooManyRequests || time.Now().After(deadline) {
			t.Fatalf("after closing a WebSocket: %d", code)
		}
		time.Sleep(50 * time.Millisecond)
	}
	ws2.Close()
}

func TestOpenStreamsAreCapped(t *testing.T) {
	srv := testutil.Start(t, connEnv(t, "PAYGRAPH_MAX_STREAMS", "2"))
	_, tok := srv.Client().NewUser(t, "streamer")
	ws := testutil.DialWS(t, srv.URL, testutil.GraphQLTransportWS, nil)
	_ = testutil.SubscribeSSE(t.Context(), t, srv.URL, tok, subWallet, nil)
	waitStreams(t, srv, 2)

	ctx, cancel := context.WithTimeout(context.Background(), subWait)
	defer cancel()
	_, resp, err := websocket.Dial(ctx, testutil.WSURL(srv.URL), &websocket.DialOptions{Subprotocols: []string{testutil.GraphQLTransportWS}})
	if err == nil || resp == nil || resp.StatusCode != http.StatusServiceUnavailable {
		t.Fatalf("a third stream: %v (%v); want 503", err, resp)
	}
	// Ordinary requests are not streams.
	if r := srv.Client().Do(t, `{ __typename }`, nil); len(r.Errors) > 0 {
		t.Fatal(r.Errors)
	}
	ws.Close()
	waitStreams(t, srv, 1)
	testutil.DialWS(t, srv.URL, testutil.GraphQLWS, nil)
}
