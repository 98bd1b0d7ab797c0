package server

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"strings"
	"sync"
	"time"

	"github.com/paygraph/paygraph/graph"
	"github.com/paygraph/paygraph/internal/clientip"
)

// ConfigureHTTP makes hs serve paygraph: the handler, the timeouts of the
// configuration, and the per-address connection cap. It returns ln wrapped
// so that it counts connections; serve hs on what it returns.
//
// There is deliberately no server-wide ReadTimeout or WriteTimeout: they
// would cut WebSockets and SSE streams. Ordinary requests get per-request
// deadlines instead (see readBody).
func (s *Server) ConfigureHTTP(hs *http.Server, ln net.Listener) net.Listener {
	c := s.Config.Conns
	hs.Handler = s.Handler()
	hs.ReadHeaderTimeout = c.HeaderTimeout
	hs.IdleTimeout = c.IdleTimeout
	prev := hs.ConnContext
	hs.ConnContext = func(ctx context.Context, conn net.Conn) context.Context {
		if prev != nil {
			ctx = prev(ctx, conn)
		}
		if cc, ok := conn.(*countedConn); ok {
			ctx = context.WithValue(ctx, countedConnKey{}, cc)
		}
		return ctx
	}
	hs.RegisterOnShutdown(s.Shutdown)
	if c.PerAddress <= 0 {
		return ln
	}
	return &limitedListener{Listener: ln, max: c.PerAddress, open: map[string]int{}}
}

// limitedListener counts the open connections of each client address. A
// connection beyond PAYGRAPH_MAX_CONNS_PER_IP is still accepted, so that
// its request can be answered 429 (see refuseOverCap), but beyond twice
// the cap new connections are closed at once: the refused ones must not
// pile up either.
type limitedListener struct {
	net.Listener
	max int

	mu   sync.Mutex
	open map[string]int
}

// addressKey is what the cap counts by: the peer's IP address
// (clientip's rule), an IPv6 address by its /64, since one client
// commonly holds a whole /64.
func addressKey(remoteAddr string) string {
	host := clientip.Host(remoteAddr)
	ip := net.ParseIP(host)
	if ip == nil {
		return ""
	}
	if ip.To4() == nil {
		return ip.Mask(net.CIDRMask(64, 128)).String() + "/64"
	}
	return ip.To4().String()
}

// Accept returns the next connection, counted against its address.
func (l *limitedListener) Accept() (net.Conn, error) {
	for {
		conn, err := l.Listener.Accept()
		if err != nil {
			return nil, err
		}
		key := addressKey(conn.RemoteAddr().String())
		if key == "" {
			return conn, nil
		}
		l.mu.Lock()
		n := l.open[key]
		if n >= 2*l.max {
			l.mu.Unlock()
			_ = conn.Close()
			continue
		}
		l.open[key] = n + 1
		l.mu.Unlock()
		return &countedConn{Conn: conn, over: n >= l.max, release: func() { l.release(key) }}, nil
	}
}

func (l *limitedListener) release(key string) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.open[key]--; l.open[key] <= 0 {
		delete(l.open, key)
	}
}

// countedConn is a connection counted against its address until it is
// closed (also after a WebSocket hijacked it).
type countedConn struct {
	net.Conn
	// over is set when the address already held its cap of connections.
	over    bool
	release func()
	once    sync.Once
}

type countedConnKey struct{}

// Close closes the connection and gives its place back.
func (c *countedConn) Close() error {
	err := c.Conn.Close()
	c.once.Do(c.release)
	return err
}

// CloseWrite lets net/http half-close before closing (its way of making
// sure the client reads a final response rather than a reset).
func (c *countedConn) CloseWrite() error {
	if cw, ok := c.Conn.(interface{ CloseWrite() error }); ok {
		return cw.CloseWrite()
	}
	return nil
}

// refuseOverCap answers 429 to a request on a connection accepted beyond
// the per-address cap, and closes it.
func (s *Server) refuseOverCap(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if cc, ok := r.Context().Value(countedConnKey{}).(*countedConn); ok && cc.over {
			w.Header().Set("Connection", "close")
			w.Header().Set("Retry-After", "1")
			http.Error(w, fmt.Sprintf("too many connections from your address: at most %d at once", s.Config.Conns.PerAddress), http.StatusTooManyRequests)
			return
		}
		next.ServeHTTP(w, r)
	})
}

// isStream reports whether r opens a long-lived stream: a WebSocket or SSE
// on /query, the only route that serves them.
func isStream(r *http.Request) bool {
	return r.URL.Path == "/query" &&
		(r.Header.Get("Upgrade") != "" || strings.Contains(r.Header.Get("Accept"), "text/event-stream"))
}

// streams caps the open WebSockets and SSE streams of this instance
// (PAYGRAPH_MAX_STREAMS) and ties them to the server's shutdown:
// http.Server.Shutdown waits for in-flight requests, and a subscription
// would otherwise hold it for as long as the client stays.
func (s *Server) streams(next http.Handler) http.Handler {
	max := int64(s.Config.Conns.Streams)
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if !isStream(r) {
			next.ServeHTTP(w, r)
			return
		}
		if s.openStreams.Add(1) > max {
			s.openStreams.Add(-1)
			w.Header().Set("Retry-After", "5")
			http.Error(w, fmt.Sprintf("too many open streams on this server (at most %d); try again later", max), http.StatusServiceUnavailable)
			return
		}
		ctx, cancel := context.WithCancel(r.Context())
		stop := context.AfterFunc(s.wsCtx, cancel)
		// A WebSocket may be handed off (graph.WithHandoff): its handler
		// returns while the connection lives on, in a context of its own
		// that the shutdown ends too, and is counted until it is closed.
		handedOff := false
		ctx = graph.WithHandoff(ctx, func() (context.Context, func()) {
			handedOff = true
			hctx, hcancel := context.WithCancel(context.WithoutCancel(ctx))
			hstop := context.AfterFunc(s.wsCtx, hcancel)
			return hctx, func() {
				hstop()
				hcancel()
				s.openStreams.Add(-1)
			}
		})
		defer func() {
			stop()
			cancel()
			if !handedOff {
				s.openStreams.Add(-1)
			}
		}()
		next.ServeHTTP(w, r.WithContext(ctx))
	})
}

// isTimeout reports whether err is a read that hit its deadline.
func isTimeout(err error) bool {
	var ne net.Error
	return errors.Is(err, context.DeadlineExceeded) || errors.As(err, &ne) && ne.Timeout()
}

// setWriteDeadline gives an ordinary request until now+WriteTimeout for its
// response and clears the write deadline of a stream (a keep-alive
// connection keeps the deadline of its previous request otherwise).
func (s *Server) setWriteDeadline(w http.ResponseWriter, r *http.Request) {
	rc := http.NewResponseController(w)
	if isStream(r) {
		_ = rc.SetWriteDeadline(time.Time{})
		return
	}
	_ = rc.SetWriteDeadline(time.Now().Add(s.Config.Conns.WriteTimeout))
}
