package server_test

import (
	"encoding/json"
	"reflect"
	"testing"

	"github.com/paygraph/paygraph/internal/server"
)

// An app store order's events carry the order as the API shows it, with
// its goods lines: a merchant's receiver needs no query to know what was
// bought.
func TestEventDataOfAStoreOrderHasItsGoods(t *testing.T) {
	w := newEpayWorld(t, "MD5", nil, server.Options{})
	w.goods(t, "vip", "30.00")
	w.goods(t, "coin", "0.50")
	lines := []map[string]any{{"goodsId": "vip", "num": 1}, {"goodsId": "coin", "num": 4}}
	res := w.initOrder(t, w.buyer, map[string]any{"title": "会员购买", "type": "CONSUME", "priceTotal": "32.00", "money": "32.00",
		"imei": "860000000000001", "payWayName": "alipay", "goods": lines})

	type goods struct {
		GoodsID, Item, SinglePrice, Amount, Asset string
		Title                                     *string
		Num                                       int
	}
	var api struct {
		Order struct{ Goods []goods }
	}
	w.admin.Do(t, `query($id:ID!){order(id:$id){goods{goodsId item title num singlePrice amount asset}}}`,
		map[string]any{"id": res.Order.ID}).Decode(t, &api)
	if len(api.Order.Goods) != 2 || api.Order.Goods[1].Num != 4 {
		t.Fatalf("the order's goods %+v", api.Order.Goods)
	}
	var evs struct {
		Events struct {
			Edges []struct{ Node struct{ Type, Data string } }
		}
	}
	w.admin.Do(t, `query($o:ID!){events(where:{orderId:$o}){edges{node{type data}}}}`, map[string]any{"o": res.Order.ID}).Decode(t, &evs)
	if len(evs.Events.Edges) == 0 {
		t.Fatal("no events")
	}
	for _, e := range evs.Events.Edges {
		var data struct{ Goods []goods }
		if err := json.Unmarshal([]byte(e.Node.Data), &data); err != nil {
			t.Fatal(err)
		}
		if !reflect.DeepEqual(data.Goods, api.Order.Goods) {
			t.Fatalf("%s data goods %+v; the order shows %+v", e.Node.Type, data.Goods, api.Order.Goods)
		}
	}
	// The recharge that pays for it has no goods lines: an empty list.
	var charge struct {
		Events struct {
			Edges []struct{ Node struct{ Data string } }
		}
	}
	w.admin.Do(t, `query($o:ID!){events(where:{orderId:$o}){edges{node{data}}}}`, map[string]any{"o": res.ChargeOrder.ID}).Decode(t, &charge)
	for _, e := range charge.Events.Edges {
		var data struct{ Goods []goods }
		if err := json.Unmarshal([]byte(e.Node.Data), &data); err != nil || data.Goods == nil || len(data.Goods) != 0 {
			t.Fatalf("recharge data %s", e.Node.Data)
		}
	}
	w.srv.AssertLedger(t)
}
