package server_test

import (
	"encoding/json"
	"sort"
	"strings"
	"testing"

	"github.com/paygraph/paygraph/ent/migrate"
	"github.com/paygraph/paygraph/internal/access"
	"github.com/paygraph/paygraph/internal/server"
	"github.com/paygraph/paygraph/internal/testutil"
)

// Every table has a written rule of who sees its rows, so a new entity
// cannot be added without deciding it.
func TestEveryTableHasAVisibilityRule(t *testing.T) {
	var missing, stale []string
	tables := map[string]bool{}
	for _, tb := range migrate.Tables {
		tables[tb.Name] = true
		if access.Rules[tb.Name] == "" {
			missing = append(missing, tb.Name)
		}
	}
	for name := range access.Rules {
		if !tables[name] {
			stale = append(stale, name)
		}
	}
	sort.Strings(missing)
	sort.Strings(stale)
	if len(missing) > 0 || len(stale) > 0 {
		t.Fatalf("access.Rules: no rule for %v; rules for tables that do not exist: %v", missing, stale)
	}
}

// visibility is a paid order of a buyer with contact details in app
// "shop", and the SERVICE of another app.
type visibility struct {
	*money
	buyerID, orderID, entryID string
	buyer, foreign            *testutil.Client
}

func newVisibility(t *testing.T) *visibility {
	t.Helper()
	m := newMoney(t, server.Options{})
	v := &visibility{money: m}
	var reg struct{ Register struct{ ID string } }
	m.c.Do(t, `mutation($in:RegisterInput!){register(input:$in){id}}`, map[string]any{"in": map[string]any{
		"username": "buyer", "password": "password-buyer", "email": "zhangshan@163.com", "mobile": "18600000001",
	}}).Decode(t, &reg)
	v.buyerID = reg.Register.ID
	v.buyer = m.c.As(m.c.Login(t, "buyer", "password-buyer"))
	m.credit(t, v.buyerID, "CNY", "10.00")
	var o struct{ CreatePaymentOrder struct{ ID string } }
	m.svc.Do(t, `mutation($in:CreatePaymentOrderInput!){createPaymentOrder(input:$in){id}}`, map[string]any{"in": map[string]any{
		"payerUserId": v.buyerID, "payeeUserId": m.payeeID,
		"payInfo": []any{map[string]any{"tokenId": "CNY", "amount": "1.00"}},
	}}).Decode(t, &o)
	v.orderID = o.CreatePaymentOrder.ID
	if r, err := pay(v.buyer, v.orderID); err != nil || len(r.Errors) > 0 {
		t.Fatalf("pay: %v %+v", err, r)
	}
	var entries struct {
		WalletEntries struct {
			Edges []struct{ Node struct{ ID, OrderID string } }
		}
	}
	v.buyer.Do(t, `{walletEntries(first:10){edges{node{id orderID}}}}`, nil).Decode(t, &entries)
	for _, e := range entries.WalletEntries.Edges {
		if e.Node.OrderID == v.orderID {
			v.entryID = e.Node.ID
		}
	}
	if v.entryID == "" {
		t.Fatalf("the buyer sees no posting of its order: %+v", entries)
	}
	var other struct{ CreateApp struct{ ServiceToken string } }
	m.admin.Do(t, `mutation{createApp(name:"other"){serviceToken}}`, nil).Decode(t, &other)
	v.foreign = m.c.As(other.CreateApp.ServiceToken)
	return v
}

// leaks reports whether a response shows any of the buyer's details.
func (v *visibility) leaks(r *testutil.Response) bool {
	s := string(r.Data)
	for _, secret := range []string{v.orderID, "zhangshan", "18600000001", "186****0001", "9.00"} {
		if strings.Contains(s, secret) {
			return true
		}
	}
	return false
}

