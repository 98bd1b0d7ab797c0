package server_test

import (
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"

	"github.com/paygraph/paygraph/ent/user"
	"github.com/paygraph/paygraph/internal/testutil"
)

const meQuery = `{ me { id username email mobile role } }`

func TestRegisterLoginMe(t *testing.T) {
	srv := testutil.Start(t, testutil.Base(t))
	c := srv.Client()

	var reg struct {
		Register struct {
			ID, Username, Role string
		}
	}
	c.Do(t, `mutation($in:RegisterInput!){register(input:$in){id username role}}`, map[string]any{"in": map[string]any{
		"username": "Alice", "password": "correct horse", "email": "alice@example.com", "mobile": "18600000001", "nationalCode": "86",
	}}).Decode(t, &reg)
	if reg.Register.Username != "alice" || reg.Register.Role != "USER" || reg.Register.ID == "" {
		t.Fatalf("register returned %+v", reg.Register)
	}

	tok := c.Login(t, "ALICE", "correct horse")
	var me struct {
		Me struct {
			ID, Username, Role string
			Email, Mobile      *string
		}
	}
	c.As(tok).Do(t, meQuery, nil).Decode(t, &me)
	if me.Me.ID != reg.Register.ID || me.Me.Email == nil || *me.Me.Email != "alice@example.com" || *me.Me.Mobile != "18600000001" {
		t.Fatalf("me = %+v", me.Me)
	}

	if r := c.Do(t, `mutation{login(username:"alice",password:"wrong password"){token}}`, nil); r.Code() != "UNAUTHENTICATED" {
		t.Fatalf("wrong password: %+v", r.Errors)
	}
	if r := c.Do(t, `mutation{login(username:"nobody",password:"wrong password"){token}}`, nil); r.Code() != "UNAUTHENTICATED" {
		t.Fatalf("unknown user: %+v", r.Errors)
	}
}

func TestPrivateFieldsHiddenFromOthers(t *testing.T) {
	srv := testutil.Start(t, testutil.Base(t))
	c := srv.Client()
	c.Do(t, `mutation{register(input:{username:"bob",password:"password-bob",email:"bob@example.com"}){id}}`, nil)
	bobTok := c.Login(t, "bob", "password-bob")
	var me struct{ Me struct{ ID string } }
	c.As(bobTok).Do(t, meQuery, nil).Decode(t, &me)

	var out struct{ User struct{ Email *string } }
	c.As(c.AdminToken(t)).Do(t, `query($id:ID!){user(id:$id){email}}`, map[string]any{"id": me.Me.ID}).Decode(t, &out)
	if out.User.Email == nil || *out.User.Email != "bob@example.com" {
		t.Fatalf("admin should see the email, got %v", out.User.Email)
	}
}

