package server_test

import (
	"encoding/base32"
	"strings"
	"testing"
	"time"

	"github.com/paygraph/paygraph/internal/clock"
	"github.com/paygraph/paygraph/internal/server"
	"github.com/paygraph/paygraph/internal/testutil"
	"github.com/paygraph/paygraph/internal/twofactor"
)

// tokenPay is the token checkout's fixture: a fake clock, an app, a payer with a
// mobile number and an email address, and a payee.
type tokenPay struct {
	srv              *testutil.Server
	clk              *clock.Fake
	c, admin, svc    *testutil.Client
	payer, payee     *testutil.Client
	payerID, payeeID string
}

var start = time.Date(2025, 3, 1, 8, 0, 0, 0, time.UTC)

func newTokenPay(t *testing.T, env testutil.Env) *tokenPay {
	t.Helper()
	clk := clock.NewFake(start)
	srv := testutil.StartWith(t, env, server.Options{Clock: clk, NoScheduler: true})
	c := srv.Client()
	f := &tokenPay{srv: srv, clk: clk, c: c, admin: c.As(c.AdminToken(t))}
	var app struct {
		CreateApp struct{ ServiceToken string }
	}
	f.admin.Do(t, `mutation{createApp(name:"jinse"){serviceToken}}`, nil).Decode(t, &app)
	f.svc = c.As(app.CreateApp.ServiceToken)
	var tok string
	f.payerID, tok = f.register(t, "zhangshan", "zhangshan@163.com", "18600000001")
	f.payer = c.As(tok)
	f.payeeID, tok = c.NewUser(t, "shop")
	f.payee = c.As(tok)
	return f
}

// register makes a user with an email address and a mobile number (either may be "").
func (f *tokenPay) register(t *testing.T, name, email, mobile string) (id, token string) {
	t.Helper()
	in := map[string]any{"username": name, "password": "password-" + name, "nationalCode": "86"}
	if email != "" {
		in["email"] = email
	}
	if mobile != "" {
		in["mobile"] = mobile
	}
	var out struct{ Register struct{ ID string } }
	f.c.Do(t, `mutation($in:RegisterInput!){register(input:$in){id}}`, map[string]any{"in": in}).Decode(t, &out)
	return out.Register.ID, f.c.Login(t, name, "password-"+name)
}

func (f *tokenPay) credit(t *testing.T, userID, asset, amount string) {
	t.Helper()
	f.admin.Do(t, `mutation($in:CreditInput!){credit(input:$in){id}}`,
		map[string]any{"in": map[string]any{"userId": userID, "asset": asset, "amount": amount}}).Decode(t, &struct{}{})
}

// order creates a PAYMENT order of payerID to the payee.
func (f *tokenPay) order(t *testing.T, payerID, asset, amount string) string {
	t.Helper()
	var out struct{ CreatePaymentOrder struct{ ID string } }
	f.svc.Do(t, `mutation($in:CreatePaymentOrderInput!){createPaymentOrder(input:$in){id}}`,
		map[string]any{"in": map[string]any{
			"payerUserId": payerID, "payeeUserId": f.payeeID,
			"payInfo":     []any{map[string]any{"tokenId": asset, "amount": amount}},
			"productInfo": []any{map[string]any{"tokenId": "BTC", "amount": "0.1575"}},
		}}).Decode(t, &out)
	return out.CreatePaymentOrder.ID
}

var tokenPayMutation = `mutation($in:PayInput!){pay(input:$in){id status payInfo{paidAmount unlockedAmount refundedAmount} ` + testutil.EveryEdge("Order") + `}}`

func payWith(c *testutil.Client, orderID, verifyCodeOrderID, code string) (*testutil.Response, error) {
	in := map[string]any{"orderId": orderID}
	if verifyCodeOrderID != "" {
		in["verifyCodeOrderId"] = verifyCodeOrderID
	}
	if code != "" {
		in["verifyCode"] = code
	}
	return c.Post(tokenPayMutation, map[string]any{"in": in})
}

func (f *tokenPay) pay(t *testing.T, c *testutil.Client, orderID, verifyCodeOrderID, code string) *testutil.Response {
	t.Helper()
	r, err := payWith(c, orderID, verifyCodeOrderID, code)
	if err != nil {
		t.Fatal(err)
	}
	return r
}

func (f *tokenPay) setAuthType(t *testing.T, c *testutil.Client, authType string) *testutil.Response {
	t.Helper()
	return c.Do(t, `mutation($a:AuthType!){setAuthType(authType:$a){id authType bindGA}}`, map[string]any{"a": authType})
}

// send asks for a code and returns its verifyCodeOrderId.
func (f *tokenPay) send(t *testing.T, c *testutil.Client, orderID string) string {
	t.Helper()
	var out struct {
		SendPaymentVerifyCode struct{ VerifyCodeOrderID, Channel, To string }
	}
	f.sendRaw(t, c, orderID).Decode(t, &out)
	return out.SendPaymentVerifyCode.VerifyCodeOrderID
}

func (f *tokenPay) sendRaw(t *testing.T, c *testutil.Client, orderID string) *testutil.Response {
	t.Helper()
	return c.Do(t, `mutation($id:ID!){sendPaymentVerifyCode(orderId:$id){verifyCodeOrderId channel to expiresAt}}`, map[string]any{"id": orderID})
}

