// Package paypass guards the secrets a user re-enters to move money: the pay
// password (the escrow marketplace's 支付密码) and the login password re-checked by
// confirmPassword. Both are limited the same way: five wrong tries lock
// the secret for fifteen minutes.
//
// Every try is counted before the (slow, bcrypt) comparison, in its own
// committed unit of work, and forgiven only once it proved right. So a
// wrong try stays counted even when the payment around it fails, and no
// number of concurrent guesses gets past the limit.
package paypass

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"entgo.io/ent/dialect/sql"

	"github.com/paygraph/paygraph/ent"
	"github.com/paygraph/paygraph/ent/predicate"
	"github.com/paygraph/paygraph/ent/user"
	"github.com/paygraph/paygraph/internal/apperr"
	"github.com/paygraph/paygraph/internal/auth"
	"github.com/paygraph/paygraph/internal/clock"
	"github.com/paygraph/paygraph/internal/txn"
)

// The limits.
const (
	MaxTries = 5
	LockFor  = 15 * time.Minute
	// MinLen and MaxLen bound a pay password, in bytes (bcrypt reads 72).
	MinLen = 6
	MaxLen = 72
)

// Errors of the guard.
var (
	// ErrWrongPayPassword is the escrow marketplace's code 4, 支付密码错误.
	ErrWrongPayPassword = apperr.New(apperr.WrongPassword, "wrong pay password").WithLegacy(4)
	ErrWrongPassword    = apperr.New(apperr.WrongPassword, "wrong password").WithLegacy(4)
	ErrNoPayPassword    = apperr.Input("payPassword", "no pay password is set: call setPayPassword first").WithLegacy(2)
	ErrUserNotFound     = apperr.New(apperr.NotFound, "user not found").WithLegacy(7)
)

// Kind says which secret is checked.
type Kind int

// The secrets.
const (
	Pay     Kind = iota // the pay password
	Confirm             // the login password, re-checked
)

// Guard checks and sets the secrets.
type Guard struct {
	Client    *ent.Client
	Tx        *txn.Runner
	Passwords auth.Passwords
	Clock     clock.Clock

	// users serializes one user's checks within this instance, so that
	// concurrent right tries (many payments at once) queue instead of
	// filling the limit; across instances, busy tries wait (claimWait).
	users userLocks
}

// busyWait bounds how long a try waits for others of the same user to be
// checked before it gives up.
const busyWait = 5 * time.Second

type columns struct {
	failures, lockedUntil string
	wrong                 *apperr.Error
}

func (k Kind) columns() columns {
	if k == Pay {
		return columns{user.FieldPayPasswordFailures, user.FieldPayPasswordLockedUntil, ErrWrongPayPassword}
	}
	return columns{user.FieldConfirmPasswordFailures, user.FieldConfirmPasswordLockedUntil, ErrWrongPassword}
}

func locked(until time.Time) error {
	return apperr.New(apperr.Locked, "too many wrong tries: locked until %s", until.UTC().Format(time.RFC3339))
}

// Check verifies userID's secret of kind k.
//
// Errors: LOCKED, WRONG_PASSWORD (legacyCode 4), ErrNoPayPassword,
// ErrUserNotFound.
func (g *Guard) Check(ctx context.Context, userID int64, k Kind, secret string) error {
	u, err := g.Client.User.Get(ctx, userID)
	if ent.IsNotFound(err) {
		return ErrUserNotFound
	}
	if err != nil {
		return fmt.Errorf("reading user %d: %w", userID, err)
	}
	hash := u.PasswordHash
	if k == Pay {
		if u.PayPasswordHash == "" {
			return ErrNoPayPassword
		}
		hash = u.PayPasswordHash
	}
	unlock, err := g.users.lock(ctx, userID)
	if err != nil {
		return err
	}
	defer unlock()
	if err := g.claimWait(ctx, userID, k); err != nil {
		return err
	}
	// Long secrets are never right; bcrypt would only look at 72 bytes.
	if len(secret) <= MaxLen && g.Passwords.Check(hash, secret) {
		return g.forgive(ctx, userID, k)
	}
	return g.wrong(ctx, userID, k)
}

