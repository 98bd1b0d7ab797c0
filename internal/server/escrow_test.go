package server_test

import (
	"bytes"
	"context"
	"crypto"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"encoding/base64"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/paygraph/paygraph/ent/order"
	"github.com/paygraph/paygraph/ent/walletentry"
	"github.com/paygraph/paygraph/internal/clock"
	"github.com/paygraph/paygraph/internal/escrow"
	"github.com/paygraph/paygraph/internal/provider/pingpp"
	"github.com/paygraph/paygraph/internal/server"
	"github.com/paygraph/paygraph/internal/testutil"
)

// escrowEnv is the escrow marketplace's fixture: a buyer and a seller on a server with a
// fake clock and the embedded Ping++ sandbox.
type escrowEnv struct {
	srv               *testutil.Server
	c, admin          *testutil.Client
	buyer, seller     *testutil.Client
	buyerID, sellerID string
	clock             *clock.Fake
}

var escrowStart = time.Date(2025, 3, 1, 12, 0, 0, 0, time.UTC)

func newEscrow(t *testing.T, extra testutil.Env) *escrowEnv {
	t.Helper()
	env := testutil.Base(t)
	for k, v := range extra {
		env[k] = v
	}
	clk := clock.NewFake(escrowStart)
	srv := testutil.StartWith(t, env, server.Options{Clock: clk, NoScheduler: true})
	c := srv.Client()
	e := &escrowEnv{srv: srv, c: c, admin: c.As(c.AdminToken(t)), clock: clk}
	var tok string
	e.buyerID, tok = c.NewUser(t, "buyer")
	e.buyer = c.As(tok)
	e.sellerID, tok = c.NewUser(t, "seller")
	e.seller = c.As(tok)
	return e
}

func (e *escrowEnv) newUser(t *testing.T, name string) (string, *testutil.Client) {
	id, tok := e.c.NewUser(t, name)
	return id, e.c.As(tok)
}

func (e *escrowEnv) credit(t *testing.T, userID, amount string) {
	t.Helper()
	r := e.admin.Do(t, `mutation($in:CreditInput!){credit(input:$in){id}}`,
		map[string]any{"in": map[string]any{"userId": userID, "asset": "CNY", "amount": amount}})
	if len(r.Errors) > 0 {
		t.Fatalf("credit: %+v", r.Errors)
	}
}

func setPayPassword(t *testing.T, c *testutil.Client, pw string) {
	t.Helper()
	var out struct{ SetPayPassword struct{ HasPayPassword bool } }
	c.Do(t, `mutation($p:String!){setPayPassword(newPassword:$p){hasPayPassword}}`, map[string]any{"p": pw}).Decode(t, &out)
	if !out.SetPayPassword.HasPayPassword {
		t.Fatal("pay password not set")
	}
}

var dealFields = `id orderNo type status statusDesc amount asset channel payWay chatId skillId paidAt completedAt autoConfirmAt expiresAt
	providerTradeNo refundReason comment score payer{id name avatar} payee{id name avatar} ` + testutil.EveryEdge("Order")

type dealOrder struct {
	ID, OrderNo, Type, Status, StatusDesc, Amount, Asset, Channel, PayWay string
	ChatID, SkillID, ProviderTradeNo, RefundReason, Comment               string
	Score                                                                 *int
	PaidAt, CompletedAt, AutoConfirmAt, ExpiresAt                         *time.Time
	Payer, Payee                                                          struct{ ID, Name, Avatar string }
}

type charge struct {
	ID, OrderNo, Channel, Amount, Credential, Raw string
	Paid                                          bool
	CashierURL                                    string
}

const chargeFields = `id orderNo channel amount paid credential raw cashierUrl`

func (e *escrowEnv) initDeal(t *testing.T, c *testutil.Client, amount, channel string, more map[string]any) (dealOrder, *charge) {
	t.Helper()
	in := map[string]any{"subject": "购买xx服务", "amount": amount, "receiverId": e.sellerID, "channel": channel}
	for k, v := range more {
		in[k] = v
	}
	var out struct {
		InitDealOrder struct {
			Order  dealOrder
			Charge *charge
		}
	}
	c.Do(t, `mutation($in:InitDealOrderInput!){initDealOrder(input:$in){order{`+dealFields+`} charge{`+chargeFields+`}}}`,
		map[string]any{"in": in}).Decode(t, &out)
	return out.InitDealOrder.Order, out.InitDealOrder.Charge
}

func payByWallet(c *testutil.Client, id, pw string) (*testutil.Response, error) {
	return c.Post(`mutation($id:ID!,$p:String!){payByWallet(orderId:$id,payPassword:$p){`+dealFields+`}}`,
		map[string]any{"id": id, "p": pw})
}

func (e *escrowEnv) mustPayByWallet(t *testing.T, c *testutil.Client, id, pw string) dealOrder {
	t.Helper()
	r, err := payByWallet(c, id, pw)
	if err != nil {
		t.Fatal(err)
	}
	var out struct{ PayByWallet dealOrder }
	r.Decode(t, &out)
	return out.PayByWallet
}

func (e *escrowEnv) order(t *testing.T, c *testutil.Client, id string) dealOrder {
	t.Helper()
	var out struct{ Order dealOrder }
	c.Do(t, `query($id:ID!){order(id:$id){`+dealFields+`}}`, map[string]any{"id": id}).Decode(t, &out)
	return out.Order
}

func orderMutation(c *testutil.Client, t *testing.T, field, id string, extra string, vars map[string]any) *testutil.Response {
	t.Helper()
	if vars == nil {
		vars = map[string]any{}
	}
	vars["id"] = id
	decl := "$id:ID!"
	for k, v := range vars {
		if k == "id" {
			continue
		}
		switch v.(type) {
		case int:
			decl += ",$" + k + ":Int!"
		default:
			decl += ",$" + k + ":String!"
		}
	}
	return c.Do(t, fmt.Sprintf(`mutation(%s){%s(orderId:$id%s){`+dealFields+`}}`, decl, field, extra), vars)
}

func mustStatus(t *testing.T, r *testutil.Response, field, want string) dealOrder {
	t.Helper()
	var out map[string]dealOrder
	r.Decode(t, &out)
	if out[field].Status != want {
		t.Fatalf("%s: status %s, want %s", field, out[field].Status, want)
	}
	return out[field]
}

func wantCode(t *testing.T, r *testutil.Response, code string, legacy ...int) {
	t.Helper()
	if r.Code() != code {
		t.Fatalf("want %s, got %+v (data %s)", code, r.Errors, r.Data)
	}
	if len(legacy) > 0 {
		if got, _ := r.Errors[0].Extensions["legacyCode"].(float64); int(got) != legacy[0] {
			t.Fatalf("want legacyCode %d, got %+v", legacy[0], r.Errors[0].Extensions)
		}
	}
}

type cash struct{ Cash, WithdrawCash, Pending string }

func getCash(t *testing.T, c *testutil.Client) cash {
	t.Helper()
	var out struct{ Cash cash }
	c.Do(t, `{cash{cash withdrawCash pending}}`, nil).Decode(t, &out)
	return out.Cash
}

func wantCash(t *testing.T, c *testutil.Client, cashAmt, withdraw, pending string) {
	t.Helper()
	if got := getCash(t, c); got != (cash{cashAmt, withdraw, pending}) {
		t.Fatalf("cash %+v, want {%s %s %s}", got, cashAmt, withdraw, pending)
	}
}

// sandboxPay presses a button of the sandbox cashier.
func (e *escrowEnv) sandboxPay(t *testing.T, chargeID, result string) string {
	t.Helper()
	resp, err := e.srv.HTTP.Client().PostForm(e.srv.URL+"/sandbox/pingpp/pay/"+chargeID, url.Values{"result": {result}})
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != 200 {
		t.Fatalf("sandbox pay: %d %s", resp.StatusCode, b)
	}
	return string(b)
}

