// Package access decides which entities a caller may read. Node lookups
// and connections go through it, so the rule for each kind of entity lives
// here once.
package access

import (
	"context"

	"github.com/paygraph/paygraph/ent"
	"github.com/paygraph/paygraph/internal/auth"
	"github.com/paygraph/paygraph/internal/role"
)

// CanView returns nil if the caller may read v, and UNAUTHENTICATED or
// FORBIDDEN otherwise.
func CanView(ctx context.Context, v any) error {
	p, err := auth.FromContext(ctx)
	if err != nil {
		return err
	}
	if p.Role == role.Admin {
		return nil
	}
	switch n := v.(type) {
	case *ent.User:
		return auth.ActFor(ctx, n.ID)
	case *ent.App:
		if p.Role == role.Service && p.AppID == n.ID {
			return nil
		}
	}
	return auth.ErrForbidden
}
