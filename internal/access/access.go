// Package access decides which entities a caller may read: one rule per
// entity type, in CanView. Every value the GraphQL executor returns passes
// through it (graph.Visibility, a field middleware), whatever the path —
// root field, node, nodes, an edge, a connection, a payload's field — and
// the services that hand entities out (order loads, subscriptions) call it
// too, so no path can show an entity the rule refuses.
//
// Decisions that need the database (is this user a counterparty of mine?)
// are remembered for the request (WithRequest), so a list of a hundred
// lines costs one query per distinct order, not one per line.
package access

import (
	"context"
	"sync"

	"github.com/paygraph/paygraph/ent"
	"github.com/paygraph/paygraph/ent/app"
	"github.com/paygraph/paygraph/ent/callbackevent"
	"github.com/paygraph/paygraph/ent/event"
	"github.com/paygraph/paygraph/ent/goods"
	"github.com/paygraph/paygraph/ent/order"
	"github.com/paygraph/paygraph/ent/orderevent"
	"github.com/paygraph/paygraph/ent/orderitem"
	"github.com/paygraph/paygraph/ent/orderline"
	"github.com/paygraph/paygraph/ent/predicate"
	"github.com/paygraph/paygraph/ent/user"
	"github.com/paygraph/paygraph/ent/wallet"
	"github.com/paygraph/paygraph/ent/walletentry"
	"github.com/paygraph/paygraph/ent/webhookdelivery"
	"github.com/paygraph/paygraph/ent/webhookendpoint"
	"github.com/paygraph/paygraph/internal/apperr"
	"github.com/paygraph/paygraph/internal/auth"
	"github.com/paygraph/paygraph/internal/db"
	"github.com/paygraph/paygraph/internal/role"
)

// ErrNotVisible refuses an entity the caller may not see.
var ErrNotVisible = apperr.New(apperr.Forbidden, "not visible to this caller")

// Rules names, per table, who may see its rows. Tables not exposed to
// clients say so; a table missing here is a test failure, so a new entity
// cannot be added without deciding who sees it.
var Rules = map[string]string{
	order.Table:         "ADMIN; the app's SERVICE; the payer and the payee",
	orderevent.Table:    "whoever sees its order",
	orderitem.Table:     "whoever sees its order",
	orderline.Table:     "whoever sees its order",
	user.Table:          "ADMIN; the user; a USER who shares an order with it (payer and payee); the SERVICE of an app where it is a payer or payee",
	app.Table:           "ADMIN; its SERVICE; a USER with an order in it",
	wallet.Table:        "ADMIN; its owner; the SERVICE of an app where the owner is a payer or payee",
	walletentry.Table:   "ADMIN; the owner of its wallet (postings of the outside world: ADMIN only)",
	callbackevent.Table: "ADMIN",
	goods.Table:         "anyone, signed in or not (the catalogue)",
	"deal_refunds":      "never exposed",
	"refund_attempts":   "never exposed",
	"idempotency_keys":  "never exposed",
	"pay_ways":          "never exposed as an entity (payWays shows a view)",
	"verify_codes":      "never exposed",
	"assets":            "never exposed as an entity (the configuration names the assets; amounts show their decimals)",
	// Outgoing webhooks and the events API.
	event.Table:           "ADMIN; the SERVICE of its app (a USER sees its orders' steps through subscriptions, not events)",
	webhookendpoint.Table: "ADMIN; the SERVICE of its app",
	webhookdelivery.Table: "ADMIN; the SERVICE of its endpoint's app",
}

type key struct {
	kind string
	id   int64
}

// request holds what one request has learned about visibility.
type request struct {
	client *ent.Client
	mu     sync.Mutex
	memo   map[key]error
	ids    map[key]int64 // owners looked up: an event's order, a wallet's user
}

type requestKey struct{}

// maxRemembered bounds the answers one request (one operation of a
// WebSocket, a subscription included) remembers; past it, they are
// forgotten and asked again.
const maxRemembered = 4096

// forget drops the remembered answers but the grants, which only the
// request itself can give back. r.mu is held.
func (r *request) forget() {
	for k := range r.memo {
		if k.kind != "granted" {
			delete(r.memo, k)
		}
	}
}

// WithRequest returns ctx able to answer the rules that need the database,
// remembering answers for as long as ctx lives (one request, or one
// operation of a WebSocket: Fresh).
func WithRequest(ctx context.Context, client *ent.Client) context.Context {
	return context.WithValue(ctx, requestKey{}, &request{client: client, memo: map[key]error{}, ids: map[key]int64{}})
}

