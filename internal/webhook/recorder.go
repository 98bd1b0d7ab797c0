package webhook

import (
	"context"
	"encoding/json"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/paygraph/paygraph/ent"
	"github.com/paygraph/paygraph/ent/order"
	"github.com/paygraph/paygraph/ent/orderitem"
	"github.com/paygraph/paygraph/ent/orderline"
	"github.com/paygraph/paygraph/internal/idgen"
	"github.com/paygraph/paygraph/internal/money"
	"github.com/paygraph/paygraph/internal/txn"
)

// Recorder writes Events inside the transaction of the change they
// record: the outbox. The changes of one unit of work are gathered as they
// happen and written when the unit has done the rest of its work
// (txn.Tx.BeforeCommit): each order step from the order row at hand when
// it was made, with the order's lines as the unit leaves them (a flow
// sets their paid and refunded amounts after the status change). That
// costs a unit one read of its orders' lines and one INSERT for all its
// events. A flow that changes an order's own fields after a step in the
// same unit reports the order with Refresh.
type Recorder struct {
	Assets *money.Registry
	// Describe gives how an order's status reads in zh-CN and in English
	// and its documented API's status number, as Order shows them (the
	// status machine knows them).
	Describe func(*ent.Order) (statusDesc, statusText string, legacyStatus *int)
	// Ordered says ids are handed out in commit order (SQLite: one
	// writer), so an event's position is its id, written with it; without
	// it (PostgreSQL) the dispatcher numbers events once they committed.
	Ordered bool
}

// pending is what one unit of work has to record.
type pending struct {
	steps   []orderStep
	wallets []walletStep
	// lines are orders' lines as the unit wrote them (Lines), so that
	// flush need not read them back.
	lines map[int64][]*ent.OrderItem
}

type pendingKey struct{}

type orderStep struct {
	order ent.Order // as the step left it
	at    time.Time
}

type walletStep struct {
	WalletChange
	orderID int64
	kind    string
	at      time.Time
}

func (r *Recorder) pending(ctx context.Context, tx *txn.Tx) *pending {
	if p, ok := tx.Value(pendingKey{}).(*pending); ok {
		return p
	}
	p := &pending{}
	tx.SetValue(pendingKey{}, p)
	tx.BeforeCommit(func() error { return r.flush(ctx, tx, p) })
	return p
}

// Order records that order o has just reached its status, as the order's
// event number o.EventSeq.
func (r *Recorder) Order(ctx context.Context, tx *txn.Tx, o *ent.Order, at time.Time) error {
	if r == nil {
		return nil
	}
	p := r.pending(ctx, tx)
	snap := *o
	snap.Edges = ent.OrderEdges{}
	p.steps = append(p.steps, orderStep{order: snap, at: at})
	return nil
}

// Refresh replaces the data of o's latest step in this unit of work with
// o, for a flow that sets more of the order's fields after the status
// change (the channel a deal is paid through, when its escrow releases).
func (r *Recorder) Refresh(tx *txn.Tx, o *ent.Order) {
	if r == nil {
		return
	}
	p, _ := tx.Value(pendingKey{}).(*pending)
	if p == nil {
		return
	}
	for i := len(p.steps) - 1; i >= 0; i-- {
		if s := &p.steps[i]; s.order.ID == o.ID && s.order.Status == o.Status {
			seq := s.order.EventSeq
			s.order = *o
			s.order.EventSeq, s.order.Edges = seq, ent.OrderEdges{}
			return
		}
	}
}

// Lines tells the recorder the lines of order orderID as the unit leaves
// them (a flow that has just created them), so that its events are
// written without reading them back. A flow that changes them later in
// the same unit must not call it.
func (r *Recorder) Lines(ctx context.Context, tx *txn.Tx, orderID int64, items []*ent.OrderItem) {
	if r == nil {
		return
	}
	p := r.pending(ctx, tx)
	if p.lines == nil {
		p.lines = map[int64][]*ent.OrderItem{}
	}
	sorted := slices.Clone(items)
	slices.SortStableFunc(sorted, func(a, b *ent.OrderItem) int {
		if c := strings.Compare(string(a.Kind), string(b.Kind)); c != 0 {
			return c
		}
		return a.Position - b.Position
	})
	p.lines[orderID] = sorted
}