// The side door: a posting's order, its payer's contacts and balances,
// reached through node() by another app's SERVICE.
func TestForeignServiceSeesNothingThroughAnyPath(t *testing.T) {
	v := newVisibility(t)
	sideDoors := []struct {
		name, query string
		vars        map[string]any
	}{
		{"node(walletEntry)", `query($id:ID!){node(id:$id){id ... on WalletEntry{amount order{id payer{email mobile}}}}}`, map[string]any{"id": v.entryID}},
		{"node(walletEntry) id only", `query($id:ID!){node(id:$id){id}}`, map[string]any{"id": v.entryID}},
		{"node(order)", `query($id:ID!){node(id:$id){id ... on Order{payer{email}}}}`, map[string]any{"id": v.orderID}},
		{"node(user)", `query($id:ID!){node(id:$id){id ... on User{email mobile}}}`, map[string]any{"id": v.buyerID}},
		{"order", `query($id:ID!){order(id:$id){id payer{email}}}`, map[string]any{"id": v.orderID}},
		{"user", `query($id:ID!){user(id:$id){id email mobile}}`, map[string]any{"id": v.buyerID}},
		{"wallets", `query($id:ID!){wallets(userId:$id){available}}`, map[string]any{"id": v.buyerID}},
	}
	for _, d := range sideDoors {
		r := v.foreign.Do(t, d.query, d.vars)
		if len(r.Errors) == 0 || v.leaks(r) {
			t.Errorf("%s: %s %+v", d.name, r.Data, r.Errors)
		}
		if c := r.Code(); c != "NOT_FOUND" && c != "FORBIDDEN" {
			t.Errorf("%s: code %s", d.name, c)
		}
	}
	// Connections hold only the app's own rows; postings are their owner's.
	var list struct{ Orders struct{ TotalCount int } }
	v.foreign.Do(t, `{orders{totalCount}}`, nil).Decode(t, &list)
	if list.Orders.TotalCount != 0 {
		t.Errorf("foreign service lists %+v", list)
	}
	if r := v.foreign.Do(t, `{walletEntries{totalCount}}`, nil); r.Code() != "FORBIDDEN" {
		t.Errorf("foreign service lists postings: %s %+v", r.Data, r.Errors)
	}
	v.srv.AssertLedger(t)
}

// node() decides once per entity: the owner gets its posting whatever
// fields it asks for, and nodes() answers an invisible id with null and an
// error at its index, not by failing the list.
func TestNodeVerdictDoesNotDependOnFields(t *testing.T) {
	v := newVisibility(t)
	for _, q := range []string{
		`query($id:ID!){node(id:$id){id}}`,
		`query($id:ID!){node(id:$id){... on WalletEntry{kind}}}`,
		`query($id:ID!){node(id:$id){id ... on WalletEntry{amount balanceAfter wallet{available} order{id status payer{email}}}}}`,
	} {
		r := v.buyer.Do(t, q, map[string]any{"id": v.entryID})
		if len(r.Errors) > 0 || strings.Contains(string(r.Data), "null") {
			t.Errorf("%s: %s %+v", q, r.Data, r.Errors)
		}
	}
	// The payer reads its own contacts in clear on any path.
	r := v.buyer.Do(t, `query($id:ID!){node(id:$id){... on WalletEntry{order{payer{email mobile}}}}}`, map[string]any{"id": v.entryID})
	if !strings.Contains(string(r.Data), "zhangshan@163.com") || !strings.Contains(string(r.Data), "18600000001") {
		t.Errorf("owner's contacts: %s", r.Data)
	}

	_, strangerTok := v.c.NewUser(t, "stranger")
	stranger := v.c.As(strangerTok)
	r = stranger.Do(t, `query($ids:[ID!]!){nodes(ids:$ids){id}}`, map[string]any{"ids": []string{v.payeeID, v.entryID, v.orderID}})
	var got struct{ Nodes []*struct{ ID string } }
	if err := json.Unmarshal(r.Data, &got); err != nil || len(got.Nodes) != 3 {
		t.Fatalf("nodes: %s %v", r.Data, err)
	}
	if got.Nodes[1] != nil || got.Nodes[2] != nil || v.leaks(r) {
		t.Errorf("stranger's nodes show the buyer's entities: %s", r.Data)
	}
	// The payee is no stranger to nobody: a stranger shares no order with it.
	if got.Nodes[0] != nil {
		t.Errorf("stranger sees a user it shares no order with: %s", r.Data)
	}
	at := map[float64]string{}
	for _, e := range r.Errors {
		if len(e.Path) == 2 && e.Path[0] == "nodes" {
			i, _ := e.Path[1].(float64)
			at[i] = e.Code()
		}
	}
	for _, i := range []float64{0, 1, 2} {
		if at[i] != "NOT_FOUND" {
			t.Errorf("nodes[%v]: error %q; all errors %+v", i, at[i], r.Errors)
		}
	}
	// The buyer's own list: its posting and order, and null for the stranger.
	strangerID := mustID(t, stranger)
	r = v.buyer.Do(t, `query($ids:[ID!]!){nodes(ids:$ids){id}}`, map[string]any{"ids": []string{v.entryID, strangerID, v.orderID}})
	got.Nodes = nil
	if err := json.Unmarshal(r.Data, &got); err != nil || len(got.Nodes) != 3 || got.Nodes[0] == nil || got.Nodes[1] != nil || got.Nodes[2] == nil {
		t.Errorf("buyer's nodes: %s %+v", r.Data, r.Errors)
	}
	v.srv.AssertLedger(t)
}

