package graph

import (
	"github.com/paygraph/paygraph/ent"
	"github.com/paygraph/paygraph/internal/account"
	"github.com/paygraph/paygraph/internal/catalog"
	"github.com/paygraph/paygraph/internal/escrow"
	"github.com/paygraph/paygraph/internal/ledger"
	"github.com/paygraph/paygraph/internal/live"
	"github.com/paygraph/paygraph/internal/money"
	"github.com/paygraph/paygraph/internal/payment"
	"github.com/paygraph/paygraph/internal/provider/game"
	"github.com/paygraph/paygraph/internal/twofactor"
	"github.com/paygraph/paygraph/internal/webhook"
)

// Resolver holds the services the resolvers call into. Resolvers stay thin:
// a rule lives in its service, never here.
type Resolver struct {
	Client *ent.Client
	// Dialect is the database's (entgo.io/ent/dialect), for the few raw
	// queries resolvers make.
	Dialect  string
	Assets   *money.Registry
	Accounts *account.Service
	Catalog  *catalog.Catalog
	Ledger   *ledger.Ledger
	Payments *payment.Service
	Live     *live.Service
	// GameGoods and GameSandbox are the game goods flow's services.
	GameGoods   *payment.GameGoods
	GameSandbox *game.Sandbox
	Escrow      *escrow.Service
	// TwoFactor is the token checkout's second factor.
	TwoFactor *twofactor.Service
	Epay      *payment.Epay
	// Webhooks is merchants' endpoints and the events API.
	Webhooks *webhook.Service
}