type outboxEntry struct{ Channel, To, Code, OrderID, VerifyCodeOrderID, CreatedAt string }

func (f *tokenPay) outbox(t *testing.T) []outboxEntry {
	t.Helper()
	var out struct{ VerifyCodeOutbox []outboxEntry }
	f.admin.Do(t, `{verifyCodeOutbox(first:100){channel to code orderId verifyCodeOrderId createdAt}}`, nil).Decode(t, &out)
	return out.VerifyCodeOutbox
}

// code reads the code sent under verifyCodeOrderID from the outbox.
func (f *tokenPay) code(t *testing.T, verifyCodeOrderID string) string {
	t.Helper()
	for _, e := range f.outbox(t) {
		if e.VerifyCodeOrderID == verifyCodeOrderID {
			return e.Code
		}
	}
	t.Fatalf("no code %s in the outbox", verifyCodeOrderID)
	return ""
}

// wrongCode is a 6-digit code that is not want.
func wrongCode(want string) string {
	if want == "000000" {
		return "000001"
	}
	return "000000"
}

// bindGA binds an authenticator for c and returns its secret; the clock is
// then moved to the next step, so the enabling code is spent.
func (f *tokenPay) bindGA(t *testing.T, c *testutil.Client) []byte {
	t.Helper()
	var setup struct {
		SetupTotp struct{ Secret, OtpauthURL, QrPng string }
	}
	c.Do(t, `mutation{setupTotp{secret otpauthUrl qrPng}}`, nil).Decode(t, &setup)
	secret, err := base32.StdEncoding.WithPadding(base32.NoPadding).DecodeString(setup.SetupTotp.Secret)
	if err != nil || len(secret) != 20 {
		t.Fatalf("secret %q: %v", setup.SetupTotp.Secret, err)
	}
	var on struct {
		EnableTotp struct {
			BindGA   bool
			AuthType string
		}
	}
	c.Do(t, `mutation($c:String!){enableTotp(code:$c){bindGA authType}}`,
		map[string]any{"c": twofactor.GA.At(secret, f.clk.Now())}).Decode(t, &on)
	if !on.EnableTotp.BindGA {
		t.Fatalf("enableTotp: %+v", on)
	}
	f.clk.Advance(30 * time.Second)
	return secret
}

func (f *tokenPay) ga(secret []byte) string { return twofactor.GA.At(secret, f.clk.Now()) }

func tokenWantCode(t *testing.T, what string, r *testutil.Response, code string) {
	t.Helper()
	if r.Code() != code {
		t.Fatalf("%s: want %s, got %+v", what, code, r.Errors)
	}
}

func wantStatus(t *testing.T, f *tokenPay, orderID, status string) {
	t.Helper()
	var out struct{ Order struct{ Status string } }
	f.admin.Do(t, `query($id:ID!){order(id:$id){status}}`, map[string]any{"id": orderID}).Decode(t, &out)
	if out.Order.Status != status {
		t.Fatalf("order %s is %s, want %s", orderID, out.Order.Status, status)
	}
}

func wantBalances(t *testing.T, f *tokenPay, asset, payer, payee string) {
	t.Helper()
	if a, _ := balance(t, f.payer, asset); a != payer {
		t.Fatalf("payer has %s %s, want %s", a, asset, payer)
	}
	if a, _ := balance(t, f.payee, asset); a != payee {
		t.Fatalf("payee has %s %s, want %s", a, asset, payee)
	}
}