func TestTokensThatAreRefused(t *testing.T) {
	srv := testutil.Start(t, testutil.Base(t))
	c := srv.Client()
	aliceID, aliceTok := c.NewUser(t, "alice")
	bobID, _ := c.NewUser(t, "bob")

	sign := func(key string, claims jwt.MapClaims) string {
		s, err := jwt.NewWithClaims(jwt.SigningMethodHS256, claims).SignedString([]byte(key))
		if err != nil {
			t.Fatal(err)
		}
		return s
	}
	now := time.Now()
	valid := jwt.MapClaims{"sub": aliceID, "role": "USER", "iss": "paygraph", "iat": now.Unix(), "exp": now.Add(time.Hour).Unix()}
	parts := strings.Split(aliceTok, ".")
	payload, _ := base64.RawURLEncoding.DecodeString(parts[1])
	tamperedPayload := strings.Replace(string(payload), `"USER"`, `"ADMIN"`, 1)
	b64 := base64.RawURLEncoding.EncodeToString

	expired := jwt.MapClaims{"sub": aliceID, "role": "USER", "iss": "paygraph", "iat": now.Add(-2 * time.Hour).Unix(), "exp": now.Add(-time.Hour).Unix()}
	noExp := jwt.MapClaims{"sub": aliceID, "role": "USER", "iss": "paygraph", "iat": now.Unix()}
	hs512, _ := jwt.NewWithClaims(jwt.SigningMethodHS512, valid).SignedString([]byte(testutil.Secret))

	cases := map[string]string{
		"tampered":   parts[0] + "." + b64([]byte(tamperedPayload)) + "." + parts[2],
		"expired":    sign(testutil.Secret, expired),
		"alg none":   b64([]byte(`{"alg":"none","typ":"JWT"}`)) + "." + b64(mustJSON(valid)) + ".",
		"wrong key":  sign("another-secret-another-secret-another-secret", valid),
		"no exp":     sign(testutil.Secret, noExp),
		"HS512":      hs512,
		"garbage":    "not-a-token",
		"no token":   "",
		"other role": sign(testutil.Secret, jwt.MapClaims{"sub": aliceID, "role": "ROOT", "iss": "paygraph", "iat": now.Unix(), "exp": now.Add(time.Hour).Unix()}),
	}
	for name, tok := range cases {
		t.Run(name, func(t *testing.T) {
			r := c.As(tok).Do(t, meQuery, nil)
			if r.Code() != "UNAUTHENTICATED" {
				t.Fatalf("got %+v, want UNAUTHENTICATED", r.Errors)
			}
			if string(r.Data) != "null" {
				t.Fatalf("data leaked: %s", r.Data)
			}
		})
	}
	// The correctly signed token works, so the cases above fail for their flaw.
	if r := c.As(sign(testutil.Secret, valid)).Do(t, meQuery, nil); len(r.Errors) != 0 {
		t.Fatalf("valid token refused: %+v", r.Errors)
	}

	t.Run("user acting for another user", func(t *testing.T) {
		r := c.As(aliceTok).Do(t, `query($id:ID!){user(id:$id){id}}`, map[string]any{"id": bobID})
		if r.Code() != "FORBIDDEN" {
			t.Fatalf("got %+v, want FORBIDDEN", r.Errors)
		}
		if r := c.As(aliceTok).Do(t, `query($id:ID!){user(id:$id){id}}`, map[string]any{"id": aliceID}); len(r.Errors) != 0 {
			t.Fatalf("own id refused: %+v", r.Errors)
		}
		if r := c.As(aliceTok).Do(t, `query($id:ID!){node(id:$id){id}}`, map[string]any{"id": bobID}); r.Code() != "NOT_FOUND" {
			t.Fatalf("node of another user: %+v", r.Errors)
		}
	})
	t.Run("user calling an admin mutation", func(t *testing.T) {
		if r := c.As(aliceTok).Do(t, `mutation{createApp(name:"x"){serviceToken}}`, nil); r.Code() != "FORBIDDEN" {
			t.Fatalf("got %+v, want FORBIDDEN", r.Errors)
		}
	})
}

func mustJSON(v any) []byte {
	b, _ := json.Marshal(v)
	return b
}

