// Package idempotency makes a mutation safe to retry: the same key with the
// same input replays the first result, with other input it is
// IDEMPOTENCY_CONFLICT, and while the first call still runs it is
// IDEMPOTENCY_IN_PROGRESS (contract §2). Keys are stored in the database,
// so this holds across restarts and across instances.
package idempotency

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"time"

	"github.com/paygraph/paygraph/ent"
	"github.com/paygraph/paygraph/ent/idempotencykey"
	"github.com/paygraph/paygraph/internal/apperr"
	"github.com/paygraph/paygraph/internal/auth"
	"github.com/paygraph/paygraph/internal/clock"
)

// Retention is how long keys are kept; the contract promises at least 24 h.
const Retention = 72 * time.Hour

// lease is how long a claim holds before another call may take it over
// (its holder having died mid-way).
const lease = 2 * time.Minute

// Errors returned by Do.
var (
	ErrConflict   = apperr.New(apperr.IdempotencyConflict, "this idempotency key was used with different input")
	ErrInProgress = apperr.New(apperr.IdempotencyInProgress, "a request with this idempotency key is still running; retry shortly")
)

// Store keeps idempotency keys.
type Store struct {
	client *ent.Client
	clock  clock.Clock
}

// New returns a key store.
func New(client *ent.Client, c clock.Clock) *Store { return &Store{client: client, clock: c} }

type headerKey struct{}

// WithHeader returns ctx carrying the Idempotency-Key HTTP header.
func WithHeader(ctx context.Context, key string) context.Context {
	return context.WithValue(ctx, headerKey{}, key)
}

// Mark records, inside the caller's transaction, that the keyed work is
// done and produced the entity resultID. Calling it in the same transaction
// as the work means a crash can never leave work done but the key open.
type Mark func(ctx context.Context, tx *ent.Tx, resultID int64) error

func noMark(context.Context, *ent.Tx, int64) error { return nil }

// Do runs fn at most once per caller and key. key is the mutation's
// idempotencyKey argument (nil or empty: the Idempotency-Key header, if any;
// neither: fn just runs). fn must call mark inside its transaction. On a
// replay fn is not called and Do returns the first call's result id with
// replayed true. If fn fails the key is released, so a retry runs afresh.
//
// Errors: BAD_USER_INPUT for a key over 255 characters or one that differs
// from the header, ErrConflict, ErrInProgress, or fn's error.
func (s *Store) Do(ctx context.Context, op string, key *string, input any, fn func(mark Mark) (int64, error)) (id int64, replayed bool, err error) {
	k, err := resolveKey(ctx, key)
	if err != nil {
		return 0, false, err
	}
	if k == "" {
		id, err := fn(noMark)
		return id, false, err
	}
	p, err := auth.FromContext(ctx)
	if err != nil {
		return 0, false, err
	}
	scope := fmt.Sprintf("%s:%d", p.Role, p.Subject)
	hash, err := hashInput(op, input)
	if err != nil {
		return 0, false, err
	}
	row, replayID, err := s.claim(ctx, scope, k, op, hash)
	if err != nil || row == 0 {
		return replayID, err == nil, err
	}
	mark := func(ctx context.Context, tx *ent.Tx, resultID int64) error {
		n, err := tx.IdempotencyKey.Update().
			Where(idempotencykey.ID(row), idempotencykey.StateEQ(idempotencykey.StateIN_PROGRESS)).
			SetState(idempotencykey.StateDONE).SetResultID(resultID).Save(ctx)
		if err != nil {
			return fmt.Errorf("completing idempotency key: %w", err)
		}
		if n != 1 {
			return ErrInProgress // our claim was taken over after its lease ran out
		}
		return nil
	}
	id, err = fn(mark)
	if err != nil {
		// Release the claim so the client may retry; a finished key is kept.
		_, _ = s.client.IdempotencyKey.Delete().
			Where(idempotencykey.ID(row), idempotencykey.StateEQ(idempotencykey.StateIN_PROGRESS)).
			Exec(context.WithoutCancel(ctx))
		return 0, false, err
	}
	return id, false, nil
}

func resolveKey(ctx context.Context, key *string) (string, error) {
	var k string
	if key != nil {
		k = *key
	}
	if h, _ := ctx.Value(headerKey{}).(string); h != "" {
		if k != "" && k != h {
			return "", apperr.Input("idempotencyKey", "idempotencyKey differs from the Idempotency-Key header")
		}
		k = h
	}
	if len(k) > 255 {
		return "", apperr.Input("idempotencyKey", "idempotencyKey is longer than 255 characters")
	}
	return k, nil
}

// hashInput fingerprints the operation and its input. Inputs tag their
// idempotencyKey field json:"-", so a key sent as argument or as header
// fingerprints the same.
func hashInput(op string, input any) (string, error) {
	b, err := json.Marshal(input)
	if err != nil {
		return "", fmt.Errorf("hashing input: %w", err)
	}
	h := sha256.New()
	h.Write([]byte(op))
	h.Write([]byte{0})
	h.Write(b)
	return hex.EncodeToString(h.Sum(nil)), nil
}

// claim takes the key for this call (returning its row id), or reports the
// id of a finished first call (row 0), or an error.
func (s *Store) claim(ctx context.Context, scope, key, op, hash string) (row, replayID int64, err error) {
	now := s.clock.Now()
	created, err := s.client.IdempotencyKey.Create().
		SetScope(scope).SetKey(key).SetOperation(op).SetRequestHash(hash).
		SetState(idempotencykey.StateIN_PROGRESS).SetLockedUntil(now.Add(lease)).SetCreatedAt(now).
		Save(ctx)
	if err == nil {
		return created.ID, 0, nil
	}
	if !ent.IsConstraintError(err) {
		return 0, 0, fmt.Errorf("claiming idempotency key: %w", err)
	}
	ex, err := s.client.IdempotencyKey.Query().
		Where(idempotencykey.Scope(scope), idempotencykey.Key(key)).Only(ctx)
	if ent.IsNotFound(err) { // released between our insert and this read
		return 0, 0, ErrInProgress
	}
	if err != nil {
		return 0, 0, fmt.Errorf("reading idempotency key: %w", err)
	}
	switch {
	case ex.Operation != op || ex.RequestHash != hash:
		return 0, 0, ErrConflict
	case ex.State == idempotencykey.StateDONE:
		return 0, ex.ResultID, nil
	case ex.LockedUntil.After(now):
		return 0, 0, ErrInProgress
	}
	// The holder's lease ran out: take the claim over, if nobody else did.
	n, err := s.client.IdempotencyKey.Update().
		Where(idempotencykey.ID(ex.ID), idempotencykey.StateEQ(idempotencykey.StateIN_PROGRESS),
			idempotencykey.LockedUntil(ex.LockedUntil)).
		SetLockedUntil(now.Add(lease)).Save(ctx)
	if err != nil {
		return 0, 0, fmt.Errorf("taking over idempotency key: %w", err)
	}
	if n != 1 {
		return 0, 0, ErrInProgress
	}
	return ex.ID, 0, nil
}

// Purge deletes keys older than Retention; the scheduler calls it.
func (s *Store) Purge(ctx context.Context) (int, error) {
	return s.client.IdempotencyKey.Delete().
		Where(idempotencykey.CreatedAtLT(s.clock.Now().Add(-Retention))).Exec(ctx)
}