// claimWait claims a try, waiting while the limit is filled by tries of
// the same user still being checked (on other instances).
func (g *Guard) claimWait(ctx context.Context, userID int64, k Kind) error {
	deadline := time.Now().Add(busyWait)
	pause := 5 * time.Millisecond
	for {
		err := g.claim(ctx, userID, k)
		if err != errBusy {
			return err
		}
		if time.Now().Add(pause).After(deadline) {
			return errTooMany
		}
		t := time.NewTimer(pause)
		select {
		case <-ctx.Done():
			t.Stop()
			return ctx.Err()
		case <-t.C:
		}
		pause = min(2*pause, 200*time.Millisecond)
	}
}

var errBusy = errors.New("tries of this user are being checked")

var errTooMany = apperr.New(apperr.Locked, "too many tries at once; try again in a moment")

// userLocks holds one lock per user with checks under way; a user's entry
// goes away with its last waiter.
type userLocks struct {
	mu sync.Mutex
	m  map[int64]*userLock
}

type userLock struct {
	ch   chan struct{} // holds a token while locked
	refs int
}

// lock waits (up to busyWait, or until ctx ends) for the user's lock and
// returns its unlock.
func (l *userLocks) lock(ctx context.Context, userID int64) (func(), error) {
	l.mu.Lock()
	if l.m == nil {
		l.m = map[int64]*userLock{}
	}
	e := l.m[userID]
	if e == nil {
		e = &userLock{ch: make(chan struct{}, 1)}
		l.m[userID] = e
	}
	e.refs++
	l.mu.Unlock()
	release := func() {
		l.mu.Lock()
		if e.refs--; e.refs == 0 {
			delete(l.m, userID)
		}
		l.mu.Unlock()
	}
	t := time.NewTimer(busyWait)
	defer t.Stop()
	select {
	case e.ch <- struct{}{}:
		return func() { <-e.ch; release() }, nil
	case <-ctx.Done():
		release()
		return nil, ctx.Err()
	case <-t.C:
		release()
		return nil, errTooMany
	}
}

// claim counts a try before it is checked, unless the secret is locked or
// MaxTries tries are already counted (wrong, or still being checked).
func (g *Guard) claim(ctx context.Context, userID int64, k Kind) error {
	c := k.columns()
	now := g.Clock.Now()
	var n int
	err := g.Tx.Run(ctx, func(tx *txn.Tx) error {
		var err error
		n, err = tx.User.Update().Where(user.ID(userID), unlocked(c, now), failuresBelow(c, MaxTries)).
			Modify(func(u *sql.UpdateBuilder) { u.Add(c.failures, 1) }).Save(ctx)
		return err
	})
	if err != nil {
		return fmt.Errorf("counting a try: %w", err)
	}
	if n == 1 {
		return nil
	}
	u, err := g.Client.User.Get(ctx, userID)
	if err != nil {
		return fmt.Errorf("reading user %d: %w", userID, err)
	}
	until := u.PayPasswordLockedUntil
	if k == Confirm {
		until = u.ConfirmPasswordLockedUntil
	}
	if until == nil || !until.After(now) {
		return errBusy // not locked: tries still being checked fill the limit
	}
	return locked(*until)
}

// wrong keeps the try counted; the one that reaches MaxTries locks.
func (g *Guard) wrong(ctx context.Context, userID int64, k Kind) error {
	c := k.columns()
	now := g.Clock.Now()
	var lockedNow bool
	err := g.Tx.Run(ctx, func(tx *txn.Tx) error {
		n, err := tx.User.Update().Where(user.ID(userID), failuresAtLeast(c, MaxTries)).
			Modify(func(u *sql.UpdateBuilder) {
				u.Set(c.failures, 0).Set(c.lockedUntil, now.Add(LockFor))
			}).Save(ctx)
		lockedNow = n == 1
		return err
	})
	if err != nil {
		return fmt.Errorf("recording a wrong try: %w", err)
	}
	if lockedNow {
		return apperr.New(apperr.WrongPassword, "%s: too many wrong tries, locked until %s",
			c.wrong.Message, now.Add(LockFor).UTC().Format(time.RFC3339)).WithLegacy(4)
	}
	return c.wrong
}

