package server_test

import (
	"strings"
	"testing"
	"time"

	"github.com/paygraph/paygraph/internal/server"
	"github.com/paygraph/paygraph/internal/testutil"
	"github.com/paygraph/paygraph/internal/twofactor"
)

// logout and a password change revoke every older token; the new
// password (and only it) signs in.
func TestSessionsCanBeEnded(t *testing.T) {
	m := newMoney(t, server.Options{})
	// Each logout is a write: one per request, aliases refused before any runs.
	if r := m.payer.Do(t, `mutation{a:logout b:logout}`, nil); r.Code() != "BAD_USER_INPUT" || r.Errors[0].Extensions["reason"] != "TOO_MANY_EXPENSIVE_FIELDS" {
		t.Fatalf("aliased logouts: %+v", r.Errors)
	}
	if r := m.payer.Do(t, `{me{id}}`, nil); len(r.Errors) > 0 {
		t.Fatalf("a refused logout ended the session: %+v", r.Errors)
	}
	if r := m.payer.Do(t, `mutation{logout}`, nil); len(r.Errors) > 0 {
		t.Fatalf("logout: %+v", r.Errors)
	}
	if r := m.payer.Do(t, `{me{id}}`, nil); r.Code() != "UNAUTHENTICATED" || !strings.Contains(r.Errors[0].Message, "revoked") {
		t.Fatalf("a token after logout: %+v", r.Errors)
	}
	payer := m.c.As(m.c.Login(t, "payer", "password-payer"))
	if r := payer.Do(t, `{me{id}}`, nil); len(r.Errors) > 0 {
		t.Fatalf("a new session: %+v", r.Errors)
	}
	if r := m.svc.Do(t, `mutation{logout}`, nil); r.Code() != "FORBIDDEN" {
		t.Errorf("a SERVICE logs out: %+v", r.Errors)
	}

	change := `mutation($o:String!,$n:String!){changePassword(oldPassword:$o,newPassword:$n){token}}`
	if r := payer.Do(t, change, map[string]any{"o": "wrong-password", "n": "new-password-1"}); r.Code() != "WRONG_PASSWORD" {
		t.Errorf("wrong current password: %+v", r.Errors)
	}
	if r := payer.Do(t, change, map[string]any{"o": "password-payer", "n": "short"}); r.Code() != "BAD_USER_INPUT" {
		t.Errorf("short new password: %+v", r.Errors)
	}
	var out struct{ ChangePassword struct{ Token string } }
	payer.Do(t, change, map[string]any{"o": "password-payer", "n": "new-password-1"}).Decode(t, &out)
	if r := payer.Do(t, `{me{id}}`, nil); r.Code() != "UNAUTHENTICATED" {
		t.Errorf("the old token after a password change: %+v", r.Errors)
	}
	if r := m.c.As(out.ChangePassword.Token).Do(t, `{me{id}}`, nil); len(r.Errors) > 0 {
		t.Errorf("the new token: %+v", r.Errors)
	}
	if r := m.c.Do(t, `mutation{login(username:"payer",password:"password-payer"){token}}`, nil); r.Code() != "UNAUTHENTICATED" {
		t.Errorf("the old password signs in: %+v", r.Errors)
	}
	m.c.Login(t, "payer", "new-password-1")
	m.srv.AssertLedger(t)
}

func TestContactsChangeWithThePassword(t *testing.T) {
	m := newMoney(t, server.Options{})
	change := `mutation($in:ChangeContactInput!){changeContact(input:$in){email mobile}}`
	if r := m.payer.Do(t, change, map[string]any{"in": map[string]any{"password": "nope-nope", "email": "a@b.cn"}}); r.Code() != "WRONG_PASSWORD" {
		t.Errorf("without the password: %+v", r.Errors)
	}
	if r := m.payer.Do(t, change, map[string]any{"in": map[string]any{"password": "password-payer", "email": "not an address"}}); r.Code() != "BAD_USER_INPUT" || r.Errors[0].Extensions["field"] != "email" {
		t.Errorf("a bad address: %+v", r.Errors)
	}
	var out struct {
		ChangeContact struct{ Email, Mobile *string }
	}
	m.payer.Do(t, change, map[string]any{"in": map[string]any{"password": "password-payer", "email": "payer@163.com", "mobile": "13800000000"}}).Decode(t, &out)
	if out.ChangeContact.Email == nil || *out.ChangeContact.Email != "payer@163.com" || out.ChangeContact.Mobile == nil {
		t.Fatalf("changed: %+v", out)
	}
	m.payer.Do(t, change, map[string]any{"in": map[string]any{"password": "password-payer", "mobile": ""}}).Decode(t, &out)
	if out.ChangeContact.Mobile != nil || out.ChangeContact.Email == nil {
		t.Fatalf("removing the mobile: %+v", out)
	}
}

