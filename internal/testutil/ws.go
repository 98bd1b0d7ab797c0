package testutil

import (
	"bufio"
	"bytes"
	"context"
	"crypto/rand"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/coder/websocket"

	"github.com/paygraph/paygraph/internal/events"
)

// The WebSocket subprotocols paygraph speaks.
const (
	// GraphQLTransportWS is the graphql-ws npm client's protocol:
	// connection_init/connection_ack, subscribe, next, error, complete,
	// ping/pong.
	GraphQLTransportWS = "graphql-transport-ws"
	// GraphQLWS is the legacy Apollo subscriptions-transport-ws protocol:
	// connection_init/connection_ack, start, data, error, complete, stop,
	// and "ka" keep-alives from the server.
	GraphQLWS = "graphql-ws"
)

// wsWait bounds every single network step of the test clients.
const wsWait = 10 * time.Second

// WSMessage is one message of either subprotocol.
type WSMessage struct {
	Type    string          `json:"type"`
	ID      string          `json:"id,omitempty"`
	Payload json.RawMessage `json:"payload,omitempty"`
}

// WSResult is what a subscription delivered: a result ("next", also for
// the legacy "data"), an "error", or its "complete". Data and Errors hold a
// result's payload, or an error message's errors.
type WSResult struct {
	ID   string
	Type string
	Response
}

// WSConn is a GraphQL-over-WebSocket client connection. A goroutine reads
// it, answers the server's pings and drops keep-alives, so callers see only
// the messages that matter.
type WSConn struct {
	// Protocol is the negotiated subprotocol.
	Protocol string

	conn   *websocket.Conn
	ctx    context.Context // ends the reader
	cancel context.CancelFunc
	msgs   chan WSMessage
	done   chan struct{} // closed when the reader returns
	err    error         // why the reader returned; set before done closes
	once   sync.Once
}

// WSURL returns the GraphQL WebSocket endpoint of a server at serverURL
// (http://… → ws://…/query).
func WSURL(serverURL string) string {
	return "ws" + strings.TrimPrefix(serverURL, "http") + "/query"
}

// DialWS connects to serverURL's /query with subprotocol, sends
// connection_init with initPayload (nil sends none) and waits for
// connection_ack; anything else fails t. The connection is closed when t
// ends.
func DialWS(t testing.TB, serverURL, subprotocol string, initPayload map[string]any) *WSConn {
	t.Helper()
	c := OpenWS(t, serverURL, subprotocol)
	if err := c.Init(initPayload); err != nil {
		t.Fatalf("%s connection_init: %v", subprotocol, err)
	}
	return c
}

// OpenWS connects to serverURL's /query with subprotocol without
// initialising the connection (see Init). It is closed when t ends.
func OpenWS(t testing.TB, serverURL, subprotocol string) *WSConn {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), wsWait)
	defer cancel()
	conn, resp, err := websocket.Dial(ctx, WSURL(serverURL), &websocket.DialOptions{Subprotocols: []string{subprotocol}})
	if err != nil {
		t.Fatalf("dialing %s (%s): %v", WSURL(serverURL), subprotocol, err)
	}
	if resp != nil && resp.Body != nil {
		resp.Body.Close()
	}
	if got := conn.Subprotocol(); got != subprotocol {
		conn.CloseNow()
		t.Fatalf("server chose subprotocol %q; want %q", got, subprotocol)
	}
	c := &WSConn{Protocol: subprotocol, conn: conn, msgs: make(chan WSMessage, 256), done: make(chan struct{})}
	c.ctx, c.cancel = context.WithCancel(context.Background())
	go c.read()
	t.Cleanup(c.Close)
	return c
}

func (c *WSConn) read() {
	defer close(c.done)
	for {
		typ, data, err := c.conn.Read(c.ctx)
		if err != nil {
			c.err = err
			return
		}
		var m WSMessage
		if typ != websocket.MessageText || json.Unmarshal(data, &m) != nil {
			c.err = fmt.Errorf("malformed message %q", data)
			c.conn.CloseNow()
			return
		}
		switch m.Type {
		case "ka", "pong":
			continue
		case "ping":
			if c.Protocol == GraphQLTransportWS {
				if err := c.write(WSMessage{Type: "pong", Payload: m.Payload}); err != nil {
					c.err = fmt.Errorf("answering ping: %w", err)
					return
				}
				continue
			}
		}
		select {
		case c.msgs <- m:
		case <-c.ctx.Done():
			c.err = c.ctx.Err()
			return
		}
	}
}

