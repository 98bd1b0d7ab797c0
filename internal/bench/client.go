package main

import (
	"bytes"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"sync"
	"time"
)

type benchUser struct {
	id, token string
	// service is the SERVICE token that creates this payer's orders: the
	// bench app's, or with more than 16 endpoints one of the apps they
	// are spread over.
	service string
}

type setupResult struct {
	admin, service string
	// services are the tokens of the apps with endpoints (more than one
	// with -endpoints above the per-app cap).
	services []string
	payee    benchUser
	users    []benchUser
}

// gql is a GraphQL-over-HTTP client of one server.
type gql struct {
	url string
	hc  *http.Client
}

func newGQL(serverURL string, conns int) *gql {
	return &gql{
		url: serverURL + "/query",
		hc: &http.Client{
			Transport: &http.Transport{MaxIdleConnsPerHost: conns, MaxConnsPerHost: conns},
			Timeout:   30 * time.Second,
		},
	}
}

type gqlResp struct {
	Data   json.RawMessage `json:"data"`
	Errors []struct {
		Message    string         `json:"message"`
		Extensions map[string]any `json:"extensions"`
	} `json:"errors"`
}

func (g *gql) do(token, query string, vars map[string]any, out any) error {
	body, _ := json.Marshal(map[string]any{"query": query, "variables": vars})
	req, _ := http.NewRequest(http.MethodPost, g.url, bytes.NewReader(body))
	req.Header.Set("Content-Type", "application/json")
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	resp, err := g.hc.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	raw, err := io.ReadAll(resp.Body)
	if err != nil {
		return err
	}
	var r gqlResp
	if err := json.Unmarshal(raw, &r); err != nil {
		return fmt.Errorf("status %d: %s", resp.StatusCode, raw)
	}
	if len(r.Errors) > 0 {
		return fmt.Errorf("%s (%v)", r.Errors[0].Message, r.Errors[0].Extensions["code"])
	}
	if out != nil {
		return json.Unmarshal(r.Data, out)
	}
	return nil
}

func (g *gql) login(user, pass string) (string, error) {
	var out struct {
		Login struct{ Token string }
	}
	err := g.do("", `mutation($u:String!,$p:String!){login(username:$u,password:$p){token}}`, map[string]any{"u": user, "p": pass}, &out)
	return out.Login.Token, err
}

func (g *gql) register(name string) (benchUser, error) {
	var out struct{ Register struct{ ID string } }
	if err := g.do("", `mutation($u:String!){register(input:{username:$u,password:"bench-password"}){id}}`, map[string]any{"u": name}, &out); err != nil {
		return benchUser{}, err
	}
	tok, err := g.login(name, "bench-password")
	return benchUser{id: out.Register.ID, token: tok}, err
}

// setup signs the admin in, creates an app (its SERVICE token creates the
// orders), a payee and payers users, each payer credited. The server hashes
// passwords at its production cost, so users are registered four at a time.
func (g *gql) setup(payers int) (*setupResult, error) {
	s := &setupResult{users: make([]benchUser, payers)}
	var err error
	if s.admin, err = g.login("admin", "admin-password"); err != nil {
		return nil, err
	}
	var app struct{ CreateApp struct{ ServiceToken string } }
	if err := g.do(s.admin, `mutation{createApp(name:"bench"){serviceToken}}`, nil, &app); err != nil {
		return nil, err
	}
	s.service = app.CreateApp.ServiceToken
	if s.services, err = g.deadEndpoints(s.admin, s.service, *endpoints); err != nil {
		return nil, err
	}
	if s.payee, err = g.register("payee"); err != nil {
		return nil, err
	}
	var (
		wg    sync.WaitGroup
		mu    sync.Mutex
		first error
		sem   = make(chan struct{}, 4)
	)
	for i := range payers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			sem <- struct{}{}
			defer func() { <-sem }()
			u, err := g.register(fmt.Sprintf("payer%d", i))
			u.service = s.services[i%len(s.services)]
			if err == nil {
				err = g.do(s.admin, `mutation($id:ID!){credit(input:{userId:$id,asset:"CNY",amount:"100000000.00"}){id}}`, map[string]any{"id": u.id}, nil)
			}
			mu.Lock()
			defer mu.Unlock()
			if err != nil && first == nil {
				first = err
			}
			s.users[i] = u
		}()
	}
	wg.Wait()
	if first != nil {
		return nil, first
	}
	return s, nil
}

