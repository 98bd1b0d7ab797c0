// Package apperr defines the domain error type every service returns and the
// public codes of the API contract. graph/errors.go and the callback handlers
// are the only places these become wire responses.
package apperr

import (
	"errors"
	"fmt"
)

// Code is a public error code, exposed as extensions.code.
type Code string

// The codes of the API contract (§2).
const (
	Unauthenticated       Code = "UNAUTHENTICATED"
	Forbidden             Code = "FORBIDDEN"
	NotFound              Code = "NOT_FOUND"
	BadUserInput          Code = "BAD_USER_INPUT"
	InvalidTransition     Code = "INVALID_TRANSITION"
	InsufficientFunds     Code = "INSUFFICIENT_FUNDS"
	WrongPassword         Code = "WRONG_PASSWORD"
	Locked                Code = "LOCKED"
	VerifyCodeInvalid     Code = "VERIFY_CODE_INVALID"
	VerifyCodeExpired     Code = "VERIFY_CODE_EXPIRED"
	RateLimited           Code = "RATE_LIMITED"
	OrderExpired          Code = "ORDER_EXPIRED"
	AmountMismatch        Code = "AMOUNT_MISMATCH"
	IdempotencyConflict   Code = "IDEMPOTENCY_CONFLICT"
	IdempotencyInProgress Code = "IDEMPOTENCY_IN_PROGRESS"
	ProviderError         Code = "PROVIDER_ERROR"
	Internal              Code = "INTERNAL"
)

// Codes lists every public code, in contract order.
var Codes = []Code{
	Unauthenticated, Forbidden, NotFound, BadUserInput, InvalidTransition,
	InsufficientFunds, WrongPassword, Locked, VerifyCodeInvalid, VerifyCodeExpired,
	RateLimited, OrderExpired, AmountMismatch, IdempotencyConflict,
	IdempotencyInProgress, ProviderError, Internal,
}

// Error is a domain error a client may see: its Message is safe to show.
type Error struct {
	Code    Code
	Message string
	// LegacyCode is the error number a documented REST API gave this case,
	// if any (extensions.legacyCode): the points API's -1 bad or missing
	// parameter, -2 not allowed, -3 the gateway (createPointsOrder,
	// getPayUrl), or the escrow marketplace's 2 bad parameter, 4 wrong
	// password, 6 order not found, 7 user not found, 10 insufficient
	// balance (the last three in every flow).
	LegacyCode *int
	// Field names the offending input, if one is to blame.
	Field string
}

func (e *Error) Error() string { return e.Message }

// Is makes errors.Is match two errors of the same code and message, so
// sentinel errors compare equal after being copied with a legacy code.
func (e *Error) Is(target error) bool {
	t, ok := target.(*Error)
	return ok && t.Code == e.Code && t.Message == e.Message
}

// New returns an error with the given code and message.
func New(code Code, format string, args ...any) *Error {
	return &Error{Code: code, Message: fmt.Sprintf(format, args...)}
}

// Input returns a BAD_USER_INPUT error blaming one input field.
func Input(field, format string, args ...any) *Error {
	return &Error{Code: BadUserInput, Message: fmt.Sprintf(format, args...), Field: field}
}

// WithLegacy returns a copy of e carrying the documented REST API's error number.
func (e *Error) WithLegacy(n int) *Error {
	c := *e
	c.LegacyCode = &n
	return &c
}

// CodeOf returns the public code of err, or Internal for anything that is
// not an *Error.
func CodeOf(err error) Code {
	var e *Error
	if errors.As(err, &e) {
		return e.Code
	}
	return Internal
}
