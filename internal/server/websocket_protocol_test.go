package server_test

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/coder/websocket"

	"github.com/paygraph/paygraph/internal/server"
	"github.com/paygraph/paygraph/internal/testutil"
)

// rawWS is a graphql-transport-ws client that sees every message and the
// close code, for the protocol's rules that testutil.WSConn hides.
type rawWS struct {
	conn *websocket.Conn
}

func openRawWS(t *testing.T, serverURL string) *rawWS {
	t.Helper()
	return openRawWSWith(t, serverURL, nil)
}

// openRawWSWith opens the socket with header on the upgrade request.
func openRawWSWith(t *testing.T, serverURL string, header http.Header) *rawWS {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), subWait)
	defer cancel()
	conn, _, err := websocket.Dial(ctx, testutil.WSURL(serverURL), &websocket.DialOptions{
		Subprotocols: []string{testutil.GraphQLTransportWS}, HTTPHeader: header})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.CloseNow() })
	return &rawWS{conn: conn}
}

func (c *rawWS) send(t *testing.T, msg string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), subWait)
	defer cancel()
	if err := c.conn.Write(ctx, websocket.MessageText, []byte(msg)); err != nil {
		t.Fatalf("sending %s: %v", msg, err)
	}
}

// read returns the next message; it fails t if none comes in time.
func (c *rawWS) read(t *testing.T) testutil.WSMessage {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), subWait)
	defer cancel()
	_, data, err := c.conn.Read(ctx)
	if err != nil {
		t.Fatalf("reading: %v", err)
	}
	var m testutil.WSMessage
	if err := json.Unmarshal(data, &m); err != nil {
		t.Fatalf("message %q: %v", data, err)
	}
	return m
}

// closed reads until the server closes the connection and returns the
// close code; a message meanwhile fails t.
func (c *rawWS) closed(t *testing.T) int {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), subWait)
	defer cancel()
	_, data, err := c.conn.Read(ctx)
	if err == nil {
		t.Fatalf("got %s; want the connection closed", data)
	}
	return testutil.CloseStatus(err)
}

func (c *rawWS) init(t *testing.T, token string) {
	t.Helper()
	if token == "" {
		c.send(t, `{"type":"connection_init"}`)
	} else {
		c.send(t, `{"type":"connection_init","payload":{"Authorization":"Bearer `+token+`"}}`)
	}
	if m := c.read(t); m.Type != "connection_ack" {
		t.Fatalf("got %s %s; want connection_ack", m.Type, m.Payload)
	}
}

// A client that breaks graphql-transport-ws's rules is closed with the
// code the protocol gives the breach.
func TestTransportWSProtocolErrorsClose(t *testing.T) {
	srv := testutil.Start(t, testutil.Base(t))
	_, tok := srv.Client().NewUser(t, "ws-rules")
	wallet := `{"type":"subscribe","id":"w","payload":{"query":"subscription{walletChanged{wallet{asset}}}"}}`
	for _, tc := range []struct {
		name  string
		token string // "" leaves the connection uninitialised
		send  []string
		want  int
	}{
		{"subscribe before connection_init", "", []string{wallet}, 4401},
		{"no JSON before connection_init", "", []string{`{"type":`}, 4400},
		{"a bad connection_init payload", "", []string{`{"type":"connection_init","payload":5}`}, 4400},
		{"a second connection_init", tok, []string{`{"type":"connection_init"}`}, 4429},
		{"the id of a live subscription", tok, []string{wallet, wallet}, 4409},
		{"a subscribe without id", tok, []string{`{"type":"subscribe","payload":{"query":"subscription{walletChanged{wallet{asset}}}"}}`}, 4400},
		{"a type the protocol lacks", tok, []string{`{"type":"start","id":"1"}`}, 4400},
		{"a server's message", tok, []string{`{"type":"next","id":"1"}`}, 4400},
		{"no JSON", tok, []string{`not json`}, 4400},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ws := openRawWS(t, srv.URL)
			if tc.token != "" {
				ws.init(t, tc.token)
			}
			for _, m := range tc.send {
				ws.send(t, m)
			}
			if code := ws.closed(t); code != tc.want {
				t.Fatalf("closed with %d; want %d", code, tc.want)
			}
		})
	}
	waitStreams(t, srv, 0)
}

