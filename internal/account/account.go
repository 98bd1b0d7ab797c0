// Package account registers users, logs them in, creates apps and turns a
// token into the principal a request acts as.
package account

import (
	"context"
	"fmt"
	"net/mail"
	"regexp"
	"strings"
	"time"

	"github.com/paygraph/paygraph/ent"
	"github.com/paygraph/paygraph/ent/user"
	"github.com/paygraph/paygraph/internal/access"
	"github.com/paygraph/paygraph/internal/apperr"
	"github.com/paygraph/paygraph/internal/auth"
	"github.com/paygraph/paygraph/internal/clientip"
	"github.com/paygraph/paygraph/internal/paypass"
	"github.com/paygraph/paygraph/internal/ratelimit"
	"github.com/paygraph/paygraph/internal/role"
)

// Service manages users and apps.
type Service struct {
	client    *ent.Client
	tokens    *auth.Tokens
	passwords auth.Passwords

	// Logins counts wrong login passwords and locks the password after
	// too many (the counter confirmPassword uses too); nil: not counted.
	Logins *paypass.Guard
	// PerAddress limits login and register attempts per client address.
	PerAddress *ratelimit.Limiter
	// Now is the clock of the rate limit.
	Now func() time.Time

	versions versionCache
}

// New returns the account service.
func New(client *ent.Client, tokens *auth.Tokens, passwords auth.Passwords) *Service {
	return &Service{client: client, tokens: tokens, passwords: passwords, versions: versionCache{m: map[int64]cachedVersion{}}}
}

// RegisterInput is what a new user gives.
type RegisterInput struct {
	Username     string
	Password     string
	Email        *string
	Mobile       *string
	NationalCode *string
}

var (
	usernameRe     = regexp.MustCompile(`^[a-z0-9_.-]{3,32}$`)
	mobileRe       = regexp.MustCompile(`^[0-9]{5,20}$`)
	nationalCodeRe = regexp.MustCompile(`^[0-9]{1,4}$`)
)

// ErrUsernameTaken is returned by Register for a name already in use.
var ErrUsernameTaken = apperr.Input("username", "this username is already taken")

// ErrBadCredentials is returned by Login; it does not say which part was wrong.
var ErrBadCredentials = apperr.New(apperr.Unauthenticated, "wrong username or password")

// limit takes one login or register attempt of the caller's address.
//
// Errors: RATE_LIMITED.
func (s *Service) limit(ctx context.Context) error {
	now := time.Now
	if s.Now != nil {
		now = s.Now
	}
	if ok, wait := s.PerAddress.Allow(clientip.From(ctx), now()); !ok {
		return apperr.New(apperr.RateLimited, "too many sign-in attempts from this address; try again in %d s", int(wait.Seconds()))
	}
	return nil
}

func normalizeUsername(s string) string { return strings.ToLower(strings.TrimSpace(s)) }

func validatePassword(p string) error {
	if n := len(p); n < 8 || n > 72 {
		return apperr.Input("password", "password must be 8 to 72 bytes long")
	}
	return nil
}

func (in *RegisterInput) validate() error {
	in.Username = normalizeUsername(in.Username)
	if !usernameRe.MatchString(in.Username) {
		return apperr.Input("username", "username must be 3 to 32 characters of letters, digits, '_', '.' or '-'")
	}
	if err := validatePassword(in.Password); err != nil {
		return err
	}
	if in.Email != nil {
		e := strings.TrimSpace(*in.Email)
		a, err := mail.ParseAddress(e)
		if err != nil || a.Address != e || len(e) > 254 {
			return apperr.Input("email", "email is not a valid address")
		}
		in.Email = &e
	}
	if in.Mobile != nil && !mobileRe.MatchString(*in.Mobile) {
		return apperr.Input("mobile", "mobile must be 5 to 20 digits")
	}
	if in.NationalCode != nil && !nationalCodeRe.MatchString(strings.TrimPrefix(*in.NationalCode, "+")) {
		return apperr.Input("nationalCode", "nationalCode must be 1 to 4 digits, such as 86")
	}
	if in.NationalCode != nil {
		c := strings.TrimPrefix(*in.NationalCode, "+")
		in.NationalCode = &c
	}
	return nil
}

