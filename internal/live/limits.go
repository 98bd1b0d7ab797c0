package live

import (
	"context"
	"sync"

	"github.com/paygraph/paygraph/internal/apperr"
	"github.com/paygraph/paygraph/internal/auth"
	"github.com/paygraph/paygraph/internal/role"
)

// Limits caps the live subscriptions of this instance. Each subscription
// costs its operation's state (and, but on graphql-transport-ws, gqlgen's
// goroutine), a bus registration and its queue for as long as it lives, so a caller must not hold an unbounded number. Zero means no
// cap.
type Limits struct {
	// PerConnection caps the subscriptions of one WebSocket (see
	// WithConnection).
	PerConnection int
	// PerPrincipal caps the subscriptions of one principal: a user, an
	// admin, or an app's SERVICE token, across all its connections.
	PerPrincipal int
}

// limiter holds the subscriptions of each principal; connections hold
// their own.
type limiter struct {
	mu          sync.Mutex
	byPrincipal map[principalKey]holders
}

type principalKey struct {
	role    role.Role
	subject int64
}

// connection holds the subscriptions of one WebSocket.
type connection struct {
	mu   sync.Mutex
	subs holders
}

// holder is one subscription holding room; ctx is the subscription's.
type holder struct{ ctx context.Context }

// holders is the room of one connection or principal: the subscriptions
// holding it.
type holders map[*holder]struct{}

// full reports whether max subscriptions hold room. One whose context has
// ended is not counted: it has been stopped (and its client may already
// have been told complete), though its goroutine may not yet have given
// the room back. Only a set at its cap is walked.
func (h holders) full(max int) bool {
	if len(h) < max {
		return false
	}
	n := 0
	for x := range h {
		if x.ctx.Err() == nil {
			n++
		}
	}
	return n >= max
}

type connectionKey struct{}

// WithConnection returns ctx for one WebSocket connection: subscriptions
// started under it count against Limits.PerConnection together. An SSE
// stream carries one subscription and needs none.
func WithConnection(ctx context.Context) context.Context {
	return context.WithValue(ctx, connectionKey{}, &connection{subs: holders{}})
}

// acquire reserves room for one more subscription of ctx's connection and
// principal, before anything is spent on it, and returns the function that
// gives the room back (call it once, when the subscription ends). ctx is
// the subscription's own: once it ends, its room is free for the next.
//
// Errors: RATE_LIMITED, naming the limit that was reached.
func (s *Service) acquire(ctx context.Context) (release func(), err error) {
	me := &holder{ctx}
	conn, _ := ctx.Value(connectionKey{}).(*connection)
	if s.Limits.PerConnection <= 0 {
		conn = nil
	}
	if conn != nil {
		conn.mu.Lock()
		full := conn.subs.full(s.Limits.PerConnection)
		if !full {
			conn.subs[me] = struct{}{}
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
			delete(conn.subs, me)
			conn.mu.Unlock()
		}
	}
	var key *principalKey
	if p, err := auth.FromContext(ctx); err == nil && s.Limits.PerPrincipal > 0 {
		key = &principalKey{p.Role, p.Subject}
		s.limits.mu.Lock()
		mine := s.limits.byPrincipal[*key]
		full := mine.full(s.Limits.PerPrincipal)
		if !full {
			if mine == nil {
				if s.limits.byPrincipal == nil {
					s.limits.byPrincipal = map[principalKey]holders{}
				}
				mine = holders{}
				s.limits.byPrincipal[*key] = mine
			}
			mine[me] = struct{}{}
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
				mine := s.limits.byPrincipal[*key]
				if delete(mine, me); len(mine) == 0 {
					delete(s.limits.byPrincipal, *key)
				}
				s.limits.mu.Unlock()
			}
			releaseConn()
		})
	}, nil
}