// ADMIN lists apps and users; a SERVICE keeps its own app's catalogue and
// pay ways, and no other.
func TestEverydayListsAndTheAppsOwnSettings(t *testing.T) {
	m := newMoney(t, server.Options{})
	var lists struct {
		Apps, Users struct{ TotalCount int }
	}
	m.admin.Do(t, `{apps{totalCount} users(where:{usernameHasPrefix:"pay"}){totalCount}}`, nil).Decode(t, &lists)
	if lists.Apps.TotalCount < 2 || lists.Users.TotalCount != 2 {
		t.Errorf("admin lists %+v", lists)
	}
	for _, c := range []*testutil.Client{m.payer, m.svc} {
		if r := c.Do(t, `{apps{totalCount}}`, nil); r.Code() != "FORBIDDEN" {
			t.Errorf("apps: %+v", r.Errors)
		}
		if r := c.Do(t, `{users{totalCount}}`, nil); r.Code() != "FORBIDDEN" {
			t.Errorf("users: %+v", r.Errors)
		}
	}
	upsert := `mutation($in:UpsertGoodsInput!){upsertGoods(input:$in){id appId active}}`
	var g struct{ UpsertGoods struct{ AppID string } }
	m.svc.Do(t, upsert, map[string]any{"in": map[string]any{"id": "gem", "item": "gem", "singlePrice": "1.00"}}).Decode(t, &g)
	m.svc.Do(t, upsert, map[string]any{"in": map[string]any{"id": "old", "item": "old", "singlePrice": "1.00", "active": false}}).Decode(t, &g)
	if g.UpsertGoods.AppID == "1" {
		t.Fatalf("a SERVICE wrote app 1's catalogue")
	}
	if r := m.svc.Do(t, upsert, map[string]any{"in": map[string]any{"id": "x", "appId": "1", "item": "x", "singlePrice": "1.00"}}); r.Code() != "FORBIDDEN" {
		t.Errorf("another app's catalogue: %+v", r.Errors)
	}
	if r := m.payer.Do(t, upsert, map[string]any{"in": map[string]any{"id": "x", "item": "x", "singlePrice": "1.00"}}); r.Code() != "FORBIDDEN" {
		t.Errorf("a user writes the catalogue: %+v", r.Errors)
	}
	var cat struct{ Catalogue []struct{ ID string } }
	m.svc.Do(t, `{catalogue{id}}`, nil).Decode(t, &cat)
	if len(cat.Catalogue) != 2 {
		t.Errorf("the app's catalogue: %+v", cat)
	}
	m.payer.Do(t, `query($a:ID!){catalogue(appId:$a){id}}`, map[string]any{"a": g.UpsertGoods.AppID}).Decode(t, &cat)
	if len(cat.Catalogue) != 1 || cat.Catalogue[0].ID != "gem" {
		t.Errorf("a user sees %+v", cat)
	}
	ways := `mutation($a:ID!){setPayWays(appId:$a,payWays:[{name:"alipay",title:"支付宝"}]){name}}`
	if r := m.svc.Do(t, ways, map[string]any{"a": g.UpsertGoods.AppID}); len(r.Errors) > 0 {
		t.Errorf("own pay ways: %+v", r.Errors)
	}
	if r := m.svc.Do(t, ways, map[string]any{"a": "1"}); r.Code() != "FORBIDDEN" {
		t.Errorf("another app's pay ways: %+v", r.Errors)
	}
}

// A user who lost a second factor or a pay password gets it removed by
// an ADMIN; a bound authenticator is removed by its own code.
func TestSecondFactorsCanBeRemoved(t *testing.T) {
	f := newTokenPay(t, testutil.Base(t))
	secret := f.bindGA(t, f.payer)
	f.clk.Advance(30 * time.Second)
	var u struct{ DisableTotp struct{ BindGA bool } }
	if r := f.payer.Do(t, `mutation{disableTotp(code:"000000"){bindGA}}`, nil); r.Code() != "VERIFY_CODE_INVALID" {
		t.Fatalf("a wrong code: %+v", r.Errors)
	}
	f.payer.Do(t, `mutation($c:String!){disableTotp(code:$c){bindGA}}`, map[string]any{"c": twofactor.GA.At(secret, f.clk.Now())}).Decode(t, &u)
	if u.DisableTotp.BindGA {
		t.Fatal("still bound")
	}
	f.clk.Advance(30 * time.Second) // the step spent by disableTotp cannot bind either
	f.bindGA(t, f.payer)
	reset := `mutation($u:ID!){resetSecondFactor(userId:$u){bindGA authType}}`
	if r := f.payer.Do(t, reset, map[string]any{"u": f.payerID}); r.Code() != "FORBIDDEN" {
		t.Errorf("a user resets itself: %+v", r.Errors)
	}
	var rs struct {
		ResetSecondFactor struct {
			BindGA   bool
			AuthType string
		}
	}
	f.admin.Do(t, reset, map[string]any{"u": f.payerID}).Decode(t, &rs)
	if rs.ResetSecondFactor.BindGA || rs.ResetSecondFactor.AuthType != "NONE" {
		t.Errorf("after reset: %+v", rs)
	}
	f.payer.Do(t, `mutation{setPayPassword(newPassword:"123456"){id}}`, nil).Decode(t, &struct{}{})
	var pp struct{ ResetPayPassword struct{ HasPayPassword bool } }
	f.admin.Do(t, `mutation($u:ID!){resetPayPassword(userId:$u){hasPayPassword}}`, map[string]any{"u": f.payerID}).Decode(t, &pp)
	if pp.ResetPayPassword.HasPayPassword {
		t.Error("the pay password is still set")
	}
	f.payer.Do(t, `mutation{setPayPassword(newPassword:"654321"){id}}`, nil).Decode(t, &struct{}{}) // no old one needed now
	f.srv.AssertLedger(t)
}
