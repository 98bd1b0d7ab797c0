package live

import (
	"context"
	"sync"

	"github.com/paygraph/paygraph/internal/apperr"
	"github.com/paygraph/paygraph/internal/auth"
	"github.com/paygraph/paygraph/internal/role"
)

// Limits caps the live subscriptions of this instance. Each subscription
// costs two goroutines and an event buffer for as long as it lives, so a
// caller must not hold an unbounded number. Zero means no cap.
type Limits struct {
	// PerConnection caps the subscriptions of one WebSocket (see
	// WithConnection).
	PerConnection int
	// PerPrincipal caps the subscriptions of one principal: a user, an
	// admin, or an app's SERVICE token, across all its connections.
	PerPrincipal int
}

// limiter counts the subscriptions of each principal; connections count
// their own.
type limiter struct {
	mu          sync.Mutex
	byPrincipal map[principalKey]int
}

type principalKey struct {
	role    role.Role
	subject int64
}

// connection counts the subscriptions of one WebSocket.
type connection struct {
	mu sync.Mutex
	n  int
}

type connectionKey struct{}

// WithConnection returns ctx for one WebSocket connection: subscriptions
// started under it count against Limits.PerConnection together. An SSE
// stream carries one subscription and needs none.
func WithConnection(ctx context.Context) context.Context {
	return context.WithValue(ctx, connectionKey{}, &connection{})
}

// acquire reserves room for one more subscription of ctx's connection and
// principal, before anything is spent on it, and returns the function that
// gives the room back (call it once, when the subscription ends).
//
// Errors: RATE_LIMITED, naming the limit that was reached.
func (s *Service) acquire(ctx context.Context) (release func(), err error) {
	conn, _ := ctx.Value(connectionKey{}).(*connection)
	if s.Limits.PerConnection <= 0 {
		conn = nil
	}
	if conn != nil {
		conn.mu.Lock()
		full := conn.n >= s.Limits.PerConnection
		if !full {
			conn.n++
		}
		conn.mu.Unlock()
		if full {
			return nil, apperr.New(apperr.RateLimited,
				"too many subscriptions on this connection: at most %d at once; stop one before starting another", s.Limits.PerConnection)
		}
	}
	releaseConn := func() {
		if conn != nil {
			conn.mu.Lock()
			conn.n--
			conn.mu.Unlock()
		}
	}
	var key *principalKey
	if p, err := auth.FromContext(ctx); err == nil && s.Limits.PerPrincipal > 0 {
		key = &principalKey{p.Role, p.Subject}
		s.limits.mu.Lock()
		full := s.limits.byPrincipal[*key] >= s.Limits.PerPrincipal
		if !full {
			if s.limits.byPrincipal == nil {
				s.limits.byPrincipal = map[principalKey]int{}
			}
			s.limits.byPrincipal[*key]++
		}
		s.limits.mu.Unlock()
		if full {
			releaseConn()
			return nil, apperr.New(apperr.RateLimited,
				"too many subscriptions for this caller: at most %d at once on this server; stop one before starting another", s.Limits.PerPrincipal)
		}
	}
	var once sync.Once
	return func() {
		once.Do(func() {
			if key != nil {
				s.limits.mu.Lock()
				if s.limits.byPrincipal[*key]--; s.limits.byPrincipal[*key] <= 0 {
					delete(s.limits.byPrincipal, *key)
				}
				s.limits.mu.Unlock()
			}
			releaseConn()
		})
	}, nil
}