func TestPayWithoutSecondFactor(t *testing.T) {
	f := newTokenPay(t, testutil.Base(t))
	f.credit(t, f.payerID, "USDT", "150")
	id := f.order(t, f.payerID, "USDT", "100")

	var pd struct {
		PaymentData struct {
			Need2FA  bool
			AuthType string
			Order    struct{ ID, Status string }
			User     struct {
				UserID, Mobile, NationalCode, Email, Source string
				RegisterType, UserType, VerifyStatus        int
				BindGA, BindTradePwd                        bool
			}
		}
	}
	const q = `query($id:ID!){paymentData(orderId:$id){need2FA authType order{id status}
		user{userId registerType mobile nationalCode email bindGA bindTradePwd userType verifyStatus source}}}`
	f.payer.Do(t, q, map[string]any{"id": id}).Decode(t, &pd)
	p := pd.PaymentData
	if p.Need2FA || p.AuthType != "NONE" || p.Order.ID != id || p.Order.Status != "PENDING" ||
		p.User.UserID != f.payerID || p.User.Mobile != "186****0001" || p.User.Email != "z********n@163.com" ||
		p.User.NationalCode != "86" || p.User.BindGA || p.User.BindTradePwd || p.User.RegisterType != 2 ||
		p.User.UserType != 1 || p.User.VerifyStatus != 1 || p.User.Source != "jinse" {
		t.Fatalf("paymentData: %+v", p)
	}
	// The app's SERVICE and an ADMIN may read it; the payee and strangers may not.
	if r := f.svc.Do(t, q, map[string]any{"id": id}); len(r.Errors) > 0 {
		t.Fatalf("service: %+v", r.Errors)
	}
	if r := f.admin.Do(t, q, map[string]any{"id": id}); len(r.Errors) > 0 {
		t.Fatalf("admin: %+v", r.Errors)
	}
	tokenWantCode(t, "payee reads paymentData", f.payee.Do(t, q, map[string]any{"id": id}), "FORBIDDEN")
	tokenWantCode(t, "unknown order", f.payer.Do(t, q, map[string]any{"id": "12345"}), "NOT_FOUND")

	// No factor: no code to send, and pay needs none.
	tokenWantCode(t, "send without a factor", f.sendRaw(t, f.payer, id), "BAD_USER_INPUT")
	var qp struct {
		QuickPay struct {
			ProcessIsEnd, Need2FA bool
			Order                 struct{ Status string }
		}
	}
	f.payer.Do(t, `mutation($in:PayInput!){quickPay(input:$in){processIsEnd need2FA order{status}}}`,
		map[string]any{"in": map[string]any{"orderId": id}}).Decode(t, &qp)
	if !qp.QuickPay.ProcessIsEnd || qp.QuickPay.Need2FA || qp.QuickPay.Order.Status != "PAID" {
		t.Fatalf("quickPay: %+v", qp)
	}
	wantBalances(t, f, "USDT", "50.000000", "100.000000")
	var items struct {
		Order struct {
			PayInfo     []struct{ Amount, PaidAmount, UnlockedAmount, RefundedAmount string }
			ProductInfo []struct{ TokenID, Amount, PaidAmount string }
		}
	}
	f.payer.Do(t, `query($id:ID!){order(id:$id){payInfo{amount paidAmount unlockedAmount refundedAmount} productInfo{tokenId amount paidAmount}}}`,
		map[string]any{"id": id}).Decode(t, &items)
	if pi := items.Order.PayInfo; len(pi) != 1 || pi[0].PaidAmount != "100.000000" || pi[0].UnlockedAmount != "100.000000" || pi[0].RefundedAmount != "0.000000" {
		t.Fatalf("payInfo: %+v", pi)
	}
	if pr := items.Order.ProductInfo; len(pr) != 1 || pr[0].Amount != "0.15750000" || pr[0].PaidAmount != "0.00000000" {
		t.Fatalf("productInfo: %+v", pr)
	}
	f.srv.AssertLedger(t)
}