// Register creates a USER account.
//
// Errors: BAD_USER_INPUT for an invalid field, ErrUsernameTaken,
// RATE_LIMITED.
func (s *Service) Register(ctx context.Context, in RegisterInput) (*ent.User, error) {
	if err := in.validate(); err != nil {
		return nil, err
	}
	if err := s.limit(ctx); err != nil {
		return nil, err
	}
	u, err := s.create(ctx, in, role.User)
	if err == nil {
		access.Grant(ctx, u.ID) // the answer shows the new user to its maker
	}
	return u, err
}

func (s *Service) create(ctx context.Context, in RegisterInput, r role.Role) (*ent.User, error) {
	hash, err := s.passwords.Hash(in.Password)
	if err != nil {
		return nil, fmt.Errorf("hashing password: %w", err)
	}
	u, err := s.client.User.Create().
		SetUsername(in.Username).
		SetPasswordHash(hash).
		SetNillableEmail(in.Email).
		SetNillableMobile(in.Mobile).
		SetNillableNationalCode(in.NationalCode).
		SetRole(r).
		Save(ctx)
	if ent.IsConstraintError(err) {
		return nil, ErrUsernameTaken
	}
	if err != nil {
		return nil, fmt.Errorf("creating user: %w", err)
	}
	return u, nil
}

// Session is what a successful login returns.
type Session struct {
	Token     string
	ExpiresAt time.Time
	User      *ent.User
}

// Login checks a username and password and returns a token. Attempts
// are limited per client address, and a user's wrong passwords are
// counted before the slow comparison, so five in a row lock the password
// for a while (Logins); a locked account answers LOCKED even to the right
// password, and the lock ends by itself.
//
// Errors: ErrBadCredentials, RATE_LIMITED, LOCKED.
func (s *Service) Login(ctx context.Context, username, password string) (*Session, error) {
	if err := s.limit(ctx); err != nil {
		return nil, err
	}
	u, err := s.client.User.Query().Where(user.Username(normalizeUsername(username))).Only(ctx)
	if ent.IsNotFound(err) {
		s.passwords.Check("", password) // same cost as a wrong password
		return nil, ErrBadCredentials
	}
	if err != nil {
		return nil, fmt.Errorf("finding user: %w", err)
	}
	if err := s.checkPassword(ctx, u, password); err != nil {
		return nil, err
	}
	access.Grant(ctx, u.ID) // the session's user is the caller's own
	return s.session(u)
}

func (s *Service) session(u *ent.User) (*Session, error) {
	token, exp, err := s.tokens.IssueUser(u.ID, u.Role, u.TokenVersion)
	if err != nil {
		return nil, err
	}
	return &Session{Token: token, ExpiresAt: exp, User: u}, nil
}

func (s *Service) checkPassword(ctx context.Context, u *ent.User, password string) error {
	if s.Logins == nil {
		if !s.passwords.Check(u.PasswordHash, password) {
			return ErrBadCredentials
		}
		return nil
	}
	err := s.Logins.Check(ctx, u.ID, paypass.Confirm, password)
	if apperr.CodeOf(err) == apperr.WrongPassword {
		return ErrBadCredentials // the same answer as an unknown user
	}
	return err
}

// EnsureAdmin creates the admin named by PAYGRAPH_ADMIN if no user has that
// name. An existing user of that name is left as it is.
func (s *Service) EnsureAdmin(ctx context.Context, username, password string) (created bool, err error) {
	in := RegisterInput{Username: username, Password: password}
	if err := in.validate(); err != nil {
		return false, fmt.Errorf("PAYGRAPH_ADMIN: %w", err)
	}
	exists, err := s.client.User.Query().Where(user.Username(in.Username)).Exist(ctx)
	if err != nil || exists {
		return false, err
	}
	if _, err := s.create(ctx, in, role.Admin); err != nil && err != ErrUsernameTaken {
		return false, err
	}
	return true, nil
}

// AppWithToken is an app and a freshly issued SERVICE token for it.
type AppWithToken struct {
	App          *ent.App
	ServiceToken string
}

// CreateApp makes a new app and a SERVICE token for it.
//
// Errors: BAD_USER_INPUT for an empty or too long name.
func (s *Service) CreateApp(ctx context.Context, name string) (*AppWithToken, error) {
	name = strings.TrimSpace(name)
	if name == "" || len([]rune(name)) > 64 {
		return nil, apperr.Input("name", "name must be 1 to 64 characters")
	}
	a, err := s.client.App.Create().SetName(name).Save(ctx)
	if err != nil {
		return nil, fmt.Errorf("creating app: %w", err)
	}
	return s.withToken(a)
}

