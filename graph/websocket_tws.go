package graph

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/99designs/gqlgen/graphql"
	"github.com/99designs/gqlgen/graphql/errcode"
	"github.com/99designs/gqlgen/graphql/handler/transport"
	"github.com/vektah/gqlparser/v2/gqlerror"

	"github.com/paygraph/paygraph/internal/access"
	"github.com/paygraph/paygraph/internal/apperr"
	"github.com/paygraph/paygraph/internal/live"
)

// The subprotocols gqlgen's transport negotiates; graphql-transport-ws is
// served by twsConn, the legacy graphql-ws (and no subprotocol) by gqlgen.
const (
	subprotocolTransportWS = "graphql-transport-ws"
	subprotocolLegacyWS    = "graphql-ws"
)

// More close codes of graphql-transport-ws.
const (
	// CloseUnauthorized: an operation came before connection_init.
	CloseUnauthorized = 4401
	// CloseForbidden: connection_init was refused (a bad token).
	CloseForbidden = 4403
	// CloseSubscriberExists: a subscribe reused the id of a live one.
	CloseSubscriberExists = 4409
	// CloseTooManyInits: a second connection_init.
	CloseTooManyInits = 4429
)

// maxOperations bounds the operations one graphql-transport-ws socket has
// in flight (live subscriptions included, which PAYGRAPH_MAX_SUBSCRIPTIONS_PER_CONN
// bounds further).
const maxOperations = 64

// wsReadLimit bounds one message from a client, as gqlgen's default does.
const wsReadLimit = 1 << 20

type handoffKey struct{}

// WithHandoff lets the WebSocket transport return from the HTTP handler
// while the connection lives on, reading on a goroutine of its own with a
// small stack instead of on net/http's, deep in the middleware chain. take
// is called once, when the transport hands the connection off: it returns
// the context the connection runs in from then on (it must end when the
// server shuts down) and done, called once the connection is closed. The
// middleware that installs it must not count the stream as ended when the
// handler returns after take was called.
func WithHandoff(ctx context.Context, take func() (context.Context, func())) context.Context {
	return context.WithValue(ctx, handoffKey{}, take)
}

// twsMessage is one message of graphql-transport-ws.
type twsMessage struct {
	ID      string          `json:"id,omitempty"`
	Type    string          `json:"type"`
	Payload json.RawMessage `json:"payload,omitempty"`
}

// twsConn serves one graphql-transport-ws connection. It costs one
// goroutine, the reader, while it is open; subscriptions that take a
// live.Push cost none, their results being executed and written by the
// goroutine that delivers the event.
type twsConn struct {
	ws     *wsConn
	exec   graphql.GraphExecutor
	initFn transport.WebsocketInitFunc
	// ctx is the connection's; after connection_init, the one InitFunc
	// returned. Its end closes the connection with 1000.
	ctx   context.Context
	stops []func() bool

	mu     sync.Mutex
	subs   map[string]*twsSub
	closed bool
}

func newTWSConn(ctx context.Context, ws *wsConn, exec graphql.GraphExecutor, initFn transport.WebsocketInitFunc) *twsConn {
	c := &twsConn{ws: ws, exec: exec, initFn: initFn, ctx: ctx, subs: map[string]*twsSub{}}
	ws.SetReadLimit(wsReadLimit)
	c.closeWhenDone(ctx)
	return c
}

// closeWhenDone closes the connection once ctx ends: the server shuts
// down, or the token the connection was opened with expires or is revoked.
func (c *twsConn) closeWhenDone(ctx context.Context) {
	c.stops = append(c.stops, context.AfterFunc(ctx, func() { c.close(websocketCloseNormal, "terminated") }))
}

const websocketCloseNormal = 1000

// init waits for connection_init and runs InitFunc on it; false if the
// connection was closed instead.
func (c *twsConn) init() bool {
	for {
		data, err := c.ws.read()
		if err != nil {
			return false
		}
		var m twsMessage
		if err := json.Unmarshal(data, &m); err != nil {
			c.close(CloseBadRequest, "Invalid message received")
			return false
		}
		switch m.Type {
		case "connection_init":
		case "ping":
			c.writeMessage(twsMessage{Type: "pong", Payload: m.Payload})
			continue
		case "pong":
			continue
		case "subscribe":
			c.close(CloseUnauthorized, "Unauthorized")
			return false
		default:
			c.close(CloseBadRequest, "Invalid message received")
			return false
		}
		var payload transport.InitPayload
		if len(m.Payload) > 0 {
			if err := json.Unmarshal(m.Payload, &payload); err != nil {
				c.close(CloseBadRequest, "Invalid connection_init payload")
				return false
			}
		}
		var ack *transport.InitPayload
		if c.initFn != nil {
			ctx, a, err := c.initFn(c.ctx, payload)
			if err != nil {
				// gqlgen keeps the close code InitFunc chose to itself; a
				// refused connection_init is what graphql-transport-ws
				// closes with 4403.
				c.close(CloseForbidden, "Forbidden")
				return false
			}
			ack = a
			if ctx != c.ctx {
				// InitFunc's context ends with the connection's (it is
				// derived from it), so watching it alone will do.
				for _, stop := range c.stops {
					stop()
				}
				c.stops = c.stops[:0]
				c.ctx = ctx
				c.closeWhenDone(ctx)
			}
		}
		c.ws.stopInitTimer()
		reply := twsMessage{Type: "connection_ack"}
		if ack != nil {
			b, err := json.Marshal(*ack)
			if err != nil {
				c.close(CloseBadRequest, "connection ended")
				return false
			}
			reply.Payload = b
		}
		c.writeMessage(reply)
		return true
	}
}