func TestPayWithGA(t *testing.T) {
	f := newTokenPay(t, testutil.Base(t))
	f.credit(t, f.payerID, "USDT", "100")
	id := f.order(t, f.payerID, "USDT", "30")

	tokenWantCode(t, "GA before binding", f.setAuthType(t, f.payer, "GA"), "BAD_USER_INPUT")
	tokenWantCode(t, "enableTotp before setupTotp", f.payer.Do(t, `mutation{enableTotp(code:"123456"){id}}`, nil), "BAD_USER_INPUT")

	var setup struct {
		SetupTotp struct{ Secret, OtpauthURL, QrPng string }
	}
	f.payer.Do(t, `mutation{setupTotp{secret otpauthUrl qrPng}}`, nil).Decode(t, &setup)
	s := setup.SetupTotp
	if !strings.HasPrefix(s.OtpauthURL, "otpauth://totp/paygraph:zhangshan?") || !strings.Contains(s.OtpauthURL, "secret="+s.Secret) ||
		!strings.Contains(s.OtpauthURL, "issuer=paygraph") || !strings.HasPrefix(s.QrPng, "data:image/png;base64,iVBORw0KGgo") {
		t.Fatalf("setupTotp: %+v", s)
	}
	secret, _ := base32.StdEncoding.WithPadding(base32.NoPadding).DecodeString(s.Secret)
	now := f.ga(secret)
	tokenWantCode(t, "enableTotp with a wrong code", f.payer.Do(t, `mutation($c:String!){enableTotp(code:$c){id}}`,
		map[string]any{"c": wrongCode(now)}), "VERIFY_CODE_INVALID")
	var on struct {
		EnableTotp struct {
			BindGA   bool
			AuthType string
		}
	}
	f.payer.Do(t, `mutation($c:String!){enableTotp(code:$c){bindGA authType}}`, map[string]any{"c": now}).Decode(t, &on)
	if !on.EnableTotp.BindGA || on.EnableTotp.AuthType != "GA" {
		t.Fatalf("enableTotp: %+v", on)
	}
	tokenWantCode(t, "setupTotp once bound", f.payer.Do(t, `mutation{setupTotp{secret}}`, nil), "BAD_USER_INPUT")
	tokenWantCode(t, "switching the factor off", f.setAuthType(t, f.payer, "NONE"), "BAD_USER_INPUT")

	// The secret never shows again; others do not see the binding.
	var me struct {
		Me struct {
			BindGA   bool
			AuthType string
		}
	}
	f.payer.Do(t, `{me{bindGA authType}}`, nil).Decode(t, &me)
	if !me.Me.BindGA || me.Me.AuthType != "GA" {
		t.Fatalf("me: %+v", me)
	}
	var seen struct {
		Order struct {
			Payer struct {
				BindGA   *bool
				AuthType *string
			}
		}
	}
	f.payee.Do(t, `query($id:ID!){order(id:$id){payer{bindGA authType}}}`, map[string]any{"id": id}).Decode(t, &seen)
	if seen.Order.Payer.BindGA != nil || seen.Order.Payer.AuthType != nil {
		t.Fatalf("the payee sees the payer's factor: %+v", seen)
	}

	var pd struct {
		PaymentData struct {
			Need2FA  bool
			AuthType string
			User     struct {
				BindGA       bool
				VerifyStatus int
			}
		}
	}
	f.payer.Do(t, `query($id:ID!){paymentData(orderId:$id){need2FA authType user{bindGA verifyStatus}}}`, map[string]any{"id": id}).Decode(t, &pd)
	if !pd.PaymentData.Need2FA || pd.PaymentData.AuthType != "GA" || !pd.PaymentData.User.BindGA || pd.PaymentData.User.VerifyStatus != 2 {
		t.Fatalf("paymentData: %+v", pd)
	}
	tokenWantCode(t, "send with GA", f.sendRaw(t, f.payer, id), "BAD_USER_INPUT")

	// quickPay without a code says one is needed and moves nothing.
	var qp struct {
		QuickPay struct {
			ProcessIsEnd, Need2FA bool
			Order                 struct{ ID, Status string }
		}
	}
	f.payer.Do(t, `mutation($in:PayInput!){quickPay(input:$in){processIsEnd need2FA order{id status}}}`,
		map[string]any{"in": map[string]any{"orderId": id}}).Decode(t, &qp)
	if qp.QuickPay.ProcessIsEnd || !qp.QuickPay.Need2FA || qp.QuickPay.Order.Status != "PENDING" {
		t.Fatalf("quickPay without a code: %+v", qp)
	}
	tokenWantCode(t, "pay without a code", f.pay(t, f.payer, id, "", ""), "BAD_USER_INPUT")
	// The step of the enabling code is spent.
	tokenWantCode(t, "the enabling code", f.pay(t, f.payer, id, "", now), "VERIFY_CODE_INVALID")
	wantBalances(t, f, "USDT", "100.000000", "0")

	// One step of skew each way: the next step's code is accepted now.
	next := twofactor.GA.At(secret, f.clk.Now().Add(30*time.Second))
	if r := f.pay(t, f.payer, id, "0", next); len(r.Errors) > 0 {
		t.Fatalf("pay with GA: %+v", r.Errors)
	}
	wantStatus(t, f, id, "PAID")
	wantBalances(t, f, "USDT", "70.000000", "30.000000")

	// That step is spent for every order, even when its time comes round.
	id2 := f.order(t, f.payerID, "USDT", "5")
	tokenWantCode(t, "a spent step", f.pay(t, f.payer, id2, "", next), "VERIFY_CODE_INVALID")
	f.clk.Advance(30 * time.Second)
	tokenWantCode(t, "a spent step in its own time", f.pay(t, f.payer, id2, "", next), "VERIFY_CODE_INVALID")
	// Two steps away is too far.
	tokenWantCode(t, "a code two steps ahead", f.pay(t, f.payer, id2, "", twofactor.GA.At(secret, f.clk.Now().Add(time.Minute))), "VERIFY_CODE_INVALID")
	f.clk.Advance(30 * time.Second)
	f.payer.Do(t, `mutation($in:PayInput!){quickPay(input:$in){processIsEnd need2FA order{status}}}`,
		map[string]any{"in": map[string]any{"orderId": id2, "verifyCode": f.ga(secret)}}).Decode(t, &qp)
	if !qp.QuickPay.ProcessIsEnd || qp.QuickPay.Need2FA || qp.QuickPay.Order.Status != "PAID" {
		t.Fatalf("quickPay with a code: %+v", qp)
	}
	wantBalances(t, f, "USDT", "65.000000", "35.000000")
	f.srv.AssertLedger(t)
}

func TestGALockout(t *testing.T) {
	f := newTokenPay(t, testutil.Base(t))
	secret := f.bindGA(t, f.payer)
	f.credit(t, f.payerID, "CNY", "10.00")
	id := f.order(t, f.payerID, "CNY", "1.00")
	good := f.ga(secret)
	for i := 1; i <= 4; i++ {
		r := f.pay(t, f.payer, id, "", wrongCode(good))
		tokenWantCode(t, "wrong GA code", r, "VERIFY_CODE_INVALID")
		if !strings.Contains(r.Errors[0].Message, "more wrong tries") {
			t.Fatalf("message: %s", r.Errors[0].Message)
		}
	}
	tokenWantCode(t, "fifth wrong GA code", f.pay(t, f.payer, id, "", wrongCode(good)), "LOCKED")
	tokenWantCode(t, "the right code while locked", f.pay(t, f.payer, id, "", good), "LOCKED")
	wantStatus(t, f, id, "PENDING")
	wantBalances(t, f, "CNY", "10.00", "0")
	f.clk.Advance(twofactor.GALockout)
	if r := f.pay(t, f.payer, id, "", f.ga(secret)); len(r.Errors) > 0 {
		t.Fatalf("pay after the lockout: %+v", r.Errors)
	}
	wantBalances(t, f, "CNY", "9.00", "1.00")
	f.srv.AssertLedger(t)
}

