package graph

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"runtime/debug"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/99designs/gqlgen/graphql"
	"github.com/99designs/gqlgen/graphql/handler/transport"
	"github.com/coder/websocket"
)

// Close codes of graphql-transport-ws that gqlgen does not send itself.
const (
	// CloseInitTimeout: connection_init did not arrive in time.
	CloseInitTimeout = 4408
	// CloseBadRequest: the transport gave up on the connection, for
	// instance after a connection_init whose payload is no object.
	CloseBadRequest = 4400
)

// websocketTransport serves WebSockets on connections that bound what a
// client can hold (see websocketConns): graphql-transport-ws with twsConn,
// which needs one goroutine per connection and none per subscription, the
// legacy graphql-ws with gqlgen's transport. It closes every legacy
// connection once gqlgen is done with it: some of gqlgen's error paths
// return without closing, which would leave the socket open for good.
type websocketTransport struct {
	transport.Websocket
	conns websocketConns
	log   *slog.Logger
}

func newWebsocketTransport(o Options) websocketTransport {
	conns := websocketConns{InitTimeout: o.WSInitTimeout, PingInterval: o.KeepAlive, PongTimeout: o.WSPongTimeout}
	for _, origin := range o.WSOrigins {
		if origin == "*" {
			conns.AnyOrigin = true
		} else {
			// A pattern with "://" is matched against the whole origin,
			// scheme included; escaped, it matches only itself.
			conns.OriginPatterns = append(conns.OriginPatterns, escapeOriginPattern(origin))
		}
	}
	return websocketTransport{
		Websocket: transport.Websocket{
			Implementation:        conns,
			InitFunc:              o.WebsocketInit,
			KeepAlivePingInterval: o.KeepAlive, // the legacy protocol's "ka"
		},
		conns: conns,
		log:   o.Log,
	}
}

type acceptedKey struct{}

// accepted receives the connection websocketConns.Accept made for a
// request.
type accepted struct {
	conn *wsConn
	w    *refusalWriter
}

// refusalWriter keeps a refused upgrade's answer to the one that
// coder/websocket writes (403 for a foreign origin, 400 for a bad
// handshake): gqlgen then writes its own "unable to upgrade", which
// net/http would report as a superfluous WriteHeader and append to the
// body.
type refusalWriter struct {
	http.ResponseWriter
	refused bool
}

func (w *refusalWriter) WriteHeader(code int) {
	if !w.refused {
		w.ResponseWriter.WriteHeader(code)
	}
}

func (w *refusalWriter) Write(b []byte) (int, error) {
	if w.refused {
		return len(b), nil
	}
	return w.ResponseWriter.Write(b)
}

// Unwrap lets coder/websocket reach the connection to hijack it.
func (w *refusalWriter) Unwrap() http.ResponseWriter { return w.ResponseWriter }