// loop reads the client's messages until the connection ends.
func (c *twsConn) loop() {
	for {
		data, err := c.ws.read()
		if err != nil {
			return
		}
		start := graphql.Now()
		var m twsMessage
		if err := json.Unmarshal(data, &m); err != nil {
			c.close(CloseBadRequest, "Invalid message received")
			return
		}
		switch m.Type {
		case "subscribe":
			if !c.subscribe(start, m) {
				return
			}
		case "complete":
			c.stop(m.ID)
		case "ping":
			c.writeMessage(twsMessage{Type: "pong", Payload: m.Payload})
		case "pong":
		case "connection_init":
			c.close(CloseTooManyInits, "Too many initialisation requests")
			return
		default:
			c.close(CloseBadRequest, "Invalid message received")
			return
		}
	}
}

// finish closes the connection once reading it is over.
func (c *twsConn) finish() {
	c.close(CloseBadRequest, "connection ended") // a no-op if closed already
	_ = c.ws.Close()
	for _, stop := range c.stops {
		stop()
	}
}

// close starts the close handshake with code and ends every
// subscription; only the first call does anything.
func (c *twsConn) close(code int, reason string) {
	c.mu.Lock()
	if c.closed {
		c.mu.Unlock()
		return
	}
	c.closed = true
	subs := c.subs
	c.subs = nil
	c.mu.Unlock()
	for _, s := range subs {
		s.cancel()
	}
	_ = c.ws.WriteClose(code, reason)
}

// subscribe starts operation m.ID; false if that closed the connection.
func (c *twsConn) subscribe(start time.Time, m twsMessage) bool {
	if m.ID == "" {
		c.close(CloseBadRequest, "Invalid message received")
		return false
	}
	idJSON, _ := json.Marshal(m.ID)
	s := &twsSub{c: c, id: m.ID, idJSON: idJSON}
	c.mu.Lock()
	if c.closed {
		c.mu.Unlock()
		return false
	}
	if _, ok := c.subs[m.ID]; ok {
		c.mu.Unlock()
		c.close(CloseSubscriberExists, "Subscriber for "+m.ID+" already exists")
		return false
	}
	busy := len(c.subs) >= maxOperations
	c.mu.Unlock()
	if busy {
		// Over HTTP, the connections per address bound the operations a
		// client runs at once; one socket must not run unbounded ones.
		s.sendErrors(gqlerror.List{{Message: fmt.Sprintf("too many operations in flight on this connection: at most %d at once; wait for one to complete", maxOperations),
			Extensions: map[string]any{"code": apperr.RateLimited}}})
		s.sendComplete()
		return true
	}

	ctx := graphql.StartOperationTrace(access.Fresh(c.ctx))
	params := &graphql.RawParams{}
	dec := json.NewDecoder(bytes.NewReader(m.Payload))
	dec.UseNumber()
	if err := dec.Decode(params); err != nil {
		s.sendErrors(gqlerror.List{{Message: "invalid json"}})
		s.sendComplete()
		return true
	}
	params.ReadTime = graphql.TraceTiming{Start: start, End: graphql.Now()}
	rc, errs := c.exec.CreateOperationContext(ctx, params)
	if errs != nil {
		resp := c.exec.DispatchError(graphql.WithOperationContext(ctx, rc), errs)
		if errcode.GetErrorKind(errs) == errcode.KindProtocol {
			s.sendErrors(resp.Errors)
		} else {
			s.sendResponse(&graphql.Response{Errors: errs})
		}
		s.sendComplete()
		return true
	}
	s.rc = rc
	ctx = graphql.WithOperationContext(ctx, rc)
	ctx, push := live.WithPush(ctx, s.notify)
	ctx, s.cancel = context.WithCancel(ctx)

	c.mu.Lock()
	if c.closed {
		c.mu.Unlock()
		s.cancel()
		return false
	}
	c.subs[m.ID] = s
	c.mu.Unlock()

	var responses graphql.ResponseHandler
	func() {
		defer func() {
			if r := recover(); r != nil {
				s.mu.Lock()
				s.fail(ctx, r)
				s.mu.Unlock()
			}
		}()
		responses, ctx = c.exec.DispatchOperation(ctx, rc)
	}()
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.ended {
		return true
	}
	s.ctx, s.responses = ctx, responses
	if !push.Taken() {
		// A stream that does not push is read as gqlgen does, on a
		// goroutine of its own.
		go s.pump()
		return true
	}
	for ; s.pending > 0 && !s.ended; s.pending-- {
		s.next()
	}
	return true
}