// Within the rules: ping is answered with its payload, an operation that
// fails gets error and complete under its id (which is then free again),
// and a complete for no live operation changes nothing.
func TestTransportWSMessages(t *testing.T) {
	srv := testutil.Start(t, testutil.Base(t))
	_, tok := srv.Client().NewUser(t, "ws-messages")
	ws := openRawWS(t, srv.URL)
	ws.send(t, `{"type":"ping","payload":{"before":"init"}}`)
	if m := ws.read(t); m.Type != "pong" || string(m.Payload) != `{"before":"init"}` {
		t.Fatalf("got %s %s; want pong with the ping's payload", m.Type, m.Payload)
	}
	ws.init(t, tok)
	ws.send(t, `{"type":"ping","payload":{"n":1}}`)
	if m := ws.read(t); m.Type != "pong" || string(m.Payload) != `{"n":1}` {
		t.Fatalf("got %s %s; want pong with the ping's payload", m.Type, m.Payload)
	}
	ws.send(t, `{"type":"complete","id":"nothing"}`)

	for _, tc := range []struct{ name, payload, want string }{
		{"not a GraphQL request", `5`, "invalid json"},
		{"a query that does not parse", `{"query":"subscription{"}`, "Expected Name"},
		{"a field the schema lacks", `{"query":"subscription{nothing}"}`, "nothing"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ws.send(t, `{"type":"subscribe","id":"op","payload":`+tc.payload+`}`)
			m := ws.read(t)
			if m.ID != "op" {
				t.Fatalf("got %s for %q; want operation op", m.Type, m.ID)
			}
			var errs []testutil.GQLError
			if m.Type == "next" {
				var r testutil.Response
				if err := json.Unmarshal(m.Payload, &r); err != nil {
					t.Fatal(err)
				}
				errs = r.Errors
			} else if m.Type != "error" || json.Unmarshal(m.Payload, &errs) != nil {
				t.Fatalf("got %s %s; want error", m.Type, m.Payload)
			}
			if len(errs) == 0 || !strings.Contains(errs[0].Message, tc.want) {
				t.Fatalf("errors %s; want one saying %q", m.Payload, tc.want)
			}
			if m := ws.read(t); m.Type != "complete" || m.ID != "op" {
				t.Fatalf("got %s %s for %q; want complete of op", m.Type, m.Payload, m.ID)
			}
		})
	}
	// The connection still works, and op is free.
	ws.send(t, `{"type":"subscribe","id":"op","payload":{"query":"subscription{walletChanged{wallet{asset}}}"}}`)
	ws.send(t, `{"type":"complete","id":"op"}`)
	if m := ws.read(t); m.Type != "complete" || m.ID != "op" {
		t.Fatalf("got %s %s for %q; want complete of op", m.Type, m.Payload, m.ID)
	}
}

// A subscribed, idle graphql-transport-ws socket holds one goroutine on
// the server, its reader: none for net/http's handler, for watching the
// connection's context or for the subscription. (gqlgen's transport held
// three.)
func TestTransportWSIdleSocketHoldsOneGoroutine(t *testing.T) {
	w := newSubWorld(t, testutil.Base(t))
	const n = 20
	// The first socket starts what lives as long as the server.
	first := testutil.DialWS(t, w.srv.URL, testutil.GraphQLTransportWS, subBearer(w.payerToken))
	w.listening(t, 1, func() { first.Subscribe(t, "1", subWallet, nil) })
	time.Sleep(subQuiet)
	before := runtime.NumGoroutine()
	conns := make([]*testutil.WSConn, n)
	w.listening(t, n, func() {
		for i := range conns {
			conns[i] = testutil.DialWS(t, w.srv.URL, testutil.GraphQLTransportWS, subBearer(w.payerToken))
			conns[i].Subscribe(t, "1", subWallet, nil)
		}
	})
	deadline := time.Now().Add(subWait)
	for {
		// Each socket has the test client's reader too.
		per := float64(runtime.NumGoroutine()-before) / n
		if per <= 2.1 {
			t.Logf("%.2f goroutines per socket, client and server", per)
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("%.2f goroutines per idle socket, the client's reader included; want 2", per)
		}
		time.Sleep(50 * time.Millisecond)
	}
	// They still deliver.
	w.credit(t, w.payerID, "1.00")
	for _, ws := range conns {
		if ev := subDecodeWallet(t, ws.Next(t, subWait)); ev.Wallet.Available != "11.00" {
			t.Fatalf("got %+v; want the credit", ev)
		}
	}
	for _, ws := range conns {
		ws.Close()
	}
	first.Close()
	w.watch.WaitActive(t, 0)
	waitStreams(t, w.srv, 0)
}

