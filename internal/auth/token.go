package auth

import (
	"crypto/hmac"
	"crypto/sha256"
	"errors"
	"fmt"
	"strconv"
	"time"

	"github.com/golang-jwt/jwt/v5"

	"github.com/paygraph/paygraph/internal/apperr"
	"github.com/paygraph/paygraph/internal/role"
)

const issuer = "paygraph"

// Tokens issues and checks HS256 access tokens. The algorithm is pinned:
// a token signed any other way, or with none, is refused.
type Tokens struct {
	secret []byte
	ttl    time.Duration
	now    func() time.Time
}

// NewTokens returns a token service with the given key and lifetime for
// user tokens.
func NewTokens(secret []byte, ttl time.Duration) *Tokens {
	return &Tokens{secret: secret, ttl: ttl, now: time.Now}
}

// DeriveKey returns a key for another purpose derived from the token key
// (HMAC-SHA256 of the purpose), so one configured secret can protect other
// data without the token key itself being reused.
func (t *Tokens) DeriveKey(purpose string) []byte {
	m := hmac.New(sha256.New, t.secret)
	m.Write([]byte(purpose))
	return m.Sum(nil)
}

// ServiceTokenTTL is how long an app's SERVICE token lasts. Apps rotate it
// with rotateServiceToken.
const ServiceTokenTTL = 365 * 24 * time.Hour

type claims struct {
	Role role.Role `json:"role"`
	App  string    `json:"app,omitempty"`
	// Ver is the app's (or the user's) token version; raising it revokes
	// older tokens.
	Ver int `json:"ver,omitempty"`
	jwt.RegisteredClaims
}

// IssueUser returns a token for a user (USER or ADMIN) at the user's
// token version, and its expiry.
func (t *Tokens) IssueUser(userID int64, r role.Role, version int) (string, time.Time, error) {
	return t.issue(claims{Role: r, Ver: version}, userID, t.ttl)
}

// IssueService returns a SERVICE token for an app.
func (t *Tokens) IssueService(appID int64, version int) (string, time.Time, error) {
	return t.issue(claims{Role: role.Service, App: strconv.FormatInt(appID, 10), Ver: version}, appID, ServiceTokenTTL)
}

func (t *Tokens) issue(c claims, subject int64, ttl time.Duration) (string, time.Time, error) {
	now := t.now()
	exp := now.Add(ttl)
	c.RegisteredClaims = jwt.RegisteredClaims{
		Issuer:    issuer,
		Subject:   strconv.FormatInt(subject, 10),
		IssuedAt:  jwt.NewNumericDate(now),
		ExpiresAt: jwt.NewNumericDate(exp),
	}
	s, err := jwt.NewWithClaims(jwt.SigningMethodHS256, c).SignedString(t.secret)
	if err != nil {
		return "", time.Time{}, fmt.Errorf("signing token: %w", err)
	}
	return s, exp, nil
}

// ErrTokenExpired is returned for a token past its exp.
var ErrTokenExpired = apperr.New(apperr.Unauthenticated, "token expired: log in again")

// ErrTokenRevoked is returned for a token its user signed out of (logout,
// a password change) or its app rotated.
var ErrTokenRevoked = apperr.New(apperr.Unauthenticated, "token revoked: sign in again")

// ErrTokenInvalid is returned for any token that is not one of ours.
var ErrTokenInvalid = apperr.New(apperr.Unauthenticated, "invalid token")

// Parse checks a token and returns the principal it speaks for, plus the
// token version it was issued at (the app's, or the user's).
func (t *Tokens) Parse(token string) (Principal, int, error) {
	var c claims
	_, err := jwt.ParseWithClaims(token, &c, func(*jwt.Token) (any, error) { return t.secret, nil },
		jwt.WithValidMethods([]string{jwt.SigningMethodHS256.Alg()}),
		jwt.WithExpirationRequired(),
		jwt.WithIssuedAt(),
		jwt.WithIssuer(issuer),
		jwt.WithTimeFunc(t.now),
		jwt.WithLeeway(5*time.Second),
	)
	if err != nil {
		if errors.Is(err, jwt.ErrTokenExpired) {
			return Principal{}, 0, ErrTokenExpired
		}
		return Principal{}, 0, ErrTokenInvalid
	}
	sub, err := strconv.ParseInt(c.Subject, 10, 64)
	if err != nil || sub <= 0 || !c.Role.Valid() {
		return Principal{}, 0, ErrTokenInvalid
	}
	p := Principal{Subject: sub, Role: c.Role, ExpiresAt: c.ExpiresAt.Time}
	if c.Role == role.Service {
		app, err := strconv.ParseInt(c.App, 10, 64)
		if err != nil || app != sub {
			return Principal{}, 0, ErrTokenInvalid
		}
		p.AppID = app
	}
	return p, c.Ver, nil
}