// stop ends operation id at the client's request and confirms it with
// complete.
func (c *twsConn) stop(id string) {
	c.mu.Lock()
	s := c.subs[id]
	c.mu.Unlock()
	if s == nil {
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	s.end()
}

// writeMessage writes m, one message in one write.
func (c *twsConn) writeMessage(m twsMessage) {
	b, err := json.Marshal(m)
	if err != nil {
		return
	}
	_ = c.ws.writeText(b)
}

// twsSub is one operation of a twsConn.
type twsSub struct {
	c      *twsConn
	id     string
	idJSON []byte // id as a JSON string
	rc     *graphql.OperationContext
	cancel context.CancelFunc

	mu        sync.Mutex // held while a result is executed and written
	ctx       context.Context
	responses graphql.ResponseHandler // nil until DispatchOperation returned
	pending   int                     // notifications that came before it did
	ended     bool
}

// notify is the operation's live.Push: its stream holds the next value,
// or has ended.
func (s *twsSub) notify() {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.ended {
		return
	}
	if s.responses == nil {
		s.pending++
		return
	}
	s.next()
}

// next executes and sends the stream's next result, which is waiting;
// s.mu must be held.
func (s *twsSub) next() {
	defer func() {
		if r := recover(); r != nil {
			s.fail(s.ctx, r)
		}
	}()
	resp := s.responses(s.ctx)
	if resp == nil {
		s.end()
		return
	}
	s.sendResponse(resp)
}

// pump sends the results of a stream that does not push, as gqlgen does.
func (s *twsSub) pump() {
	defer func() {
		if r := recover(); r != nil {
			s.mu.Lock()
			s.fail(s.ctx, r)
			s.mu.Unlock()
		}
	}()
	for {
		resp := s.responses(s.ctx)
		s.mu.Lock()
		if resp == nil || s.ended {
			s.end()
			s.mu.Unlock()
			return
		}
		s.sendResponse(resp)
		s.mu.Unlock()
	}
}

// fail reports a panic of the operation as gqlgen does (an error, then
// complete); s.mu must be held.
func (s *twsSub) fail(ctx context.Context, r any) {
	if s.ended {
		return
	}
	err := s.rc.Recover(ctx, r)
	var gqlerr *gqlerror.Error
	if !errors.As(err, &gqlerr) {
		gqlerr = &gqlerror.Error{}
		if err != nil {
			gqlerr.Message = err.Error()
		}
	}
	s.sendErrors(gqlerror.List{gqlerr})
	s.end()
}

// end ends the operation and tells the client complete, unless the
// connection is closing; s.mu must be held. Only the first call does
// anything.
func (s *twsSub) end() {
	if s.ended {
		return
	}
	s.ended = true
	c := s.c
	c.mu.Lock()
	closed := c.closed
	if c.subs[s.id] == s {
		delete(c.subs, s.id)
	}
	c.mu.Unlock()
	if s.cancel != nil {
		s.cancel()
	}
	if !closed && c.ctx.Err() == nil {
		s.sendComplete()
	}
}

var wsBuffers = sync.Pool{New: func() any { return new(bytes.Buffer) }}

// sendResponse sends resp as a next message, marshalled straight into a
// pooled buffer and written in one go.
func (s *twsSub) sendResponse(resp *graphql.Response) {
	buf := wsBuffers.Get().(*bytes.Buffer)
	defer wsBuffers.Put(buf)
	buf.Reset()
	buf.WriteString(`{"id":`)
	buf.Write(s.idJSON)
	buf.WriteString(`,"type":"next","payload":`)
	if err := appendResponse(buf, resp); err != nil {
		return
	}
	buf.WriteByte('}')
	_ = s.c.ws.writeTextWithin(buf.Bytes(), liveWriteTimeout)
}

// appendResponse writes resp as encoding/json would (graphql.Response's
// fields), without re-validating the data gqlgen marshalled.
func appendResponse(buf *bytes.Buffer, resp *graphql.Response) error {
	if len(resp.Errors) != 0 || resp.Label != "" || resp.Path != nil || resp.HasNext != nil {
		b, err := json.Marshal(resp)
		if err != nil {
			return err
		}
		buf.Write(b)
		return nil
	}
	buf.WriteString(`{"data":`)
	if len(resp.Data) == 0 {
		buf.WriteString("null")
	} else {
		buf.Write(resp.Data)
	}
	if len(resp.Extensions) != 0 {
		b, err := json.Marshal(resp.Extensions)
		if err != nil {
			return err
		}
		buf.WriteString(`,"extensions":`)
		buf.Write(b)
	}
	buf.WriteByte('}')
	return nil
}

// sendErrors sends an error message: the operation failed.
func (s *twsSub) sendErrors(errs gqlerror.List) {
	b, err := json.Marshal(errs)
	if err != nil {
		return
	}
	s.c.writeMessage(twsMessage{ID: s.id, Type: "error", Payload: b})
}

func (s *twsSub) sendComplete() {
	s.c.writeMessage(twsMessage{ID: s.id, Type: "complete"})
}
