package admin_test

import (
	"slices"
	"sort"
	"strings"
	"testing"

	"github.com/vektah/gqlparser/v2"
	"github.com/vektah/gqlparser/v2/ast"

	"github.com/paygraph/paygraph/graph"
	"github.com/paygraph/paygraph/internal/web/admin"
	"github.com/paygraph/paygraph/internal/web/admin/admintest"
)

// parse returns the console's documents parsed and validated against the
// schema the server runs.
func parse(t *testing.T) map[string]*ast.OperationDefinition {
	t.Helper()
	schema := graph.NewExecutableSchema(graph.Config{}).Schema()
	docs := admin.Documents()
	if len(docs) < 20 {
		t.Fatalf("only %d documents read from queries.js", len(docs))
	}
	out := map[string]*ast.OperationDefinition{}
	for name, src := range docs {
		if strings.Contains(src, "${") {
			t.Errorf("%s interpolates: the documents must be sent as written", name)
		}
		doc, errs := gqlparser.LoadQuery(schema, src)
		if len(errs) > 0 {
			t.Errorf("%s is not valid against the schema: %v", name, errs)
			continue
		}
		if len(doc.Operations) != 1 || doc.Operations[0].Name == "" {
			t.Errorf("%s: want one named operation", name)
			continue
		}
		out[name] = doc.Operations[0]
	}
	return out
}

// Every document the console sends is valid against the schema, and
// queries.js has no document the Go side cannot see.
func TestDocumentsAreValid(t *testing.T) {
	ops := parse(t)
	names := map[string]string{}
	for k, op := range ops {
		if prev, ok := names[op.Name]; ok {
			t.Errorf("%s and %s are both named %s", prev, k, op.Name)
		}
		names[op.Name] = k
	}
	b := admin.Source("queries.js")
	if n := strings.Count(string(b), "= gql`"); n != len(admin.Documents()) {
		t.Fatalf("queries.js has %d gql documents, %d of them in the form Documents reads", n, len(admin.Documents()))
	}
}