func TestPayWithSentCodes(t *testing.T) {
	for _, channel := range []string{"MOBILE", "EMAIL"} {
		t.Run(channel, func(t *testing.T) {
			f := newTokenPay(t, testutil.Base(t))
			f.credit(t, f.payerID, "BTC", "1")
			id := f.order(t, f.payerID, "BTC", "0.1575")
			var u struct {
				SetAuthType struct {
					AuthType string
					BindGA   bool
				}
			}
			f.setAuthType(t, f.payer, channel).Decode(t, &u)
			if u.SetAuthType.AuthType != channel {
				t.Fatalf("setAuthType: %+v", u)
			}
			var sent struct {
				SendPaymentVerifyCode struct{ VerifyCodeOrderID, Channel, To, ExpiresAt string }
			}
			f.sendRaw(t, f.payer, id).Decode(t, &sent)
			s := sent.SendPaymentVerifyCode
			wantTo, fullTo := "186****0001", "18600000001"
			if channel == "EMAIL" {
				wantTo, fullTo = "z********n@163.com", "zhangshan@163.com"
			}
			if s.Channel != channel || s.To != wantTo || s.ExpiresAt != start.Add(5*time.Minute).Format(time.RFC3339) {
				t.Fatalf("sent: %+v", s)
			}
			box := f.outbox(t)
			if len(box) != 1 || box[0].Channel != channel || box[0].To != fullTo || box[0].OrderID != id ||
				box[0].VerifyCodeOrderID != s.VerifyCodeOrderID || len(box[0].Code) != 6 {
				t.Fatalf("outbox: %+v", box)
			}
			code := box[0].Code
			tokenWantCode(t, "pay without verifyCodeOrderId", f.pay(t, f.payer, id, "", code), "BAD_USER_INPUT")
			tokenWantCode(t, "pay with a wrong code", f.pay(t, f.payer, id, s.VerifyCodeOrderID, wrongCode(code)), "VERIFY_CODE_INVALID")
			var paid struct {
				Pay struct {
					Status  string
					PayInfo []struct{ PaidAmount string }
				}
			}
			f.pay(t, f.payer, id, s.VerifyCodeOrderID, code).Decode(t, &paid)
			if paid.Pay.Status != "PAID" || paid.Pay.PayInfo[0].PaidAmount != "0.15750000" {
				t.Fatalf("pay: %+v", paid)
			}
			wantBalances(t, f, "BTC", "0.84250000", "0.15750000")
			// The code is spent, and was bound to that order.
			id2 := f.order(t, f.payerID, "BTC", "0.1")
			tokenWantCode(t, "a spent code for another order", f.pay(t, f.payer, id2, s.VerifyCodeOrderID, code), "VERIFY_CODE_INVALID")
			tokenWantCode(t, "a spent code again", f.pay(t, f.payer, id, s.VerifyCodeOrderID, code), "INVALID_TRANSITION")
			wantBalances(t, f, "BTC", "0.84250000", "0.15750000")
			f.srv.AssertLedger(t)
		})
	}
}

func TestSentCodeLockout(t *testing.T) {
	f := newTokenPay(t, testutil.Base(t))
	f.setAuthType(t, f.payer, "MOBILE").Decode(t, &struct{}{})
	f.credit(t, f.payerID, "CNY", "10.00")
	id := f.order(t, f.payerID, "CNY", "2.00")
	vc := f.send(t, f.payer, id)
	code := f.code(t, vc)
	for i := 1; i <= 4; i++ {
		tokenWantCode(t, "wrong code", f.pay(t, f.payer, id, vc, wrongCode(code)), "VERIFY_CODE_INVALID")
	}
	tokenWantCode(t, "fifth wrong code", f.pay(t, f.payer, id, vc, wrongCode(code)), "LOCKED")
	tokenWantCode(t, "the right code once locked", f.pay(t, f.payer, id, vc, code), "LOCKED")
	tokenWantCode(t, "quickPay with the locked code", f.payer.Do(t, `mutation($in:PayInput!){quickPay(input:$in){processIsEnd}}`,
		map[string]any{"in": map[string]any{"orderId": id, "verifyCodeOrderId": vc, "verifyCode": code}}), "LOCKED")
	wantBalances(t, f, "CNY", "10.00", "0")

	// Concurrent wrong guesses on a fresh code are counted one by one: at
	// most five are weighed, the rest find it locked.
	f.clk.Advance(time.Minute)
	vc2 := f.send(t, f.payer, id)
	code2 := f.code(t, vc2)
	codes := concurrently(t, 12, func(int) (*testutil.Response, error) { return payWith(f.payer, id, vc2, wrongCode(code2)) })
	if codes["VERIFY_CODE_INVALID"] != 4 || codes["LOCKED"] != 8 {
		t.Fatalf("concurrent wrong guesses: %v", codes)
	}
	tokenWantCode(t, "the right code after concurrent guesses", f.pay(t, f.payer, id, vc2, code2), "LOCKED")

	// A new code works.
	f.clk.Advance(time.Minute)
	vc3 := f.send(t, f.payer, id)
	if r := f.pay(t, f.payer, id, vc3, f.code(t, vc3)); len(r.Errors) > 0 {
		t.Fatalf("pay with a new code: %+v", r.Errors)
	}
	wantBalances(t, f, "CNY", "8.00", "2.00")
	f.srv.AssertLedger(t)
}

