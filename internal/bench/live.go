package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/coder/websocket"
)

// liveQuery is what every subscriber asks for: the payee's order events,
// with the fields that tell which order and when.
const liveQuery = `subscription{myOrderEvents{orderID to at}}`

// liveResult is one subscriber count's figures.
type liveResult struct {
	n                       int
	openIn                  time.Duration
	rssPer, heapPer, stkPer float64 // bytes per subscriber, idle
	goroutinesPer           float64
	delivered, expected     int
	fromPay, fromAt         []time.Duration
	lastAfterPay            time.Duration // the slowest subscriber, on average over orders
	payTook                 time.Duration // the slowest pay request
	cpuPerDelivery          time.Duration
	rssBase, rssIdle        int64
	rssClosed               int64
	heapClosed              float64
	goroutinesBase          float64
	goroutinesClosed        float64
	benchRSSPer             float64
}

// runLive is `make bench-live`: for each subscriber count a fresh paygraph
// (SQLite), that many idle graphql-transport-ws sockets with one
// subscription each, all the payee's myOrderEvents; then orders paid one
// at a time, each event timed to every subscriber.
func runLive(ctx context.Context, o opts, dir string) error {
	most := 0
	for _, n := range o.subscribers {
		most = max(most, n)
	}
	nofile := raiseNoFile(uint64(most)*2 + 1024)
	fmt.Printf("paygraph bench-live: graphql-transport-ws, one %s per socket, every socket the payee's; SQLite; %d orders paid one at a time; %d CPUs, loadavg %s\n",
		"myOrderEvents", o.orders, numCPU(), loadavg())
	if nofile < uint64(most)+512 {
		return fmt.Errorf("open files are limited to %d here: too few for %d sockets", nofile, most)
	}
	bin, err := buildServer(ctx, dir)
	if err != nil {
		return err
	}
	var results []liveResult
	for _, n := range o.subscribers {
		r, err := liveOnce(ctx, o, dir, bin, n)
		if err != nil {
			return fmt.Errorf("%d subscribers: %w", n, err)
		}
		results = append(results, r)
	}
	fmt.Println()
	fmt.Println("commit → receive is timed from the event's `at` (stamped in the transaction, just before its commit) and from the pay answer (after the commit, but itself delayed while the server fans out)")
	fmt.Println()
	fmt.Println("| sockets | RSS per idle socket | heap / stacks per socket | goroutines each | commit → receive p50 / p99 (from `at`) | from the pay answer p50 / p99 | slowest pay answer | delivered | server CPU per delivery | RSS (heap) after all closed |")
	fmt.Println("|---|---|---|---|---|---|---|---|---|---|")
	for _, r := range results {
		fmt.Printf("| %d | %.1f KB | %.1f / %.1f KB | %.2f | %s / %s | %s / %s | %s | %d of %d | %s | %.0f MB (%.0f MB), %.0f MB before |\n",
			r.n, r.rssPer/1024, r.heapPer/1024, r.stkPer/1024, r.goroutinesPer,
			roundDur(quantile(r.fromAt, 0.5)), roundDur(quantile(r.fromAt, 0.99)),
			roundDur(quantile(r.fromPay, 0.5)), roundDur(quantile(r.fromPay, 0.99)),
			roundDur(r.payTook), r.delivered, r.expected, r.cpuPerDelivery.Round(100*time.Nanosecond),
			float64(r.rssClosed)/(1<<20), r.heapClosed/(1<<20), float64(r.rssBase)/(1<<20))
	}
	fmt.Printf("loadavg at the end: %s\n", loadavg())
	return nil
}

func roundDur(d time.Duration) time.Duration {
	switch {
	case d >= time.Second:
		return d.Round(10 * time.Millisecond)
	case d >= time.Millisecond:
		return d.Round(100 * time.Microsecond)
	}
	return d.Round(time.Microsecond)
}

// subscriber is one socket of the bench.
type subscriber struct {
	conn *websocket.Conn
}

// liveRecv collects, for each paid order, when each subscriber got its
// PAID event.
type liveRecv struct {
	orders map[string]int   // order id → index
	at     []atomic.Int64   // the event's at, unix ns, per order
	got    [][]atomic.Int64 // [order][subscriber] unix ns, 0 if not yet
	count  []atomic.Int64
	bad    atomic.Int64 // errors, completes and unreadable messages
}