// The console adds no rule: its actions are refused by the API itself to
// every token but an ADMIN's. Each mutation the console sends is run as
// written, on real orders of the right type and status, as a USER and an
// app's SERVICE with no part in them, as the order's own payer and the
// SERVICE of the order's app, anonymously, and with a token the server did
// not sign; each is refused and nothing changes. The exceptions are the
// API's own rules, not the console's: an order's payer and its app may
// cancel it while unpaid; the app delivers (or fails to deliver) its
// orders, verifies its game goods, decides the refunds of its app store
// and points orders, and keeps its own pay ways and goods; a deal's buyer
// confirms it.
func TestConsoleActionsNeedAnAdmin(t *testing.T) {
	ops := parse(t)
	w := admintest.New(t)
	docs := admin.Documents()

	_, strangerToken := w.Anon.NewUser(t, "stranger")
	var other struct {
		CreateApp struct{ ServiceToken string }
	}
	w.Admin.Do(t, `mutation{createApp(name:"other shop"){serviceToken}}`, nil).Decode(t, &other)
	// The fixture's orders are app 1's.
	var own struct {
		RotateServiceToken struct{ ServiceToken string }
	}
	w.Admin.Do(t, `mutation{rotateServiceToken(appId:"1"){serviceToken}}`, nil).Decode(t, &own)

	// The variables each mutation is run with, and the payer of its order.
	type call struct {
		vars  map[string]any
		payer string
	}
	calls := map[string]call{
		"APPROVE_REFUND":       {map[string]any{"orderId": w.Refund.ID}, w.BuyerToken},
		"REJECT_REFUND":        {map[string]any{"orderId": w.Refund.ID, "reason": "no"}, w.BuyerToken},
		"COMPLETE_WITHDRAWAL":  {map[string]any{"orderId": w.Withdrawal.ID}, w.WithdrawerToken},
		"REJECT_WITHDRAWAL":    {map[string]any{"orderId": w.Withdrawal.ID, "reason": "no"}, w.WithdrawerToken},
		"CANCEL_ORDER":         {map[string]any{"input": map[string]any{"userId": w.BuyerID, "order": w.Pending.OrderNo}}, w.BuyerToken},
		"MARK_DELIVERED":       {map[string]any{"orderId": w.Consume.ID}, w.BuyerToken},
		"MARK_DELIVERY_FAILED": {map[string]any{"orderId": w.Consume.ID, "reason": "no"}, w.BuyerToken},
		"CONFIRM_DEAL":         {map[string]any{"orderId": w.Deal.ID}, w.BuyerToken},
		"VERIFY_GOODS": {map[string]any{"input": map[string]any{"userId": w.BuyerID, "item": w.GoodsItem, "itemId": "sword-1",
			"order": w.Goods.OrderNo}}, w.BuyerToken},
		"CREATE_APP":           {map[string]any{"name": "mine"}, w.BuyerToken},
		"ROTATE_SERVICE_TOKEN": {map[string]any{"appId": "1"}, w.BuyerToken},
		"SET_PAY_WAYS":         {map[string]any{"appId": "1", "payWays": []map[string]any{{"name": "wallet", "title": "余额"}}}, w.BuyerToken},
		"UPSERT_GOODS":         {map[string]any{"input": map[string]any{"id": "vip", "appId": "1", "item": "vip", "singlePrice": "0.01"}}, w.BuyerToken},
		// Reads only an ADMIN may make (ledgerCheck, callbackEvents).
		"LEDGER_CHECK": {map[string]any{}, w.BuyerToken},
		"DECIDE":       {map[string]any{}, w.BuyerToken},
		"ORDER":        {map[string]any{"id": w.Refund.ID}, w.BuyerToken},
	}
	// What the API grants the order's own payer and app (see above).
	granted := map[string][]string{
		"payer": {"CANCEL_ORDER", "CONFIRM_DEAL"},
		"own app": {"CANCEL_ORDER", "MARK_DELIVERED", "MARK_DELIVERY_FAILED", "VERIFY_GOODS",
			"APPROVE_REFUND", "REJECT_REFUND", "SET_PAY_WAYS", "UPSERT_GOODS"},
	}

	var names []string
	for name, op := range ops {
		if op.Operation == ast.Mutation && name != "LOGIN" {
			names = append(names, name)
			if _, ok := calls[name]; !ok {
				t.Errorf("%s: the test has no variables for this mutation of the console; add them", name)
			}
		}
	}
	names = append(names, "LEDGER_CHECK", "DECIDE", "ORDER")
	sort.Strings(names)

	refused := 0
	for _, name := range names {
		c := calls[name]
		callers := []struct {
			who   string
			token string
			// Another app's SERVICE is not told that the order exists.
			codes []string
		}{
			{"a USER", strangerToken, []string{"FORBIDDEN"}},
			{"another app's SERVICE", other.CreateApp.ServiceToken, []string{"FORBIDDEN", "NOT_FOUND"}},
			{"payer", c.payer, []string{"FORBIDDEN"}},
			{"own app", own.RotateServiceToken.ServiceToken, []string{"FORBIDDEN"}},
			{"anonymous", "", []string{"UNAUTHENTICATED"}},
			{"an unsigned token", "eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxIiwicm9sZSI6IkFETUlOIn0.c2lnbmF0dXJl", []string{"UNAUTHENTICATED"}},
		}
		for _, who := range callers {
			if slices.Contains(granted[who.who], name) {
				continue
			}
			r := w.Anon.As(who.token).Do(t, docs[name], c.vars)
			if len(r.Errors) == 0 {
				t.Errorf("%s as %s was not refused: %s", name, who.who, r.Data)
				continue
			}
			if !slices.Contains(who.codes, r.Code()) {
				t.Errorf("%s as %s: %s %q; want %v", name, who.who, r.Code(), r.Errors[0].Message, who.codes)
				continue
			}
			refused++
		}
	}
	t.Logf("%d documents refused %d times", len(names), refused)

	// Nothing moved.
	for _, o := range []admintest.Order{w.Refund, w.Withdrawal, w.Pending, w.Consume, w.Deal, w.Goods, w.Partial} {
		if got := w.Status(t, o.ID); got != o.Status {
			t.Errorf("order %s is %s, was %s", o.OrderNo, got, o.Status)
		}
	}
	w.Srv.AssertLedger(t)
	if t.Failed() {
		return
	}

	// And an ADMIN may: the same documents, as the console sends them.
	for _, tc := range []struct{ name, status string }{
		{"REJECT_WITHDRAWAL", "FAILED"}, {"APPROVE_REFUND", "REFUNDED"}, {"CANCEL_ORDER", "CANCELLED"},
		{"MARK_DELIVERED", "COMPLETED"}, {"CONFIRM_DEAL", "COMPLETED"},
	} {
		var out map[string]struct{ Status string }
		w.Admin.Do(t, docs[tc.name], calls[tc.name].vars).Decode(t, &out)
		for _, o := range out {
			if o.Status != tc.status {
				t.Errorf("%s as ADMIN: %s, want %s", tc.name, o.Status, tc.status)
			}
		}
	}
	// A part of a waiting partial request, as the console sends it: the
	// same click's key sent twice refunds once.
	for range 2 {
		var part struct {
			ApproveRefund struct{ Status, RefundedAmount string }
		}
		w.Admin.Do(t, docs["APPROVE_REFUND"], map[string]any{"orderId": w.Partial.ID, "amount": "4.00", "idempotencyKey": "console-click-1"}).Decode(t, &part)
		if o := part.ApproveRefund; o.Status != "PAID" || o.RefundedAmount != "4.00" {
			t.Errorf("APPROVE_REFUND of 4.00 as ADMIN: %+v", o)
		}
	}
	var v struct {
		VerifyOrder struct {
			Verified, FirstDelivery bool
			Order                   struct{ Status string }
		}
	}
	w.Admin.Do(t, docs["VERIFY_GOODS"], calls["VERIFY_GOODS"].vars).Decode(t, &v)
	if !v.VerifyOrder.Verified || !v.VerifyOrder.FirstDelivery || v.VerifyOrder.Order.Status != "COMPLETED" {
		t.Errorf("VERIFY_GOODS as ADMIN: %+v", v.VerifyOrder)
	}
	w.Srv.AssertLedger(t)
}
