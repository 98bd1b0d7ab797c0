package graph

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"runtime/debug"

	"github.com/99designs/gqlgen/graphql"
	"github.com/vektah/gqlparser/v2/gqlerror"

	"github.com/paygraph/paygraph/ent"
	"github.com/paygraph/paygraph/internal/apperr"
	"github.com/paygraph/paygraph/internal/trace"
)

// publicCodes are the codes a client may see (contract §2).
var publicCodes = func() map[apperr.Code]bool {
	m := map[apperr.Code]bool{}
	for _, c := range apperr.Codes {
		m[c] = true
	}
	return m
}()

// ErrorPresenter is the one place an error becomes a GraphQL error. Domain
// errors keep their code and message; gqlgen's own parse, validation and
// argument errors are the client's fault (BAD_USER_INPUT, with gqlgen's code
// kept as extensions.reason); anything else is INTERNAL, logged with the
// trace id and shown without detail.
func ErrorPresenter(log *slog.Logger) graphql.ErrorPresenterFunc {
	return func(ctx context.Context, err error) *gqlerror.Error {
		gerr := graphql.DefaultErrorPresenter(ctx, err)
		var ae *apperr.Error
		switch {
		case errors.As(err, &ae):
			gerr.Message = ae.Message
			setCode(gerr, ae.Code)
			if ae.LegacyCode != nil {
				gerr.Extensions["legacyCode"] = *ae.LegacyCode
			}
			if ae.Field != "" {
				gerr.Extensions["field"] = ae.Field
			}
		case ent.IsNotFound(err):
			gerr.Message = "not found"
			setCode(gerr, apperr.NotFound)
		case ent.IsValidationError(err):
			var ve *ent.ValidationError
			errors.As(err, &ve)
			gerr.Message = "invalid " + ve.Name
			setCode(gerr, apperr.BadUserInput)
		case isClientError(ctx, err):
			code, _ := gerr.Extensions["code"].(string)
			if code != "" && !publicCodes[apperr.Code(code)] {
				gerr.Extensions["reason"] = code
			}
			if !publicCodes[apperr.Code(code)] {
				setCode(gerr, apperr.BadUserInput)
			}
		default:
			log.ErrorContext(ctx, "internal error", "path", gerr.Path.String(), "err", err)
			gerr.Message = "internal error (trace " + trace.ID(ctx) + ")"
			gerr.Extensions = nil
			gerr.Err = nil
			setCode(gerr, apperr.Internal)
		}
		return gerr
	}
}

// isClientError reports whether err came from gqlgen rejecting the request
// itself rather than from a resolver failing: syntax, validation and
// variable errors (a *gqlerror.Error of gqlgen's own making), or an argument
// or input field that did not parse (an error placed on a path below the
// field being resolved). Resolver errors, even when gqlgen wraps them on the
// field's own path (as it does for errors passing through a directive), are
// not the client's doing.
func isClientError(ctx context.Context, err error) bool {
	var gq *gqlerror.Error
	if !errors.As(err, &gq) {
		return false
	}
	if gq.Err == nil {
		return true
	}
	fc := graphql.GetFieldContext(ctx)
	return fc != nil && len(gq.Path) > len(fc.Path())
}

func setCode(e *gqlerror.Error, code apperr.Code) {
	if e.Extensions == nil {
		e.Extensions = map[string]any{}
	}
	e.Extensions["code"] = string(code)
}

// RecoverFunc turns a panic in a resolver into an INTERNAL error, logging
// the stack with the trace id.
func RecoverFunc(log *slog.Logger) graphql.RecoverFunc {
	return func(ctx context.Context, v any) error {
		log.ErrorContext(ctx, "panic", "panic", fmt.Sprint(v), "stack", string(debug.Stack()))
		return errors.New("panic")
	}
}
