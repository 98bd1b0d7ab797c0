package server_test

import (
	"context"
	"encoding/json"
	"testing"
	"time"

	"github.com/coder/websocket"

	"github.com/paygraph/paygraph/internal/testutil"
)

func TestWebSocketWithoutInitIsClosedWith4408(t *testing.T) {
	srv := testutil.Start(t, connEnv(t, "PAYGRAPH_WS_INIT_TIMEOUT", "700ms"))
	for _, protocol := range []string{testutil.GraphQLTransportWS, testutil.GraphQLWS} {
		t.Run(protocol, func(t *testing.T) {
			start := time.Now()
			silent := testutil.OpenWS(t, srv.URL, protocol)
			// One that does init in time is not touched by the timer.
			ok := testutil.DialWS(t, srv.URL, protocol, nil)

			err := silent.WaitClosed(t, 5*time.Second)
			took := time.Since(start)
			if code := testutil.CloseStatus(err); code != 4408 {
				t.Fatalf("closed with %d (%v); want 4408 Connection initialisation timeout", code, err)
			}
			if took < 600*time.Millisecond || took > 3*time.Second {
				t.Fatalf("closed after %v; want about the 700ms init timeout", took)
			}
			ok.ExpectSilence(t, time.Second)
			ok.Subscribe(t, "1", subMyOrders, nil)
			subCheckCode(t, subErrors(t, ok, "1"), "UNAUTHENTICATED") // the connection works
		})
	}
}

func TestWebSocketWithABadInitPayloadIsClosed(t *testing.T) {
	srv := testutil.Start(t, testutil.Base(t))
	// gqlgen gives up on a connection_init whose payload is no object but
	// leaves the socket open; it must not stay open.
	ws := testutil.OpenWS(t, srv.URL, testutil.GraphQLTransportWS)
	ws.Send(t, testutil.WSMessage{Type: "connection_init", Payload: json.RawMessage(`5`)})
	err := ws.WaitClosed(t, 5*time.Second)
	t.Logf("closed: %v", err)
	waitStreams(t, srv, 0)
}

func TestDeadWebSocketPeerIsDropped(t *testing.T) {
	// Pings every 500ms (the test servers' interval); a peer has 1s to answer.
	srv := testutil.Start(t, connEnv(t, "PAYGRAPH_WS_PONG_TIMEOUT", "1s"))
	for _, protocol := range []string{testutil.GraphQLTransportWS, testutil.GraphQLWS} {
		t.Run(protocol, func(t *testing.T) {
			ctx, cancel := context.WithTimeout(context.Background(), subWait)
			defer cancel()
			// A client that initialises, then never reads again, so it
			// answers no ping: to the server it looks like a dead peer.
			conn, _, err := websocket.Dial(ctx, testutil.WSURL(srv.URL), &websocket.DialOptions{Subprotocols: []string{protocol}})
			if err != nil {
				t.Fatal(err)
			}
			defer conn.CloseNow()
			if err := conn.Write(ctx, websocket.MessageText, []byte(`{"type":"connection_init"}`)); err != nil {
				t.Fatal(err)
			}
			waitStreams(t, srv, 1)
			start := time.Now()
			waitStreams(t, srv, 0)
			if took := time.Since(start); took > 5*time.Second {
				t.Fatalf("dropped after %v", took)
			}
		})
	}
	// A live peer (the test client answers pings) stays.
	ws := testutil.DialWS(t, srv.URL, testutil.GraphQLTransportWS, nil)
	ws.ExpectSilence(t, 3*time.Second)
	if srv.OpenStreams() != 1 {
		t.Fatalf("%d streams open; want the live one", srv.OpenStreams())
	}
}