func liveOnce(ctx context.Context, o opts, dir, bin string, n int) (liveResult, error) {
	res := liveResult{n: n}
	env := baseEnv("sqlite://" + filepath.Join(dir, fmt.Sprintf("live-%d.db", n)))
	// One client address holds every socket, one user every subscription.
	env["PAYGRAPH_MAX_STREAMS"] = "1048576"
	env["PAYGRAPH_MAX_SUBSCRIPTIONS_PER_USER"] = "1000000"
	srv, err := startChild(ctx, "paygraph", bin, filepath.Join(dir, fmt.Sprintf("live-%d.log", n)), env)
	if err != nil {
		return res, err
	}
	defer srv.stop()
	g := newGQL(srv.url, 4)
	setup, err := g.setup(1)
	if err != nil {
		return res, fmt.Errorf("set-up: %w", err)
	}
	payer := setup.users[0]
	// Warm the server up, then create the orders to pay, before anyone listens.
	for range 20 {
		if err := g.flow(setup, payer); err != nil {
			return res, err
		}
	}
	recv := &liveRecv{orders: map[string]int{}, at: make([]atomic.Int64, o.orders), got: make([][]atomic.Int64, o.orders), count: make([]atomic.Int64, o.orders)}
	ids := make([]string, o.orders)
	for i := range ids {
		if ids[i], err = g.create(setup, payer); err != nil {
			return res, err
		}
		recv.orders[ids[i]] = i
		recv.got[i] = make([]atomic.Int64, n)
	}

	srv.gc()
	time.Sleep(200 * time.Millisecond)
	m0, _ := srv.metrics()
	res.rssBase, res.goroutinesBase = srv.rss(), m0["go_goroutines"]
	benchRSS0, _ := procStatusKB(os.Getpid(), "VmRSS")

	// Open the sockets, 32 at a time.
	subCtx, closeAll := context.WithCancel(ctx)
	defer closeAll()
	subs := make([]*subscriber, n)
	var (
		wg      sync.WaitGroup
		readers sync.WaitGroup
		failed  atomic.Int64
		firstMu sync.Mutex
		first   error
		sem     = make(chan struct{}, 32)
	)
	wsURL := "ws" + strings.TrimPrefix(srv.url, "http") + "/query"
	hc := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: -1}}
	start := time.Now()
	for i := range subs {
		wg.Add(1)
		sem <- struct{}{}
		go func() {
			defer wg.Done()
			defer func() { <-sem }()
			s, err := openSubscriber(subCtx, hc, wsURL, setup.payee.token)
			if err != nil {
				failed.Add(1)
				firstMu.Lock()
				if first == nil {
					first = err
				}
				firstMu.Unlock()
				return
			}
			subs[i] = s
			readers.Add(1)
			go func() {
				defer readers.Done()
				s.read(subCtx, recv, i)
			}()
		}()
	}
	wg.Wait()
	res.openIn = time.Since(start)
	if f := failed.Load(); f > 0 {
		closeAll()
		return res, fmt.Errorf("%d of %d sockets failed, the first: %v", f, n, first)
	}
	// The server has no answer to a subscribe: wait for its goroutines to settle.
	settleGoroutines(ctx, srv, func(g float64) bool { return g >= res.goroutinesBase+float64(n) }, 60*time.Second)
	srv.gc()
	time.Sleep(500 * time.Millisecond)
	m1, _ := srv.metrics()
	res.rssIdle = srv.rss()
	gor := m1["go_goroutines"]
	res.rssPer = float64(res.rssIdle-res.rssBase) / float64(n)
	res.heapPer = (m1["go_memstats_heap_inuse_bytes"] - m0["go_memstats_heap_inuse_bytes"]) / float64(n)
	res.stkPer = (m1["go_memstats_stack_inuse_bytes"] - m0["go_memstats_stack_inuse_bytes"]) / float64(n)
	res.goroutinesPer = (gor - res.goroutinesBase) / float64(n)
	benchRSS1, _ := procStatusKB(os.Getpid(), "VmRSS")
	res.benchRSSPer = float64(benchRSS1-benchRSS0) / float64(n)
	fmt.Printf("%d subscribers: opened in %s (%.0f/s); server RSS %.0f → %.0f MB, %.1f KB per idle socket (heap %.1f KB, stacks %.1f KB), %.2f goroutines each (%.0f → %.0f); this process %.1f KB per socket; open files: server %s\n",
		n, res.openIn.Round(time.Millisecond), float64(n)/res.openIn.Seconds(), float64(res.rssBase)/(1<<20), float64(res.rssIdle)/(1<<20),
		res.rssPer/1024, res.heapPer/1024, res.stkPer/1024, res.goroutinesPer, res.goroutinesBase, gor, res.benchRSSPer/1024, procLimit(srv.pid, "Max open files"))

	if o.heapprofile != "" && n == slices.Max(o.subscribers) {
		if err := srv.snapshot("heap", o.heapprofile); err != nil {
			return res, err
		}
		if err := srv.snapshot("goroutine?debug=1", o.heapprofile+".goroutines"); err != nil {
			return res, err
		}
		fmt.Printf("  server heap of the idle sockets: go tool pprof -sample_index=inuse_space -top %s (goroutines: %s.goroutines)\n", o.heapprofile, o.heapprofile)
	}

	// Pay the orders one at a time; each waits until every subscriber has
	// its event (or 60 s). With -cpuprofile, the largest count's payments
	// are profiled (a fixed window: the tail is idle).
	var profile <-chan error
	if o.cpuprofile != "" && n == slices.Max(o.subscribers) {
		profile = srv.profile("profile", time.Duration(max(5, 2*o.orders))*time.Second, o.cpuprofile)
	}
	cpu0 := srv.cpu()
	var payTook time.Duration
	var lastSum time.Duration
	for i, id := range ids {
		t0 := time.Now()
		if err := g.pay(payer, id); err != nil {
			return res, err
		}
		t1 := time.Now()
		payTook = max(payTook, t1.Sub(t0))
		deadline := t1.Add(60 * time.Second)
		for recv.count[i].Load() < int64(n) && time.Now().Before(deadline) && ctx.Err() == nil {
			time.Sleep(2 * time.Millisecond)
		}
		at := time.Unix(0, recv.at[i].Load())
		var last time.Duration
		for j := range recv.got[i] {
			ns := recv.got[i][j].Load()
			if ns == 0 {
				continue
			}
			got := time.Unix(0, ns)
			res.fromPay = append(res.fromPay, got.Sub(t1))
			if !at.IsZero() {
				res.fromAt = append(res.fromAt, got.Sub(at))
			}
			last = max(last, got.Sub(t1))
		}
		lastSum += last
		res.delivered += int(recv.count[i].Load())
		res.expected += n
		fmt.Printf("  order %d: pay took %s, %d of %d received, the last %s after the answer\n",
			i+1, t1.Sub(t0).Round(100*time.Microsecond), recv.count[i].Load(), n, roundDur(last))
		time.Sleep(200 * time.Millisecond)
	}
	if res.delivered > 0 {
		res.cpuPerDelivery = (srv.cpu() - cpu0) / time.Duration(res.delivered)
	}
	res.lastAfterPay = lastSum / time.Duration(max(len(ids), 1))
	res.payTook = payTook
	if profile != nil {
		if err := <-profile; err != nil {
			return res, err
		}
		fmt.Printf("  server CPU profile of the payments: go tool pprof -top -nodecount=40 %s\n", o.cpuprofile)
	}
	fmt.Printf("  pay answered → received p50 %s p99 %s; event at → received p50 %s p99 %s; server CPU %s per delivered event; %d bad messages\n",
		roundDur(quantile(res.fromPay, 0.5)), roundDur(quantile(res.fromPay, 0.99)),
		roundDur(quantile(res.fromAt, 0.5)), roundDur(quantile(res.fromAt, 0.99)),
		res.cpuPerDelivery.Round(100*time.Nanosecond), recv.bad.Load())

	// Close every socket, then see what the server keeps.
	closeAll()
	readers.Wait()
	settleGoroutines(ctx, srv, func(g float64) bool { return g <= res.goroutinesBase*1.05+10 }, 30*time.Second)
	srv.gc()
	time.Sleep(500 * time.Millisecond)
	m2, _ := srv.metrics()
	res.rssClosed, res.goroutinesClosed = srv.rss(), m2["go_goroutines"]
	res.heapClosed = m2["go_memstats_heap_inuse_bytes"]
	fmt.Printf("  all closed: server RSS %.0f MB (heap in use %.0f MB, %.0f MB before; released to the OS %.0f MB), %.0f goroutines\n",
		float64(res.rssClosed)/(1<<20), res.heapClosed/(1<<20), m0["go_memstats_heap_inuse_bytes"]/(1<<20), m2["go_memstats_heap_released_bytes"]/(1<<20), res.goroutinesClosed)
	return res, srv.alive()
}