func (c *WSConn) write(m WSMessage) error {
	b, err := json.Marshal(m)
	if err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(c.ctx, wsWait)
	defer cancel()
	return c.conn.Write(ctx, websocket.MessageText, b)
}

// Send writes m, failing t if it cannot.
func (c *WSConn) Send(t testing.TB, m WSMessage) {
	t.Helper()
	if err := c.write(m); err != nil {
		t.Fatalf("sending %s: %v", m.Type, err)
	}
}

// Init sends connection_init with payload and waits for connection_ack. It
// returns an error for any other answer (a legacy connection_error, say) or
// if the connection ends first.
func (c *WSConn) Init(payload map[string]any) error {
	m := WSMessage{Type: "connection_init"}
	if payload != nil {
		b, err := json.Marshal(payload)
		if err != nil {
			return err
		}
		m.Payload = b
	}
	if err := c.write(m); err != nil {
		return err
	}
	got, err := c.Read(wsWait)
	if err != nil {
		return err
	}
	if got.Type != "connection_ack" {
		return fmt.Errorf("got %s %s; want connection_ack", got.Type, got.Payload)
	}
	return nil
}

// Read returns the next message other than a keep-alive or ping, or an
// error if none comes within timeout or the connection ends first.
func (c *WSConn) Read(timeout time.Duration) (WSMessage, error) {
	timer := time.NewTimer(timeout)
	defer timer.Stop()
	select {
	case m := <-c.msgs:
		return m, nil
	case <-c.done:
		// The reader may have queued messages before it stopped.
		select {
		case m := <-c.msgs:
			return m, nil
		default:
		}
		return WSMessage{}, fmt.Errorf("connection ended: %w", c.err)
	case <-timer.C:
		return WSMessage{}, fmt.Errorf("no message within %v", timeout)
	}
}

// Subscribe starts operation id ("subscribe", or the legacy "start").
func (c *WSConn) Subscribe(t testing.TB, id, query string, vars map[string]any) {
	t.Helper()
	b, err := json.Marshal(map[string]any{"query": query, "variables": vars})
	if err != nil {
		t.Fatal(err)
	}
	typ := "subscribe"
	if c.Protocol == GraphQLWS {
		typ = "start"
	}
	c.Send(t, WSMessage{Type: typ, ID: id, Payload: b})
}

// Unsubscribe stops operation id ("complete", or the legacy "stop").
func (c *WSConn) Unsubscribe(t testing.TB, id string) {
	t.Helper()
	typ := "complete"
	if c.Protocol == GraphQLWS {
		typ = "stop"
	}
	c.Send(t, WSMessage{Type: typ, ID: id})
}

// Next returns the next message of any subscription on c: a result
// (Type "next", also for the legacy "data"), an "error" or a "complete".
// It fails t if none arrives within timeout or the connection ends.
func (c *WSConn) Next(t testing.TB, timeout time.Duration) *WSResult {
	t.Helper()
	m, err := c.Read(timeout)
	if err != nil {
		t.Fatalf("waiting for a subscription message: %v", err)
	}
	r := &WSResult{ID: m.ID, Type: m.Type}
	switch m.Type {
	case "next", "data":
		r.Type = "next"
		if err := json.Unmarshal(m.Payload, &r.Response); err != nil {
			t.Fatalf("%s payload %s: %v", m.Type, m.Payload, err)
		}
	case "error":
		// gqlgen sends a list of errors; the legacy protocol documents a
		// single one.
		if bytes.HasPrefix(bytes.TrimSpace(m.Payload), []byte("[")) {
			err = json.Unmarshal(m.Payload, &r.Errors)
		} else {
			r.Errors = make([]GQLError, 1)
			err = json.Unmarshal(m.Payload, &r.Errors[0])
		}
		if err != nil {
			t.Fatalf("error payload %s: %v", m.Payload, err)
		}
	case "complete":
	default:
		t.Fatalf("unexpected %s message: %s", m.Type, m.Payload)
	}
	return r
}

