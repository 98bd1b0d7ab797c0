package payment

import (
	"context"
	"fmt"
	"strconv"
	"unicode/utf8"

	"github.com/paygraph/paygraph/ent"
	"github.com/paygraph/paygraph/ent/goods"
	"github.com/paygraph/paygraph/ent/order"
	"github.com/paygraph/paygraph/ent/user"
	"github.com/paygraph/paygraph/internal/access"
	"github.com/paygraph/paygraph/internal/apperr"
	"github.com/paygraph/paygraph/internal/auth"
	"github.com/paygraph/paygraph/internal/catalog"
	"github.com/paygraph/paygraph/internal/idgen"
	"github.com/paygraph/paygraph/internal/money"
	"github.com/paygraph/paygraph/internal/role"
	"github.com/paygraph/paygraph/internal/txn"
)

// GoodsOrderPrefix starts the orderNo of every GOODS order (the game goods flow): the
// game provider echoes it back as game_order_no.
const GoodsOrderPrefix = "811-"

// GameChannel is the channel of GOODS orders: the game provider collects
// the money.
const GameChannel = "game"

// CreateGoodsOrderInput is the game goods flow's create-order.
type CreateGoodsOrderInput struct {
	UserID         int64         `json:"userId"`
	Item           string        `json:"item"`
	ItemID         *string       `json:"itemId,omitempty"`
	SinglePrice    money.Decimal `json:"singlePrice"`
	AppID          *int64        `json:"appId,omitempty"`
	IdempotencyKey *string       `json:"-"` // not part of the fingerprint
}

// GoodsOrder is a GOODS order with what it is for.
type GoodsOrder struct {
	Order       *ent.Order
	OrderNo     string
	Item        string
	ItemID      string
	SinglePrice money.Decimal
	UserID      int64
}

// VerifyOrderInput is the game goods flow's verification.
type VerifyOrderInput struct {
	UserID int64
	Item   string
	ItemID *string
	Order  *string
}

// Verification is the answer to VerifyOrder.
type Verification struct {
	Verified      bool
	FirstDelivery bool
	Order         *ent.Order
}

// GameGoods is the game goods flow: GOODS orders priced from the catalogue, paid
// through the game provider's signed callback (callback.Shim → ApplyNotice),
// verified (delivered) once, cancelled while unpaid.
//
// GOODS orders move no money on the platform: the provider collects it and
// the order (amount, providerTradeNo, paidAt) and the stored callback are
// the record. No ledger journal is written for them.
type GameGoods struct {
	Payments *Service
	Catalog  *catalog.Catalog
}

// Errors of the game goods flow.
var (
	ErrGoodsPrice = apperr.New(apperr.AmountMismatch, "singlePrice differs from the catalogue price")
)

// CreateGoodsOrder creates a PENDING GOODS order for in.UserID to pay, at
// the catalogue's price. A SERVICE orders from its own app's catalogue, a
// USER (for itself) or an ADMIN from appId's (default 1).
//
// Errors: BAD_USER_INPUT, FORBIDDEN, catalog.ErrGoodsNotFound,
// ErrUserNotFound, ErrGoodsPrice (AMOUNT_MISMATCH), idempotency errors.
func (g *GameGoods) CreateGoodsOrder(ctx context.Context, in CreateGoodsOrderInput) (*GoodsOrder, error) {
	if _, err := auth.Require(ctx, role.Service, role.User, role.Admin); err != nil {
		return nil, err
	}
	if err := auth.ActFor(ctx, in.UserID); err != nil {
		return nil, err
	}
	appID, err := access.AppOf(ctx, in.AppID)
	if err != nil {
		return nil, err
	}
	if n := utf8.RuneCountInString(in.Item); n == 0 || n > 128 {
		return nil, apperr.Input("item", "item must be 1 to 128 characters")
	}
	gd, err := g.goods(ctx, appID, in.Item, in.ItemID)
	if err != nil {
		return nil, err
	}
	_, price, err := g.Payments.Ledger.Assets().Positive("item", "singlePrice", gd.Asset, in.SinglePrice)
	if err != nil {
		return nil, err
	}
	if price != gd.SinglePrice {
		e := *ErrGoodsPrice
		e.Message = fmt.Sprintf("singlePrice %s differs from the catalogue price %s of goods %q",
			in.SinglePrice, g.Payments.Ledger.Assets().Format(gd.Asset, gd.SinglePrice), gd.GoodsID)
		e.Field = "singlePrice"
		return nil, &e
	}
	if ok, err := g.Payments.Client.User.Query().Where(user.ID(in.UserID)).Exist(ctx); err != nil {
		return nil, fmt.Errorf("finding user %d: %w", in.UserID, err)
	} else if !ok {
		return nil, ErrUserNotFound
	}

	s := g.Payments
	created, err := s.keyed(ctx, "createGoodsOrder", in.IdempotencyKey, in, nil, func(tx *txn.Tx) (*ent.Order, error) {
		now := s.Clock.Now()
		oid := idgen.Next()
		title := gd.Title
		if title == "" {
			title = gd.Item
		}
		o, err := tx.Order.Create().SetID(oid).SetOrderNo(GoodsOrderPrefix + strconv.FormatInt(oid, 10)).
			SetType(order.TypeGOODS).SetAppID(appID).SetPayerID(in.UserID).
			SetAmount(gd.SinglePrice).SetAsset(gd.Asset).SetChannel(GameChannel).
			SetTitle(title).SetItem(gd.Item).SetItemID(gd.GoodsID).
			SetExpiresAt(now.Add(s.OrderTTL)).SetCreatedAt(now).SetUpdatedAt(now).
			Save(ctx)
		if err != nil {
			return nil, fmt.Errorf("creating goods order: %w", err)
		}
		return o, s.RecordCreated(ctx, tx, o, Actor(ctx))
	})
	if err != nil {
		return nil, err
	}
	return g.payload(created), nil
}