// openSubscriber dials, sends connection_init with token, waits for the
// ack and subscribes.
func openSubscriber(ctx context.Context, hc *http.Client, wsURL, token string) (*subscriber, error) {
	dctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	c, _, err := websocket.Dial(dctx, wsURL, &websocket.DialOptions{
		HTTPClient: hc, Subprotocols: []string{"graphql-transport-ws"}, CompressionMode: websocket.CompressionDisabled,
	})
	if err != nil {
		return nil, err
	}
	send := func(v any) error {
		b, _ := json.Marshal(v)
		return c.Write(dctx, websocket.MessageText, b)
	}
	if err := send(map[string]any{"type": "connection_init", "payload": map[string]any{"token": token}}); err != nil {
		c.CloseNow()
		return nil, err
	}
	for {
		_, b, err := c.Read(dctx)
		if err != nil {
			c.CloseNow()
			return nil, fmt.Errorf("waiting for connection_ack: %w", err)
		}
		var m struct{ Type string }
		_ = json.Unmarshal(b, &m)
		if m.Type == "connection_ack" {
			break
		}
		if m.Type != "ping" && m.Type != "pong" {
			c.CloseNow()
			return nil, fmt.Errorf("got %s before connection_ack", b)
		}
	}
	if err := send(map[string]any{"type": "subscribe", "id": "1", "payload": map[string]any{"query": liveQuery}}); err != nil {
		c.CloseNow()
		return nil, err
	}
	return &subscriber{conn: c}, nil
}