// Fresh returns ctx with answers of its own, remembered from now on, for
// one operation of a long-lived connection: a WebSocket's operations
// would otherwise share one memory for the socket's whole life, growing
// with every entity checked and keeping answers that may have changed.
// Without a database in ctx it returns ctx.
func Fresh(ctx context.Context) context.Context {
	r, _ := ctx.Value(requestKey{}).(*request)
	if r == nil {
		return ctx
	}
	return WithRequest(ctx, r.client)
}

// owner returns a fact the rule needs that the entity at hand was loaded
// without (GraphQL loads only the selected fields): the order of an event
// or a line, the user of a wallet, the wallet of a posting. The rule
// therefore never depends on the fields a client selected.
func owner(ctx context.Context, k key, f func(*ent.Client) (int64, error)) (int64, error) {
	r, _ := ctx.Value(requestKey{}).(*request)
	if r == nil {
		return 0, ErrNotVisible
	}
	r.mu.Lock()
	id, ok := r.ids[k]
	r.mu.Unlock()
	if ok {
		return id, nil
	}
	id, err := f(r.client)
	if ent.IsNotFound(err) {
		return 0, ErrNotVisible
	}
	if err != nil {
		return 0, err
	}
	r.mu.Lock()
	if len(r.ids) >= maxRemembered {
		clear(r.ids) // a long subscription's: start over rather than grow
	}
	r.ids[k] = id
	r.mu.Unlock()
	return id, nil
}

// remember answers k once per request with f.
func remember(ctx context.Context, k key, f func(*ent.Client) error) error {
	r, _ := ctx.Value(requestKey{}).(*request)
	if r == nil {
		return ErrNotVisible // no database to ask: refuse
	}
	r.mu.Lock()
	err, ok := r.memo[k]
	r.mu.Unlock()
	if ok {
		return err
	}
	err = f(r.client)
	if apperr.CodeOf(err) == apperr.Internal {
		return err // a failed query is not remembered
	}
	r.mu.Lock()
	if len(r.memo) >= maxRemembered {
		r.forget()
	}
	r.memo[k] = err
	r.mu.Unlock()
	return err
}

// Grant makes user id visible, contacts included, for the rest of the
// request: the caller has just proved to be that user (login) or become it
// (register), though the request carried no token of it.
func Grant(ctx context.Context, id int64) {
	if r, _ := ctx.Value(requestKey{}).(*request); r != nil {
		r.mu.Lock()
		r.memo[key{"granted", id}] = nil
		r.mu.Unlock()
	}
}

