package graph

import (
	"context"
	"fmt"

	"github.com/99designs/gqlgen/graphql"

	"github.com/paygraph/paygraph/internal/auth"
	"github.com/paygraph/paygraph/internal/role"
)

// Directives returns the implementations of @auth and @self: the one place
// the role rules of contract §2 are applied to the GraphQL surface.
func Directives() DirectiveRoot {
	return DirectiveRoot{
		Auth: func(ctx context.Context, _ any, next graphql.Resolver, roles []role.Role) (any, error) {
			if _, err := auth.Require(ctx, roles...); err != nil {
				return nil, err
			}
			return next(ctx)
		},
		Self: func(ctx context.Context, _ any, next graphql.Resolver) (any, error) {
			v, err := next(ctx)
			if err != nil {
				return nil, err
			}
			switch id := v.(type) {
			case int64:
				err = auth.ActFor(ctx, id)
			case *int64:
				if id != nil {
					err = auth.ActFor(ctx, *id)
				} else {
					_, err = auth.FromContext(ctx)
				}
			default:
				return nil, fmt.Errorf("@self on a %T argument", v)
			}
			if err != nil {
				return nil, err
			}
			return v, nil
		},
	}
}