func TestServiceToken(t *testing.T) {
	srv := testutil.Start(t, testutil.Base(t))
	c := srv.Client()
	admin := c.As(c.AdminToken(t))
	aliceID, _ := c.NewUser(t, "alice")

	var out struct {
		CreateApp struct {
			App          struct{ ID, Name string }
			ServiceToken string
		}
	}
	admin.Do(t, `mutation{createApp(name:"My Game"){app{id name} serviceToken}}`, nil).Decode(t, &out)
	svc := c.As(out.CreateApp.ServiceToken)
	// An app sees a user only once the user pays (or is paid) in it.
	if r := svc.Do(t, `query($id:ID!){user(id:$id){id}}`, map[string]any{"id": aliceID}); r.Code() != "NOT_FOUND" {
		t.Fatalf("an app reading a stranger: %+v", r.Errors)
	}
	adminID := mustID(t, admin)
	svc.Do(t, `mutation($in:CreatePaymentOrderInput!){createPaymentOrder(input:$in){id}}`, map[string]any{"in": map[string]any{
		"payerUserId": aliceID, "payeeUserId": adminID, "payInfo": []any{map[string]any{"tokenId": "CNY", "amount": "1.00"}},
	}}).Decode(t, &struct{}{})
	var u struct{ User struct{ ID string } }
	svc.Do(t, `query($id:ID!){user(id:$id){id}}`, map[string]any{"id": aliceID}).Decode(t, &u)
	if u.User.ID != aliceID {
		t.Fatalf("service could not read its payer: %+v", u)
	}
	if r := svc.Do(t, meQuery, nil); r.Code() != "FORBIDDEN" {
		t.Fatalf("an app has no me: %+v", r.Errors)
	}
	var app struct{ Node struct{ ID string } }
	svc.Do(t, `query($id:ID!){node(id:$id){id}}`, map[string]any{"id": out.CreateApp.App.ID}).Decode(t, &app)
	if r := svc.Do(t, `query{node(id:"1"){id}}`, nil); r.Code() != "NOT_FOUND" {
		t.Fatalf("an app reading another app: %+v", r.Errors)
	}

	// Rotating revokes the old token.
	admin.Do(t, `mutation($id:ID!){rotateServiceToken(appId:$id){serviceToken}}`, map[string]any{"id": out.CreateApp.App.ID})
	if r := svc.Do(t, `query($id:ID!){user(id:$id){id}}`, map[string]any{"id": aliceID}); r.Code() != "UNAUTHENTICATED" {
		t.Fatalf("rotated token still works: %+v", r.Errors)
	}
}

func TestDefaultAppExists(t *testing.T) {
	srv := testutil.Start(t, testutil.Base(t))
	c := srv.Client()
	var out struct{ Node struct{ ID, Name string } }
	c.As(c.AdminToken(t)).Do(t, `{node(id:"1"){id ... on App{name}}}`, nil).Decode(t, &out)
	if out.Node.ID != "1" {
		t.Fatalf("app 1 = %+v", out.Node)
	}
}

func TestDuplicateUsernameChangesNothing(t *testing.T) {
	srv := testutil.Start(t, testutil.Base(t))
	c := srv.Client()
	c.NewUser(t, "carol")
	ctx := t.Context()
	before, err := srv.DB.Ent.User.Query().Count(ctx)
	if err != nil {
		t.Fatal(err)
	}
	r := c.Do(t, `mutation{register(input:{username:"CAROL",password:"another-pass",email:"c@example.com"}){id}}`, nil)
	if r.Code() != "BAD_USER_INPUT" || !strings.Contains(r.Errors[0].Message, "already taken") || r.Errors[0].Extensions["field"] != "username" {
		t.Fatalf("got %+v", r.Errors)
	}
	after, _ := srv.DB.Ent.User.Query().Count(ctx)
	if after != before {
		t.Fatalf("users %d → %d", before, after)
	}
	// The original password still works and the email was not attached.
	c.Login(t, "carol", "password-carol")
	if n, _ := srv.DB.Ent.User.Query().Where(user.Email("c@example.com")).Count(ctx); n != 0 {
		t.Fatal("half-written user found")
	}
}

func TestRegisterValidation(t *testing.T) {
	srv := testutil.Start(t, testutil.Base(t))
	c := srv.Client()
	for name, in := range map[string]map[string]any{
		"short username": {"username": "ab", "password": "password1"},
		"bad username":   {"username": "a b c", "password": "password1"},
		"short password": {"username": "dave", "password": "short"},
		"bad email":      {"username": "dave", "password": "password1", "email": "not-an-email"},
		"bad mobile":     {"username": "dave", "password": "password1", "mobile": "12ab"},
		"bad national":   {"username": "dave", "password": "password1", "nationalCode": "86x"},
	} {
		r := c.Do(t, `mutation($in:RegisterInput!){register(input:$in){id}}`, map[string]any{"in": in})
		if r.Code() != "BAD_USER_INPUT" {
			t.Errorf("%s: got %+v", name, r.Errors)
		}
	}
	if n, _ := srv.DB.Ent.User.Query().Count(t.Context()); n != 1 { // only the admin
		t.Fatalf("%d users after refused registrations", n)
	}
}