// ExpectSilence fails t if any message (other than a keep-alive) arrives
// within d, or if the connection ends.
func (c *WSConn) ExpectSilence(t testing.TB, d time.Duration) {
	t.Helper()
	if m, err := c.Read(d); err == nil {
		t.Fatalf("got %s %s (id %q); want nothing", m.Type, m.Payload, m.ID)
	} else if !strings.HasPrefix(err.Error(), "no message") {
		t.Fatal(err)
	}
}

// WaitClosed waits until the server ends the connection, discarding what
// arrives meanwhile, and returns the read error that ended it (a
// websocket.CloseError when the server closed it properly). It fails t if
// the connection is still open after timeout.
func (c *WSConn) WaitClosed(t testing.TB, timeout time.Duration) error {
	t.Helper()
	timer := time.NewTimer(timeout)
	defer timer.Stop()
	for {
		select {
		case <-c.msgs:
		case <-c.done:
			return c.err
		case <-timer.C:
			t.Fatalf("the connection is still open after %v", timeout)
			return nil
		}
	}
}

// CloseStatus returns the close code of an error WaitClosed returned, or
// -1 if the connection ended without a close frame.
func CloseStatus(err error) int { return int(websocket.CloseStatus(err)) }

// Close closes the connection (with a close handshake when the server is
// still there) and waits for its reader. It is safe to call twice.
func (c *WSConn) Close() {
	c.once.Do(func() {
		// Close bounds its own handshake (5 s to write, 5 s to hear back).
		_ = c.conn.Close(websocket.StatusNormalClosure, "")
		c.cancel()
		_ = c.conn.CloseNow()
		<-c.done
	})
}

// SubscribeSSE runs a subscription over Server-Sent Events: a POST to
// serverURL's /query with Accept: text/event-stream (and the token, if
// any, as a bearer token). The channel receives the JSON of each "next"
// event (a GraphQL response) and is closed after the "complete" event, when
// the stream ends, or when ctx or t ends. t's cleanup waits for the
// reading goroutine.
func SubscribeSSE(ctx context.Context, t testing.TB, serverURL, token, query string, vars map[string]any) <-chan json.RawMessage {
	t.Helper()
	body, err := json.Marshal(map[string]any{"query": query, "variables": vars})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(ctx)
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, serverURL+"/query", bytes.NewReader(body))
	if err != nil {
		cancel()
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Accept", "text/event-stream")
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	// A transport of its own that keeps no idle connection behind.
	tr := &http.Transport{DisableKeepAlives: true}
	hc := &http.Client{Transport: tr}
	headers := time.AfterFunc(wsWait, cancel) // bounds the wait for the response
	resp, err := hc.Do(req)
	headers.Stop()
	if err != nil {
		cancel()
		t.Fatalf("SSE request: %v", err)
	}
	if ct := resp.Header.Get("Content-Type"); resp.StatusCode != http.StatusOK || !strings.HasPrefix(ct, "text/event-stream") {
		resp.Body.Close()
		cancel()
		t.Fatalf("SSE response: status %d, Content-Type %q", resp.StatusCode, ct)
	}
	out := make(chan json.RawMessage, 64)
	done := make(chan struct{})
	go func() {
		defer close(done)
		defer close(out)
		defer resp.Body.Close()
		sc := bufio.NewScanner(resp.Body)
		sc.Buffer(make([]byte, 0, 64<<10), 4<<20)
		var event string
		var data []string
		for sc.Scan() {
			line := sc.Text()
			switch {
			case line == "":
				if event == "complete" {
					return
				}
				if event == "next" && len(data) > 0 {
					select {
					case out <- json.RawMessage(strings.Join(data, "\n")):
					case <-ctx.Done():
						return
					}
				}
				event, data = "", nil
			case strings.HasPrefix(line, ":"): // a comment: the opening or a ping
			case strings.HasPrefix(line, "event:"):
				event = strings.TrimSpace(strings.TrimPrefix(line, "event:"))
			case strings.HasPrefix(line, "data:"):
				data = append(data, strings.TrimPrefix(strings.TrimPrefix(line, "data:"), " "))
			}
		}
	}()
	t.Cleanup(func() {
		cancel()
		select {
		case <-done:
		case <-time.After(wsWait):
			t.Errorf("the SSE reader did not stop")
		}
		tr.CloseIdleConnections()
	})
	return out
}