func granted(ctx context.Context, id int64) bool {
	r, _ := ctx.Value(requestKey{}).(*request)
	if r == nil {
		return false
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	err, ok := r.memo[key{"granted", id}]
	return ok && err == nil
}

// CanView returns nil if the caller may read v, and UNAUTHENTICATED or
// FORBIDDEN (ErrNotVisible) otherwise. Values that are not entities pass.
func CanView(ctx context.Context, v any) error {
	switch n := v.(type) {
	case *ent.Goods:
		return nil
	case *ent.User:
		if granted(ctx, n.ID) {
			return nil
		}
	}
	p, err := auth.FromContext(ctx)
	if err != nil {
		switch v.(type) {
		case *ent.Order, *ent.OrderEvent, *ent.OrderItem, *ent.OrderLine, *ent.User, *ent.App,
			*ent.Wallet, *ent.WalletEntry, *ent.CallbackEvent, *ent.Event, *ent.WebhookEndpoint, *ent.WebhookDelivery:
			return err
		}
		return nil
	}
	admin := p.Role == role.Admin
	if admin {
		return nil
	}
	switch n := v.(type) {
	case *ent.Order:
		if n.AppID == 0 { // loaded without the fields the rule reads
			return viewOrderID(ctx, p, n.ID)
		}
		return verdict(canViewOrder(p, n))
	case *ent.OrderEvent:
		return viewOrderOf(ctx, p, n.OrderID, key{"event", n.ID}, func(c *ent.Client) (int64, error) {
			return asID(c.OrderEvent.Query().Where(orderevent.ID(n.ID)).Select(orderevent.FieldOrderID).Int(ctx))
		})
	case *ent.OrderItem:
		return viewOrderOf(ctx, p, n.OrderID, key{"item", n.ID}, func(c *ent.Client) (int64, error) {
			return asID(c.OrderItem.Query().Where(orderitem.ID(n.ID)).Select(orderitem.FieldOrderID).Int(ctx))
		})
	case *ent.OrderLine:
		return viewOrderOf(ctx, p, n.OrderID, key{"line", n.ID}, func(c *ent.Client) (int64, error) {
			return asID(c.OrderLine.Query().Where(orderline.ID(n.ID)).Select(orderline.FieldOrderID).Int(ctx))
		})
	case *ent.User:
		return viewUser(ctx, p, n.ID)
	case *ent.App:
		if p.Role == role.Service {
			return verdict(p.AppID == n.ID)
		}
		return remember(ctx, key{"app", n.ID}, func(c *ent.Client) error {
			ok, err := c.Order.Query().Where(order.AppID(n.ID), order.Or(order.PayerID(p.Subject), order.PayeeID(p.Subject))).Exist(ctx)
			return found(ok, err)
		})
	case *ent.Wallet:
		uid := n.UserID
		if uid == 0 {
			var err error
			if uid, err = owner(ctx, key{"wallet-user", n.ID}, func(c *ent.Client) (int64, error) {
				return asID(c.Wallet.Query().Where(wallet.ID(n.ID)).Select(wallet.FieldUserID).Int(ctx))
			}); err != nil {
				return err
			}
		}
		if p.IsUser() {
			return verdict(uid == p.Subject)
		}
		return viewUser(ctx, p, uid)
	case *ent.WalletEntry:
		if !p.IsUser() {
			return ErrNotVisible // postings are their owner's (and ADMIN's)
		}
		wid := n.WalletID
		if n.Account == "" { // loaded without the fields the rule reads
			e, err := owner(ctx, key{"entry-wallet", n.ID}, func(c *ent.Client) (int64, error) {
				e, err := c.WalletEntry.Query().Where(walletentry.ID(n.ID)).Select(walletentry.FieldWalletID).Only(ctx)
				if err != nil {
					return 0, err
				}
				return e.WalletID, nil
			})
			if err != nil {
				return err
			}
			wid = e
		}
		if wid == 0 {
			return ErrNotVisible // a posting of the outside world
		}
		return remember(ctx, key{"wallet", wid}, func(c *ent.Client) error {
			ok, err := c.Wallet.Query().Where(wallet.ID(wid), wallet.UserID(p.Subject)).Exist(ctx)
			return found(ok, err)
		})
	case *ent.CallbackEvent:
		return ErrNotVisible // ADMIN's
	case *ent.Event:
		if p.Role != role.Service {
			return ErrNotVisible
		}
		var app int64
		if n.AppID != nil {
			app = *n.AppID
		} else { // no app, or loaded without it
			var err error
			if app, err = owner(ctx, key{"event-app", n.ID}, func(c *ent.Client) (int64, error) {
				e, err := c.Event.Query().Where(event.ID(n.ID)).Select(event.FieldAppID).Only(ctx)
				if err != nil || e.AppID == nil {
					return 0, err
				}
				return *e.AppID, nil
			}); err != nil {
				return err
			}
		}
		return verdict(app != 0 && app == p.AppID)
	case *ent.WebhookEndpoint:
		if p.Role != role.Service {
			return ErrNotVisible
		}
		app := n.AppID
		if app == 0 { // loaded without it
			var err error
			if app, err = owner(ctx, key{"endpoint-app", n.ID}, func(c *ent.Client) (int64, error) {
				e, err := c.WebhookEndpoint.Query().Where(webhookendpoint.ID(n.ID)).Select(webhookendpoint.FieldAppID).Only(ctx)
				if err != nil {
					return 0, err
				}
				return e.AppID, nil
			}); err != nil {
				return err
			}
		}
		return verdict(app == p.AppID)
	case *ent.WebhookDelivery:
		if p.Role != role.Service {
			return ErrNotVisible
		}
		app := n.AppID
		if app == 0 { // loaded without it
			var err error
			if app, err = owner(ctx, key{"delivery-app", n.ID}, func(c *ent.Client) (int64, error) {
				d, err := c.WebhookDelivery.Query().Where(webhookdelivery.ID(n.ID)).Select(webhookdelivery.FieldAppID).Only(ctx)
				if err != nil {
					return 0, err
				}
				return d.AppID, nil
			}); err != nil {
				return err
			}
		}
		return verdict(app == p.AppID)
	}
	return nil
}

// CanViewStep is CanView of a history step loaded with its order: the
// order at hand decides, with no query (live fan-out calls it once per
// subscriber). A step loaded without its order falls back to CanView.
func CanViewStep(ctx context.Context, ev *ent.OrderEvent) error {
	o := ev.Edges.Order
	if o == nil {
		return CanView(ctx, ev)
	}
	p, err := auth.FromContext(ctx)
	if err != nil {
		return err
	}
	return verdict(canViewOrder(p, o))
}

// viewOrderOf is the rule of what belongs to an order: whoever sees it.
// orderID is 0 when the entity was loaded without it; find it then.
func viewOrderOf(ctx context.Context, p auth.Principal, orderID int64, k key, find func(*ent.Client) (int64, error)) error {
	if orderID == 0 {
		var err error
		if orderID, err = owner(ctx, k, find); err != nil {
			return err
		}
	}
	return viewOrderID(ctx, p, orderID)
}

func verdict(ok bool) error {
	if ok {
		return nil
	}
	return ErrNotVisible
}

func found(ok bool, err error) error {
	if err != nil {
		return err
	}
	return verdict(ok)
}

func canViewOrder(p auth.Principal, o *ent.Order) bool {
	switch p.Role {
	case role.Admin:
		return true
	case role.Service:
		return o.AppID == p.AppID
	}
	return o.PayerID == p.Subject || o.PayeeID == p.Subject
}

// viewOrderID is the rule of an order's lines and history: whoever sees
// the order.
func viewOrderID(ctx context.Context, p auth.Principal, id int64) error {
	if p.Role == role.Admin {
		return nil
	}
	return remember(ctx, key{"order", id}, func(c *ent.Client) error {
		ok, err := c.Order.Query().Where(order.ID(id), Orders(p)).Exist(ctx)
		return found(ok, err)
	})
}

// viewUser is the rule of a user (and, for a SERVICE, of its wallets): the
// user itself, an ADMIN, a USER it shares an order with, the SERVICE of an
// app where it pays or is paid.
func viewUser(ctx context.Context, p auth.Principal, id int64) error {
	switch {
	case p.Role == role.Admin, p.IsUser() && p.Subject == id:
		return nil
	}
	return remember(ctx, key{"user", id}, func(c *ent.Client) error {
		concerned := order.Or(order.PayerID(id), order.PayeeID(id))
		ok, err := c.Order.Query().Where(Orders(p), concerned).Exist(ctx)
		return found(ok, err)
	})
}

// ViewUser checks that the caller may see user id (and its balances):
// reads that name a user (wallets, cash) use it.
//
// Errors: UNAUTHENTICATED, FORBIDDEN.
func ViewUser(ctx context.Context, id int64) error {
	p, err := auth.FromContext(ctx)
	if err != nil {
		return err
	}
	return viewUser(ctx, p, id)
}

// Target returns the user a read of balances is about: the one named, if
// the caller may see it, or else the caller itself (a SERVICE is no user,
// so it must name one).
//
// Errors: UNAUTHENTICATED, FORBIDDEN, BAD_USER_INPUT.
func Target(ctx context.Context, userID *int64) (int64, error) {
	id, err := auth.Target(ctx, userID)
	if err != nil {
		return 0, err
	}
	return id, ViewUser(ctx, id)
}

// SeesContacts says how the caller may see user u's contact details:
// clear (the user itself, an ADMIN), masked (a SERVICE, which sees a user
// only as a payer or payee of its app's orders) or not at all.
func SeesContacts(ctx context.Context, u *ent.User) (clear, masked bool) {
	if granted(ctx, u.ID) {
		return true, false
	}
	p, err := auth.FromContext(ctx)
	if err != nil {
		return false, false
	}
	switch {
	case p.Role == role.Admin, p.IsUser() && p.Subject == u.ID:
		return true, false
	case p.Role == role.Service:
		return false, CanView(ctx, u) == nil
	}
	return false, false
}

// SeesPrivate says whether the caller may read u's private flags (a
// second factor bound, a pay password set): whoever sees its contacts,
// clear or masked.
func SeesPrivate(ctx context.Context, u *ent.User) bool {
	clear, masked := SeesContacts(ctx, u)
	return clear || masked
}

// AppOf is the app a request is about: a SERVICE's own (naming another
// is ErrOtherApp), for anyone else the one named, else the default app
// (the app store's app_id 1). Whether that app exists is the caller's to
// check where it matters.
func AppOf(ctx context.Context, appID *int64) (int64, error) {
	if p, err := auth.FromContext(ctx); err == nil && p.Role == role.Service {
		if appID != nil && *appID != p.AppID {
			return 0, auth.ErrOtherApp
		}
		return p.AppID, nil
	}
	if appID != nil {
		return *appID, nil
	}
	return db.DefaultAppID, nil
}

// Orders is the order rule as a query filter: a USER sees the orders it
// pays or is paid by, a SERVICE its app's, an ADMIN all.
func Orders(p auth.Principal) predicate.Order {
	switch p.Role {
	case role.Admin:
		return order.IDGT(0)
	case role.Service:
		return order.AppID(p.AppID)
	}
	return order.Or(order.PayerID(p.Subject), order.PayeeID(p.Subject))
}

// WalletEntries filters postings to those of userID's wallets.
func WalletEntries(userID int64) predicate.WalletEntry {
	return walletentry.HasWalletWith(wallet.UserID(userID))
}

func asID(n int, err error) (int64, error) { return int64(n), err }