// An upgrade with an Idempotency-Key header is refused before it
// happens, on both subprotocols: the header names one mutation, and a
// socket's every mutation would replay the first's result. Over a socket,
// separate mutations without keys each run.
func TestWebSocketUpgradeWithIdempotencyKeyIsRefused(t *testing.T) {
	srv := testutil.Start(t, testutil.Base(t))
	c := srv.Client()
	admin := c.AdminToken(t)
	uid, tok := c.NewUser(t, "ws-keyed")
	for _, protocol := range []string{testutil.GraphQLTransportWS, testutil.GraphQLWS} {
		ctx, cancel := context.WithTimeout(context.Background(), subWait)
		conn, resp, err := websocket.Dial(ctx, testutil.WSURL(srv.URL), &websocket.DialOptions{
			Subprotocols: []string{protocol}, HTTPHeader: http.Header{"Idempotency-Key": {"k-ws"}}})
		cancel()
		if err == nil {
			conn.CloseNow()
			t.Fatalf("%s: upgrade with an Idempotency-Key header accepted", protocol)
		}
		if resp == nil || resp.StatusCode != http.StatusBadRequest {
			t.Fatalf("%s: %v %+v; want 400", protocol, err, resp)
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if !strings.Contains(string(body), "idempotencyKey argument") || !strings.Contains(string(body), "BAD_USER_INPUT") {
			t.Fatalf("%s: refusal %s", protocol, body)
		}
	}
	ws := openRawWS(t, srv.URL)
	ws.init(t, admin)
	credit := `{"type":"subscribe","id":"%s","payload":{"query":"mutation($u: ID!) { credit(input: {userId: $u, asset: \"CNY\", amount: \"10.00\"}) { id } }","variables":{"u":"` + uid + `"}}}`
	for _, id := range []string{"m1", "m2"} {
		ws.send(t, fmt.Sprintf(credit, id))
		if m := ws.read(t); m.Type != "next" || strings.Contains(string(m.Payload), "errors") {
			t.Fatalf("%s: %s %s", id, m.Type, m.Payload)
		}
		if m := ws.read(t); m.Type != "complete" {
			t.Fatalf("%s: %s; want complete", id, m.Type)
		}
	}
	if a, _ := wallet(t, c.As(tok), "CNY"); a != "20.00" {
		t.Fatalf("two credits over one socket: balance %s, want 20.00", a)
	}
	srv.AssertLedger(t)
}

// Pings before connection_init are answered but do not stop the init
// timer: a socket that only pings is closed with 4408 like a silent one.
func TestTransportWSPingsDoNotStandInForInit(t *testing.T) {
	srv := testutil.Start(t, connEnv(t, "PAYGRAPH_WS_INIT_TIMEOUT", "700ms"))
	ws := openRawWS(t, srv.URL)
	start := time.Now()
	ws.send(t, `{"type":"ping"}`)
	if m := ws.read(t); m.Type != "pong" {
		t.Fatalf("got %s; want pong", m.Type)
	}
	for range 3 {
		time.Sleep(200 * time.Millisecond)
		ctx, cancel := context.WithTimeout(context.Background(), subWait)
		err := ws.conn.Write(ctx, websocket.MessageText, []byte(`{"type":"ping"}`))
		cancel()
		if err != nil {
			break
		}
	}
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Second)
	defer cancel()
	code := -1
	for {
		_, data, err := ws.conn.Read(ctx)
		if err != nil {
			code = testutil.CloseStatus(err) // -1: still open when the wait ran out
			break
		}
		if !strings.Contains(string(data), "pong") {
			t.Fatalf("got %s", data)
		}
	}
	if code != 4408 {
		t.Fatalf("closed with %d after %v; want 4408", code, time.Since(start))
	}
	if took := time.Since(start); took > 3*time.Second {
		t.Fatalf("closed after %v; want about the 700ms init timeout", took)
	}
}