// forgive clears the count after a right secret.
func (g *Guard) forgive(ctx context.Context, userID int64, k Kind) error {
	c := k.columns()
	return g.Tx.Run(ctx, func(tx *txn.Tx) error {
		return tx.User.Update().Where(user.ID(userID)).
			Modify(func(u *sql.UpdateBuilder) { u.Set(c.failures, 0) }).Exec(ctx)
	})
}

func unlocked(c columns, now time.Time) predicate.User {
	return func(s *sql.Selector) {
		s.Where(sql.Or(sql.IsNull(s.C(c.lockedUntil)), sql.LTE(s.C(c.lockedUntil), now)))
	}
}

func failuresBelow(c columns, n int) predicate.User {
	return func(s *sql.Selector) { s.Where(sql.LT(s.C(c.failures), n)) }
}

func failuresAtLeast(c columns, n int) predicate.User {
	return func(s *sql.Selector) { s.Where(sql.GTE(s.C(c.failures), n)) }
}

// Set sets userID's pay password. Once one is set, the old one must be
// given and is checked under the same limits.
//
// Errors: BAD_USER_INPUT (length, missing old password), the errors of Check.
func (g *Guard) Set(ctx context.Context, userID int64, newPassword string, oldPassword *string) (*ent.User, error) {
	if n := len(newPassword); n < MinLen || n > MaxLen {
		return nil, apperr.Input("newPassword", "a pay password is %d to %d characters", MinLen, MaxLen).WithLegacy(2)
	}
	u, err := g.Client.User.Get(ctx, userID)
	if ent.IsNotFound(err) {
		return nil, ErrUserNotFound
	}
	if err != nil {
		return nil, fmt.Errorf("reading user %d: %w", userID, err)
	}
	old := u.PayPasswordHash
	if old != "" {
		if oldPassword == nil || *oldPassword == "" {
			return nil, apperr.Input("oldPassword", "the current pay password is required to change it").WithLegacy(2)
		}
		if err := g.Check(ctx, userID, Pay, *oldPassword); err != nil {
			return nil, err
		}
	}
	hash, err := g.Passwords.Hash(newPassword)
	if err != nil {
		return nil, fmt.Errorf("hashing pay password: %w", err)
	}
	var out *ent.User
	err = g.Tx.Run(ctx, func(tx *txn.Tx) error {
		// Conditional on the hash just checked: of two concurrent changes
		// made with the same old password, one wins.
		q := tx.User.Update().Where(user.ID(userID))
		if old == "" {
			q.Where(user.Or(user.PayPasswordHashIsNil(), user.PayPasswordHash("")))
		} else {
			q.Where(user.PayPasswordHash(old))
		}
		n, err := q.SetPayPasswordHash(hash).SetPayPasswordFailures(0).ClearPayPasswordLockedUntil().
			SetUpdatedAt(g.Clock.Now()).Save(ctx)
		if err != nil {
			return fmt.Errorf("setting pay password: %w", err)
		}
		if n == 0 {
			return apperr.New(apperr.WrongPassword, "the pay password was changed meanwhile; give the current one").WithLegacy(4)
		}
		out, err = tx.User.Get(ctx, userID)
		return err
	})
	if err != nil {
		return nil, err
	}
	return out, nil
}

// Reset removes userID's pay password, its failures and lock, so the user
// sets a new one without the old (setPayPassword): an ADMIN's act for a
// user who forgot it, after checking who asks outside paygraph. Until then
// nothing that needs the pay password can be done.
//
// Errors: ErrUserNotFound.
func (g *Guard) Reset(ctx context.Context, userID int64) (*ent.User, error) {
	var out *ent.User
	err := g.Tx.Run(ctx, func(tx *txn.Tx) error {
		var err error
		out, err = tx.User.UpdateOneID(userID).ClearPayPasswordHash().SetPayPasswordFailures(0).
			ClearPayPasswordLockedUntil().SetUpdatedAt(g.Clock.Now()).Save(ctx)
		if ent.IsNotFound(err) {
			return ErrUserNotFound
		}
		return err
	})
	return out, err
}
