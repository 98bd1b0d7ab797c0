package server_test

import (
	"testing"

	"github.com/paygraph/paygraph/internal/server"
)

// TestBindTradePwdIsThePayPassword: seed 000's bindTradePwd reports seed
// 003's pay password.
func TestBindTradePwdIsThePayPassword(t *testing.T) {
	m := newMoney(t, server.Options{})
	id := m.order(t, "CNY", "1.00")
	bound := func() bool {
		var out struct {
			PaymentData struct{ User struct{ BindTradePwd bool } }
		}
		m.payer.Do(t, `query($id:ID!){paymentData(orderId:$id){user{bindTradePwd}}}`, map[string]any{"id": id}).Decode(t, &out)
		return out.PaymentData.User.BindTradePwd
	}
	if bound() {
		t.Fatal("bindTradePwd before any pay password")
	}
	if r := m.payer.Do(t, `mutation{setPayPassword(newPassword:"246810"){id}}`, nil); len(r.Errors) > 0 {
		t.Fatalf("setPayPassword: %+v", r.Errors)
	}
	if !bound() {
		t.Fatal("bindTradePwd false after setPayPassword")
	}
}

// TestCreatedOrdersLoadTheirEdges: an order returned by a create mutation
// is usable after its transaction, so its payer and app load.
func TestCreatedOrdersLoadTheirEdges(t *testing.T) {
	m := newMoney(t, server.Options{})
	var out struct {
		CreatePointsOrder struct {
			Payer struct{ ID string }
			App   struct{ ID string }
		}
	}
	m.payer.Do(t, `mutation{createPointsOrder(input:{amount:"1.00",points:100,paymentType:"alipay"}){payer{id} app{id}}}`, nil).Decode(t, &out)
	if out.CreatePointsOrder.Payer.ID != m.payerID || out.CreatePointsOrder.App.ID != "1" {
		t.Fatalf("edges: %+v", out.CreatePointsOrder)
	}
}
