// Command bench is paygraph's load test (make bench). It starts paygraph
// on a temporary SQLite file, drives concurrent clients through the
// canonical flow (createPaymentOrder + pay) over real HTTP GraphQL, and
// measures in the same run the raw floor: the same database work done
// through database/sql directly. It prints flows/s, p50/p99, errors,
// SQLITE_BUSY seen, and the ratio paygraph/floor, then a second paygraph
// run paced at 70 % of the peak, for its p99.
package main

import (
	"bytes"
	"context"
	"database/sql"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"runtime/pprof"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	_ "github.com/mattn/go-sqlite3"

	"github.com/paygraph/paygraph/internal/auth"
	"github.com/paygraph/paygraph/internal/config"
	"github.com/paygraph/paygraph/internal/db"
	"github.com/paygraph/paygraph/internal/server"
)

func main() {
	clients := flag.Int("clients", 16, "concurrent clients")
	dur := flag.Duration("duration", 10*time.Second, "length of each measured phase")
	profile := flag.String("cpuprofile", "", "write a CPU profile of the whole run to this file")
	flag.Parse()
	if *profile != "" {
		f, err := os.Create(*profile)
		if err != nil {
			fmt.Fprintln(os.Stderr, "bench:", err)
			os.Exit(1)
		}
		_ = pprof.StartCPUProfile(f)
		defer pprof.StopCPUProfile()
	}
	if err := run(*clients, *dur); err != nil {
		fmt.Fprintln(os.Stderr, "bench:", err)
		pprof.StopCPUProfile()
		os.Exit(1)
	}
}

// busyCounter counts log lines that report SQLITE_BUSY ("database is locked").
type busyCounter struct{ n atomic.Int64 }

func (b *busyCounter) Write(p []byte) (int, error) {
	if bytes.Contains(p, []byte("database is locked")) || bytes.Contains(p, []byte("SQLITE_BUSY")) {
		b.n.Add(1)
	}
	return len(p), nil
}

type result struct {
	flows   int
	errors  int
	elapsed time.Duration
	lat     []time.Duration
}

func (r result) rate() float64 { return float64(r.flows) / r.elapsed.Seconds() }

func (r result) pct(p float64) time.Duration {
	if len(r.lat) == 0 {
		return 0
	}
	sort.Slice(r.lat, func(i, j int) bool { return r.lat[i] < r.lat[j] })
	return r.lat[int(float64(len(r.lat)-1)*p)]
}

func run(clients int, dur time.Duration) error {
	dir, err := os.MkdirTemp("", "paygraph-bench-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(dir)

	fmt.Printf("paygraph bench: %d clients, %s phases, SQLite WAL synchronous=FULL, %d CPUs\n", clients, dur, runtimeCPUs())
	floor, err := runFloor(filepath.Join(dir, "floor.db"), clients, dur)
	if err != nil {
		return fmt.Errorf("floor: %w", err)
	}
	report("raw floor (database/sql)", floor)

	busy := &busyCounter{}
	env := map[string]string{
		"PAYGRAPH_DATABASE_URL": "sqlite://" + filepath.Join(dir, "paygraph.db"),
		"PAYGRAPH_JWT_SECRET":   "bench-secret-bench-secret-bench-secret-123",
		"PAYGRAPH_ADMIN":        "admin:admin-password",
		"PAYGRAPH_LOG_LEVEL":    "warn",
		// The load comes from one address and signs in many users.
		"PAYGRAPH_AUTH_RATE_PER_MINUTE": "1000000",
	}
	cfg, err := config.Load(func(k string) string { return env[k] })
	if err != nil {
		return err
	}
	log := slog.New(slog.NewTextHandler(busy, &slog.HandlerOptions{Level: slog.LevelWarn}))
	pw := auth.Passwords{Cost: 4}
	srv, err := server.New(context.Background(), cfg, log, server.Options{Passwords: &pw})
	if err != nil {
		return err
	}
	defer srv.Close()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return err
	}
	hs := &http.Server{Handler: srv.Handler()}
	go hs.Serve(ln)
	defer hs.Close()
	base := "http://" + ln.Addr().String() + "/query"

	hc := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: clients * 2, MaxConnsPerHost: clients * 2}, Timeout: 30 * time.Second}
	g := &gql{url: base, hc: hc}
	setup, err := g.setup(clients)
	if err != nil {
		return fmt.Errorf("set-up: %w", err)
	}

	// Warm up, then the peak.
	_ = drive(g, setup, clients, 2*time.Second, 0)
	peak := drive(g, setup, clients, dur, 0)
	report("paygraph peak", peak)
	paced := drive(g, setup, clients, dur, 0.7*peak.rate())
	report("paygraph at 70% of peak", paced)

	ok := ""
	if err := checkLedger(g, setup.admin); err != nil {
		ok = " — LEDGER CHECK FAILED: " + err.Error()
	}
	ratio := peak.rate() / floor.rate()
	fmt.Printf("\nratio paygraph/floor: %.2f (target ≥ 0.50)\n", ratio)
	fmt.Printf("p99 at 70%% of peak: %s (target ≤ 20ms)\n", paced.pct(0.99).Round(100*time.Microsecond))
	fmt.Printf("errors: %d, SQLITE_BUSY seen: %d%s\n", peak.errors+paced.errors, busy.n.Load(), ok)
	return nil
}