func TestSentCodeExpiresAndIsReplaced(t *testing.T) {
	f := newTokenPay(t, testutil.Base(t))
	f.setAuthType(t, f.payer, "EMAIL").Decode(t, &struct{}{})
	f.credit(t, f.payerID, "CNY", "10.00")
	id := f.order(t, f.payerID, "CNY", "3.00")
	vc := f.send(t, f.payer, id)
	code := f.code(t, vc)
	f.clk.Advance(5 * time.Minute)
	tokenWantCode(t, "an expired code", f.pay(t, f.payer, id, vc, code), "VERIFY_CODE_EXPIRED")

	// A newer code for the order retires the older one.
	vc2 := f.send(t, f.payer, id)
	code2 := f.code(t, vc2)
	f.clk.Advance(time.Minute)
	vc3 := f.send(t, f.payer, id)
	tokenWantCode(t, "a replaced code", f.pay(t, f.payer, id, vc2, code2), "VERIFY_CODE_INVALID")
	wantBalances(t, f, "CNY", "10.00", "0")
	if r := f.pay(t, f.payer, id, vc3, f.code(t, vc3)); len(r.Errors) > 0 {
		t.Fatalf("pay with the newest code: %+v", r.Errors)
	}
	wantBalances(t, f, "CNY", "7.00", "3.00")
	f.srv.AssertLedger(t)
}

func TestCodeOfAnotherOrderOrUser(t *testing.T) {
	f := newTokenPay(t, testutil.Base(t))
	otherID, otherTok := f.register(t, "lisi", "lisi@163.com", "18600000002")
	other := f.c.As(otherTok)
	for _, c := range []*testutil.Client{f.payer, other} {
		f.setAuthType(t, c, "MOBILE").Decode(t, &struct{}{})
	}
	f.credit(t, f.payerID, "CNY", "10.00")
	f.credit(t, otherID, "CNY", "10.00")
	a := f.order(t, f.payerID, "CNY", "1.00")
	b := f.order(t, f.payerID, "CNY", "1.00")
	c := f.order(t, otherID, "CNY", "1.00")

	vcA := f.send(t, f.payer, a)
	codeA := f.code(t, vcA)
	vcC := f.send(t, other, c)
	codeC := f.code(t, vcC)
	tokenWantCode(t, "another order's code", f.pay(t, f.payer, b, vcA, codeA), "VERIFY_CODE_INVALID")
	tokenWantCode(t, "another user's code", f.pay(t, f.payer, a, vcC, codeC), "VERIFY_CODE_INVALID")
	tokenWantCode(t, "another user's code on its own order", f.pay(t, f.payer, c, vcC, codeC), "FORBIDDEN")
	tokenWantCode(t, "sending for another user's order", f.sendRaw(t, f.payer, c), "FORBIDDEN")
	tokenWantCode(t, "an unknown verifyCodeOrderId", f.pay(t, f.payer, a, "98765", codeA), "VERIFY_CODE_INVALID")
	// None of that was counted against the codes: both still pay.
	if r := f.pay(t, f.payer, a, vcA, codeA); len(r.Errors) > 0 {
		t.Fatalf("payer's own code: %+v", r.Errors)
	}
	if r := f.pay(t, other, c, vcC, codeC); len(r.Errors) > 0 {
		t.Fatalf("other's own code: %+v", r.Errors)
	}
	wantStatus(t, f, b, "PENDING")
	if a, _ := balance(t, f.payer, "CNY"); a != "9.00" {
		t.Fatalf("payer has %s", a)
	}
	if a, _ := balance(t, other, "CNY"); a != "9.00" {
		t.Fatalf("other has %s", a)
	}
	f.srv.AssertLedger(t)
}

func TestConcurrentPaysWithOneCode(t *testing.T) {
	t.Run("MOBILE", func(t *testing.T) {
		f := newTokenPay(t, testutil.Base(t))
		f.setAuthType(t, f.payer, "MOBILE").Decode(t, &struct{}{})
		f.credit(t, f.payerID, "CNY", "100.00")
		id := f.order(t, f.payerID, "CNY", "7.00")
		vc := f.send(t, f.payer, id)
		code := f.code(t, vc)
		codes := concurrently(t, 10, func(int) (*testutil.Response, error) { return payWith(f.payer, id, vc, code) })
		if codes[""] != 1 || codes["INVALID_TRANSITION"]+codes["VERIFY_CODE_INVALID"] != 9 {
			t.Fatalf("outcomes: %v", codes)
		}
		wantBalances(t, f, "CNY", "93.00", "7.00")
		f.srv.AssertLedger(t)
	})
	t.Run("GA", func(t *testing.T) {
		f := newTokenPay(t, testutil.Base(t))
		secret := f.bindGA(t, f.payer)
		f.credit(t, f.payerID, "CNY", "100.00")
		id := f.order(t, f.payerID, "CNY", "7.00")
		id2 := f.order(t, f.payerID, "CNY", "5.00")
		code := f.ga(secret)
		// Ten pays of one order and ten of another, all with one GA code:
		// the step is spent by exactly one payment.
		codes := concurrently(t, 20, func(i int) (*testutil.Response, error) {
			if i%2 == 0 {
				return payWith(f.payer, id, "", code)
			}
			return payWith(f.payer, id2, "", code)
		})
		if codes[""] != 1 || codes["INVALID_TRANSITION"]+codes["VERIFY_CODE_INVALID"] != 19 {
			t.Fatalf("outcomes: %v", codes)
		}
		var paid struct{ Orders struct{ TotalCount int } }
		f.payer.Do(t, `{orders(where:{status:PAID}){totalCount}}`, nil).Decode(t, &paid)
		if paid.Orders.TotalCount != 1 {
			t.Fatalf("%d orders paid", paid.Orders.TotalCount)
		}
		if a, _ := balance(t, f.payer, "CNY"); a != "93.00" && a != "95.00" {
			t.Fatalf("payer has %s", a)
		}
		f.srv.AssertLedger(t)
	})
}

