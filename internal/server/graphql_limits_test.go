package server_test

import (
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/paygraph/paygraph/internal/clock"
	"github.com/paygraph/paygraph/internal/server"
	"github.com/paygraph/paygraph/internal/testutil"
)

// doublingFragments is a small document whose fragments each spread the
// one before twice: n levels expand to 2^n fields.
func doublingFragments(n int) string {
	var b strings.Builder
	b.WriteString("query { ...F0 }\nfragment Fx on Query { __typename }\n")
	fmt.Fprintf(&b, "fragment F%d on Query { ...Fx ...Fx }\n", n)
	for i := n - 1; i >= 0; i-- {
		fmt.Fprintf(&b, "fragment F%d on Query { ...F%d ...F%d }\n", i, i+1, i+1)
	}
	return b.String()
}

// refusedFast posts query anonymously and checks that it is refused as the
// client's fault, quickly, and that the server answers normal queries
// right after.
func refusedFast(t *testing.T, c *testutil.Client, query string, vars map[string]any, reason string) {
	t.Helper()
	start := time.Now()
	r, err := c.Post(query, vars)
	if err != nil {
		t.Fatal(err)
	}
	took := time.Since(start)
	if r.Status/100 != 4 || r.Code() != "BAD_USER_INPUT" {
		t.Fatalf("status %d, code %s", r.Status, r.Code())
	}
	if got := r.Errors[0].Extensions["reason"]; got != reason {
		msg := r.Errors[0].Message
		if len(msg) > 200 {
			msg = msg[:200]
		}
		t.Fatalf("reason %v, want %s: %s", got, reason, msg)
	}
	// Generous: the attacks took minutes; the refusal takes milliseconds.
	if took > 2*time.Second {
		t.Fatalf("refusal took %v", took)
	}
	if r := c.Do(t, `{ __typename }`, nil); len(r.Errors) != 0 {
		t.Fatalf("a normal query after the refusal: %+v", r.Errors)
	}
}

func TestExpensiveDocumentsAreRefusedBeforeValidation(t *testing.T) {
	srv := testutil.Start(t, testutil.Base(t))
	c := srv.Client()

	t.Run("doubling fragments", func(t *testing.T) {
		q := doublingFragments(30)
		if len(q) > 1500 {
			t.Fatalf("the attack document is %d bytes", len(q))
		}
		refusedFast(t, c, q, nil, "DOCUMENT_TOO_LARGE")
	})
	t.Run("many aliases", func(t *testing.T) {
		var b strings.Builder
		b.WriteString("{")
		for i := 0; i < 3000; i++ {
			fmt.Fprintf(&b, " a%d: __typename", i)
		}
		b.WriteString(" }")
		refusedFast(t, c, b.String(), nil, "DOCUMENT_TOO_LARGE")
	})
	t.Run("deeply nested input value", func(t *testing.T) {
		q := `{ orders(where: ` + strings.Repeat("{not: ", 8000) + "{}" + strings.Repeat("}", 8000) + `) { totalCount } }`
		refusedFast(t, c, q, nil, "DOCUMENT_TOO_DEEP")
	})
	t.Run("deeply nested list", func(t *testing.T) {
		q := `{ nodes(ids: ` + strings.Repeat("[", 8000) + `"1"` + strings.Repeat("]", 8000) + `) { id } }`
		refusedFast(t, c, q, nil, "DOCUMENT_TOO_DEEP")
	})
	t.Run("deeply nested variables", func(t *testing.T) {
		var v any = map[string]any{}
		for i := 0; i < 2000; i++ {
			v = map[string]any{"not": v}
		}
		refusedFast(t, c, `query($w: OrderWhereInput){ orders(where: $w) { totalCount } }`, map[string]any{"w": v}, "DOCUMENT_TOO_DEEP")
	})
	t.Run("too many tokens", func(t *testing.T) {
		q := "{ __typename " + strings.Repeat("# padding\n", 10) + strings.Repeat(" __typename", 20000) + " }"
		refusedFast(t, c, q, nil, "DOCUMENT_TOO_LARGE")
	})
	t.Run("introspection still works", func(t *testing.T) {
		r := c.Do(t, introspectionQuery, nil)
		if len(r.Errors) != 0 {
			t.Fatalf("GraphiQL's introspection query: %+v", r.Errors)
		}
	})
}

// TestDocumentLimitsAreSettings: the limits are settings, and a document
// just inside them runs.
func TestDocumentLimitsAreSettings(t *testing.T) {
	env := testutil.Base(t)
	env["PAYGRAPH_MAX_FIELDS"] = "10"
	srv := testutil.Start(t, env)
	c := srv.Client()
	if r := c.Do(t, `{ a: __typename b: __typename c: __typename }`, nil); len(r.Errors) != 0 {
		t.Fatalf("3 fields: %+v", r.Errors)
	}
	q := "{" + strings.Repeat(" __typename", 11) + " }"
	if r := c.Do(t, q, nil); r.Code() != "BAD_USER_INPUT" || r.Status != http.StatusUnprocessableEntity {
		t.Fatalf("11 fields: status %d %+v", r.Status, r.Errors)
	}
}

