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