// WalletChange is a wallet's state after a journal moved it.
type WalletChange struct {
	WalletID, UserID                int64
	Asset                           string
	Available, Escrow, Withdrawable int64
	// Seq is the wallet's event number.
	Seq int
}

// Wallets records a wallet.changed event per wallet a journal moved. A
// journal of an order belongs to the order's app; one without (an admin
// credit) to no app, and only an ADMIN sees it.
func (r *Recorder) Wallets(ctx context.Context, tx *txn.Tx, orderID int64, kind string, at time.Time, changes []WalletChange) error {
	if r == nil || len(changes) == 0 {
		return nil
	}
	p := r.pending(ctx, tx)
	for _, c := range changes {
		p.wallets = append(p.wallets, walletStep{WalletChange: c, orderID: orderID, kind: kind, at: at})
	}
	return nil
}

// flush writes the events of a unit of work.
func (r *Recorder) flush(ctx context.Context, tx *txn.Tx, p *pending) error {
	orders := map[int64]*ent.Order{}
	var ids, unread []int64
	for i := range p.steps {
		o := &p.steps[i].order
		if orders[o.ID] == nil {
			ids = append(ids, o.ID)
			if _, ok := p.lines[o.ID]; !ok {
				unread = append(unread, o.ID)
			}
		}
		orders[o.ID] = o
	}
	items := map[int64][]*ent.OrderItem{}
	for id, its := range p.lines {
		items[id] = its
	}
	if len(unread) > 0 {
		its, err := tx.OrderItem.Query().Where(orderitem.OrderIDIn(unread...)).
			Order(orderitem.ByKind(), orderitem.ByPosition()).All(ctx)
		if err != nil {
			return fmt.Errorf("reading order lines for their events: %w", err)
		}
		for _, it := range its {
			items[it.OrderID] = append(items[it.OrderID], it)
		}
	}
	// App store orders show their goods lines too (Order.goods); they
	// never change, but the unit may have just written them.
	var stores []int64
	for _, id := range ids {
		if t := orders[id].Type; t == order.TypeRECHARGE || t == order.TypeCONSUME {
			stores = append(stores, id)
		}
	}
	goods := map[int64][]*ent.OrderLine{}
	if len(stores) > 0 {
		ls, err := tx.OrderLine.Query().Where(orderline.OrderIDIn(stores...)).
			Order(orderline.ByOrderID(), orderline.ByPosition()).All(ctx)
		if err != nil {
			return fmt.Errorf("reading goods lines for their events: %w", err)
		}
		for _, l := range ls {
			goods[l.OrderID] = append(goods[l.OrderID], l)
		}
	}
	// A journal of an order the unit did not move (rare): read its app.
	for _, w := range p.wallets {
		if w.orderID != 0 && orders[w.orderID] == nil {
			o, err := tx.Order.Query().Where(order.ID(w.orderID)).Select(order.FieldAppID).Only(ctx)
			if err != nil {
				return fmt.Errorf("reading the app of order %d for its wallet events: %w", w.orderID, err)
			}
			orders[o.ID] = o
		}
	}
	builders := make([]*ent.EventCreate, 0, len(p.steps)+len(p.wallets))
	for _, s := range p.steps {
		o := &s.order
		data, err := json.Marshal(r.orderView(o, items[o.ID], goods[o.ID]))
		if err != nil {
			return fmt.Errorf("encoding event of order %d: %w", o.ID, err)
		}
		b := tx.Event.Create().SetType(OrderType(o.Status)).SetCreatedAt(s.at).
			SetAppID(o.AppID).SetOrderID(o.ID).SetSeq(o.EventSeq).SetData(string(data))
		r.position(b)
		builders = append(builders, b)
	}
	for _, w := range p.wallets {
		v := walletView{
			Wallet: walletData{
				ID: id(w.WalletID), UserID: id(w.UserID), Asset: w.Asset,
				Available:    r.Assets.Format(w.Asset, w.Available).String(),
				Escrow:       r.Assets.Format(w.Asset, w.Escrow).String(),
				Withdrawable: r.Assets.Format(w.Asset, w.Withdrawable).String(),
			},
			OrderID: optID(w.orderID),
			Kind:    w.kind,
		}
		data, err := json.Marshal(v)
		if err != nil {
			return fmt.Errorf("encoding event of wallet %d: %w", w.WalletID, err)
		}
		b := tx.Event.Create().SetType(TypeWalletChanged).SetCreatedAt(w.at).SetWalletID(w.WalletID).
			SetSeq(w.Seq).SetData(string(data))
		if o := orders[w.orderID]; o != nil {
			b.SetAppID(o.AppID).SetOrderID(o.ID)
		}
		r.position(b)
		builders = append(builders, b)
	}
	if err := tx.Event.CreateBulk(builders...).Exec(ctx); err != nil {
		return fmt.Errorf("recording events: %w", err)
	}
	return nil
}