// RotateServiceToken revokes every SERVICE token of an app and returns a new one.
//
// Errors: NOT_FOUND for an unknown app.
func (s *Service) RotateServiceToken(ctx context.Context, appID int64) (*AppWithToken, error) {
	a, err := s.client.App.UpdateOneID(appID).AddTokenVersion(1).Save(ctx)
	if ent.IsNotFound(err) {
		return nil, apperr.New(apperr.NotFound, "app not found")
	}
	if err != nil {
		return nil, fmt.Errorf("rotating token of app %d: %w", appID, err)
	}
	s.versions.put(appKey(a.ID), a.TokenVersion, time.Now())
	return s.withToken(a)
}

func (s *Service) withToken(a *ent.App) (*AppWithToken, error) {
	tok, _, err := s.tokens.IssueService(a.ID, a.TokenVersion)
	if err != nil {
		return nil, err
	}
	return &AppWithToken{App: a, ServiceToken: tok}, nil
}

// Me returns the user the caller's token speaks for.
//
// Errors: UNAUTHENTICATED, FORBIDDEN for a SERVICE token (an app is no user).
func (s *Service) Me(ctx context.Context) (*ent.User, error) {
	p, err := auth.Require(ctx, role.User, role.Admin)
	if err != nil {
		return nil, err
	}
	u, err := s.client.User.Get(ctx, p.Subject)
	if ent.IsNotFound(err) {
		return nil, auth.ErrTokenInvalid
	}
	return u, err
}

// Viewer is who a request's token speaks for.
type Viewer struct {
	Role *role.Role
	User *ent.User
	App  *ent.App
}

// Viewer answers who the token is: a USER or ADMIN with its user, a
// SERVICE with its app, and an empty Viewer without a valid token (so a
// client can ask before it signs in). A token whose user or app is gone is
// UNAUTHENTICATED, as everywhere.
func (s *Service) Viewer(ctx context.Context) (*Viewer, error) {
	p, err := auth.FromContext(ctx)
	if err != nil {
		return &Viewer{}, nil
	}
	v := &Viewer{Role: &p.Role}
	if p.Role == role.Service {
		a, err := s.client.App.Get(ctx, p.AppID)
		if ent.IsNotFound(err) {
			return nil, auth.ErrTokenInvalid
		}
		v.App = a
		return v, err
	}
	u, err := s.client.User.Get(ctx, p.Subject)
	if ent.IsNotFound(err) {
		return nil, auth.ErrTokenInvalid
	}
	v.User = u
	return v, err
}

// User returns a user the caller may see (access.CanView). One it may not
// see is answered as not found, so ids cannot be scanned.
//
// Errors: UNAUTHENTICATED, NOT_FOUND.
func (s *Service) User(ctx context.Context, id int64) (*ent.User, error) {
	if _, err := auth.FromContext(ctx); err != nil {
		return nil, err
	}
	notFound := apperr.New(apperr.NotFound, "user not found")
	u, err := s.client.User.Get(ctx, id)
	if ent.IsNotFound(err) {
		return nil, notFound
	}
	if err != nil {
		return nil, err
	}
	if err := access.CanView(ctx, u); err != nil {
		if apperr.CodeOf(err) == apperr.Forbidden {
			return nil, notFound
		}
		return nil, err
	}
	return u, nil
}

// Authenticate turns a bearer token into a principal. SERVICE tokens are
// checked against their app's current token version, user tokens against
// their user's, each read at most every userVersionTTL per instance: a
// logout or a rotation is honoured on its instance at once, elsewhere
// within that time.
//
// Errors: UNAUTHENTICATED.
func (s *Service) Authenticate(ctx context.Context, token string) (auth.Principal, error) {
	p, ver, err := s.tokens.Parse(token)
	if err != nil {
		return auth.Principal{}, err
	}
	if p.Role != role.Service {
		cur, err := s.userVersion(ctx, p.Subject)
		if err != nil {
			return auth.Principal{}, err
		}
		if cur != ver {
			return auth.Principal{}, auth.ErrTokenRevoked
		}
		return p, nil
	}
	if p.Role == role.Service {
		cur, err := s.appVersion(ctx, p.AppID)
		if err != nil {
			return auth.Principal{}, err
		}
		if cur != ver {
			return auth.Principal{}, auth.ErrTokenInvalid
		}
	}
	return p, nil
}