// introspectionQuery is what GraphiQL sends when it loads.
const introspectionQuery = `query IntrospectionQuery {
  __schema {
    queryType { name } mutationType { name } subscriptionType { name }
    types { ...FullType }
    directives { name description locations args { ...InputValue } }
  }
}
fragment FullType on __Type {
  kind name description
  fields(includeDeprecated: true) { name description args { ...InputValue } type { ...TypeRef } isDeprecated deprecationReason }
  inputFields { ...InputValue }
  interfaces { ...TypeRef }
  enumValues(includeDeprecated: true) { name description isDeprecated deprecationReason }
  possibleTypes { ...TypeRef }
}
fragment InputValue on __InputValue { name description type { ...TypeRef } defaultValue }
fragment TypeRef on __Type {
  kind name
  ofType { kind name ofType { kind name ofType { kind name ofType { kind name ofType { kind name ofType { kind name ofType { kind name } } } } } } }
}`

// TestOneExpensiveFieldPerRequest: 300 aliased logins are refused before
// any password is hashed, and nothing else in the request runs.
func TestOneExpensiveFieldPerRequest(t *testing.T) {
	srv := testutil.Start(t, testutil.Base(t))
	c := srv.Client()
	var b strings.Builder
	b.WriteString("mutation {")
	for i := 0; i < 300; i++ {
		fmt.Fprintf(&b, ` l%d: login(username: "admin", password: "guess-%d") { token }`, i, i)
	}
	b.WriteString(` r: register(input: {username: "mallory", password: "correct horse"}) { id } }`)
	r := c.Do(t, b.String(), nil)
	if r.Code() != "BAD_USER_INPUT" || r.Errors[0].Extensions["reason"] != "TOO_MANY_EXPENSIVE_FIELDS" || len(r.Data) != 0 && string(r.Data) != "null" {
		t.Fatalf("status %d %+v", r.Status, r.Errors)
	}
	// No try was counted (the admin is not locked) and no user was made.
	if tok := c.Login(t, "admin", "admin-password"); tok == "" {
		t.Fatal("admin cannot log in")
	}
	if r := c.Do(t, `mutation { login(username: "mallory", password: "correct horse") { token } }`, nil); r.Code() != "UNAUTHENTICATED" {
		t.Fatalf("the register ran: %+v", r.Errors)
	}
	// Through a fragment too.
	r = c.Do(t, `mutation { ...L a: login(username: "admin", password: "x-1") { token } } fragment L on Mutation { b: login(username: "admin", password: "x-2") { token } }`, nil)
	if r.Errors[0].Extensions["reason"] != "TOO_MANY_EXPENSIVE_FIELDS" {
		t.Fatalf("through a fragment: %+v", r.Errors)
	}
}

// TestLoginLockout: wrong passwords are counted per account and lock it
// for a while, even against the right one; the lock is the account's, so
// a new address does not help; a right password before the limit resets
// the count.
func TestLoginLockout(t *testing.T) {
	clk := clock.NewFake(time.Date(2026, 12, 1, 12, 0, 0, 0, time.UTC))
	srv := testutil.StartWith(t, testutil.Base(t), server.Options{Clock: clk})
	c := srv.Client()
	c.NewUser(t, "victim")
	login := func(pw string) *testutil.Response {
		return c.Do(t, `mutation($p: String!) { login(username: "victim", password: $p) { token } }`, map[string]any{"p": pw})
	}
	for i := 0; i < 4; i++ {
		if r := login("wrong password"); r.Code() != "UNAUTHENTICATED" {
			t.Fatalf("wrong try %d: %+v", i, r.Errors)
		}
	}
	if r := login("password-victim"); len(r.Errors) != 0 {
		t.Fatalf("the right password before the limit: %+v", r.Errors)
	}
	for i := 0; i < 5; i++ {
		if r := login("wrong password"); r.Code() != "UNAUTHENTICATED" {
			t.Fatalf("wrong try %d: %+v", i, r.Errors)
		}
	}
	r := login("password-victim")
	if r.Code() != "LOCKED" || !strings.Contains(r.Errors[0].Message, "locked until") {
		t.Fatalf("after five wrong tries: %+v", r.Errors)
	}
	clk.Advance(16 * time.Minute)
	if r := login("password-victim"); len(r.Errors) != 0 {
		t.Fatalf("after the lock ended: %+v", r.Errors)
	}
}