// SubscriptionWatch counts the subscriptions a server has registered on
// its event bus, so that a test can wait until a subscription it started
// is listening before causing the event it expects: neither protocol
// acknowledges a subscription.
type SubscriptionWatch struct {
	events.Bus

	mu      sync.Mutex
	active  int
	total   int
	changed chan struct{} // closed and replaced at every change
}

// WatchSubscriptions puts a SubscriptionWatch between s's subscription
// resolvers and its bus. Call it right after Start, before any request.
func WatchSubscriptions(s *Server) *SubscriptionWatch {
	w := &SubscriptionWatch{Bus: s.Live.Bus, changed: make(chan struct{})}
	s.Live.Bus = w
	// The server reads Live.Bus on connections it accepts later; taking
	// the http.Server's lock here and in its accept loop orders this write
	// before those reads (for the race detector as for the memory model).
	s.HTTP.Config.RegisterOnShutdown(func() {})
	return w
}

// Subscribe counts the subscription until its context ends.
func (w *SubscriptionWatch) Subscribe(ctx context.Context, match func(events.Event) bool) <-chan events.Event {
	ch := w.Bus.Subscribe(ctx, match)
	w.update(1, 1)
	context.AfterFunc(ctx, func() { w.update(-1, 0) })
	return ch
}

// Handle counts the subscription until its context ends.
func (w *SubscriptionWatch) Handle(ctx context.Context, match func(events.Event) bool, handle func(events.Event), done func()) {
	w.Bus.Handle(ctx, match, handle, done)
	w.update(1, 1)
	context.AfterFunc(ctx, func() { w.update(-1, 0) })
}

func (w *SubscriptionWatch) update(active, total int) {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.active += active
	w.total += total
	close(w.changed)
	w.changed = make(chan struct{})
}

// Settle waits until every event published so far has reached this
// server's subscribers, so that a subscription started afterwards sees only
// later events. It matters on PostgreSQL, whose notifications arrive a
// little after the change that sent them: without it, a subscription
// started just after a change may still receive it. It publishes a marker
// event of a kind no subscription resolver matches and waits for it: the
// bus delivers events in the order they were published (on PostgreSQL,
// committed).
func (w *SubscriptionWatch) Settle(t testing.TB) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), wsWait)
	defer cancel()
	var b [8]byte
	_, _ = rand.Read(b[:])
	marker := events.Event{Kind: "testutil-settle", ID: int64(binary.BigEndian.Uint64(b[:]) >> 1)}
	ch := w.Bus.Subscribe(ctx, func(e events.Event) bool { return e.Kind == marker.Kind && e.ID == marker.ID })
	if err := w.Bus.Publish(ctx, marker); err != nil {
		t.Fatalf("publishing a marker event: %v", err)
	}
	select {
	case _, ok := <-ch:
		if !ok {
			t.Fatal("the bus cut the marker's subscription off")
		}
	case <-ctx.Done():
		t.Fatal("the marker event did not come back")
	}
}

// Counts returns how many subscriptions are listening now, and how many
// were ever registered.
func (w *SubscriptionWatch) Counts() (active, total int) {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.active, w.total
}

// WaitTotal waits until n subscriptions have been registered in all.
func (w *SubscriptionWatch) WaitTotal(t testing.TB, n int) {
	t.Helper()
	if err := w.wait(func(_, total int) bool { return total >= n }); err != nil {
		active, total := w.Counts()
		t.Fatalf("waiting for %d subscriptions in all: %v (%d active, %d in all)", n, err, active, total)
	}
}

// WaitActive waits until exactly n subscriptions are listening.
func (w *SubscriptionWatch) WaitActive(t testing.TB, n int) {
	t.Helper()
	if err := w.wait(func(active, _ int) bool { return active == n }); err != nil {
		active, total := w.Counts()
		t.Fatalf("waiting for %d active subscriptions: %v (%d active, %d in all)", n, err, active, total)
	}
}

func (w *SubscriptionWatch) wait(ok func(active, total int) bool) error {
	timer := time.NewTimer(wsWait)
	defer timer.Stop()
	for {
		w.mu.Lock()
		done, changed := ok(w.active, w.total), w.changed
		w.mu.Unlock()
		if done {
			return nil
		}
		select {
		case <-changed:
		case <-timer.C:
			return errors.New("timed out")
		}
	}
}