// escapeOriginPattern quotes the characters path.Match would read as
// wildcards (an IPv6 host's brackets, say).
func escapeOriginPattern(origin string) string {
	var b strings.Builder
	for _, c := range origin {
		if strings.ContainsRune(`*?[]\`, c) {
			b.WriteByte('\\')
		}
		b.WriteRune(c)
	}
	return b.String()
}

// Do serves one WebSocket: graphql-transport-ws itself (twsConn), the
// legacy graphql-ws with gqlgen's transport, which it closes when gqlgen
// returns.
//
// An upgrade with an Idempotency-Key header is refused (400, before the
// upgrade): the header names one mutation of one HTTP request, and a
// socket carries any number of operations, each of which would replay
// the first one's result. Over a socket a mutation takes its key as its
// idempotencyKey argument.
func (t websocketTransport) Do(w http.ResponseWriter, r *http.Request, exec graphql.GraphExecutor) {
	if r.Header.Get(idempotencyKeyHeader) != "" {
		writeRefusal(w, r, http.StatusBadRequest, "the Idempotency-Key header applies to one mutation of one HTTP request; over a WebSocket, give each mutation its idempotencyKey argument")
		return
	}
	a := &accepted{w: &refusalWriter{ResponseWriter: w}}
	r = r.WithContext(context.WithValue(r.Context(), acceptedKey{}, a))
	ws, err := t.conns.Accept(a.w, r, transport.WebsocketAcceptOptions{
		ResponseHeader: http.Header{},
		Subprotocols:   []string{subprotocolLegacyWS, subprotocolTransportWS},
	})
	if err != nil {
		transport.SendErrorf(a.w, http.StatusBadRequest, "unable to upgrade")
		return
	}
	c := ws.(*wsConn)
	if c.Subprotocol() != subprotocolTransportWS {
		legacy := t.Websocket
		legacy.Implementation = acceptedConn{c}
		legacy.Do(a.w, r, exec)
		// A no-op when gqlgen closed it already or a close is under way.
		_ = c.WriteClose(CloseBadRequest, "connection ended")
		_ = c.Close()
		return
	}
	ctx, done := r.Context(), func() {}
	take, handoff := ctx.Value(handoffKey{}).(func() (context.Context, func()))
	if handoff {
		ctx, done = take()
	}
	tc := newTWSConn(ctx, c, exec, t.Websocket.InitFunc)
	reader := false // the connection went to a reading goroutine of its own
	defer func() {
		if reader {
			return
		}
		// Also when InitFunc or the loop panics: the socket is closed and
		// its stream counted out before net/http sees the panic.
		v := recover()
		tc.finish()
		done()
		if v != nil {
			panic(v)
		}
	}()
	if !tc.init() {
		return
	}
	if !handoff {
		tc.loop()
		return
	}
	// The handler returns; the connection is read on a goroutine whose
	// stack holds only the read.
	reader = true
	go func() {
		defer done()
		defer tc.finish()
		// net/http no longer stands between a panic here and the
		// process: end the connection, not the server.
		defer func() {
			if v := recover(); v != nil && t.log != nil {
				t.log.ErrorContext(ctx, "panic serving a WebSocket", "panic", fmt.Sprint(v), "stack", string(debug.Stack()))
			}
		}()
		tc.loop()
	}()
}

// acceptedConn hands gqlgen's transport a connection Do accepted already.
type acceptedConn struct{ c *wsConn }

func (a acceptedConn) Accept(http.ResponseWriter, *http.Request, transport.WebsocketAcceptOptions) (transport.WebsocketConn, error) {
	return a.c, nil
}

// websocketConns accepts WebSockets with coder/websocket (as gqlgen's own
// adapter does), from pages of the server's own origin and of
// OriginPatterns (any, with AnyOrigin), adding what gqlgen's transport
// lacks:
//
//   - connection_init must come within InitTimeout, or the socket is closed
//     with 4408 as graphql-transport-ws asks (gqlgen's InitTimeout closes
//     with 1002);
//   - a ping frame every PingInterval, for both subprotocols, and a peer
//     that does not answer within PongTimeout is dropped, so dead peers do
//     not hold a connection;
//   - every write must be taken within PongTimeout, so a client that stops
//     reading cannot hold a writer (and with it the connection) forever.
type websocketConns struct {
	InitTimeout  time.Duration
	PingInterval time.Duration
	PongTimeout  time.Duration
	// OriginPatterns are coder/websocket's patterns of the other origins
	// allowed; AnyOrigin allows every origin.
	OriginPatterns []string
	AnyOrigin      bool
}

var _ transport.WebsocketImplementation = websocketConns{}

// Accept upgrades the request.
func (u websocketConns) Accept(w http.ResponseWriter, r *http.Request, options transport.WebsocketAcceptOptions) (transport.WebsocketConn, error) {
	for key, values := range options.ResponseHeader {
		for _, value := range values {
			w.Header().Add(key, value)
		}
	}
	opts := websocket.AcceptOptions{OriginPatterns: u.OriginPatterns, InsecureSkipVerify: u.AnyOrigin}
	for _, p := range options.Subprotocols {
		if !slices.Contains(opts.Subprotocols, p) {
			opts.Subprotocols = append(opts.Subprotocols, p)
		}
	}
	a, _ := r.Context().Value(acceptedKey{}).(*accepted)
	sb := &smallBuffers{ResponseWriter: w}
	conn, err := websocket.Accept(sb, r, &opts)
	if err != nil {
		// Accept has answered the request.
		if a != nil {
			a.w.refused = true
		}
		return nil, err
	}
	c := &wsConn{conn: conn, netConn: sb.conn, pongTimeout: u.PongTimeout}
	c.ctx, c.cancel = context.WithCancel(context.Background())
	if a != nil {
		a.conn = c
	}
	if u.InitTimeout > 0 {
		c.mu.Lock()
		c.initTimer = time.AfterFunc(u.InitTimeout, func() {
			_ = c.WriteClose(CloseInitTimeout, "Connection initialisation timeout")
		})
		c.mu.Unlock()
	}
	if u.PingInterval > 0 {
		c.mu.Lock()
		c.pingInterval = u.PingInterval
		c.pingTimer = time.AfterFunc(u.PingInterval, c.ping)
		c.mu.Unlock()
	}
	return c, nil
}

// The buffers of an accepted WebSocket, kept as long as it is open.
// net/http hands a hijacked connection over with 4 KB for each; a socket
// mostly idles and then carries small JSON messages, so less will do: a
// longer message is read, or written, in more than one system call.
const (
	wsReadBuffer  = 512
	wsWriteBuffer = 1024
)

// smallBuffers gives coder/websocket the hijacked connection with buffers
// of wsReadBuffer and wsWriteBuffer bytes instead of net/http's.
type smallBuffers struct {
	http.ResponseWriter
	conn net.Conn // set by Hijack
}

// Unwrap lets http.ResponseController reach the connection.
func (w *smallBuffers) Unwrap() http.ResponseWriter { return w.ResponseWriter }

// Hijack takes the connection over and gives net/http's reader and writer
// smaller buffers. They are replaced in place: net/http's connection, whose
// goroutine runs as long as the socket, still refers to them, so new ones
// beside them would only add to the 8 KB. net/http's writer is flushed
// first; when the client has already sent more than the request (it did
// not wait for the upgrade), the reader, holding it, is left as it is.
func (w *smallBuffers) Hijack() (net.Conn, *bufio.ReadWriter, error) {
	conn, brw, err := http.NewResponseController(w.ResponseWriter).Hijack()
	if err != nil {
		return nil, nil, err
	}
	if err := brw.Writer.Flush(); err != nil {
		_ = conn.Close()
		return nil, nil, err
	}
	w.conn = conn
	*brw.Writer = *bufio.NewWriterSize(conn, wsWriteBuffer)
	if brw.Reader.Buffered() == 0 {
		*brw.Reader = *bufio.NewReaderSize(conn, wsReadBuffer)
	}
	return conn, brw, nil
}

// wsConn is one accepted WebSocket.
type wsConn struct {
	conn        *websocket.Conn
	netConn     net.Conn // the hijacked connection under conn
	writeMu     sync.Mutex
	pongTimeout time.Duration
	firstRead   sync.Once

	// ctx ends when the connection is closed; it stops the pinger.
	ctx    context.Context
	cancel context.CancelFunc

	mu           sync.Mutex
	initTimer    *time.Timer
	pingTimer    *time.Timer // runs ping; no goroutine waits between pings
	pingInterval time.Duration
	closed       bool // a close handshake has started, or the connection is dropped
}

var (
	_ transport.WebsocketConn        = (*wsConn)(nil)
	_ transport.WebsocketReadLimiter = (*wsConn)(nil)
)

// ping sends a ping frame and drops the peer when it is not answered
// within pongTimeout; then it arms the next one, PingInterval later.
// Browsers and WebSocket libraries answer ping frames by themselves. It
// runs on a timer rather than on a goroutine per connection: with
// thousands of idle sockets, a waiting goroutine each was a good part of
// their memory.
func (c *wsConn) ping() {
	if c.ctx.Err() != nil {
		return
	}
	ctx, cancel := c.bound(c.ctx)
	err := c.conn.Ping(ctx)
	cancel()
	if err != nil {
		if c.ctx.Err() == nil {
			_ = c.conn.CloseNow()
			c.cancel()
		}
		return
	}
	c.mu.Lock()
	if c.ctx.Err() == nil {
		c.pingTimer.Reset(c.pingInterval)
	}
	c.mu.Unlock()
}

// bound returns ctx limited to pongTimeout, if one is set.
func (c *wsConn) bound(ctx context.Context) (context.Context, context.CancelFunc) {
	if c.pongTimeout <= 0 {
		return context.WithCancel(ctx)
	}
	return context.WithTimeout(ctx, c.pongTimeout)
}

// NextReader returns the next message. The first one (connection_init)
// stops the init timer.
func (c *wsConn) NextReader() (int, io.Reader, error) {
	typ, data, err := c.conn.Read(context.Background())
	c.firstRead.Do(c.stopInitTimer)
	if err != nil {
		switch websocket.CloseStatus(err) {
		case websocket.StatusNormalClosure, websocket.StatusNoStatusRcvd:
			return int(typ), nil, transport.ErrWebsocketClosed
		}
		return int(typ), nil, err
	}
	return int(typ), bytes.NewReader(data), nil
}

// read returns the next message. The init timer runs on until the
// transport accepts a connection_init (twsConn.init stops it): a client
// that sends pings instead is closed when it runs out, like a silent one.
func (c *wsConn) read() ([]byte, error) {
	_, data, err := c.conn.Read(context.Background())
	return data, err
}

func (c *wsConn) stopInitTimer() {
	c.mu.Lock()
	if c.initTimer != nil {
		c.initTimer.Stop()
	}
	c.mu.Unlock()
}

// writeText writes one text message in one write; a peer that does not
// take it within pongTimeout is dropped. The bound is the connection's
// write deadline, set for the write and cleared after it (the frames
// coder/websocket writes by itself, such as pong replies, must not meet
// a stale one): cheaper, for each of thousands of deliveries, than the
// context timer with which coder/websocket would close the connection.
func (c *wsConn) writeText(data []byte) error { return c.writeTextWithin(data, c.pongTimeout) }

// liveWriteTimeout is how long a live result may wait for the peer to
// take it. Results are written by the goroutines that deliver events to
// every subscriber (a few, shared: internal/live), so a peer that stops
// reading must not hold one for the whole pong timeout: past this its
// connection is dropped. A socket's send buffer holds many results, so
// only a peer far behind ever waits this long.
const liveWriteTimeout = time.Second

// writeTextWithin is writeText with a bound of its own (at most the
// pong timeout).
func (c *wsConn) writeTextWithin(data []byte, within time.Duration) error {
	if c.pongTimeout > 0 && (within <= 0 || within > c.pongTimeout) {
		within = c.pongTimeout
	}
	if within <= 0 || c.netConn == nil {
		ctx, cancel := context.Background(), context.CancelFunc(func() {})
		if within > 0 {
			ctx, cancel = context.WithTimeout(ctx, within)
		}
		defer cancel()
		return c.conn.Write(ctx, websocket.MessageText, data)
	}
	c.writeMu.Lock() // one deadline at a time
	_ = c.netConn.SetWriteDeadline(time.Now().Add(within))
	err := c.conn.Write(context.Background(), websocket.MessageText, data)
	_ = c.netConn.SetWriteDeadline(time.Time{})
	c.writeMu.Unlock()
	if err != nil {
		// A frame may be cut short: nothing more can be written.
		_ = c.conn.CloseNow()
		c.cancel()
	}
	return err
}

// WriteJSON writes one message; a peer that does not take it within
// pongTimeout is dropped (coder/websocket closes the connection when the
// write's context ends).
func (c *wsConn) WriteJSON(v any) error {
	data, err := json.Marshal(v)
	if err != nil {
		return err
	}
	ctx, cancel := c.bound(context.Background())
	defer cancel()
	return c.conn.Write(ctx, websocket.MessageText, data)
}

// WriteClose starts the close handshake with code in the background (it
// may wait seconds for the peer); only the first call does anything.
func (c *wsConn) WriteClose(code int, reason string) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.closed {
		return nil
	}
	c.closed = true
	c.stopTimers()
	go func() { _ = c.conn.Close(websocket.StatusCode(code), reason) }()
	return nil
}

// Close drops the connection, unless a close handshake is under way: that
// one closes it when it ends.
func (c *wsConn) Close() error {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.stopTimers()
	if c.closed {
		return nil
	}
	c.closed = true
	return c.conn.CloseNow()
}

// stopTimers stops the init timer and the pinger; c.mu must be held.
func (c *wsConn) stopTimers() {
	if c.initTimer != nil {
		c.initTimer.Stop()
	}
	if c.pingTimer != nil {
		c.pingTimer.Stop()
	}
	c.cancel()
}

// Subprotocol is the negotiated subprotocol.
func (c *wsConn) Subprotocol() string { return c.conn.Subprotocol() }

// SetReadLimit bounds the size of a message.
func (c *wsConn) SetReadLimit(limit int64) { c.conn.SetReadLimit(limit) }