func TestShortBalanceKeepsTheCode(t *testing.T) {
	f := newTokenPay(t, testutil.Base(t))
	f.setAuthType(t, f.payer, "MOBILE").Decode(t, &struct{}{})
	f.credit(t, f.payerID, "USDT", "10")
	id := f.order(t, f.payerID, "USDT", "25.5")
	vc := f.send(t, f.payer, id)
	code := f.code(t, vc)
	tokenWantCode(t, "pay over the balance", f.pay(t, f.payer, id, vc, code), "INSUFFICIENT_FUNDS")
	wantStatus(t, f, id, "PENDING")
	wantBalances(t, f, "USDT", "10.000000", "0")
	var items struct {
		Order struct {
			PayInfo []struct{ PaidAmount, UnlockedAmount string }
		}
	}
	f.payer.Do(t, `query($id:ID!){order(id:$id){payInfo{paidAmount unlockedAmount}}}`, map[string]any{"id": id}).Decode(t, &items)
	if pi := items.Order.PayInfo[0]; pi.PaidAmount != "0.000000" || pi.UnlockedAmount != "0.000000" {
		t.Fatalf("payInfo after a refused pay: %+v", pi)
	}
	// The failed payment did not spend the code: topped up, it pays.
	f.credit(t, f.payerID, "USDT", "20")
	var paid struct {
		Pay struct {
			Status  string
			PayInfo []struct{ PaidAmount, UnlockedAmount string }
		}
	}
	f.pay(t, f.payer, id, vc, code).Decode(t, &paid)
	if paid.Pay.Status != "PAID" || paid.Pay.PayInfo[0].PaidAmount != "25.500000" || paid.Pay.PayInfo[0].UnlockedAmount != "25.500000" {
		t.Fatalf("pay: %+v", paid)
	}
	wantBalances(t, f, "USDT", "4.500000", "25.500000")
	f.srv.AssertLedger(t)
}

func TestIdempotentPayWithACode(t *testing.T) {
	f := newTokenPay(t, testutil.Base(t))
	secret := f.bindGA(t, f.payer)
	f.credit(t, f.payerID, "CNY", "10.00")
	id := f.order(t, f.payerID, "CNY", "4.00")
	in := map[string]any{"in": map[string]any{"orderId": id, "verifyCode": f.ga(secret), "idempotencyKey": "pay-ga-1"}}
	var a, b struct{ Pay struct{ ID, Status string } }
	f.payer.Do(t, tokenPayMutation, in).Decode(t, &a)
	// The retry replays the payment; it does not fail on the spent code.
	f.payer.Do(t, tokenPayMutation, in).Decode(t, &b)
	if a.Pay.Status != "PAID" || b.Pay != a.Pay {
		t.Fatalf("replay: %+v %+v", a, b)
	}
	wantBalances(t, f, "CNY", "6.00", "4.00")
	f.srv.AssertLedger(t)
}

func TestResendLimits(t *testing.T) {
	f := newTokenPay(t, testutil.Base(t))
	f.setAuthType(t, f.payer, "MOBILE").Decode(t, &struct{}{})
	id := f.order(t, f.payerID, "CNY", "1.00")
	f.send(t, f.payer, id)
	tokenWantCode(t, "resend at once", f.sendRaw(t, f.payer, id), "RATE_LIMITED")
	f.clk.Advance(59 * time.Second)
	tokenWantCode(t, "resend after 59 s", f.sendRaw(t, f.payer, id), "RATE_LIMITED")
	f.clk.Advance(time.Second)
	f.send(t, f.payer, id)
	// Concurrent requests: one code at most.
	f.clk.Advance(time.Minute)
	codes := concurrently(t, 6, func(int) (*testutil.Response, error) {
		return f.payer.Post(`mutation($id:ID!){sendPaymentVerifyCode(orderId:$id){verifyCodeOrderId}}`, map[string]any{"id": id})
	})
	if codes[""] != 1 || codes["RATE_LIMITED"] != 5 {
		t.Fatalf("concurrent sends: %v", codes)
	}
	// Ten a day, whatever the order.
	for i := 3; i < twofactor.DailyLimit; i++ {
		f.clk.Advance(time.Minute)
		f.send(t, f.payer, f.order(t, f.payerID, "CNY", "1.00"))
	}
	f.clk.Advance(time.Minute)
	tokenWantCode(t, "the eleventh code of the day", f.sendRaw(t, f.payer, id), "RATE_LIMITED")
	if n := len(f.outbox(t)); n != twofactor.DailyLimit {
		t.Fatalf("%d codes sent", n)
	}
	// Another user is not limited by it.
	_, otherTok := f.register(t, "lisi", "", "18600000002")
	other := f.c.As(otherTok)
	f.setAuthType(t, other, "MOBILE").Decode(t, &struct{}{})
	otherID := mustID(t, other)
	f.send(t, other, f.order(t, otherID, "CNY", "1.00"))
	// The window is the last 24 hours: a day after the first code (sent 10
	// minutes ago) there is room again.
	f.clk.Advance(24*time.Hour - 10*time.Minute - time.Second)
	id = f.order(t, f.payerID, "CNY", "1.00")
	tokenWantCode(t, "a second before the first code is a day old", f.sendRaw(t, f.payer, id), "RATE_LIMITED")
	f.clk.Advance(time.Second)
	f.send(t, f.payer, f.order(t, f.payerID, "CNY", "1.00"))
}