// goods finds the catalogue entry an order is for: by itemId, whose item
// must then match, or by item alone when exactly one entry has it.
func (g *GameGoods) goods(ctx context.Context, appID int64, item string, itemID *string) (*ent.Goods, error) {
	var gd *ent.Goods
	if itemID != nil {
		var err error
		if gd, err = g.Catalog.Get(ctx, *itemID, &appID); err != nil {
			return nil, err
		}
		if gd.Item != item {
			return nil, apperr.Input("item", "item %q is not the item of goods %q", item, *itemID)
		}
	} else {
		all, err := g.Payments.Client.Goods.Query().
			Where(goods.AppID(appID), goods.Item(item), goods.Active(true)).Limit(2).All(ctx)
		if err != nil {
			return nil, fmt.Errorf("finding goods: %w", err)
		}
		switch len(all) {
		case 0:
			return nil, catalog.ErrGoodsNotFound
		case 2:
			return nil, apperr.Input("itemId", "several goods have item %q: give itemId", item)
		}
		gd = all[0]
	}
	if !gd.Active {
		return nil, apperr.Input("itemId", "goods %q is not on sale", gd.GoodsID)
	}
	return gd, nil
}

func (g *GameGoods) payload(o *ent.Order) *GoodsOrder {
	return &GoodsOrder{
		Order: o, OrderNo: o.OrderNo, Item: o.Item, ItemID: o.ItemID,
		SinglePrice: g.Payments.Ledger.Assets().Format(o.Asset, o.Amount), UserID: o.PayerID,
	}
}

// gameOrders is the caller's view of GOODS orders: a SERVICE sees its
// app's, others any app's (a USER is limited to itself by the userId rules).
func gameOrders(p auth.Principal, q *ent.OrderQuery) *ent.OrderQuery {
	q = q.Where(order.TypeEQ(order.TypeGOODS))
	if p.Role == role.Service {
		q = q.Where(order.AppID(p.AppID))
	}
	return q
}

// VerifyOrder tells a game server whether a user has paid for an item, and
// marks the order delivered: the verification that moves a PAID order to
// COMPLETED answers firstDelivery true, every other one (later, or losing a
// race) false, so an item is handed out once. Orders of another user or for
// another item, and orders not paid, are not verified.
//
// Errors: BAD_USER_INPUT (empty item), ErrOrderNotFound (no such orderNo in
// the caller's app), UNAUTHENTICATED/FORBIDDEN.
func (g *GameGoods) VerifyOrder(ctx context.Context, in VerifyOrderInput) (*Verification, error) {
	p, err := auth.Require(ctx, role.Service, role.Admin)
	if err != nil {
		return nil, err
	}
	if in.Item == "" {
		return nil, apperr.Input("item", "item is required")
	}
	s := g.Payments
	var o *ent.Order
	if in.Order != nil && *in.Order != "" {
		o, err = gameOrders(p, s.Client.Order.Query()).Where(order.OrderNo(*in.Order)).Only(ctx)
		if ent.IsNotFound(err) {
			return nil, ErrOrderNotFound
		}
		if err != nil {
			return nil, fmt.Errorf("loading order %q: %w", *in.Order, err)
		}
		if o.PayerID != in.UserID || o.Item != in.Item || (in.ItemID != nil && o.ItemID != *in.ItemID) {
			return &Verification{}, nil
		}
	} else {
		q := gameOrders(p, s.Client.Order.Query()).
			Where(order.PayerID(in.UserID), order.Item(in.Item), order.StatusEQ(Paid))
		if in.ItemID != nil {
			q = q.Where(order.ItemID(*in.ItemID))
		}
		o, err = q.Order(ent.Asc(order.FieldID)).First(ctx)
		if ent.IsNotFound(err) {
			return &Verification{}, nil
		}
		if err != nil {
			return nil, fmt.Errorf("finding a paid order: %w", err)
		}
	}
	switch o.Status {
	case Completed:
		return &Verification{Verified: true, Order: o}, nil
	case Paid:
	default:
		return &Verification{Order: o}, nil
	}
	var done *ent.Order
	err = s.Tx.Run(ctx, func(tx *txn.Tx) error {
		now := s.Clock.Now()
		d, err := s.Transition(ctx, tx, o, Completed, Actor(ctx), "delivered: verified by the game",
			Changes{CompletedAt: &now})
		done = d
		return err
	})
	if apperr.CodeOf(err) == apperr.InvalidTransition {
		// Another verification (or a refund, a freeze) got there first.
		cur, err := s.Client.Order.Get(ctx, o.ID)
		if err != nil {
			return nil, fmt.Errorf("re-reading order %d: %w", o.ID, err)
		}
		return &Verification{Verified: cur.Status == Completed, Order: cur}, nil
	}
	if err != nil {
		return nil, err
	}
	return &Verification{Verified: true, FirstDelivery: true, Order: done}, nil
}
