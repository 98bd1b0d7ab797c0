// Package catalog is the goods catalogue shared by the app store and
// game goods: the caller's goods ids, priced per app.
package catalog

import (
	"context"
	"fmt"
	"unicode/utf8"

	"github.com/paygraph/paygraph/ent"
	"github.com/paygraph/paygraph/ent/app"
	"github.com/paygraph/paygraph/ent/goods"
	"github.com/paygraph/paygraph/internal/access"
	"github.com/paygraph/paygraph/internal/apperr"
	"github.com/paygraph/paygraph/internal/auth"
	"github.com/paygraph/paygraph/internal/money"
	"github.com/paygraph/paygraph/internal/role"
)

// UpsertInput is an admin's goods entry.
type UpsertInput struct {
	ID          string
	AppID       *int64
	Item        string
	Title       *string
	SinglePrice money.Decimal
	Asset       *string
	Active      *bool
}

// Catalog reads and writes goods.
type Catalog struct {
	Client *ent.Client
	Assets *money.Registry
}

// ErrGoodsNotFound is returned for goods an app does not sell.
var ErrGoodsNotFound = apperr.New(apperr.NotFound, "goods not found")

// Upsert creates or updates a goods entry.
//
// Errors: BAD_USER_INPUT (empty or long id/item, bad price, unknown asset or app).
func (c *Catalog) Upsert(ctx context.Context, in UpsertInput) (*ent.Goods, error) {
	if _, err := auth.Require(ctx, role.Service, role.Admin); err != nil {
		return nil, err
	}
	appID, err := access.AppOf(ctx, in.AppID)
	if err != nil {
		return nil, err
	}
	if n := utf8.RuneCountInString(in.ID); n == 0 || n > 64 {
		return nil, apperr.Input("id", "id must be 1 to 64 characters")
	}
	if n := utf8.RuneCountInString(in.Item); n == 0 || n > 128 {
		return nil, apperr.Input("item", "item must be 1 to 128 characters")
	}
	if in.Title != nil && utf8.RuneCountInString(*in.Title) > 256 {
		return nil, apperr.Input("title", "title is longer than 256 characters")
	}
	asset := "CNY"
	if in.Asset != nil {
		asset = *in.Asset
	}
	a, price, err := c.Assets.Positive("asset", "singlePrice", asset, in.SinglePrice)
	if err != nil {
		return nil, err
	}
	if ok, err := c.Client.App.Query().Where(app.ID(appID)).Exist(ctx); err != nil {
		return nil, err
	} else if !ok {
		return nil, apperr.Input("appId", "app %d not found", appID)
	}
	active := true
	if in.Active != nil {
		active = *in.Active
	}
	create := c.Client.Goods.Create().SetAppID(appID).SetGoodsID(in.ID).SetItem(in.Item).
		SetSinglePrice(price).SetAsset(a.Code).SetActive(active).SetNillableTitle(in.Title)
	err = create.OnConflictColumns(goods.FieldAppID, goods.FieldGoodsID).
		Update(func(u *ent.GoodsUpsert) {
			u.UpdateItem().UpdateSinglePrice().UpdateAsset().UpdateActive().UpdateTitle().UpdateUpdatedAt()
		}).Exec(ctx)
	if err != nil {
		return nil, fmt.Errorf("saving goods %q: %w", in.ID, err)
	}
	return c.Client.Goods.Query().Where(goods.AppID(appID), goods.GoodsID(in.ID)).Only(ctx)
}

// List returns an app's catalogue, by id: a SERVICE reads its own app's,
// anyone else the app named (default 1). Inactive entries are listed to
// the app's SERVICE and ADMINs only.
//
// Errors: FORBIDDEN (a SERVICE naming another app).
func (c *Catalog) List(ctx context.Context, appID *int64) ([]*ent.Goods, error) {
	id, err := access.AppOf(ctx, appID)
	if err != nil {
		return nil, err
	}
	q := c.Client.Goods.Query().Where(goods.AppID(id)).Order(ent.Asc(goods.FieldGoodsID)).Limit(maxListed)
	if p, err := auth.FromContext(ctx); err != nil || p.Role == role.User {
		q = q.Where(goods.Active(true))
	}
	return q.All(ctx)
}

// maxListed bounds a catalogue listing.
const maxListed = 1000

// Get returns an app's goods entry: a SERVICE reads its own app's, anyone
// else the app named (default 1).
//
// Errors: ErrGoodsNotFound, FORBIDDEN (a SERVICE naming another app).
func (c *Catalog) Get(ctx context.Context, id string, appID *int64) (*ent.Goods, error) {
	app, err := access.AppOf(ctx, appID)
	if err != nil {
		return nil, err
	}
	g, err := c.Client.Goods.Query().Where(goods.AppID(app), goods.GoodsID(id)).Only(ctx)
	if ent.IsNotFound(err) {
		return nil, ErrGoodsNotFound
	}
	return g, err
}