func TestGuards(t *testing.T) {
	env := testutil.Base(t)
	env["PAYGRAPH_MAX_QUERY_DEPTH"] = "2"
	env["PAYGRAPH_MAX_BODY_BYTES"] = "4096"
	srv := testutil.Start(t, env)
	c := srv.Client()

	t.Run("too deep", func(t *testing.T) {
		r := c.Do(t, `mutation{login(username:"admin",password:"admin-password"){user{id}}}`, nil)
		if r.Status/100 != 4 || r.Code() != "BAD_USER_INPUT" || r.Errors[0].Extensions["reason"] != "QUERY_TOO_DEEP" {
			t.Fatalf("status %d, %+v", r.Status, r.Errors)
		}
		// The same through a fragment is measured too.
		r = c.Do(t, `mutation{login(username:"admin",password:"admin-password"){...F}} fragment F on AuthPayload{user{id}}`, nil)
		if r.Code() != "BAD_USER_INPUT" {
			t.Fatalf("fragment: %+v", r.Errors)
		}
		if r := c.Do(t, `mutation{login(username:"admin",password:"admin-password"){token}}`, nil); len(r.Errors) != 0 {
			t.Fatalf("a shallow query was refused: %+v", r.Errors)
		}
	})
	t.Run("oversized body", func(t *testing.T) {
		big := `{"query":"{ me { id } }","variables":{"pad":"` + strings.Repeat("x", 5000) + `"}}`
		r, err := c.Raw(http.MethodPost, "/query", "application/json", []byte(big))
		if err != nil {
			t.Fatal(err)
		}
		if r.Status != http.StatusRequestEntityTooLarge {
			t.Fatalf("status %d", r.Status)
		}
	})
	t.Run("malformed requests are 4xx", func(t *testing.T) {
		for name, req := range map[string]struct{ method, ctype, body string }{
			"bad json":        {"POST", "application/json", `{"query":`},
			"syntax":          {"POST", "application/json", `{"query":"{ me { "}`},
			"unknown field":   {"POST", "application/json", `{"query":"{ nope }"}`},
			"wrong type":      {"POST", "application/json", `{"query":"query($id:ID!){user(id:$id){id}}","variables":{"id":{"a":1}}}`},
			"no query":        {"POST", "application/json", `{}`},
			"mutation on GET": {"GET", "", ""},
			"text body":       {"POST", "text/plain", `hello`},
		} {
			path := "/query"
			if name == "mutation on GET" {
				path = "/query?query=mutation%7Bregister(input%3A%7Busername%3A%22x%22%2Cpassword%3A%22y%22%7D)%7Bid%7D%7D"
			}
			r, err := c.Raw(req.method, path, req.ctype, []byte(req.body))
			if err != nil {
				t.Fatal(err)
			}
			if r.Status/100 != 4 {
				t.Errorf("%s: status %d", name, r.Status)
			}
		}
	})
	t.Run("bad ID argument", func(t *testing.T) {
		r := c.Do(t, `{ user(id: "abc") { id } }`, nil)
		if r.Code() != "BAD_USER_INPUT" {
			t.Fatalf("%+v", r.Errors)
		}
	})
}

func TestTracing(t *testing.T) {
	srv := testutil.Start(t, testutil.Base(t))
	c := srv.Client()
	r := c.Do(t, `{ me { id } }`, nil)
	if id, _ := r.Extensions["traceId"].(string); id == "" || id != r.Header.Get("X-Request-Id") {
		t.Fatalf("traceId %v, X-Request-Id %q", r.Extensions["traceId"], r.Header.Get("X-Request-Id"))
	}
	c.Headers = map[string]string{"X-Request-Id": "client-chosen-123"}
	r = c.Do(t, `{ me { id } }`, nil)
	if r.Header.Get("X-Request-Id") != "client-chosen-123" || r.Extensions["traceId"] != "client-chosen-123" {
		t.Fatalf("incoming id not kept: %q %v", r.Header.Get("X-Request-Id"), r.Extensions["traceId"])
	}
	resp, err := http.Get(srv.URL + "/healthz")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.Header.Get("X-Request-Id") == "" {
		t.Fatal("no X-Request-Id on /healthz")
	}
}

