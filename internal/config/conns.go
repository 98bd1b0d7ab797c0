package config

import "time"

// Connections bounds what one client, and all of them together, may hold
// open: HTTP requests, WebSockets, SSE streams and subscriptions.
type Connections struct {
	// HeaderTimeout bounds reading a request's headers (http.Server's
	// ReadHeaderTimeout).
	HeaderTimeout time.Duration
	// BodyTimeout bounds reading a request's whole body, counted from the
	// moment its headers are read.
	BodyTimeout time.Duration
	// WriteTimeout bounds writing an ordinary response, counted from the
	// moment its headers are read. WebSockets and SSE streams have none.
	WriteTimeout time.Duration
	// IdleTimeout closes a keep-alive connection that sends no request.
	IdleTimeout time.Duration
	// PerAddress caps the open connections of one client address (an IPv6
	// address by its /64); 0 means no cap.
	PerAddress int
	// Streams caps the open WebSockets and SSE streams of this instance.
	Streams int
	// WSInitTimeout is how long a WebSocket may take to send
	// connection_init; then it is closed with 4408.
	WSInitTimeout time.Duration
	// WSPingInterval is how often a WebSocket is pinged (and, over the
	// legacy protocol, sent a "ka").
	WSPingInterval time.Duration
	// WSPongTimeout is how long a WebSocket peer may take to answer a ping
	// or to take a message written to it before it is closed.
	WSPongTimeout time.Duration
	// SubscriptionsPerConn caps the live subscriptions of one WebSocket.
	SubscriptionsPerConn int
	// SubscriptionsPerUser caps the live subscriptions of one principal
	// (a user, or an app's SERVICE token) on this instance.
	SubscriptionsPerUser int
	// ReadyTimeout bounds the write /readyz commits.
	ReadyTimeout time.Duration
}

func (r *reader) connections() Connections {
	return Connections{
		HeaderTimeout:        r.duration("PAYGRAPH_HEADER_TIMEOUT", 10*time.Second),
		BodyTimeout:          r.duration("PAYGRAPH_BODY_TIMEOUT", 30*time.Second),
		WriteTimeout:         r.duration("PAYGRAPH_WRITE_TIMEOUT", 60*time.Second),
		IdleTimeout:          r.duration("PAYGRAPH_IDLE_TIMEOUT", 2*time.Minute),
		PerAddress:           int(r.integer("PAYGRAPH_MAX_CONNS_PER_IP", 64, 0, 1<<20)),
		Streams:              int(r.integer("PAYGRAPH_MAX_STREAMS", 4096, 1, 1<<20)),
		WSInitTimeout:        r.duration("PAYGRAPH_WS_INIT_TIMEOUT", 10*time.Second),
		WSPingInterval:       r.duration("PAYGRAPH_WS_PING_INTERVAL", 15*time.Second),
		WSPongTimeout:        r.duration("PAYGRAPH_WS_PONG_TIMEOUT", 10*time.Second),
		SubscriptionsPerConn: int(r.integer("PAYGRAPH_MAX_SUBSCRIPTIONS_PER_CONN", 32, 1, 10000)),
		SubscriptionsPerUser: int(r.integer("PAYGRAPH_MAX_SUBSCRIPTIONS_PER_USER", 256, 1, 1000000)),
		ReadyTimeout:         r.duration("PAYGRAPH_READY_TIMEOUT", 2*time.Second),
	}
}