func report(name string, r result) {
	fmt.Printf("%-28s %8.0f flows/s  p50 %-8s p99 %-8s errors %d (%d flows in %s)\n", name, r.rate(),
		r.pct(0.50).Round(10*time.Microsecond), r.pct(0.99).Round(10*time.Microsecond), r.errors, r.flows, r.elapsed.Round(time.Millisecond))
}

func runtimeCPUs() int { return numCPU() }

// drive runs clients workers for d; with rate > 0 the flows start on a
// fixed schedule of rate per second, and latency counts from the scheduled
// start (so queueing shows).
func drive(g *gql, s *setupResult, clients int, d time.Duration, rate float64) result {
	var (
		mu   sync.Mutex
		res  result
		wg   sync.WaitGroup
		next atomic.Int64
	)
	start := time.Now()
	deadline := start.Add(d)
	interval := time.Duration(0)
	if rate > 0 {
		interval = time.Duration(float64(time.Second) / rate)
	}
	for w := 0; w < clients; w++ {
		wg.Add(1)
		go func(w int) {
			defer wg.Done()
			user := s.users[w]
			var lat []time.Duration
			flows, errs := 0, 0
			for {
				t0 := time.Now()
				if interval > 0 {
					t0 = start.Add(time.Duration(next.Add(1)-1) * interval)
					if wait := time.Until(t0); wait > 0 {
						time.Sleep(wait)
					}
				}
				if t0.After(deadline) {
					break
				}
				if err := g.flow(s, user); err != nil {
					errs++
					if errs <= 3 {
						fmt.Fprintln(os.Stderr, "flow error:", err)
					}
				} else {
					flows++
					lat = append(lat, time.Since(t0))
				}
			}
			mu.Lock()
			res.flows += flows
			res.errors += errs
			res.lat = append(res.lat, lat...)
			mu.Unlock()
		}(w)
	}
	wg.Wait()
	res.elapsed = time.Since(start)
	return res
}

type benchUser struct {
	id, token string
}

type setupResult struct {
	admin, service string
	payee          string
	users          []benchUser
}

