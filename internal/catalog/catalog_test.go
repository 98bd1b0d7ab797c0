package catalog_test

import (
	"testing"

	"github.com/paygraph/paygraph/internal/testutil"
)

func TestUpsertAndReadGoods(t *testing.T) {
	srv := testutil.Start(t, testutil.Base(t))
	c := srv.Client()
	admin := c.As(c.AdminToken(t))
	upsert := `mutation($in:UpsertGoodsInput!){upsertGoods(input:$in){id appId item singlePrice asset active}}`
	var out struct {
		UpsertGoods struct {
			ID, AppID, Item, SinglePrice, Asset string
			Active                              bool
		}
	}
	admin.Do(t, upsert, map[string]any{"in": map[string]any{"id": "1", "item": "商品属性", "singlePrice": "99.99"}}).Decode(t, &out)
	if g := out.UpsertGoods; g.ID != "1" || g.AppID != "1" || g.SinglePrice != "99.99" || g.Asset != "CNY" || !g.Active {
		t.Fatalf("created %+v", g)
	}
	admin.Do(t, upsert, map[string]any{"in": map[string]any{"id": "1", "item": "新属性", "singlePrice": "120.88"}}).Decode(t, &out)
	var read struct {
		Goods struct{ ID, Item, SinglePrice string }
	}
	c.Do(t, `{goods(id:"1"){id item singlePrice}}`, nil).Decode(t, &read)
	if read.Goods.Item != "新属性" || read.Goods.SinglePrice != "120.88" {
		t.Fatalf("read %+v", read.Goods)
	}
	if n, _ := srv.DB.Ent.Goods.Query().Count(t.Context()); n != 1 {
		t.Fatalf("%d goods rows after an update", n)
	}
	for name, in := range map[string]map[string]any{
		"three decimals": {"id": "2", "item": "x", "singlePrice": "1.001"},
		"zero price":     {"id": "2", "item": "x", "singlePrice": "0"},
		"empty id":       {"id": "", "item": "x", "singlePrice": "1"},
		"unknown app":    {"id": "2", "item": "x", "singlePrice": "1", "appId": "99"},
		"unknown asset":  {"id": "2", "item": "x", "singlePrice": "1", "asset": "XYZ"},
	} {
		if r := admin.Do(t, upsert, map[string]any{"in": in}); r.Code() != "BAD_USER_INPUT" {
			t.Errorf("%s: %+v", name, r.Errors)
		}
	}
	if r := c.Do(t, `{goods(id:"2"){id}}`, nil); r.Code() != "NOT_FOUND" {
		t.Fatalf("unknown goods: %+v", r.Errors)
	}
	_, userTok := c.NewUser(t, "gamer")
	if r := c.As(userTok).Do(t, upsert, map[string]any{"in": map[string]any{"id": "3", "item": "x", "singlePrice": "1"}}); r.Code() != "FORBIDDEN" {
		t.Fatalf("user upsert: %+v", r.Errors)
	}
}