// position gives an event its id now and, ids being in commit order, the
// same number as its position.
func (r *Recorder) position(b *ent.EventCreate) {
	if r.Ordered {
		n := idgen.Next()
		b.SetID(n).SetPosition(n)
	}
}

// id is an id as the API writes it: a string.
func id(n int64) string { return strconv.FormatInt(n, 10) }

func optID(n int64) *string {
	if n == 0 {
		return nil
	}
	s := id(n)
	return &s
}

func optString(s string) *string {
	if s == "" {
		return nil
	}
	return &s
}

// orderView is an order as the GraphQL API shows it (the Order type's
// fields, with its payInfo and productInfo lines), for an event's data.
// Edges (app, payer, payee, events) are given by their ids.
type orderView struct {
	ID             string  `json:"id"`
	OrderNo        string  `json:"orderNo"`
	ClientOrderID  *string `json:"clientOrderId"`
	Type           string  `json:"type"`
	Status         string  `json:"status"`
	StatusDesc     string  `json:"statusDesc"`
	StatusText     string  `json:"statusText"`
	LegacyStatus   *int    `json:"legacyStatus"`
	AppID          string  `json:"appID"`
	PayerID        *string `json:"payerID"`
	PayeeID        *string `json:"payeeID"`
	Title          *string `json:"title"`
	Subject        *string `json:"subject"`
	Desc           *string `json:"desc"`
	ExtendInfo     *string `json:"extendInfo"`
	Amount         string  `json:"amount"`
	RefundedAmount string  `json:"refundedAmount"`
	// RefundRequestedAmount is a partial refund that waits for a decision.
	RefundRequestedAmount *string    `json:"refundRequestedAmount"`
	Asset                 string     `json:"asset"`
	PayWay                *string    `json:"payWay"`
	Channel               *string    `json:"channel"`
	ProviderTradeNo       *string    `json:"providerTradeNo"`
	Points                *int64     `json:"points"`
	Item                  *string    `json:"item"`
	ItemID                *string    `json:"itemId"`
	ChatID                *string    `json:"chatId"`
	SkillID               *string    `json:"skillId"`
	RefundReason          *string    `json:"refundReason"`
	Comment               *string    `json:"comment"`
	Score                 *int       `json:"score"`
	ExpiresAt             *time.Time `json:"expiresAt"`
	PaidAt                *time.Time `json:"paidAt"`
	CompletedAt           *time.Time `json:"completedAt"`
	AutoConfirmAt         *time.Time `json:"autoConfirmAt"`
	CreatedAt             time.Time  `json:"createdAt"`
	UpdatedAt             time.Time  `json:"updatedAt"`
	PayInfo               []itemView `json:"payInfo"`
	ProductInfo           []itemView `json:"productInfo"`
	// Goods are an app store order's goods lines (Order.goods); empty
	// for the other orders.
	Goods []goodsView `json:"goods"`
}

// goodsView is an OrderGoods as the API shows it.
type goodsView struct {
	GoodsID     string  `json:"goodsId"`
	Item        string  `json:"item"`
	Title       *string `json:"title"`
	Num         int     `json:"num"`
	SinglePrice string  `json:"singlePrice"`
	Amount      string  `json:"amount"`
	Asset       string  `json:"asset"`
}

