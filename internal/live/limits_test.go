package live

import (
	"context"
	"testing"

	"github.com/paygraph/paygraph/internal/apperr"
	"github.com/paygraph/paygraph/internal/auth"
	"github.com/paygraph/paygraph/internal/role"
)

// A client told "complete" for a stopped subscription may start the next
// one at once: the stopped one's room is free when its context ends, before
// its goroutine gets round to giving it back.
func TestStoppedSubscriptionFreesRoomAtOnce(t *testing.T) {
	for _, tc := range []struct {
		name   string
		limits Limits
	}{
		{"per connection", Limits{PerConnection: 2}},
		{"per principal", Limits{PerPrincipal: 2}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s := &Service{Limits: tc.limits}
			conn := WithConnection(auth.WithPrincipal(t.Context(), auth.Principal{Subject: 7, Role: role.User}))
			first, stop := context.WithCancel(conn)
			releaseFirst, err := s.acquire(first)
			if err != nil {
				t.Fatal(err)
			}
			releaseSecond, err := s.acquire(conn)
			if err != nil {
				t.Fatal(err)
			}
			if _, err := s.acquire(conn); apperr.CodeOf(err) != apperr.RateLimited {
				t.Fatalf("third of two: %v; want RATE_LIMITED", err)
			}
			stop() // the client stopped the first; its goroutine has not ended yet
			releaseThird, err := s.acquire(conn)
			if err != nil {
				t.Fatalf("after a stop: %v", err)
			}
			if _, err := s.acquire(conn); apperr.CodeOf(err) != apperr.RateLimited {
				t.Fatalf("third live one: %v; want RATE_LIMITED", err)
			}
			releaseFirst()
			releaseFirst() // once only
			if _, err := s.acquire(conn); apperr.CodeOf(err) != apperr.RateLimited {
				t.Fatalf("a second release gave room twice: %v", err)
			}
			releaseSecond()
			releaseThird()
			if n := len(s.limits.byPrincipal); n != 0 {
				t.Fatalf("%d principals still counted", n)
			}
		})
	}
}
