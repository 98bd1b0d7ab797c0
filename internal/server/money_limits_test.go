package server_test

import (
	"strconv"
	"testing"

	"github.com/paygraph/paygraph/internal/testutil"
)

// walletOf reads a user's balances in one asset as an admin sees them.
func walletOf(t *testing.T, admin *testutil.Client, userID, asset string) (available, escrow, withdrawable string) {
	t.Helper()
	var out struct {
		Wallets []struct{ Asset, Available, Escrow, Withdrawable string }
	}
	admin.Do(t, `query($u:ID){wallets(userId:$u){asset available escrow withdrawable}}`, map[string]any{"u": userID}).Decode(t, &out)
	for _, w := range out.Wallets {
		if w.Asset == asset {
			return w.Available, w.Escrow, w.Withdrawable
		}
	}
	return "", "", ""
}

const creditMutation = `mutation($in:CreditInput!){credit(input:$in){id balanceAfter}}`

func creditResp(t *testing.T, admin *testutil.Client, userID, asset, amount string, withdrawable bool) *testutil.Response {
	t.Helper()
	return admin.Do(t, creditMutation, map[string]any{"in": map[string]any{
		"userId": userID, "asset": asset, "amount": amount, "withdrawable": withdrawable}})
}

// TestCreditPastTheLargestBalance: a balance holds at most 2^63-1 minor
// units. A credit that would pass it is BAD_USER_INPUT and changes nothing;
// one that reaches it exactly is fine.
func TestCreditPastTheLargestBalance(t *testing.T) {
	w := newAuthzWorld(t)
	user, _ := w.user(t, "whale")
	const big = "999999999999999999" // 18 digits, the most a Decimal carries
	for range 9 {
		if r := creditResp(t, w.admin, user, "POINTS", big, true); len(r.Errors) > 0 {
			t.Fatalf("credit: %+v", r.Errors)
		}
	}
	const held = "8999999999999999991"
	const room = 9223372036854775807 - 8999999999999999991
	over := strconv.FormatInt(room+1, 10)
	for _, withdrawable := range []bool{false, true} {
		r := creditResp(t, w.admin, user, "POINTS", over, withdrawable)
		if r.Code() != "BAD_USER_INPUT" {
			t.Fatalf("credit past the largest balance: %+v (data %s)", r.Errors, r.Data)
		}
		if a, _, wd := walletOf(t, w.admin, user, "POINTS"); a != held || wd != held {
			t.Fatalf("refused credit changed the wallet: %s withdrawable %s", a, wd)
		}
		w.srv.AssertLedger(t)
	}
	if r := creditResp(t, w.admin, user, "POINTS", strconv.FormatInt(room, 10), false); len(r.Errors) > 0 {
		t.Fatalf("credit up to the largest balance: %+v", r.Errors)
	}
	if a, _, wd := walletOf(t, w.admin, user, "POINTS"); a != "9223372036854775807" || wd != held {
		t.Fatalf("full wallet: %s withdrawable %s", a, wd)
	}
	if r := creditResp(t, w.admin, user, "POINTS", "1", false); r.Code() != "BAD_USER_INPUT" {
		t.Fatalf("one more point: %+v", r.Errors)
	}
	w.srv.AssertLedger(t)
}

// TestPaymentIntoAFullWallet: a payment that would take the payee's balance
// past the largest amount is BAD_USER_INPUT; the order stays payable and
// the payer keeps the money.
func TestPaymentIntoAFullWallet(t *testing.T) {
	w := newAuthzWorld(t)
	payee, _ := w.user(t, "payee")
	payer, payerC := w.user(t, "payer")
	const near = 9223372036854775807 - 10
	for left := int64(near); left > 0; {
		n := min(left, 999999999999999999)
		if r := creditResp(t, w.admin, payee, "POINTS", strconv.FormatInt(n, 10), false); len(r.Errors) > 0 {
			t.Fatalf("credit: %+v", r.Errors)
		}
		left -= n
	}
	w.credit(t, payer, "POINTS", "100", false)
	var created struct{ CreatePaymentOrder struct{ ID string } }
	w.app1Svc.Do(t, `mutation($in:CreatePaymentOrderInput!){createPaymentOrder(input:$in){id}}`, map[string]any{"in": map[string]any{
		"payerUserId": payer, "payeeUserId": payee, "payInfo": []any{map[string]any{"tokenId": "POINTS", "amount": "50"}},
	}}).Decode(t, &created)
	id := created.CreatePaymentOrder.ID
	before := w.snapshot(t, id, payer, payee)
	r := payerC.Do(t, `mutation($id:ID!){pay(input:{orderId:$id}){id status}}`, map[string]any{"id": id})
	if r.Code() != "BAD_USER_INPUT" {
		t.Fatalf("paying into a full wallet: %+v (data %s)", r.Errors, r.Data)
	}
	if after := w.snapshot(t, id, payer, payee); after != before {
		t.Fatalf("refused payment changed\n%s\nto\n%s", before, after)
	}
	w.srv.AssertLedger(t)
}
