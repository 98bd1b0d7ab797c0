package account

import (
	"context"
	"fmt"
	"sync"
	"time"

	"github.com/paygraph/paygraph/ent"
	"github.com/paygraph/paygraph/ent/app"
	"github.com/paygraph/paygraph/ent/user"
	"github.com/paygraph/paygraph/internal/apperr"
	"github.com/paygraph/paygraph/internal/auth"
	"github.com/paygraph/paygraph/internal/role"
)

// userVersionTTL is how long an instance trusts the token version it read
// for a user or an app: every request would otherwise cost a read.
const userVersionTTL = 2 * time.Second

// appKey keeps apps' versions apart from users' in the cache (ids are
// unique across tables, but the key says what it is).
func appKey(id int64) int64 { return -id }

// maxCachedVersions bounds the cache; past it, it starts afresh.
const maxCachedVersions = 100_000

type cachedVersion struct {
	version int
	read    time.Time
}

type versionCache struct {
	mu sync.Mutex
	m  map[int64]cachedVersion
}

func (c *versionCache) get(id int64, now time.Time) (int, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	v, ok := c.m[id]
	if !ok || now.Sub(v.read) > userVersionTTL {
		return 0, false
	}
	return v.version, true
}

func (c *versionCache) put(id int64, version int, now time.Time) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if len(c.m) >= maxCachedVersions {
		c.m = map[int64]cachedVersion{}
	}
	c.m[id] = cachedVersion{version, now}
}

// userVersion returns the token version of user id; a user that no longer
// exists has no valid token.
func (s *Service) userVersion(ctx context.Context, id int64) (int, error) {
	now := time.Now()
	if v, ok := s.versions.get(id, now); ok {
		return v, nil
	}
	v, err := s.client.User.Query().Where(user.ID(id)).Select(user.FieldTokenVersion).Int(ctx)
	if ent.IsNotFound(err) {
		return 0, auth.ErrTokenInvalid
	}
	if err != nil {
		return 0, fmt.Errorf("checking token: %w", err)
	}
	s.versions.put(id, v, now)
	return v, nil
}

// appVersion returns the SERVICE token version of app id; an app that no
// longer exists has no valid token.
func (s *Service) appVersion(ctx context.Context, id int64) (int, error) {
	now := time.Now()
	if v, ok := s.versions.get(appKey(id), now); ok {
		return v, nil
	}
	v, err := s.client.App.Query().Where(app.ID(id)).Select(app.FieldTokenVersion).Int(ctx)
	if ent.IsNotFound(err) {
		return 0, auth.ErrTokenInvalid
	}
	if err != nil {
		return 0, fmt.Errorf("checking service token: %w", err)
	}
	s.versions.put(appKey(id), v, now)
	return v, nil
}

// revoke raises u's token version inside a change, so every token issued
// before it stops working, and returns u as changed.
func (s *Service) revoke(ctx context.Context, upd *ent.UserUpdateOne) (*ent.User, error) {
	u, err := upd.AddTokenVersion(1).Save(ctx)
	if err != nil {
		return nil, fmt.Errorf("updating user: %w", err)
	}
	s.versions.put(u.ID, u.TokenVersion, time.Now())
	return u, nil
}

// Logout revokes every token of the caller's user, on every device (a
// token cannot be told apart from its copies). Signing in again gives a
// new one.
//
// Errors: UNAUTHENTICATED, FORBIDDEN for a SERVICE token (rotateServiceToken
// revokes an app's).
func (s *Service) Logout(ctx context.Context) (bool, error) {
	p, err := auth.Require(ctx, role.User, role.Admin)
	if err != nil {
		return false, err
	}
	if _, err := s.revoke(ctx, s.client.User.UpdateOneID(p.Subject)); err != nil {
		return false, err
	}
	return true, nil
}

// ChangePassword replaces the caller's password after checking the
// current one (counted and locked as login is), revokes every older token
// and returns a new session.
//
// Errors: ErrWrongPassword, LOCKED, BAD_USER_INPUT for a new password out
// of bounds, UNAUTHENTICATED.
func (s *Service) ChangePassword(ctx context.Context, oldPassword, newPassword string) (*Session, error) {
	u, err := s.reauthenticate(ctx, oldPassword)
	if err != nil {
		return nil, err
	}
	if validatePassword(newPassword) != nil {
		return nil, apperr.Input("newPassword", "password must be 8 to 72 bytes long")
	}
	hash, err := s.passwords.Hash(newPassword)
	if err != nil {
		return nil, err
	}
	u, err = s.revoke(ctx, s.client.User.UpdateOne(u).SetPasswordHash(hash))
	if err != nil {
		return nil, err
	}
	return s.session(u)
}

// ContactInput is a change of the caller's contact details; a field left
// out is kept, an empty string removes it.
type ContactInput struct {
	Password     string
	Email        *string
	Mobile       *string
	NationalCode *string
}

// ChangeContact changes the caller's email, mobile or country code after
// checking its password: the contacts receive the second factor's codes,
// so a stolen token alone must not redirect them.
//
// Errors: ErrWrongPassword, LOCKED, BAD_USER_INPUT, UNAUTHENTICATED.
func (s *Service) ChangeContact(ctx context.Context, in ContactInput) (*ent.User, error) {
	u, err := s.reauthenticate(ctx, in.Password)
	if err != nil {
		return nil, err
	}
	check := RegisterInput{Username: u.Username, Password: "--------"}
	upd := s.client.User.UpdateOne(u)
	if in.Email != nil {
		if *in.Email == "" {
			upd.ClearEmail()
		} else {
			check.Email = in.Email
		}
	}
	if in.Mobile != nil {
		if *in.Mobile == "" {
			upd.ClearMobile()
		} else {
			check.Mobile = in.Mobile
		}
	}
	if in.NationalCode != nil {
		if *in.NationalCode == "" {
			upd.ClearNationalCode()
		} else {
			check.NationalCode = in.NationalCode
		}
	}
	if err := check.validate(); err != nil {
		return nil, err
	}
	if check.Email != nil {
		upd.SetEmail(*check.Email)
	}
	if check.Mobile != nil {
		upd.SetMobile(*check.Mobile)
	}
	if check.NationalCode != nil {
		upd.SetNationalCode(*check.NationalCode)
	}
	u, err = upd.Save(ctx)
	if err != nil {
		return nil, fmt.Errorf("changing contacts: %w", err)
	}
	return u, nil
}

// reauthenticate checks the caller's password as login does.
func (s *Service) reauthenticate(ctx context.Context, password string) (*ent.User, error) {
	p, err := auth.Require(ctx, role.User, role.Admin)
	if err != nil {
		return nil, err
	}
	u, err := s.client.User.Get(ctx, p.Subject)
	if ent.IsNotFound(err) {
		return nil, auth.ErrTokenInvalid
	}
	if err != nil {
		return nil, fmt.Errorf("reading user: %w", err)
	}
	if err := s.checkPassword(ctx, u, password); err != nil {
		if err == ErrBadCredentials {
			return nil, ErrWrongPassword
		}
		return nil, err
	}
	return u, nil
}

// ErrWrongPassword refuses a change whose current password is wrong.
var ErrWrongPassword = apperr.New(apperr.WrongPassword, "the current password is wrong")
