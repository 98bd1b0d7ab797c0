package graph

import (
	"github.com/paygraph/paygraph/ent"
	"github.com/paygraph/paygraph/internal/account"
)

// Resolver holds the services the resolvers call into. Resolvers stay thin:
// a rule lives in its service, never here.
type Resolver struct {
	Client   *ent.Client
	Accounts *account.Service
}