const (
	createQ = `mutation($in:CreatePaymentOrderInput!){createPaymentOrder(input:$in){id}}`
	payQ    = `mutation($in:PayInput!){pay(input:$in){id status}}`
)

// create makes a 1.00 CNY order from u to the payee.
func (g *gql) create(s *setupResult, u benchUser) (string, error) {
	var created struct{ CreatePaymentOrder struct{ ID string } }
	svc := u.service
	if svc == "" {
		svc = s.service
	}
	if err := g.do(svc, createQ, map[string]any{"in": map[string]any{
		"payerUserId": u.id, "payeeUserId": s.payee.id,
		"payInfo": []any{map[string]any{"tokenId": "CNY", "amount": "1.00"}},
	}}, &created); err != nil {
		return "", fmt.Errorf("createPaymentOrder: %w", err)
	}
	return created.CreatePaymentOrder.ID, nil
}

// pay has u pay order id.
func (g *gql) pay(u benchUser, id string) error {
	var paid struct{ Pay struct{ Status string } }
	if err := g.do(u.token, payQ, map[string]any{"in": map[string]any{"orderId": id}}, &paid); err != nil {
		return fmt.Errorf("pay: %w", err)
	}
	if paid.Pay.Status != "PAID" {
		return fmt.Errorf("pay left the order %s", paid.Pay.Status)
	}
	return nil
}

// flow is the canonical flow: the app creates an order, the payer pays it.
func (g *gql) flow(s *setupResult, u benchUser) error {
	id, err := g.create(s, u)
	if err != nil {
		return err
	}
	return g.pay(u, id)
}

func checkLedger(g *gql, admin string) error {
	var out struct{ LedgerCheck struct{ OK bool } }
	if err := g.do(admin, `{ledgerCheck{ok}}`, nil, &out); err != nil {
		return err
	}
	if !out.LedgerCheck.OK {
		return fmt.Errorf("ledger does not balance")
	}
	return nil
}

// endpoints is how many webhook endpoints the bench gets, all pointing at
// a receiver that accepts connections and never answers: payments must
// not slow down for them (deliveries run outside every transaction). An
// app has at most 16; more are spread over further apps, 16 each, and
// the payers' orders over those apps, so every endpoint has events.
var apps = flag.Int("apps", 1, "sqlite: spread the payers' orders over this many apps (the bench app and more), as -endpoints above 16 does: its baseline without endpoints")

var endpoints = flag.Int("endpoints", 0, "sqlite: webhook endpoints that time out (a receiver that never answers): up to 16 on the bench app, more spread 16 per app over further apps, whose orders the payers share")

// deadEndpoints makes the apps whose orders the bench makes (-apps, or
// as many as n endpoints need at 16 per app) and n endpoints on them that
// never answer, and returns the apps' SERVICE tokens.
func (g *gql) deadEndpoints(admin, service string, n int) ([]string, error) {
	const perApp = 16
	services := []string{service}
	for len(services) < max(*apps, (n+perApp-1)/perApp) {
		var app struct{ CreateApp struct{ ServiceToken string } }
		if err := g.do(admin, `mutation($n:String!){createApp(name:$n){serviceToken}}`,
			map[string]any{"n": fmt.Sprintf("bench-%d", len(services))}, &app); err != nil {
			return nil, err
		}
		services = append(services, app.CreateApp.ServiceToken)
	}
	if n == 0 {
		if len(services) > 1 {
			fmt.Printf("orders spread over %d apps, no webhook endpoints\n", len(services))
		}
		return services, nil
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	go func() {
		var held []net.Conn // kept open, never answered
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			held = append(held, c)
		}
	}()
	for i := range n {
		url := fmt.Sprintf("http://%s/hook/%d", ln.Addr(), i)
		if err := g.do(services[i/perApp], `mutation($u:String!){createWebhookEndpoint(input:{url:$u}){secret}}`, map[string]any{"u": url}, nil); err != nil {
			return nil, fmt.Errorf("endpoint %d: %w", i, err)
		}
	}
	fmt.Printf("webhooks: %d endpoints over %d apps (orders spread over them), all pointing at a receiver that never answers\n", n, len(services))
	return services, nil
}
