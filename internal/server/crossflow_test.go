package server_test

import (
	"strings"
	"testing"

	"github.com/paygraph/paygraph/internal/server"
)

// TestBindTradePwdIsThePayPassword: the token checkout's bindTradePwd reports the
// escrow marketplace's pay password.
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

// TestBalanceReadsNameTheirUser: wallets and cash read the caller's own
// balances; ADMIN names any user, a SERVICE only a payer or payee of its
// app's orders, a USER may not name another.
func TestBalanceReadsNameTheirUser(t *testing.T) {
	m := newMoney(t, server.Options{})
	m.credit(t, m.payerID, "CNY", "3.00")
	for _, q := range []string{`query($id:ID){wallets(userId:$id){available}}`, `query($id:ID){cash(userId:$id){cash}}`} {
		if r := m.svc.Do(t, q, map[string]any{"id": m.payerID}); r.Code() != "FORBIDDEN" || strings.Contains(string(r.Data), "3.00") {
			t.Errorf("%s by a SERVICE the user never paid: %s %+v", q, r.Data, r.Errors)
		}
	}
	m.order(t, "CNY", "1.00") // the payer now pays the SERVICE's app
	for _, q := range []string{`query($id:ID){wallets(userId:$id){available}}`, `query($id:ID){cash(userId:$id){cash}}`} {
		if r := m.svc.Do(t, q, nil); r.Code() != "BAD_USER_INPUT" {
			t.Errorf("%s by a SERVICE naming no user: %+v", q, r.Errors)
		}
		if r := m.payee.Do(t, q, map[string]any{"id": m.payerID}); r.Code() != "FORBIDDEN" {
			t.Errorf("%s of another user: %+v", q, r.Errors)
		}
		if r := m.svc.Do(t, q, map[string]any{"id": m.payerID}); len(r.Errors) > 0 || !strings.Contains(string(r.Data), "3.00") {
			t.Errorf("%s by a SERVICE for the payer: %s %+v", q, r.Data, r.Errors)
		}
	}
}