func TestSetAuthType(t *testing.T) {
	f := newTokenPay(t, testutil.Base(t))
	_, bareTok := f.register(t, "bare", "", "")
	bare := f.c.As(bareTok)
	tokenWantCode(t, "MOBILE without a number", f.setAuthType(t, bare, "MOBILE"), "BAD_USER_INPUT")
	tokenWantCode(t, "EMAIL without an address", f.setAuthType(t, bare, "EMAIL"), "BAD_USER_INPUT")
	tokenWantCode(t, "GA unbound", f.setAuthType(t, bare, "GA"), "BAD_USER_INPUT")
	f.setAuthType(t, bare, "NONE").Decode(t, &struct{}{})
	tokenWantCode(t, "an unknown factor", f.setAuthType(t, bare, "FINGERPRINT"), "BAD_USER_INPUT")

	var u struct{ SetAuthType struct{ AuthType string } }
	f.setAuthType(t, f.payer, "EMAIL").Decode(t, &u)
	f.setAuthType(t, f.payer, "MOBILE").Decode(t, &u)
	if u.SetAuthType.AuthType != "MOBILE" {
		t.Fatalf("%+v", u)
	}
	tokenWantCode(t, "back to NONE", f.setAuthType(t, f.payer, "NONE"), "BAD_USER_INPUT")
	f.bindGA(t, f.payer)
	var me struct{ Me struct{ AuthType string } }
	f.payer.Do(t, `{me{authType}}`, nil).Decode(t, &me)
	if me.Me.AuthType != "MOBILE" {
		t.Fatalf("binding GA changed a chosen factor: %+v", me)
	}
	f.setAuthType(t, f.payer, "GA").Decode(t, &u)
	if u.SetAuthType.AuthType != "GA" {
		t.Fatalf("%+v", u)
	}
	// Only users choose; the outbox is for admins.
	tokenWantCode(t, "admin setAuthType", f.setAuthType(t, f.admin, "NONE"), "FORBIDDEN")
	tokenWantCode(t, "user reads the outbox", f.payer.Do(t, `{verifyCodeOutbox{code}}`, nil), "FORBIDDEN")
	tokenWantCode(t, "outbox page size", f.admin.Do(t, `{verifyCodeOutbox(first:101){code}}`, nil), "BAD_USER_INPUT")
}

func TestTokenCheckoutOrderFilters(t *testing.T) {
	f := newTokenPay(t, testutil.Base(t))
	f.credit(t, f.payerID, "CNY", "100.00")
	ids := make([]string, 5)
	times := make([]string, 5)
	for i := range ids {
		ids[i] = f.order(t, f.payerID, "CNY", "1.00")
		times[i] = f.clk.Now().Format(time.RFC3339)
		f.clk.Advance(time.Minute)
	}
	for _, i := range []int{1, 3} {
		if r := f.pay(t, f.payer, ids[i], "", ""); len(r.Errors) > 0 {
			t.Fatal(r.Errors)
		}
	}
	list := func(where map[string]any, first int) ([]string, *testutil.Response) {
		var out struct {
			Orders struct {
				TotalCount int
				Edges      []struct{ Node struct{ ID string } }
			}
		}
		r := f.payer.Do(t, `query($w:OrderWhereInput,$n:Int){orders(where:$w,first:$n,orderBy:{field:CREATED_AT}){totalCount edges{node{id}}}}`,
			map[string]any{"w": where, "n": first})
		if len(r.Errors) > 0 {
			return nil, r
		}
		r.Decode(t, &out)
		var got []string
		for _, e := range out.Orders.Edges {
			got = append(got, e.Node.ID)
		}
		return got, r
	}
	check := func(name string, where map[string]any, want ...string) {
		t.Helper()
		got, r := list(where, 100)
		if r != nil && len(r.Errors) > 0 {
			t.Fatalf("%s: %+v", name, r.Errors)
		}
		if strings.Join(got, ",") != strings.Join(want, ",") {
			t.Fatalf("%s: got %v, want %v", name, got, want)
		}
	}
	check("status", map[string]any{"status": "PAID"}, ids[1], ids[3])
	check("from_id/to_id (closed)", map[string]any{"idGTE": ids[1], "idLTE": ids[3]}, ids[1], ids[2], ids[3])
	check("start_time/end_time (closed)", map[string]any{"createdAtGTE": times[2], "createdAtLTE": times[4]}, ids[2], ids[3], ids[4])
	check("all together", map[string]any{"status": "PENDING", "idGTE": ids[0], "createdAtLTE": times[2]}, ids[0], ids[2])
	if got, _ := list(nil, 2); len(got) != 2 {
		t.Fatalf("first 2: %v", got)
	}
	if _, r := list(nil, 101); r.Code() != "BAD_USER_INPUT" {
		t.Fatalf("first 101: %+v", r.Errors)
	}
	f.srv.AssertLedger(t)
}