// A SERVICE sees a user's contacts and balances only as the masked payer
// of its own app's orders, and never its postings.
func TestServiceSeesItsPayersMasked(t *testing.T) {
	v := newVisibility(t)
	var o struct {
		Order struct {
			Payer struct{ Email, Mobile string }
		}
		Wallets []struct{ Asset, Available string }
	}
	v.svc.Do(t, `query($id:ID!,$u:ID!){order(id:$id){payer{email mobile}} wallets(userId:$u){asset available}}`,
		map[string]any{"id": v.orderID, "u": v.buyerID}).Decode(t, &o)
	if o.Order.Payer.Email != "z********n@163.com" || o.Order.Payer.Mobile != "186****0001" {
		t.Errorf("service sees payer contacts %+v", o.Order.Payer)
	}
	if len(o.Wallets) != 1 || o.Wallets[0].Available != "9.00" {
		t.Errorf("service sees payer wallets %+v", o.Wallets)
	}
	var u struct{ User struct{ Email string } }
	v.svc.Do(t, `query($id:ID!){user(id:$id){email}}`, map[string]any{"id": v.buyerID}).Decode(t, &u)
	if u.User.Email != "z********n@163.com" {
		t.Errorf("service reads user email %q", u.User.Email)
	}
	if r := v.svc.Do(t, `query($id:ID!){node(id:$id){id}}`, map[string]any{"id": v.entryID}); r.Code() != "NOT_FOUND" {
		t.Errorf("service reads a posting: %s %+v", r.Data, r.Errors)
	}
	// A user with no order in the app is nobody the app may look up.
	strangerID, _ := v.c.NewUser(t, "stranger")
	for _, q := range []string{`query($id:ID!){user(id:$id){id}}`, `query($id:ID!){wallets(userId:$id){available}}`} {
		if r := v.svc.Do(t, q, map[string]any{"id": strangerID}); r.Code() != "FORBIDDEN" && r.Code() != "NOT_FOUND" {
			t.Errorf("%s: %s %+v", q, r.Data, r.Errors)
		}
	}
	// The payee, a USER, sees the payer as a counterparty: no contacts.
	var p struct {
		Order struct{ Payer struct{ ID, Email *string } }
	}
	v.payee.Do(t, `query($id:ID!){order(id:$id){payer{id email}}}`, map[string]any{"id": v.orderID}).Decode(t, &p)
	if p.Order.Payer.ID == nil || p.Order.Payer.Email != nil {
		t.Errorf("payee sees payer %+v", p.Order.Payer)
	}
	v.srv.AssertLedger(t)
}