// webhook posts a Ping++ webhook to the callback route.
func (e *escrowEnv) webhook(t *testing.T, body []byte, sig string) (int, string) {
	t.Helper()
	req, _ := http.NewRequest(http.MethodPost, e.srv.URL+"/callbacks/pingpp", bytes.NewReader(body))
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set(pingpp.SignatureHeader, sig)
	resp, err := e.srv.HTTP.Client().Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

// journals counts the postings of one kind for an order.
func (e *escrowEnv) postings(t *testing.T, orderID, kind string) int {
	t.Helper()
	var id int64
	fmt.Sscan(orderID, &id)
	n, err := e.srv.DB.Ent.WalletEntry.Query().Where(walletentry.OrderID(id), walletentry.Kind(kind)).Count(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	return n
}

// worldSum is the sum of the postings of an outside-world account, in fen.
func (e *escrowEnv) worldSum(t *testing.T, account string) int64 {
	t.Helper()
	es, err := e.srv.DB.Ent.WalletEntry.Query().Where(walletentry.Account("world:" + account)).All(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	var s int64
	for _, x := range es {
		s += x.Amount
	}
	return s
}

func (e *escrowEnv) runScheduler(t *testing.T) {
	t.Helper()
	if err := e.srv.Scheduler.RunOnce(t.Context()); err != nil {
		t.Fatal(err)
	}
}

func TestDealByWalletEndToEnd(t *testing.T) {
	e := newEscrow(t, nil)
	var prof struct{ UpdateProfile struct{ Name, Avatar string } }
	e.seller.Do(t, `mutation{updateProfile(nickname:" 郭利军 ", avatar:"https://img.example.com/a.jpg"){name avatar}}`, nil).Decode(t, &prof)
	if prof.UpdateProfile.Name != "郭利军" {
		t.Fatalf("profile: %+v", prof)
	}
	wantCode(t, e.seller.Do(t, `mutation{updateProfile(avatar:"javascript:alert(1)"){name}}`, nil), "BAD_USER_INPUT", 2)
	e.credit(t, e.buyerID, "100.00")

	o, ch := e.initDeal(t, e.buyer, "30.00", "WALLET", map[string]any{"chatId": "room_77340061", "skillId": "skill-1"})
	if ch != nil || o.Status != "PENDING" || o.Type != "DEAL" || o.Amount != "30.00" || o.Asset != "CNY" ||
		!regexp.MustCompile(`^[0-9a-f]{16}$`).MatchString(o.OrderNo) || o.ExpiresAt == nil || o.ChatID != "room_77340061" {
		t.Fatalf("new deal: %+v, charge %+v", o, ch)
	}
	if o.Payer.Name != "buyer" || o.Payee.Name != "郭利军" || o.Payee.Avatar != "https://img.example.com/a.jpg" {
		t.Fatalf("names and avatars: %+v %+v", o.Payer, o.Payee)
	}

	// No pay password yet, then the seller may not pay, then a wrong one.
	r, _ := payByWallet(e.buyer, o.ID, "123456")
	wantCode(t, r, "BAD_USER_INPUT", 2)
	setPayPassword(t, e.buyer, "123456")
	r, _ = payByWallet(e.seller, o.ID, "123456")
	wantCode(t, r, "FORBIDDEN")
	r, _ = payByWallet(e.buyer, o.ID, "654321")
	wantCode(t, r, "WRONG_PASSWORD", 4)
	wantCash(t, e.buyer, "100.00", "0.00", "0.00")

	paid := e.mustPayByWallet(t, e.buyer, o.ID, "123456")
	if paid.Status != "PAID" || paid.Channel != "wallet" || paid.PayWay != "WALLET" || paid.PaidAt == nil ||
		paid.AutoConfirmAt == nil || !paid.AutoConfirmAt.Equal(escrowStart.Add(24*time.Hour)) {
		t.Fatalf("paid: %+v", paid)
	}
	wantCash(t, e.buyer, "70.00", "0.00", "0.00")
	wantCash(t, e.seller, "0.00", "0.00", "30.00")
	var w struct {
		Wallets []struct{ Asset, Escrow string }
	}
	e.seller.Do(t, `{wallets{asset escrow}}`, nil).Decode(t, &w)
	if len(w.Wallets) != 1 || w.Wallets[0].Escrow != "30.00" {
		t.Fatalf("seller's wallet: %+v", w)
	}
	r, _ = payByWallet(e.buyer, o.ID, "123456")
	wantCode(t, r, "INVALID_TRANSITION")

	// The chat of a paid deal is open, for the two of them only.
	var sess struct {
		ChatSession struct{ ChatID, OrderID *string }
	}
	e.buyer.Do(t, `query($r:ID!){chatSession(receiverId:$r, skillId:"skill-1"){chatId orderId}}`, map[string]any{"r": e.sellerID}).Decode(t, &sess)
	if sess.ChatSession.ChatID == nil || *sess.ChatSession.ChatID != "room_77340061" || *sess.ChatSession.OrderID != o.ID {
		t.Fatalf("chat session: %+v", sess)
	}
	e.buyer.Do(t, `query($r:ID!){chatSession(receiverId:$r, skillId:"skill-2"){chatId orderId}}`, map[string]any{"r": e.sellerID}).Decode(t, &sess)
	if sess.ChatSession.ChatID != nil || sess.ChatSession.OrderID != nil {
		t.Fatalf("chat session of another skill: %+v", sess)
	}
	type status struct {
		ChatStatus struct {
			Should             bool
			PayTime, ExpiresAt *time.Time
		}
	}
	var st status
	e.seller.Do(t, `{chatStatus(chatId:"room_77340061"){should payTime expiresAt}}`, nil).Decode(t, &st)
	if !st.ChatStatus.Should || st.ChatStatus.PayTime == nil || !st.ChatStatus.ExpiresAt.Equal(st.ChatStatus.PayTime.Add(24*time.Hour)) {
		t.Fatalf("chat status: %+v", st)
	}
	_, other := e.newUser(t, "stranger")
	other.Do(t, `{chatStatus(chatId:"room_77340061"){should payTime expiresAt}}`, nil).Decode(t, &st)
	if st.ChatStatus.Should || st.ChatStatus.PayTime != nil {
		t.Fatalf("a stranger sees the chat: %+v", st)
	}

	// Pending money cannot be withdrawn; the deal cannot be commented yet;
	// only the buyer confirms.
	setPayPassword(t, e.seller, "seller-pw")
	wantCode(t, e.seller.Do(t, `mutation{withdraw(input:{amount:"1.00",payPassword:"seller-pw",alipayNo:"a@b.c",alipayName:"郭利军"}){id}}`, nil),
		"INSUFFICIENT_FUNDS", 10)
	wantCode(t, orderMutation(e.buyer, t, "commentOrder", o.ID, ",score:$s,comment:$c", map[string]any{"s": 5, "c": "好"}), "INVALID_TRANSITION")
	wantCode(t, orderMutation(e.seller, t, "confirmOrder", o.ID, "", nil), "FORBIDDEN")

	done := mustStatus(t, orderMutation(e.buyer, t, "confirmOrder", o.ID, "", nil), "confirmOrder", "COMPLETED")
	if done.CompletedAt == nil || done.StatusDesc != "交易完成" {
		t.Fatalf("confirmed: %+v", done)
	}
	wantCash(t, e.seller, "30.00", "30.00", "0.00")
	wantCode(t, orderMutation(e.buyer, t, "confirmOrder", o.ID, "", nil), "INVALID_TRANSITION")
	e.seller.Do(t, `{chatStatus(chatId:"room_77340061"){should payTime expiresAt}}`, nil).Decode(t, &st)
	if st.ChatStatus.Should {
		t.Fatalf("chat of a confirmed deal: %+v", st)
	}

	// One comment, by the buyer, score 1 to 5.
	wantCode(t, orderMutation(e.buyer, t, "commentOrder", o.ID, ",score:$s,comment:$c", map[string]any{"s": 6, "c": "好"}), "BAD_USER_INPUT", 2)
	wantCode(t, orderMutation(e.seller, t, "commentOrder", o.ID, ",score:$s,comment:$c", map[string]any{"s": 5, "c": "好"}), "FORBIDDEN")
	c := mustStatus(t, orderMutation(e.buyer, t, "commentOrder", o.ID, ",score:$s,comment:$c", map[string]any{"s": 5, "c": "很好"}), "commentOrder", "COMPLETED")
	if c.Score == nil || *c.Score != 5 || c.Comment != "很好" {
		t.Fatalf("comment: %+v", c)
	}
	wantCode(t, orderMutation(e.buyer, t, "commentOrder", o.ID, ",score:$s,comment:$c", map[string]any{"s": 1, "c": "差"}), "BAD_USER_INPUT")

	// The document's getOrder filters: type, status, uid (payer), receiverId (payee).
	var list struct{ Orders struct{ TotalCount int } }
	e.buyer.Do(t, `query($p:ID!,$r:ID!){orders(where:{type:DEAL,status:COMPLETED,payerID:$p,payeeID:$r}){totalCount}}`,
		map[string]any{"p": e.buyerID, "r": e.sellerID}).Decode(t, &list)
	if list.Orders.TotalCount != 1 {
		t.Fatalf("orders: %+v", list)
	}
	if n := e.postings(t, o.ID, "ESCROW_HOLD"); n != 2 {
		t.Fatalf("%d hold postings", n)
	}
	e.srv.AssertLedger(t)
}

func TestDealByChannelWebhookReplayForgeryAndAutoConfirm(t *testing.T) {
	e := newEscrow(t, nil)
	o, ch := e.initDeal(t, e.buyer, "12.34", "ALIPAY", nil)
	if ch == nil || !strings.HasPrefix(ch.ID, "ch_") || ch.Channel != "alipay" || ch.Amount != "12.34" || ch.Paid ||
		ch.OrderNo != o.OrderNo || ch.CashierURL != e.srv.URL+"/sandbox/pingpp/pay/"+ch.ID || !strings.Contains(ch.Credential, "alipay") {
		t.Fatalf("charge: %+v", ch)
	}
	if o.Status != "PROCESSING" || o.ProviderTradeNo != ch.ID || o.Channel != "pingpp" || o.PayWay != "ALIPAY" {
		t.Fatalf("order handed to Ping++: %+v", o)
	}
	resp, err := e.srv.HTTP.Client().Get(e.srv.URL + "/sandbox/pingpp/pay/" + ch.ID)
	if err != nil {
		t.Fatal(err)
	}
	page, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 200 || !strings.Contains(string(page), "12.34") {
		t.Fatalf("cashier: %d %s", resp.StatusCode, page)
	}

	// A forged charge.succeeded (signed with another key) changes nothing.
	forger, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	forged := []byte(fmt.Sprintf(`{"id":"evt_forged","object":"event","type":"charge.succeeded","data":{"object":{"id":%q,"object":"charge","paid":true,"app":"app_sandbox","channel":"alipay","order_no":%q,"amount":1234,"currency":"cny"}}}`, ch.ID, o.OrderNo))
	sum := sha256.Sum256(forged)
	sig, _ := rsa.SignPKCS1v15(rand.Reader, forger, crypto.SHA256, sum[:])
	if code, reply := e.webhook(t, forged, base64.StdEncoding.EncodeToString(sig)); code != http.StatusUnauthorized || reply == "success" {
		t.Fatalf("forged webhook answered %d %q", code, reply)
	}
	if got := e.order(t, e.buyer, o.ID); got.Status != "PROCESSING" {
		t.Fatalf("after a forged webhook: %s", got.Status)
	}

	// Asking again returns the open charge; another channel is refused while it is open.
	var again struct{ PayByChannel struct{ Charge charge } }
	e.buyer.Do(t, `mutation($id:ID!){payByChannel(orderId:$id,channel:ALIPAY){charge{id}}}`, map[string]any{"id": o.ID}).Decode(t, &again)
	if again.PayByChannel.Charge.ID != ch.ID {
		t.Fatalf("second payByChannel made charge %s", again.PayByChannel.Charge.ID)
	}
	wantCode(t, e.buyer.Do(t, `mutation($id:ID!){payByChannel(orderId:$id,channel:WX){charge{id}}}`, map[string]any{"id": o.ID}), "BAD_USER_INPUT")
	r, _ := payByWallet(e.buyer, o.ID, "whatever")
	wantCode(t, r, "INVALID_TRANSITION")

	if msg := e.sandboxPay(t, ch.ID, "success"); !strings.Contains(msg, "webhook answered 200 success") {
		t.Fatalf("sandbox: %s", msg)
	}
	paid := e.order(t, e.buyer, o.ID)
	if paid.Status != "PAID" || paid.PaidAt == nil || paid.AutoConfirmAt == nil || paid.ProviderTradeNo != ch.ID {
		t.Fatalf("paid by webhook: %+v", paid)
	}
	wantCash(t, e.seller, "0.00", "0.00", "12.34")
	wantCash(t, e.buyer, "0.00", "0.00", "0.00")
	if s := e.worldSum(t, "pingpp"); s != -1234 {
		t.Fatalf("world:pingpp is %d", s)
	}

	// The genuine webhook replayed is answered as success and changes
	// nothing; with one byte changed it is refused.
	evs := e.srv.PingppSandbox.Events()
	if len(evs) != 1 || evs[0].Type != "charge.succeeded" {
		t.Fatalf("sandbox events: %+v", evs)
	}
	for range 3 {
		if code, reply := e.webhook(t, evs[0].Body, evs[0].Signature); code != 200 || reply != "success" {
			t.Fatalf("replay answered %d %q", code, reply)
		}
	}
	tampered := bytes.Replace(evs[0].Body, []byte(`"amount":1234`), []byte(`"amount":1235`), 1)
	if code, _ := e.webhook(t, tampered, evs[0].Signature); code != http.StatusUnauthorized {
		t.Fatalf("tampered webhook answered %d", code)
	}
	if n := e.postings(t, o.ID, "ESCROW_HOLD"); n != 2 {
		t.Fatalf("%d hold postings after replays", n)
	}
	wantCash(t, e.seller, "0.00", "0.00", "12.34")
	var cbs struct {
		CallbackEvents struct {
			Edges []struct{ Node struct{ Verdict string } }
		}
	}
	e.admin.Do(t, `{callbackEvents(first:20){edges{node{verdict}}}}`, nil).Decode(t, &cbs)
	verdicts := map[string]int{}
	for _, ed := range cbs.CallbackEvents.Edges {
		verdicts[ed.Node.Verdict]++
	}
	if verdicts["APPLIED"] != 1 || verdicts["DUPLICATE"] != 3 || verdicts["REJECTED"] != 2 {
		t.Fatalf("callback verdicts: %v", verdicts)
	}

	// Auto-confirm: not a minute early, then once, even with several
	// schedulers running at the same time.
	e.clock.Advance(24*time.Hour - time.Minute)
	e.runScheduler(t)
	if got := e.order(t, e.buyer, o.ID); got.Status != "PAID" {
		t.Fatalf("released early: %s", got.Status)
	}
	e.clock.Advance(2 * time.Minute)
	var wg sync.WaitGroup
	for range 4 {
		wg.Add(1)
		go func() { defer wg.Done(); _ = e.srv.Scheduler.RunOnce(t.Context()) }()
	}
	wg.Wait()
	done := e.order(t, e.seller, o.ID)
	if done.Status != "COMPLETED" || done.CompletedAt == nil {
		t.Fatalf("after auto-confirm: %+v", done)
	}
	wantCash(t, e.seller, "12.34", "12.34", "0.00")
	if n := e.postings(t, o.ID, "ESCROW_RELEASE"); n != 2 {
		t.Fatalf("%d release postings", n)
	}
	var hist struct {
		Order struct{ Events []struct{ To, Actor string } }
	}
	e.seller.Do(t, `query($id:ID!){order(id:$id){events{to actor}}}`, map[string]any{"id": o.ID}).Decode(t, &hist)
	last := hist.Order.Events[len(hist.Order.Events)-1]
	if last.To != "COMPLETED" || last.Actor != "system" {
		t.Fatalf("history: %+v", hist.Order.Events)
	}
	e.srv.AssertLedger(t)
}

func TestChannelChargeFailedThenPaidAnew(t *testing.T) {
	e := newEscrow(t, nil)
	o, ch := e.initDeal(t, e.buyer, "5.00", "WX", nil)
	if msg := e.sandboxPay(t, ch.ID, "fail"); !strings.Contains(msg, "failed") {
		t.Fatalf("sandbox: %s", msg)
	}
	if got := e.order(t, e.buyer, o.ID); got.Status != "PROCESSING" {
		t.Fatalf("after a failed charge: %s", got.Status)
	}
	var again struct {
		PayByChannel struct {
			Charge charge
			Order  dealOrder
		}
	}
	e.buyer.Do(t, `mutation($id:ID!){payByChannel(orderId:$id,channel:ALIPAY){charge{`+chargeFields+`} order{`+dealFields+`}}}`,
		map[string]any{"id": o.ID}).Decode(t, &again)
	nc := again.PayByChannel.Charge
	if nc.ID == ch.ID || nc.Channel != "alipay" || again.PayByChannel.Order.ProviderTradeNo != nc.ID || again.PayByChannel.Order.PayWay != "ALIPAY" {
		t.Fatalf("new charge: %+v, order %+v", nc, again.PayByChannel.Order)
	}
	e.sandboxPay(t, nc.ID, "success")
	if got := e.order(t, e.buyer, o.ID); got.Status != "PAID" {
		t.Fatalf("after paying the new charge: %s", got.Status)
	}
	wantCash(t, e.seller, "0.00", "0.00", "5.00")
	// An unpaid order past its expiry is expired by the scheduler; its
	// charge can no longer be paid.
	o2, ch2 := e.initDeal(t, e.buyer, "1.00", "ALIPAY", nil)
	e.clock.Advance(31 * time.Minute)
	e.runScheduler(t)
	if got := e.order(t, e.buyer, o2.ID); got.Status != "EXPIRED" {
		t.Fatalf("unpaid deal after its expiry: %s", got.Status)
	}
	resp, err := e.srv.HTTP.Client().PostForm(e.srv.URL+"/sandbox/pingpp/pay/"+ch2.ID, url.Values{"result": {"success"}})
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusConflict {
		t.Fatalf("paying an expired charge: %d", resp.StatusCode)
	}
	wantCode(t, e.buyer.Do(t, `mutation($id:ID!){payByChannel(orderId:$id,channel:ALIPAY){charge{id}}}`, map[string]any{"id": o2.ID}), "ORDER_EXPIRED")
	e.srv.AssertLedger(t)
}

func TestConcurrentPayByWalletAgainstAShortBalance(t *testing.T) {
	e := newEscrow(t, nil)
	e.credit(t, e.buyerID, "5.00")
	setPayPassword(t, e.buyer, "123456")
	ids := make([]string, 20)
	for i := range ids {
		o, _ := e.initDeal(t, e.buyer, "1.00", "WALLET", nil)
		ids[i] = o.ID
	}
	codes := concurrently(t, len(ids), func(i int) (*testutil.Response, error) { return payByWallet(e.buyer, ids[i], "123456") })
	if codes[""] != 5 || codes["INSUFFICIENT_FUNDS"] != 15 {
		t.Fatalf("outcomes: %v", codes)
	}
	wantCash(t, e.buyer, "0.00", "0.00", "0.00")
	wantCash(t, e.seller, "0.00", "0.00", "5.00")
	paid := 0
	for _, id := range ids {
		switch s := e.order(t, e.buyer, id).Status; s {
		case "PAID":
			paid++
		case "PENDING":
		default:
			t.Fatalf("order %s is %s", id, s)
		}
	}
	if paid != 5 {
		t.Fatalf("%d orders paid", paid)
	}
	// A short balance is INSUFFICIENT_FUNDS with the escrow marketplace's code 10, and
	// the password tries of successful payments were forgiven.
	for _, id := range ids {
		if e.order(t, e.buyer, id).Status == "PENDING" {
			r, _ := payByWallet(e.buyer, id, "123456")
			wantCode(t, r, "INSUFFICIENT_FUNDS", 10)
			break
		}
	}
	e.srv.AssertLedger(t)
}

func TestPayPasswordLockout(t *testing.T) {
	e := newEscrow(t, nil)
	e.credit(t, e.buyerID, "10.00")
	wantCode(t, e.buyer.Do(t, `mutation{setPayPassword(newPassword:"12345"){id}}`, nil), "BAD_USER_INPUT", 2)
	setPayPassword(t, e.buyer, "123456")
	// Changing it needs the old one; a wrong old one is a wrong try.
	wantCode(t, e.buyer.Do(t, `mutation{setPayPassword(newPassword:"999999"){id}}`, nil), "BAD_USER_INPUT", 2)
	wantCode(t, e.buyer.Do(t, `mutation{setPayPassword(newPassword:"999999",oldPassword:"000000"){id}}`, nil), "WRONG_PASSWORD", 4)
	o, _ := e.initDeal(t, e.buyer, "3.00", "WALLET", nil)
	for i := 0; i < 4; i++ {
		r, _ := payByWallet(e.buyer, o.ID, fmt.Sprintf("bad-%d", i))
		wantCode(t, r, "WRONG_PASSWORD", 4)
	}
	// Five wrong tries (each in a payment that failed): now even the right
	// password is LOCKED, and nothing moved.
	r, _ := payByWallet(e.buyer, o.ID, "123456")
	wantCode(t, r, "LOCKED")
	wantCode(t, e.buyer.Do(t, `mutation{setPayPassword(newPassword:"999999",oldPassword:"123456"){id}}`, nil), "LOCKED")
	wantCash(t, e.buyer, "10.00", "0.00", "0.00")
	e.clock.Advance(14 * time.Minute)
	r, _ = payByWallet(e.buyer, o.ID, "123456")
	wantCode(t, r, "LOCKED")
	e.clock.Advance(time.Minute)
	if p := e.mustPayByWallet(t, e.buyer, o.ID, "123456"); p.Status != "PAID" {
		t.Fatalf("after the lock: %s", p.Status)
	}
	// The counter started again: four wrong tries do not lock.
	o2, _ := e.initDeal(t, e.buyer, "1.00", "WALLET", nil)
	for i := 0; i < 4; i++ {
		r, _ := payByWallet(e.buyer, o2.ID, "nope-nope")
		wantCode(t, r, "WRONG_PASSWORD", 4)
	}
	e.mustPayByWallet(t, e.buyer, o2.ID, "123456")

	// Concurrent guesses cannot get past the limit.
	id, guesser := e.newUser(t, "guesser")
	e.credit(t, id, "1.00")
	setPayPassword(t, guesser, "right-password")
	o3, _ := e.initDeal(t, guesser, "1.00", "WALLET", nil)
	codes := concurrently(t, 12, func(i int) (*testutil.Response, error) {
		return payByWallet(guesser, o3.ID, fmt.Sprintf("guess-%02d", i))
	})
	if codes["WRONG_PASSWORD"] != 5 || codes["LOCKED"] != 7 {
		t.Fatalf("concurrent guesses: %v", codes)
	}

	// confirmPassword checks the login password under the same limits, on
	// its own counter.
	var ok struct{ ConfirmPassword bool }
	e.buyer.Do(t, `mutation{confirmPassword(password:"password-buyer")}`, nil).Decode(t, &ok)
	if !ok.ConfirmPassword {
		t.Fatal("confirmPassword refused the right password")
	}
	for i := 0; i < 5; i++ {
		wantCode(t, e.buyer.Do(t, `mutation{confirmPassword(password:"wrong-one")}`, nil), "WRONG_PASSWORD", 4)
	}
	wantCode(t, e.buyer.Do(t, `mutation{confirmPassword(password:"password-buyer")}`, nil), "LOCKED")
	o4, _ := e.initDeal(t, e.buyer, "1.00", "WALLET", nil)
	e.mustPayByWallet(t, e.buyer, o4.ID, "123456") // the pay password is not locked
	e.clock.Advance(15 * time.Minute)
	e.buyer.Do(t, `mutation{confirmPassword(password:"password-buyer")}`, nil).Decode(t, &ok)
	e.srv.AssertLedger(t)
}

func (e *escrowEnv) paidDeal(t *testing.T, amount string, confirm bool) dealOrder {
	t.Helper()
	o, _ := e.initDeal(t, e.buyer, amount, "WALLET", nil)
	e.mustPayByWallet(t, e.buyer, o.ID, "123456")
	if confirm {
		mustStatus(t, orderMutation(e.buyer, t, "confirmOrder", o.ID, "", nil), "confirmOrder", "COMPLETED")
	}
	return o
}

func applyRefund(t *testing.T, c *testutil.Client, id string) *testutil.Response {
	return orderMutation(c, t, "applyRefund", id, ",reason:$r", map[string]any{"r": "tobad!!!"})
}

func TestRefundsOfWalletDealsBeforeAndAfterConfirm(t *testing.T) {
	e := newEscrow(t, nil)
	e.credit(t, e.buyerID, "100.00")
	setPayPassword(t, e.buyer, "123456")
	setPayPassword(t, e.seller, "seller-pw")
	_, stranger := e.newUser(t, "stranger")

	// Before confirmation: the money comes back out of escrow, and the
	// request stops the auto-confirm.
	d1 := e.paidDeal(t, "10.00", false)
	wantCode(t, applyRefund(t, e.seller, d1.ID), "FORBIDDEN")
	wantCode(t, orderMutation(e.buyer, t, "applyRefund", d1.ID, ",reason:$r", map[string]any{"r": " "}), "BAD_USER_INPUT", 2)
	req := mustStatus(t, applyRefund(t, e.buyer, d1.ID), "applyRefund", "REFUND_REQUESTED")
	if req.RefundReason != "tobad!!!" {
		t.Fatalf("refund reason: %+v", req)
	}
	e.clock.Advance(25 * time.Hour)
	e.runScheduler(t)
	if got := e.order(t, e.buyer, d1.ID); got.Status != "REFUND_REQUESTED" {
		t.Fatalf("a disputed deal was released: %s", got.Status)
	}
	wantCode(t, orderMutation(stranger, t, "approveRefund", d1.ID, "", nil), "FORBIDDEN")
	wantCode(t, orderMutation(e.buyer, t, "approveRefund", d1.ID, "", nil), "FORBIDDEN")
	mustStatus(t, orderMutation(e.seller, t, "approveRefund", d1.ID, "", nil), "approveRefund", "REFUNDED")
	wantCash(t, e.buyer, "100.00", "0.00", "0.00")
	wantCash(t, e.seller, "0.00", "0.00", "0.00")
	wantCode(t, orderMutation(e.seller, t, "approveRefund", d1.ID, "", nil), "INVALID_TRANSITION")
	wantCode(t, orderMutation(e.seller, t, "rejectRefund", d1.ID, ",reason:$r", map[string]any{"r": "no"}), "INVALID_TRANSITION")

	// After confirmation: from the seller's withdrawable balance.
	d2 := e.paidDeal(t, "10.00", true)
	wantCash(t, e.seller, "10.00", "10.00", "0.00")
	mustStatus(t, applyRefund(t, e.buyer, d2.ID), "applyRefund", "REFUND_REQUESTED")
	mustStatus(t, orderMutation(e.admin, t, "approveRefund", d2.ID, "", nil), "approveRefund", "REFUNDED")
	wantCash(t, e.seller, "0.00", "0.00", "0.00")
	wantCash(t, e.buyer, "100.00", "0.00", "0.00")

	// A seller who withdrew the earnings cannot be refunded from; the
	// request can still be rejected.
	d3 := e.paidDeal(t, "10.00", true)
	e.seller.Do(t, `mutation{withdraw(input:{amount:"10.00",payPassword:"seller-pw",alipayNo:"s@x.cn",alipayName:"S"}){id}}`, nil).Decode(t, &struct{}{})
	mustStatus(t, applyRefund(t, e.buyer, d3.ID), "applyRefund", "REFUND_REQUESTED")
	wantCode(t, orderMutation(e.seller, t, "approveRefund", d3.ID, "", nil), "INSUFFICIENT_FUNDS", 10)
	if got := e.order(t, e.buyer, d3.ID); got.Status != "REFUND_REQUESTED" {
		t.Fatalf("after a refused approval: %s", got.Status)
	}
	mustStatus(t, orderMutation(e.admin, t, "rejectRefund", d3.ID, ",reason:$r", map[string]any{"r": "service was delivered"}), "rejectRefund", "REFUND_REJECTED")
	wantCash(t, e.buyer, "90.00", "0.00", "0.00")

	// Rejecting a request on a deal still in escrow settles it for the seller.
	d4 := e.paidDeal(t, "7.00", false)
	mustStatus(t, applyRefund(t, e.buyer, d4.ID), "applyRefund", "REFUND_REQUESTED")
	rej := mustStatus(t, orderMutation(e.seller, t, "rejectRefund", d4.ID, ",reason:$r", map[string]any{"r": "delivered"}), "rejectRefund", "REFUND_REJECTED")
	if rej.CompletedAt == nil {
		t.Fatalf("rejected: %+v", rej)
	}
	wantCash(t, e.seller, "7.00", "7.00", "0.00")

	// The refund window after confirmation closes.
	d5 := e.paidDeal(t, "1.00", true)
	e.clock.Advance(7*24*time.Hour + time.Second)
	wantCode(t, applyRefund(t, e.buyer, d5.ID), "INVALID_TRANSITION")
	e.srv.AssertLedger(t)
}

func TestRefundsThroughPingpp(t *testing.T) {
	e := newEscrow(t, testutil.Env{"PAYGRAPH_ESCROW_REFUND_WINDOW": "1h"})
	// Before confirmation.
	o, ch := e.initDeal(t, e.buyer, "20.00", "WX", nil)
	e.sandboxPay(t, ch.ID, "success")
	mustStatus(t, applyRefund(t, e.buyer, o.ID), "applyRefund", "REFUND_REQUESTED")
	mustStatus(t, orderMutation(e.seller, t, "approveRefund", o.ID, "", nil), "approveRefund", "REFUNDED")
	wantCash(t, e.seller, "0.00", "0.00", "0.00")
	wantCash(t, e.buyer, "0.00", "0.00", "0.00") // the money went back through Ping++
	if s := e.worldSum(t, "pingpp"); s != 0 {
		t.Fatalf("world:pingpp is %d after the refund", s)
	}
	evs := e.srv.PingppSandbox.Events()
	if len(evs) != 2 || evs[1].Type != "refund.succeeded" || evs[1].Delivery.Status != 200 {
		t.Fatalf("sandbox events: %+v", evs)
	}
	// The refund webhook replayed changes nothing.
	if code, reply := e.webhook(t, evs[1].Body, evs[1].Signature); code != 200 || reply != "success" {
		t.Fatalf("refund replay: %d %q", code, reply)
	}
	if n := e.postings(t, o.ID, "REFUND"); n != 2 {
		t.Fatalf("%d refund postings", n)
	}

	// After confirmation, within the window.
	o2, ch2 := e.initDeal(t, e.buyer, "8.00", "ALIPAY", nil)
	e.sandboxPay(t, ch2.ID, "success")
	mustStatus(t, orderMutation(e.buyer, t, "confirmOrder", o2.ID, "", nil), "confirmOrder", "COMPLETED")
	wantCash(t, e.seller, "8.00", "8.00", "0.00")
	mustStatus(t, applyRefund(t, e.buyer, o2.ID), "applyRefund", "REFUND_REQUESTED")
	mustStatus(t, orderMutation(e.admin, t, "approveRefund", o2.ID, "", nil), "approveRefund", "REFUNDED")
	wantCash(t, e.seller, "0.00", "0.00", "0.00")
	if s := e.worldSum(t, "pingpp"); s != 0 {
		t.Fatalf("world:pingpp is %d", s)
	}
	if s := e.worldSum(t, "pingpp-refunding"); s != 0 {
		t.Fatalf("world:pingpp-refunding is %d", s)
	}

	// Past the (configured) window.
	o3, ch3 := e.initDeal(t, e.buyer, "1.00", "ALIPAY", nil)
	e.sandboxPay(t, ch3.ID, "success")
	mustStatus(t, orderMutation(e.buyer, t, "confirmOrder", o3.ID, "", nil), "confirmOrder", "COMPLETED")
	e.clock.Advance(time.Hour)
	wantCode(t, applyRefund(t, e.buyer, o3.ID), "INVALID_TRANSITION")
	e.srv.AssertLedger(t)
}

type withdrawal struct {
	ID, Type, Status, Amount string
	AlipayNo, AlipayName     *string
	ExpiresAt                *time.Time
}

var withdrawFields = `id type status amount alipayNo alipayName expiresAt ` + testutil.EveryEdge("Order")

func withdraw(t *testing.T, c *testutil.Client, amount, pw string, key string) *testutil.Response {
	in := map[string]any{"amount": amount, "payPassword": pw, "alipayNo": "13800000000", "alipayName": "张三"}
	if key != "" {
		in["idempotencyKey"] = key
	}
	return c.Do(t, `mutation($in:WithdrawInput!){withdraw(input:$in){`+withdrawFields+`}}`, map[string]any{"in": in})
}

func TestRechargeAndWithdrawals(t *testing.T) {
	e := newEscrow(t, nil)
	setPayPassword(t, e.buyer, "123456")
	setPayPassword(t, e.seller, "seller-pw")

	// A recharge through Ping++ is available but not withdrawable cash.
	var rc struct {
		Recharge struct {
			Order  struct{ ID, Type, Status, Amount string }
			Charge charge
		}
	}
	e.buyer.Do(t, `mutation{recharge(amount:"50.00",channel:ALIPAY){order{id type status amount} charge{`+chargeFields+`}}}`, nil).Decode(t, &rc)
	if rc.Recharge.Order.Type != "RECHARGE" || rc.Recharge.Order.Status != "PROCESSING" || rc.Recharge.Charge.Amount != "50.00" {
		t.Fatalf("recharge: %+v", rc.Recharge)
	}
	e.sandboxPay(t, rc.Recharge.Charge.ID, "success")
	wantCash(t, e.buyer, "50.00", "0.00", "0.00")
	wantCode(t, withdraw(t, e.buyer, "10.00", "123456", ""), "INSUFFICIENT_FUNDS", 10)
	wantCode(t, e.buyer.Do(t, `mutation{recharge(amount:"0",channel:WX){order{id}}}`, nil), "BAD_USER_INPUT", 2)

	// The seller earns 30.00 from a deal.
	o, _ := e.initDeal(t, e.buyer, "30.00", "WALLET", nil)
	e.mustPayByWallet(t, e.buyer, o.ID, "123456")
	mustStatus(t, orderMutation(e.buyer, t, "confirmOrder", o.ID, "", nil), "confirmOrder", "COMPLETED")
	wantCash(t, e.seller, "30.00", "30.00", "0.00")

	wantCode(t, withdraw(t, e.seller, "30.01", "seller-pw", ""), "INSUFFICIENT_FUNDS", 10)
	wantCode(t, withdraw(t, e.seller, "25.00", "wrong-pw", ""), "WRONG_PASSWORD", 4)
	wantCode(t, withdraw(t, e.seller, "25.001", "seller-pw", ""), "BAD_USER_INPUT", 2)
	wantCash(t, e.seller, "30.00", "30.00", "0.00")

	// Keyed: asked twice, done once.
	var w1, w1again struct{ Withdraw withdrawal }
	withdraw(t, e.seller, "25.00", "seller-pw", "wd-1").Decode(t, &w1)
	withdraw(t, e.seller, "25.00", "seller-pw", "wd-1").Decode(t, &w1again)
	if w := w1.Withdraw; w.Type != "WITHDRAWAL" || w.Status != "PROCESSING" || w.Amount != "25.00" || w.ExpiresAt != nil ||
		w.AlipayNo == nil || *w.AlipayNo != "13800000000" || *w.AlipayName != "张三" || w1again.Withdraw.ID != w.ID {
		t.Fatalf("withdrawal: %+v / %+v", w, w1again.Withdraw)
	}
	wantCash(t, e.seller, "5.00", "5.00", "0.00")
	if s := e.worldSum(t, "withdrawal-pending"); s != 2500 {
		t.Fatalf("withdrawal-pending holds %d", s)
	}

	// A pending withdrawal never expires.
	e.clock.Advance(31 * 24 * time.Hour)
	e.runScheduler(t)
	id := w1.Withdraw.ID
	wantCode(t, orderMutation(e.seller, t, "completeWithdrawal", id, "", nil), "FORBIDDEN")
	done := mustStatus(t, orderMutation(e.admin, t, "completeWithdrawal", id, "", nil), "completeWithdrawal", "COMPLETED")
	if done.PaidAt == nil || done.CompletedAt == nil {
		t.Fatalf("completed withdrawal: %+v", done)
	}
	wantCode(t, orderMutation(e.admin, t, "completeWithdrawal", id, "", nil), "INVALID_TRANSITION")
	wantCode(t, orderMutation(e.admin, t, "rejectWithdrawal", id, ",reason:$r", map[string]any{"r": "late"}), "INVALID_TRANSITION")
	if s, out := e.worldSum(t, "withdrawal-pending"), e.worldSum(t, "withdrawal"); s != 0 || out != 2500 {
		t.Fatalf("pending %d, paid out %d", s, out)
	}

	// A refused withdrawal gives the money back, still withdrawable.
	var w2 struct{ Withdraw withdrawal }
	withdraw(t, e.seller, "5.00", "seller-pw", "").Decode(t, &w2)
	wantCash(t, e.seller, "0.00", "0.00", "0.00")
	wantCode(t, orderMutation(e.admin, t, "rejectWithdrawal", w2.Withdraw.ID, ",reason:$r", map[string]any{"r": ""}), "BAD_USER_INPUT")
	mustStatus(t, orderMutation(e.admin, t, "rejectWithdrawal", w2.Withdraw.ID, ",reason:$r", map[string]any{"r": "account name does not match"}), "rejectWithdrawal", "FAILED")
	wantCash(t, e.seller, "5.00", "5.00", "0.00")
	wantCode(t, orderMutation(e.admin, t, "completeWithdrawal", w2.Withdraw.ID, "", nil), "INVALID_TRANSITION")
	// Other people's withdrawals stay private.
	wantCode(t, e.buyer.Do(t, `query($id:ID!){order(id:$id){id}}`, map[string]any{"id": id}), "FORBIDDEN")
	e.srv.AssertLedger(t)
}

func TestDealInputErrorsChangeNothing(t *testing.T) {
	e := newEscrow(t, nil)
	e.credit(t, e.buyerID, "10.00")
	cases := []struct {
		in     map[string]any
		code   string
		legacy int
	}{
		{map[string]any{"amount": "0"}, "BAD_USER_INPUT", 2},
		{map[string]any{"amount": "-1.00"}, "BAD_USER_INPUT", 2},
		{map[string]any{"amount": "1.001"}, "BAD_USER_INPUT", 2},
		{map[string]any{"amount": "1000000.01"}, "BAD_USER_INPUT", 2},
		{map[string]any{"subject": "  "}, "BAD_USER_INPUT", 2},
		{map[string]any{"receiverId": e.buyerID}, "BAD_USER_INPUT", 2},
		{map[string]any{"receiverId": "12345"}, "NOT_FOUND", 7},
		{map[string]any{"chatId": strings.Repeat("x", 65)}, "BAD_USER_INPUT", 2},
	}
	for _, c := range cases {
		in := map[string]any{"subject": "s", "amount": "1.00", "receiverId": e.sellerID, "channel": "WALLET"}
		for k, v := range c.in {
			in[k] = v
		}
		r := e.buyer.Do(t, `mutation($in:InitDealOrderInput!){initDealOrder(input:$in){order{id}}}`, map[string]any{"in": in})
		wantCode(t, r, c.code, c.legacy)
	}
	wantCode(t, e.buyer.Do(t, `mutation($in:InitDealOrderInput!){initDealOrder(input:$in){order{id}}}`, map[string]any{"in": map[string]any{
		"subject": "s", "amount": 1, "receiverId": e.sellerID, "channel": "WALLET"}}), "BAD_USER_INPUT")
	wantCode(t, e.buyer.Do(t, `mutation($in:InitDealOrderInput!){initDealOrder(input:$in){order{id}}}`, map[string]any{"in": map[string]any{
		"subject": "s", "amount": "1.00", "receiverId": e.sellerID, "channel": "PAYPAL"}}), "BAD_USER_INPUT")
	wantCode(t, e.admin.Do(t, `mutation($in:InitDealOrderInput!){initDealOrder(input:$in){order{id}}}`, map[string]any{"in": map[string]any{
		"subject": "s", "amount": "1.00", "receiverId": e.sellerID, "channel": "WALLET"}}), "FORBIDDEN")
	r, _ := payByWallet(e.buyer, "999", "123456")
	wantCode(t, r, "NOT_FOUND", 6)
	wantCode(t, orderMutation(e.buyer, t, "confirmOrder", "999", "", nil), "NOT_FOUND", 6)
	n, err := e.srv.DB.Ent.Order.Query().Where(order.TypeEQ(order.TypeDEAL)).Count(t.Context())
	if err != nil || n != 0 {
		t.Fatalf("%d deals after bad input (%v)", n, err)
	}
	wantCash(t, e.buyer, "10.00", "0.00", "0.00")

	// A keyed initDealOrder replays; the same key with other input conflicts.
	in := map[string]any{"subject": "s", "amount": "2.00", "receiverId": e.sellerID, "channel": "ALIPAY", "idempotencyKey": "deal-1"}
	var a, b struct {
		InitDealOrder struct {
			Order  struct{ ID string }
			Charge struct{ ID string }
		}
	}
	q := `mutation($in:InitDealOrderInput!){initDealOrder(input:$in){order{id} charge{id}}}`
	e.buyer.Do(t, q, map[string]any{"in": in}).Decode(t, &a)
	e.buyer.Do(t, q, map[string]any{"in": in}).Decode(t, &b)
	if a.InitDealOrder.Order.ID != b.InitDealOrder.Order.ID || a.InitDealOrder.Charge.ID == "" || a.InitDealOrder.Charge.ID != b.InitDealOrder.Charge.ID {
		t.Fatalf("replay: %+v vs %+v", a, b)
	}
	in["amount"] = "3.00"
	wantCode(t, e.buyer.Do(t, q, map[string]any{"in": in}), "IDEMPOTENCY_CONFLICT")
	e.srv.AssertLedger(t)
}

// With a real Ping++ configured (here unreachable), a charge that cannot be
// created is PROVIDER_ERROR and leaves no order waiting; the sandbox is
// off; and the real Ping++ key verifies the real webhook, which pays a deal.
func TestRealPingppConfigured(t *testing.T) {
	e := newEscrow(t, testutil.Env{
		"PAYGRAPH_PINGPP_URL":        "http://127.0.0.1:1",
		"PAYGRAPH_PINGPP_APP_ID":     "app_vcPcqDeS88ixrPlu",
		"PAYGRAPH_PINGPP_SECRET_KEY": "sk_live_x",
		"PAYGRAPH_PINGPP_PUBLIC_KEY": testPublicKeyPEM,
	})
	if e.srv.PingppSandbox != nil {
		t.Fatal("the sandbox runs although a real Ping++ is configured")
	}
	r := e.buyer.Do(t, `mutation($in:InitDealOrderInput!){initDealOrder(input:$in){order{id}}}`, map[string]any{"in": map[string]any{
		"subject": "s", "amount": "1.00", "receiverId": e.sellerID, "channel": "ALIPAY"}})
	wantCode(t, r, "PROVIDER_ERROR")
	all, err := e.srv.DB.Ent.Order.Query().All(t.Context())
	if err != nil || len(all) != 1 || all[0].Status != order.StatusCANCELLED {
		t.Fatalf("orders after a failed charge: %v %v", all, err)
	}
	// The sandbox's key is not trusted with a real Ping++.
	resp, err := e.srv.HTTP.Client().Get(e.srv.URL + "/sandbox/pingpp/")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusNotFound {
		t.Fatalf("sandbox route with a real Ping++: %d", resp.StatusCode)
	}

	// The public vector (a genuine charge.succeeded for order_no
	// 2015d019f7cf6c0d, 100 fen) pays a deal of that number.
	var buyer, seller int64
	fmt.Sscan(e.buyerID, &buyer)
	fmt.Sscan(e.sellerID, &seller)
	o, err := e.srv.DB.Ent.Order.Create().SetOrderNo("2015d019f7cf6c0d").SetType(order.TypeDEAL).SetAppID(1).
		SetPayerID(buyer).SetPayeeID(seller).SetAmount(100).SetAsset("CNY").SetChannel("pingpp").
		SetStatus(order.StatusPROCESSING).Save(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	body, err := os.ReadFile("../provider/pingpp/testdata/webhook_charge_succeeded.json")
	if err != nil {
		t.Fatal(err)
	}
	sig, err := os.ReadFile("../provider/pingpp/testdata/webhook_charge_succeeded.signature")
	if err != nil {
		t.Fatal(err)
	}
	if code, reply := e.webhook(t, body, strings.TrimSpace(string(sig))); code != 200 || reply != "success" {
		t.Fatalf("the Ping++ vector answered %d %q", code, reply)
	}
	got := e.order(t, e.buyer, fmt.Sprint(o.ID))
	if got.Status != "PAID" || got.ProviderTradeNo != "ch_bq9IHKnn6GnLzsS0swOujr4x" || got.AutoConfirmAt == nil {
		t.Fatalf("after the vector: %+v", got)
	}
	wantCash(t, e.seller, "0.00", "0.00", "1.00")
	b := bytes.Clone(body)
	b[100] ^= 1
	if code, _ := e.webhook(t, b, strings.TrimSpace(string(sig))); code != http.StatusUnauthorized {
		t.Fatalf("a changed byte answered %d", code)
	}
	e.srv.AssertLedger(t)
}

// testPublicKeyPEM is Ping++'s public key from its SDK (the test vector's).
const testPublicKeyPEM = `-----BEGIN PUBLIC KEY-----
MIIBIjANBgkqhkiG9w0BAQEFAAOCAQ8AMIIBCgKCAQEAy0d0QxZFYeHXGeWWneib
4Q0jUFjj4ro7bMnIJ8DjZ4w2NtLJi8p1mcFMbrIS5g95U5FUBCfAZXFb2QIaJfft
BByCQRbon7Jb97XoTP6kfk65tLz8Q9Cank1Ah/qivPIY0aNwvq8stedq9rcuJ6OQ
ncbfQ1217/Za50vKotYa+MEcFo9Y65biEmzq7BZeNYzuU4dGrPaCi917cfwNa8ey
ZSpoIOBe8e5JGOtZKCfgsgfecbXxdh6jq8Qn6mmrJILapEdxlj4xfzBzAuM3snqt
5XnDzzFWlI5Z+4lhyZr7eFVmnQSqn1HWt4VPzz/EWvxP8Rkvy89XuRXBAiO3/7Ur
8wIDAQAB
-----END PUBLIC KEY-----
`

// flakyPingpp fails refunds as told, and otherwise asks the sandbox.
type flakyPingpp struct {
	escrow.Charges
	mu sync.Mutex
	// next is what the next CreateRefund does: "" asks the sandbox,
	// "refuse" is a definite refusal, "lost" never reaches Ping++, "unanswered"
	// refunds but loses the answer.
	next string
}

func (f *flakyPingpp) CreateRefund(ctx context.Context, chargeID string, amount int64, desc string) (*pingpp.Refund, error) {
	f.mu.Lock()
	next := f.next
	f.next = ""
	f.mu.Unlock()
	switch next {
	case "refuse":
		return nil, pingpp.Refused(http.StatusBadRequest, "余额不足")
	case "lost":
		return nil, pingpp.ErrUnreachable
	case "unanswered":
		_, _ = f.Charges.CreateRefund(ctx, chargeID, amount, desc)
		return nil, pingpp.ErrUnreachable
	}
	return f.Charges.CreateRefund(ctx, chargeID, amount, desc)
}

func (f *flakyPingpp) set(next string) {
	f.mu.Lock()
	f.next = next
	f.mu.Unlock()
}

func TestPingppRefundFailures(t *testing.T) {
	e := newEscrow(t, nil)
	f := &flakyPingpp{Charges: e.srv.Escrow.Pingpp}
	e.srv.Escrow.Pingpp = f
	disputed := func(amount string) dealOrder {
		o, ch := e.initDeal(t, e.buyer, amount, "ALIPAY", nil)
		e.sandboxPay(t, ch.ID, "success")
		mustStatus(t, applyRefund(t, e.buyer, o.ID), "applyRefund", "REFUND_REQUESTED")
		return o
	}
	approve := func(id string) *testutil.Response { return orderMutation(e.seller, t, "approveRefund", id, "", nil) }

	// Refused: the held money goes back to escrow and the request may be
	// decided again.
	o1 := disputed("10.00")
	f.set("refuse")
	wantCode(t, approve(o1.ID), "PROVIDER_ERROR")
	if got := e.order(t, e.buyer, o1.ID); got.Status != "REFUND_REQUESTED" {
		t.Fatalf("after a refusal: %s", got.Status)
	}
	wantCash(t, e.seller, "0.00", "0.00", "10.00")
	if s := e.worldSum(t, "pingpp-refunding"); s != 0 {
		t.Fatalf("refunding holds %d after a refusal", s)
	}
	mustStatus(t, approve(o1.ID), "approveRefund", "REFUNDED")

	// Never reached: the money stays held and nobody may decide meanwhile;
	// once the claim is stale, approving again refunds it.
	o2 := disputed("6.00")
	f.set("lost")
	wantCode(t, approve(o2.ID), "PROVIDER_ERROR")
	wantCash(t, e.seller, "0.00", "0.00", "0.00")
	if s := e.worldSum(t, "pingpp-refunding"); s != 600 {
		t.Fatalf("refunding holds %d", s)
	}
	wantCode(t, approve(o2.ID), "IDEMPOTENCY_IN_PROGRESS")
	wantCode(t, orderMutation(e.seller, t, "rejectRefund", o2.ID, ",reason:$r", map[string]any{"r": "no"}), "IDEMPOTENCY_IN_PROGRESS")
	e.clock.Advance(3 * time.Minute)
	mustStatus(t, approve(o2.ID), "approveRefund", "REFUNDED")
	if s := e.worldSum(t, "pingpp-refunding"); s != 0 {
		t.Fatalf("refunding holds %d at the end", s)
	}

	// Refunded, answer lost: the webhook settles it, once.
	o3 := disputed("4.00")
	f.set("unanswered")
	mustStatus(t, approve(o3.ID), "approveRefund", "REFUNDED")
	if n := e.postings(t, o3.ID, "REFUND"); n != 2 {
		t.Fatalf("%d refund postings", n)
	}
	if s := e.worldSum(t, "pingpp"); s != 0 {
		t.Fatalf("world:pingpp is %d", s)
	}
	e.srv.AssertLedger(t)
}

// Decisions racing on one deal: exactly one wins and the money moves once.
func TestConcurrentDecisionsOnADeal(t *testing.T) {
	e := newEscrow(t, nil)
	e.credit(t, e.buyerID, "20.00")
	setPayPassword(t, e.buyer, "123456")

	// confirmOrder, applyRefund and the auto-confirm job at once.
	d := e.paidDeal(t, "10.00", false)
	e.clock.Advance(25 * time.Hour)
	codes := concurrently(t, 9, func(i int) (*testutil.Response, error) {
		switch i % 3 {
		case 0:
			return e.buyer.Post(`mutation($id:ID!){confirmOrder(orderId:$id){id}}`, map[string]any{"id": d.ID})
		case 1:
			return e.buyer.Post(`mutation($id:ID!){applyRefund(orderId:$id,reason:"x"){id}}`, map[string]any{"id": d.ID})
		}
		err := e.srv.Scheduler.RunOnce(t.Context())
		return &testutil.Response{}, err
	})
	got := e.order(t, e.buyer, d.ID)
	if got.Status != "COMPLETED" && got.Status != "REFUND_REQUESTED" {
		t.Fatalf("deal is %s (%v)", got.Status, codes)
	}
	// Released exactly once if it was confirmed (a refund may then be
	// asked of the confirmed deal), never if the request came first.
	releases := e.postings(t, d.ID, "ESCROW_RELEASE")
	if (got.CompletedAt != nil && releases != 2) || (got.CompletedAt == nil && releases != 0) {
		t.Fatalf("deal %+v with %d release postings", got, releases)
	}

	// approveRefund and rejectRefund at once.
	d2 := e.paidDeal(t, "10.00", false)
	mustStatus(t, applyRefund(t, e.buyer, d2.ID), "applyRefund", "REFUND_REQUESTED")
	codes = concurrently(t, 10, func(i int) (*testutil.Response, error) {
		if i%2 == 0 {
			return e.seller.Post(`mutation($id:ID!){approveRefund(orderId:$id){id}}`, map[string]any{"id": d2.ID})
		}
		return e.admin.Post(`mutation($id:ID!){rejectRefund(orderId:$id,reason:"no"){id}}`, map[string]any{"id": d2.ID})
	})
	if codes[""] != 1 {
		t.Fatalf("outcomes: %v", codes)
	}
	refunds, releases := e.postings(t, d2.ID, "REFUND"), e.postings(t, d2.ID, "ESCROW_RELEASE")
	switch e.order(t, e.buyer, d2.ID).Status {
	case "REFUNDED":
		if refunds != 2 || releases != 0 {
			t.Fatalf("refunded with %d refund and %d release postings", refunds, releases)
		}
	case "REFUND_REJECTED":
		if refunds != 0 || releases != 2 {
			t.Fatalf("rejected with %d refund and %d release postings", refunds, releases)
		}
	default:
		t.Fatalf("outcomes %v", codes)
	}
	e.srv.AssertLedger(t)
}