// read takes the subscriber's messages until ctx ends, noting when each
// paid order's event came.
func (s *subscriber) read(ctx context.Context, recv *liveRecv, i int) {
	defer s.conn.CloseNow()
	for {
		_, b, err := s.conn.Read(ctx)
		now := time.Now().UnixNano()
		if err != nil {
			if ctx.Err() == nil && !errors.Is(err, context.Canceled) {
				recv.bad.Add(1)
			}
			return
		}
		var m struct {
			Type    string
			Payload struct {
				Data struct {
					MyOrderEvents struct {
						OrderID, To string
						At          time.Time
					}
				}
			}
		}
		if json.Unmarshal(b, &m) != nil {
			recv.bad.Add(1)
			continue
		}
		switch m.Type {
		case "ping":
			_ = s.conn.Write(ctx, websocket.MessageText, []byte(`{"type":"pong"}`))
			continue
		case "next":
		default:
			recv.bad.Add(1)
			continue
		}
		ev := m.Payload.Data.MyOrderEvents
		k, ok := recv.orders[ev.OrderID]
		if !ok || ev.To != "PAID" {
			continue
		}
		recv.at[k].CompareAndSwap(0, ev.At.UnixNano())
		if recv.got[k][i].CompareAndSwap(0, now) {
			recv.count[k].Add(1)
		}
	}
}

// settleGoroutines waits until the server's goroutine count is done
// moving: within 0.2 % for a second, and near for half a second (or
// limit).
func settleGoroutines(ctx context.Context, srv *child, near func(float64) bool, limit time.Duration) {
	deadline := time.Now().Add(limit)
	last, steady := -1.0, 0
	for time.Now().Before(deadline) && ctx.Err() == nil {
		g := srv.goroutines()
		if d := g - last; d >= -max(2, 0.002*g) && d <= max(2, 0.002*g) {
			steady++
		} else {
			steady = 0
		}
		last = g
		if steady >= 4 || (near(g) && steady >= 2) {
			return
		}
		time.Sleep(250 * time.Millisecond)
	}
}