type gql struct {
	url string
	hc  *http.Client
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

func (g *gql) setup(clients int) (*setupResult, error) {
	s := &setupResult{}
	var err error
	if s.admin, err = g.login("admin", "admin-password"); err != nil {
		return nil, err
	}
	var app struct{ CreateApp struct{ ServiceToken string } }
	if err := g.do(s.admin, `mutation{createApp(name:"bench"){serviceToken}}`, nil, &app); err != nil {
		return nil, err
	}
	s.service = app.CreateApp.ServiceToken
	payee, err := g.register("payee")
	if err != nil {
		return nil, err
	}
	s.payee = payee.id
	for i := 0; i < clients; i++ {
		u, err := g.register(fmt.Sprintf("payer%d", i))
		if err != nil {
			return nil, err
		}
		if err := g.do(s.admin, `mutation($id:ID!){credit(input:{userId:$id,asset:"CNY",amount:"100000000.00"}){id}}`, map[string]any{"id": u.id}, nil); err != nil {
			return nil, err
		}
		s.users = append(s.users, u)
	}
	return s, nil
}

const (
	createQ = `mutation($in:CreatePaymentOrderInput!){createPaymentOrder(input:$in){id}}`
	payQ    = `mutation($in:PayInput!){pay(input:$in){id status}}`
)

// flow is the canonical flow: the app creates an order, the payer pays it.
func (g *gql) flow(s *setupResult, u benchUser) error {
	var created struct{ CreatePaymentOrder struct{ ID string } }
	if err := g.do(s.service, createQ, map[string]any{"in": map[string]any{
		"payerUserId": u.id, "payeeUserId": s.payee,
		"payInfo": []any{map[string]any{"tokenId": "CNY", "amount": "1.00"}},
	}}, &created); err != nil {
		return fmt.Errorf("createPaymentOrder: %w", err)
	}
	var paid struct{ Pay struct{ Status string } }
	if err := g.do(u.token, payQ, map[string]any{"in": map[string]any{"orderId": created.CreatePaymentOrder.ID}}, &paid); err != nil {
		return fmt.Errorf("pay: %w", err)
	}
	if paid.Pay.Status != "PAID" {
		return fmt.Errorf("pay left the order %s", paid.Pay.Status)
	}
	return nil
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

// runFloor does the canonical flow's database work with nothing on top:
// insert the order; then in one transaction debit the payer, credit the
// payee, write two postings and mark the order paid.
func runFloor(path string, clients int, d time.Duration) (result, error) {
	conn, err := sql.Open("sqlite3", db.SQLiteDSN(path))
	if err != nil {
		return result{}, err
	}
	defer conn.Close()
	conn.SetMaxOpenConns(4)
	for _, q := range []string{
		`CREATE TABLE orders (id INTEGER PRIMARY KEY, payer INTEGER, payee INTEGER, amount INTEGER, status TEXT, created_at DATETIME, updated_at DATETIME)`,
		`CREATE TABLE wallets (id INTEGER PRIMARY KEY, user_id INTEGER, asset TEXT, available INTEGER, UNIQUE(user_id, asset))`,
		`CREATE TABLE postings (id INTEGER PRIMARY KEY, journal INTEGER, wallet_id INTEGER, amount INTEGER, order_id INTEGER, created_at DATETIME)`,
	} {
		if _, err := conn.Exec(q); err != nil {
			return result{}, err
		}
	}
	for u := 0; u <= clients; u++ {
		if _, err := conn.Exec(`INSERT INTO wallets (user_id, asset, available) VALUES (?, 'CNY', ?)`, u, 1<<50); err != nil {
			return result{}, err
		}
	}
	var mu sync.Mutex // writers queue in Go rather than in SQLite's busy handler
	flow := func(payer int) error {
		now := time.Now()
		mu.Lock()
		res, err := conn.Exec(`INSERT INTO orders (payer, payee, amount, status, created_at, updated_at) VALUES (?, 0, 100, 'PENDING', ?, ?)`, payer, now, now)
		mu.Unlock()
		if err != nil {
			return err
		}
		oid, _ := res.LastInsertId()
		mu.Lock()
		defer mu.Unlock()
		tx, err := conn.Begin()
		if err != nil {
			return err
		}
		defer tx.Rollback()
		var payerW, payeeW int64
		if err := tx.QueryRow(`UPDATE wallets SET available = available - 100 WHERE user_id = ? AND asset = 'CNY' AND available >= 100 RETURNING id`, payer).Scan(&payerW); err != nil {
			return err
		}
		if err := tx.QueryRow(`UPDATE wallets SET available = available + 100 WHERE user_id = 0 AND asset = 'CNY' RETURNING id`).Scan(&payeeW); err != nil {
			return err
		}
		if _, err := tx.Exec(`INSERT INTO postings (journal, wallet_id, amount, order_id, created_at) VALUES (?, ?, -100, ?, ?), (?, ?, 100, ?, ?)`,
			oid, payerW, oid, now, oid, payeeW, oid, now); err != nil {
			return err
		}
		if _, err := tx.Exec(`UPDATE orders SET status = 'PAID', updated_at = ? WHERE id = ? AND status = 'PENDING'`, now, oid); err != nil {
			return err
		}
		return tx.Commit()
	}
	var (
		wg    sync.WaitGroup
		rmu   sync.Mutex
		res   result
		start = time.Now()
	)
	for w := 1; w <= clients; w++ {
		wg.Add(1)
		go func(w int) {
			defer wg.Done()
			var lat []time.Duration
			n, e := 0, 0
			for time.Since(start) < d {
				t0 := time.Now()
				if err := flow(w); err != nil {
					e++
					if e == 1 && !strings.Contains(err.Error(), "locked") {
						fmt.Fprintln(os.Stderr, "floor error:", err)
					}
					continue
				}
				n++
				lat = append(lat, time.Since(t0))
			}
			rmu.Lock()
			res.flows += n
			res.errors += e
			res.lat = append(res.lat, lat...)
			rmu.Unlock()
		}(w)
	}
	wg.Wait()
	res.elapsed = time.Since(start)
	return res, nil
}