// A token given on the upgrade request, not in connection_init, holds the
// socket to its revocation too: after the SERVICE token is rotated the
// socket is closed, and nothing more runs as that app.
func TestWebSocketUpgradeTokenIsRechecked(t *testing.T) {
	srv := testutil.StartWith(t, testutil.Base(t), server.Options{TokenRecheck: 100 * time.Millisecond})
	c := srv.Client()
	admin := c.As(c.AdminToken(t))
	var app struct {
		CreateApp struct {
			App          struct{ ID string }
			ServiceToken string
		}
	}
	admin.Do(t, `mutation{createApp(name:"upgrade-token"){app{id} serviceToken}}`, nil).Decode(t, &app)
	ws := openRawWSWith(t, srv.URL, http.Header{"Authorization": {"Bearer " + app.CreateApp.ServiceToken}})
	ws.init(t, "")
	ws.send(t, `{"type":"subscribe","id":"q","payload":{"query":"{ viewer { role } }"}}`)
	if m := ws.read(t); m.Type != "next" || !strings.Contains(string(m.Payload), "SERVICE") {
		t.Fatalf("as the upgrade's token: %s %s", m.Type, m.Payload)
	}
	if m := ws.read(t); m.Type != "complete" {
		t.Fatalf("got %s; want complete", m.Type)
	}
	admin.Do(t, `mutation($id:ID!){rotateServiceToken(appId:$id){serviceToken}}`, map[string]any{"id": app.CreateApp.App.ID})
	if code := ws.closed(t); code != 1000 {
		t.Fatalf("closed with %d; want 1000 once the rotation is noticed", code)
	}
}

// One socket runs at most 64 operations at once: past them an operation
// is refused with RATE_LIMITED and the others go on.
func TestTransportWSBoundsOperationsInFlight(t *testing.T) {
	srv := testutil.Start(t, connEnv(t, "PAYGRAPH_MAX_SUBSCRIPTIONS_PER_CONN", "200"))
	_, tok := srv.Client().NewUser(t, "ws-many")
	ws := openRawWS(t, srv.URL)
	ws.init(t, tok)
	for i := range 64 {
		ws.send(t, fmt.Sprintf(`{"type":"subscribe","id":"s%d","payload":{"query":"subscription{myOrderEvents{orderID}}"}}`, i))
	}
	ws.send(t, `{"type":"subscribe","id":"over","payload":{"query":"{ viewer { role } }"}}`)
	m := ws.read(t)
	if m.ID != "over" || m.Type != "error" || !strings.Contains(string(m.Payload), "RATE_LIMITED") {
		t.Fatalf("65th operation: %s %s %s", m.ID, m.Type, m.Payload)
	}
	if m := ws.read(t); m.ID != "over" || m.Type != "complete" {
		t.Fatalf("got %s %s; want its complete", m.ID, m.Type)
	}
	// Room again once one completes.
	ws.send(t, `{"type":"complete","id":"s0"}`)
	ws.send(t, `{"type":"subscribe","id":"q","payload":{"query":"{ viewer { role } }"}}`)
	for {
		m := ws.read(t)
		if m.ID == "s0" {
			continue // its complete echoed
		}
		if m.ID != "q" || m.Type != "next" || !strings.Contains(string(m.Payload), "USER") {
			t.Fatalf("after room was made: %s %s %s", m.ID, m.Type, m.Payload)
		}
		break
	}
}