// TestLoginRateLimitPerAddress: one address may try only so often; the
// refusal comes before the password is looked at.
func TestLoginRateLimitPerAddress(t *testing.T) {
	env := testutil.Base(t)
	env["PAYGRAPH_AUTH_RATE_PER_MINUTE"] = "5"
	srv := testutil.Start(t, env)
	c := srv.Client()
	for i := 0; i < 5; i++ {
		if r := c.Do(t, `mutation { login(username: "nobody", password: "wrong password") { token } }`, nil); r.Code() != "UNAUTHENTICATED" {
			t.Fatalf("try %d: %+v", i, r.Errors)
		}
	}
	r := c.Do(t, `mutation { login(username: "admin", password: "admin-password") { token } }`, nil)
	if r.Code() != "RATE_LIMITED" || !strings.Contains(r.Errors[0].Message, "try again in") {
		t.Fatalf("sixth try: %+v", r.Errors)
	}
	r = c.Do(t, `mutation { register(input: {username: "newcomer", password: "correct horse"}) { id } }`, nil)
	if r.Code() != "RATE_LIMITED" {
		t.Fatalf("register from the same address: %+v", r.Errors)
	}
}

// TestOrderSyncIsBounded: a request may sync only a few orders, and one
// order is asked about once per interval however often it is synced.
func TestOrderSyncIsBounded(t *testing.T) {
	w := newEpayWorld(t, "RSA", nil, server.Options{})
	o := w.createPoints(t, w.buyer, "10.00", 100, "alipay")
	w.getPayURL(t, w.buyer, map[string]any{"orderNo": o.OrderNo})
	gw := w.srv.EpaySandbox
	before := gw.Queries()

	var b strings.Builder
	b.WriteString("query($no: String!) {")
	for i := 0; i < 300; i++ {
		fmt.Fprintf(&b, " o%d: order(orderNo: $no, sync: true) { status }", i)
	}
	b.WriteString(" }")
	r := w.buyer.Do(t, b.String(), map[string]any{"no": o.OrderNo})
	if r.Code() != "BAD_USER_INPUT" || r.Errors[0].Extensions["reason"] != "TOO_MANY_SYNCS" {
		t.Fatalf("300 syncs: %+v", r.Errors)
	}
	if n := gw.Queries() - before; n != 0 {
		t.Fatalf("the refused request made %d gateway queries", n)
	}
	// Five in one request, and again in ten more requests: one query.
	q := `query($no: String!) { a: order(orderNo: $no, sync: true) { synced } b: order(orderNo: $no, sync: true) { synced }
		c: order(orderNo: $no, sync: true) { synced } d: order(orderNo: $no, sync: true) { synced } e: order(orderNo: $no, sync: true) { synced } }`
	for i := 0; i < 10; i++ {
		if r := w.buyer.Do(t, q, map[string]any{"no": o.OrderNo}); len(r.Errors) != 0 {
			t.Fatalf("five syncs: %+v", r.Errors)
		}
	}
	if n := gw.Queries() - before; n != 1 {
		t.Fatalf("%d gateway queries for one order within the interval", n)
	}
	// Once the order changes (it is paid), the next sync asks again.
	u := w.order(t, w.buyer, o.OrderNo, false)
	w.sandboxPay(t, *u.ProviderTradeNo, "success")
	if cur := w.order(t, w.buyer, o.OrderNo, true); !cur.Synced || cur.ProviderInfo.Status != 1 {
		t.Fatalf("after payment %+v", cur.ProviderInfo)
	}
	w.srv.AssertLedger(t)
}

// TestIdempotencyHeaderCoversOneMutation: two credits under one header
// key are refused before either runs.
func TestIdempotencyHeaderCoversOneMutation(t *testing.T) {
	srv := testutil.Start(t, testutil.Base(t))
	c := srv.Client()
	admin := c.As(c.AdminToken(t))
	uid, tok := c.NewUser(t, "payee")
	keyed := *admin
	keyed.Headers = map[string]string{"Idempotency-Key": "k-1"}
	q := `mutation($u: ID!) {
		a: credit(input: {userId: $u, asset: "CNY", amount: "10.00"}) { id }
		b: credit(input: {userId: $u, asset: "CNY", amount: "10.00"}) { id } }`
	r := keyed.Do(t, q, map[string]any{"u": uid})
	if r.Code() != "BAD_USER_INPUT" || r.Errors[0].Extensions["reason"] != "IDEMPOTENCY_KEY_FOR_ONE_MUTATION" {
		t.Fatalf("%+v", r.Errors)
	}
	if a, _ := wallet(t, c.As(tok), "CNY"); a != "0" {
		t.Fatalf("a credit ran: balance %s", a)
	}
	// Without the header, each with its own key, both run once.
	q = `mutation($u: ID!) {
		a: credit(input: {userId: $u, asset: "CNY", amount: "10.00", idempotencyKey: "a"}) { id }
		b: credit(input: {userId: $u, asset: "CNY", amount: "10.00", idempotencyKey: "b"}) { id } }`
	for i := 0; i < 2; i++ {
		if r := admin.Do(t, q, map[string]any{"u": uid}); len(r.Errors) != 0 {
			t.Fatalf("%+v", r.Errors)
		}
	}
	if a, _ := wallet(t, c.As(tok), "CNY"); a != "20.00" {
		t.Fatalf("balance %s", a)
	}
	srv.AssertLedger(t)
}
