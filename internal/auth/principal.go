// Package auth knows who is calling: tokens, passwords and the principal a
// request acts as. It holds the role rules of contract §2 in one place.
package auth

import (
	"context"
	"strings"
	"time"

	"github.com/paygraph/paygraph/internal/apperr"
	"github.com/paygraph/paygraph/internal/role"
)

// Principal is the caller a valid token speaks for.
type Principal struct {
	// Subject is the user id (USER, ADMIN) or the app id (SERVICE).
	Subject int64
	Role    role.Role
	// AppID is the app a SERVICE token belongs to; 0 for users.
	AppID int64
	// ExpiresAt is when the token stops being valid.
	ExpiresAt time.Time
}

// IsUser reports whether p is an end user acting for itself.
func (p Principal) IsUser() bool { return p.Role == role.User }

// Privileged reports whether p may act for any user (ADMIN or SERVICE).
func (p Principal) Privileged() bool { return p.Role == role.Admin || p.Role == role.Service }

type ctxKey int

const (
	principalKey ctxKey = iota
	authErrKey
)

// WithPrincipal returns ctx carrying p.
func WithPrincipal(ctx context.Context, p Principal) context.Context {
	return context.WithValue(ctx, principalKey, p)
}

// WithAuthError returns ctx carrying the reason a presented token was refused,
// so that fields needing a principal explain why there is none.
func WithAuthError(ctx context.Context, err error) context.Context {
	return context.WithValue(ctx, authErrKey, err)
}

// ErrUnauthenticated is returned when no valid token was presented.
var ErrUnauthenticated = apperr.New(apperr.Unauthenticated, "authentication required: send Authorization: Bearer <token>")

// ErrOtherApp refuses a SERVICE that names another app than its own.
var ErrOtherApp = apperr.New(apperr.Forbidden, "a SERVICE token acts only for its own app")

// ErrOtherUser refuses a USER that names another user than itself.
var ErrOtherUser = apperr.New(apperr.Forbidden, "a USER token acts only for its own user")

// roleNeeded says which roles may do what the caller asked.
func roleNeeded(p Principal, roles []role.Role) error {
	names := make([]string, len(roles))
	for i, r := range roles {
		names[i] = string(r)
	}
	need := strings.Join(names, " or ")
	return apperr.New(apperr.Forbidden, "this needs %s %s token; this one is %s %s token", article(need), need, article(string(p.Role)), p.Role)
}

// article is the article of a role name read aloud: an ADMIN, a USER.
func article(word string) string {
	if strings.HasPrefix(word, "ADMIN") {
		return "an"
	}
	return "a"
}

// FromContext returns the caller, or the reason there is none: the refused
// token's error, or ErrUnauthenticated.
func FromContext(ctx context.Context) (Principal, error) {
	if p, ok := ctx.Value(principalKey).(Principal); ok {
		return p, nil
	}
	if err, ok := ctx.Value(authErrKey).(error); ok {
		return Principal{}, err
	}
	return Principal{}, ErrUnauthenticated
}

// Require returns the caller if it holds one of roles (any role when none is
// given), ErrUnauthenticated without a valid token and FORBIDDEN naming
// the roles needed otherwise.
func Require(ctx context.Context, roles ...role.Role) (Principal, error) {
	p, err := FromContext(ctx)
	if err != nil {
		return p, err
	}
	if len(roles) == 0 {
		return p, nil
	}
	for _, r := range roles {
		if p.Role == r {
			return p, nil
		}
	}
	return p, roleNeeded(p, roles)
}

// ActFor checks that the caller may act for userID: a USER only for itself,
// ADMIN and SERVICE for anyone.
func ActFor(ctx context.Context, userID int64) error {
	p, err := FromContext(ctx)
	if err != nil {
		return err
	}
	if p.IsUser() && p.Subject != userID {
		return ErrOtherUser
	}
	return nil
}

// Target returns the user a read is about: the one named, if the caller
// may act for it, or else the caller itself. A SERVICE is no user, so it
// must name one.
//
// Errors: UNAUTHENTICATED, FORBIDDEN, BAD_USER_INPUT.
func Target(ctx context.Context, userID *int64) (int64, error) {
	p, err := FromContext(ctx)
	if err != nil {
		return 0, err
	}
	switch {
	case userID != nil:
		return *userID, ActFor(ctx, *userID)
	case p.Role == role.Service:
		return 0, apperr.Input("userId", "a SERVICE names the user (userId)")
	}
	return p.Subject, nil
}