type itemView struct {
	ItemID         string `json:"itemId"`
	PayType        string `json:"payType"`
	TokenID        string `json:"tokenId"`
	Amount         string `json:"amount"`
	PaidAmount     string `json:"paidAmount"`
	RefundedAmount string `json:"refundedAmount"`
	UnlockedAmount string `json:"unlockedAmount"`
}

type walletView struct {
	Wallet  walletData `json:"wallet"`
	OrderID *string    `json:"orderId"`
	// Kind names the movement (PAYMENT, REFUND, ESCROW_HOLD, …), not its
	// amount: postings are their owner's, and a SERVICE sees the balances.
	Kind string `json:"kind"`
}

type walletData struct {
	ID           string `json:"id"`
	UserID       string `json:"userId"`
	Asset        string `json:"asset"`
	Available    string `json:"available"`
	Escrow       string `json:"escrow"`
	Withdrawable string `json:"withdrawable"`
}

func (r *Recorder) orderView(o *ent.Order, items []*ent.OrderItem, goods []*ent.OrderLine) orderView {
	v := orderView{
		ID: id(o.ID), OrderNo: o.OrderNo, ClientOrderID: optString(o.ClientOrderID), Type: string(o.Type),
		Status: string(o.Status), AppID: id(o.AppID), PayerID: optID(o.PayerID), PayeeID: optID(o.PayeeID),
		Title: optString(o.Title), Subject: optString(o.Title), Desc: optString(o.Desc),
		ExtendInfo: optString(o.ExtendInfo), Amount: r.Assets.Format(o.Asset, o.Amount).String(), Asset: o.Asset,
		RefundedAmount: r.Assets.Format(o.Asset, o.RefundedAmount).String(),
		PayWay:         optString(o.PayWay), Channel: optString(o.Channel), ProviderTradeNo: optString(o.ProviderTradeNo),
		Points: o.Points, Item: optString(o.Item), ItemID: optString(o.ItemID), ChatID: optString(o.ChatID),
		SkillID: optString(o.SkillID), RefundReason: optString(o.RefundReason), Comment: optString(o.Comment),
		Score: o.Score, ExpiresAt: o.ExpiresAt, PaidAt: o.PaidAt, CompletedAt: o.CompletedAt,
		AutoConfirmAt: o.AutoConfirmAt, CreatedAt: o.CreatedAt, UpdatedAt: o.UpdatedAt,
		PayInfo: []itemView{}, ProductInfo: []itemView{}, Goods: []goodsView{},
	}
	if o.RefundRequestedAmount != nil {
		a := r.Assets.Format(o.Asset, *o.RefundRequestedAmount).String()
		v.RefundRequestedAmount = &a
	}
	for _, l := range goods {
		v.Goods = append(v.Goods, goodsView{
			GoodsID: l.GoodsID, Item: l.Item, Title: optString(l.Title), Num: l.Num,
			SinglePrice: r.Assets.Format(l.Asset, l.SinglePrice).String(),
			Amount:      r.Assets.Format(l.Asset, l.Amount).String(), Asset: l.Asset,
		})
	}
	if r.Describe != nil {
		v.StatusDesc, v.StatusText, v.LegacyStatus = r.Describe(o)
	}
	for _, it := range items {
		iv := itemView{
			ItemID: id(it.ID), PayType: it.PayType, TokenID: it.TokenID,
			Amount:         r.Assets.Format(it.TokenID, it.Amount).String(),
			PaidAmount:     r.Assets.Format(it.TokenID, it.PaidAmount).String(),
			RefundedAmount: r.Assets.Format(it.TokenID, it.RefundedAmount).String(),
			UnlockedAmount: r.Assets.Format(it.TokenID, it.UnlockedAmount).String(),
		}
		if it.Kind == orderitem.KindPAY {
			v.PayInfo = append(v.PayInfo, iv)
		} else {
			v.ProductInfo = append(v.ProductInfo, iv)
		}
	}
	return v
}