func TestInternalErrorsHideDetails(t *testing.T) {
	srv := testutil.Start(t, testutil.Base(t))
	c := srv.Client()
	tok := c.AdminToken(t)
	srv.DB.SQL.Close() // every query now fails inside the driver
	r := c.As(tok).Do(t, `{ me { id } }`, nil)
	if r.Code() != "INTERNAL" {
		t.Fatalf("got %+v", r.Errors)
	}
	msg := strings.ToLower(r.Errors[0].Message)
	for _, leak := range []string{"sql", "select", "database", "closed", "goroutine"} {
		if strings.Contains(msg, leak) {
			t.Fatalf("message leaks %q: %s", leak, msg)
		}
	}
	if !strings.Contains(r.Errors[0].Message, r.Extensions["traceId"].(string)) {
		t.Fatalf("message does not carry the trace id: %s", r.Errors[0].Message)
	}
	resp, err := http.Get(srv.URL + "/readyz")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusServiceUnavailable {
		t.Fatalf("/readyz = %d with the database gone", resp.StatusCode)
	}
}

func TestPersistedQueries(t *testing.T) {
	srv := testutil.Start(t, testutil.Base(t))
	c := srv.Client()
	q := `{ __typename }`
	sum := sha256.Sum256([]byte(q))
	ext := map[string]any{"persistedQuery": map[string]any{"version": 1, "sha256Hash": hex.EncodeToString(sum[:])}}
	post := func(body map[string]any) *testutil.Response {
		b, _ := json.Marshal(body)
		r, err := c.Raw(http.MethodPost, "/query", "application/json", b)
		if err != nil {
			t.Fatal(err)
		}
		return r
	}
	if r := post(map[string]any{"extensions": ext}); len(r.Errors) == 0 || r.Errors[0].Message != "PersistedQueryNotFound" {
		t.Fatalf("unknown hash: %+v", r.Errors)
	}
	if r := post(map[string]any{"query": q, "extensions": ext}); len(r.Errors) != 0 {
		t.Fatalf("registering: %+v", r.Errors)
	}
	r := post(map[string]any{"extensions": ext})
	if len(r.Errors) != 0 || !strings.Contains(string(r.Data), "Query") {
		t.Fatalf("hash only: %s %+v", r.Data, r.Errors)
	}
}

func TestGraphiQLHealthMetrics(t *testing.T) {
	srv := testutil.Start(t, testutil.Base(t))
	c := srv.Client()
	c.Login(t, "admin", "admin-password")
	c.Do(t, `{ me { id } }`, nil)
	get := func(path string) (int, string) {
		resp, err := http.Get(srv.URL + path)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(b)
	}
	if code, body := get("/"); code != 200 || !strings.Contains(strings.ToLower(body), "graphiql") || !strings.Contains(body, "/query") {
		t.Fatalf("/ = %d", code)
	}
	if code, body := get("/healthz"); code != 200 || body != "ok\n" {
		t.Fatalf("/healthz = %d %q", code, body)
	}
	if code, body := get("/readyz"); code != 200 || body != "ready\n" {
		t.Fatalf("/readyz = %d %q", code, body)
	}
	code, body := get("/metrics")
	for _, want := range []string{
		`paygraph_graphql_requests_total{operation="mutation.login"} 1`,
		`paygraph_graphql_errors_total{code="UNAUTHENTICATED",operation="query.me"} 1`,
		`paygraph_graphql_request_duration_seconds_count{operation="query.me"} 1`,
	} {
		if code != 200 || !strings.Contains(body, want) {
			t.Errorf("/metrics lacks %s", want)
		}
	}
	if code, _ := get("/nope"); code != 404 {
		t.Fatalf("/nope = %d", code)
	}
}
