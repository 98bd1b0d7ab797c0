package main

import (
	"context"
	"crypto/rand"
	"database/sql"
	"encoding/hex"
	"fmt"
	mrand "math/rand/v2"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"

	_ "github.com/jackc/pgx/v5/stdlib" // the "pgx" database/sql driver
)

// appPrefix names the PostgreSQL sessions of the bench's paygraph
// instances (application_name), so pg_stat_activity tells them apart.
const appPrefix = "paygraph-bench-node"

// runPostgres is `make bench-postgres`: pgbench's TPC-B-like rate, then one
// and two paygraph instances (children, one schema, the same token key,
// their own node ids) with the load split across them.
func runPostgres(ctx context.Context, o opts, dir string) error {
	base := o.postgresURL
	admin, err := sql.Open("pgx", base)
	if err != nil {
		return err
	}
	defer admin.Close()
	var version string
	if err := admin.QueryRowContext(ctx, "SHOW server_version").Scan(&version); err != nil {
		return fmt.Errorf("PostgreSQL at %s: %w", redactURL(base), err)
	}
	var b [6]byte
	_, _ = rand.Read(b[:])
	schema := "bench_" + hex.EncodeToString(b[:])
	if _, err := admin.ExecContext(ctx, "CREATE SCHEMA "+schema); err != nil {
		return err
	}
	defer func() {
		c, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		if _, err := admin.ExecContext(c, "DROP SCHEMA "+schema+" CASCADE"); err != nil {
			fmt.Fprintf(os.Stderr, "bench: dropping schema %s: %v\n", schema, err)
		}
	}()
	fmt.Printf("paygraph bench-postgres: %d clients, %s phases, PostgreSQL %s at %s (schema %s), %d CPUs, loadavg %s\n",
		o.clients, o.duration, version, hostOf(base), schema, numCPU(), loadavg())

	bin, err := buildServer(ctx, dir)
	if err != nil {
		return err
	}

	// The database's own rate on this machine, first, with nothing else of ours running.
	floorName, tps, err := pgFloor(ctx, o, base, schema)
	if err != nil {
		return fmt.Errorf("%s: %w", floorName, err)
	}
	fmt.Printf("%-28s %8.0f tps (%s)\n", "PostgreSQL floor", tps, floorName)

	var nodes []*child
	defer func() {
		for _, c := range nodes {
			c.stop()
		}
	}()
	for i := 1; i <= 2; i++ {
		u, err := url.Parse(base)
		if err != nil {
			return err
		}
		q := u.Query()
		q.Set("search_path", schema)
		q.Set("application_name", fmt.Sprintf("%s%d", appPrefix, i))
		u.RawQuery = q.Encode()
		env := baseEnv(u.String())
		env["PAYGRAPH_NODE_ID"] = strconv.Itoa(i)
		c, err := startChild(ctx, fmt.Sprintf("paygraph node %d", i), bin, filepath.Join(dir, fmt.Sprintf("node%d.log", i)), env)
		if err != nil {
			return err
		}
		nodes = append(nodes, c)
	}
	g1, g2 := newGQL(nodes[0].url, o.clients*2), newGQL(nodes[1].url, o.clients*2)
	setup, err := g1.setup(o.clients)
	if err != nil {
		return fmt.Errorf("set-up: %w", err)
	}
	_ = drive(ctx, []*gql{g1, g2}, setup, o.clients, 2*time.Second, 0)

	sampler, err := sql.Open("pgx", withParam(base, "application_name", "paygraph-bench-sampler"))
	if err != nil {
		return err
	}
	defer sampler.Close()
	sampler.SetMaxOpenConns(1)

	type phase struct {
		name  string
		res   result
		use   usage
		pgCPU time.Duration
		waits waitCounts
		busy  float64 // share of the machine's CPUs in use
	}
	var phases []phase
	for _, p := range []struct {
		name    string
		targets []*gql
		servers []*child
	}{
		{"one instance", []*gql{g1}, nodes[:1]},
		{"two instances", []*gql{g1, g2}, nodes},
	} {
		var profiles []<-chan error
		if len(p.servers) == 1 && o.cpuprofile != "" {
			profiles = append(profiles, nodes[0].profile("profile", o.duration, o.cpuprofile))
		}
		if len(p.servers) == 1 && o.allocprofile != "" {
			profiles = append(profiles, nodes[0].profile("allocs", o.duration, o.allocprofile))
		}
		pg0 := backendCPU(ctx, sampler, nil)
		mb0, mt0 := machineCPU()
		before := takeSample(nodes)
		sctx, stopSampling := context.WithCancel(ctx)
		wc := make(chan waitCounts, 1)
		go func() { wc <- sampleWaits(sctx, sampler) }()
		res := drive(ctx, p.targets, setup, o.clients, o.duration, 0)
		use := since(nodes, before)
		mb1, mt1 := machineCPU()
		stopSampling()
		waits := <-wc
		pg1 := backendCPU(ctx, sampler, pg0)
		for _, pr := range profiles {
			if err := <-pr; err != nil {
				return err
			}
		}
		ph := phase{name: p.name, res: res, use: use, waits: waits, busy: float64(mb1-mb0) / float64(mt1-mt0)}
		for pid, d := range pg1 {
			ph.pgCPU += d - pg0[pid]
		}
		phases = append(phases, ph)
		report(p.name, res)
		printCPU(res, use)
		fmt.Printf("%-28s PostgreSQL backends %s per flow; machine %.0f%% busy\n", "", perFlow(ph.pgCPU, res.flows), 100*ph.busy)
	}
	for _, c := range nodes {
		if err := c.alive(); err != nil {
			return err
		}
	}
	ok := ""
	if err := checkLedger(g1, setup.admin); err != nil {
		ok = " — LEDGER CHECK FAILED: " + err.Error()
	}

	fmt.Println()
	for _, ph := range phases {
		fmt.Printf("ratio paygraph/PostgreSQL floor, %s: %.2f (%.0f flows/s ÷ %.0f tps); p99 %s\n", ph.name, ph.res.rate()/tps, ph.res.rate(), tps, ph.res.pct(0.99).Round(100*time.Microsecond))
	}
	two := phases[len(phases)-1]
	printStatements(two.use.stmts, two.res.flows, o.statements)
	fmt.Println("(each instance also publishes its events in autocommit pg_notify statements on a pool of its own, not counted)")
	for _, ph := range phases {
		wall := ph.use.wall.Seconds()
		fmt.Printf("where it waits, %s: %d samples of paygraph's backends every %s, %.1f busy on average\n",
			ph.name, ph.waits.samples, sampleEvery, float64(ph.waits.busy)/float64(max(ph.waits.samples, 1)))
		ph.waits.print()
		fmt.Printf("  CPU: machine %.0f%% of %d; paygraph %.0f%%, its PostgreSQL backends %.0f%%, generator %.0f%% (of one CPU each)\n",
			100*ph.busy, numCPU(), 100*ph.use.serverCPU.Seconds()/wall, 100*ph.pgCPU.Seconds()/wall, 100*ph.use.self.Seconds()/wall)
	}
	errs := 0
	for _, ph := range phases {
		errs += ph.res.errors
	}
	fmt.Printf("errors: %d%s\n", errs, ok)
	printProfiles(o)
	fmt.Printf("loadavg at the end: %s\n", loadavg())
	return nil
}

// pgFloor measures what PostgreSQL itself does on this machine: pgbench's
// built-in TPC-B-like script when pgbench is installed, else the same five
// statements per transaction through database/sql. It says which.
func pgFloor(ctx context.Context, o opts, base, schema string) (string, float64, error) {
	secs := int(o.duration / time.Second)
	if secs < 1 {
		secs = 1
	}
	pgbench, err := exec.LookPath("pgbench")
	if err != nil {
		name := fmt.Sprintf("TPC-B-like through database/sql (no pgbench installed), scale %d, %d clients, %ds", o.pgbenchScale, o.clients, secs)
		tps, err := sqlTPCB(ctx, withParam(base, "search_path", schema), o.pgbenchScale, o.clients, time.Duration(secs)*time.Second)
		return name, tps, err
	}
	env := append(os.Environ(), "PGOPTIONS=-c search_path="+schema, "PGAPPNAME=paygraph-bench-pgbench")
	init := exec.CommandContext(ctx, pgbench, "-i", "-q", "-s", strconv.Itoa(o.pgbenchScale), base)
	init.Env = env
	if out, err := init.CombinedOutput(); err != nil {
		return "pgbench -i", 0, fmt.Errorf("%v: %s", err, out)
	}
	args := []string{"-n", "-M", "prepared", "-c", strconv.Itoa(o.clients), "-j", strconv.Itoa(numCPU()), "-T", strconv.Itoa(secs), base}
	name := "pgbench TPC-B-like: pgbench -s " + strconv.Itoa(o.pgbenchScale) + " " + strings.Join(args[:len(args)-1], " ")
	cmd := exec.CommandContext(ctx, pgbench, args...)
	cmd.Env = env
	out, err := cmd.CombinedOutput()
	if err != nil {
		return name, 0, fmt.Errorf("%v: %s", err, out)
	}
	m := regexp.MustCompile(`tps = ([0-9.]+) \(without initial connection time\)`).FindSubmatch(out)
	if m == nil {
		return name, 0, fmt.Errorf("no tps in pgbench's output: %s", out)
	}
	tps, _ := strconv.ParseFloat(string(m[1]), 64)
	if l := regexp.MustCompile(`latency average = ([0-9.]+ ms)`).FindSubmatch(out); l != nil {
		name += ", latency average " + string(l[1])
	}
	return name, tps, nil
}

// sqlTPCB is pgbench's TPC-B-like transaction through database/sql, for
// machines without pgbench.
func sqlTPCB(ctx context.Context, dsn string, scale, clients int, d time.Duration) (float64, error) {
	conn, err := sql.Open("pgx", dsn)
	if err != nil {
		return 0, err
	}
	defer conn.Close()
	conn.SetMaxOpenConns(clients)
	for _, q := range []string{
		`CREATE TABLE pgb_branches (bid int PRIMARY KEY, bbalance int)`,
		`CREATE TABLE pgb_tellers (tid int PRIMARY KEY, bid int, tbalance int)`,
		`CREATE TABLE pgb_accounts (aid int PRIMARY KEY, bid int, abalance int)`,
		`CREATE TABLE pgb_history (tid int, bid int, aid int, delta int, mtime timestamp)`,
		fmt.Sprintf(`INSERT INTO pgb_branches SELECT b, 0 FROM generate_series(1, %d) b`, scale),
		fmt.Sprintf(`INSERT INTO pgb_tellers SELECT t, (t-1)/10+1, 0 FROM generate_series(1, %d) t`, 10*scale),
		fmt.Sprintf(`INSERT INTO pgb_accounts SELECT a, (a-1)/100000+1, 0 FROM generate_series(1, %d) a`, 100000*scale),
		`VACUUM ANALYZE pgb_branches, pgb_tellers, pgb_accounts`,
	} {
		if _, err := conn.ExecContext(ctx, q); err != nil {
			return 0, err
		}
	}
	var (
		wg sync.WaitGroup
		mu sync.Mutex
		n  int
	)
	start := time.Now()
	for range clients {
		wg.Add(1)
		go func() {
			defer wg.Done()
			done := 0
			for time.Since(start) < d && ctx.Err() == nil {
				aid, tid, bid, delta := mrand.IntN(100000*scale)+1, mrand.IntN(10*scale)+1, mrand.IntN(scale)+1, mrand.IntN(10001)-5000
				tx, err := conn.BeginTx(ctx, nil)
				if err != nil {
					continue
				}
				var bal int
				_, err = tx.Exec(`UPDATE pgb_accounts SET abalance = abalance + $1 WHERE aid = $2`, delta, aid)
				if err == nil {
					err = tx.QueryRow(`SELECT abalance FROM pgb_accounts WHERE aid = $1`, aid).Scan(&bal)
				}
				if err == nil {
					_, err = tx.Exec(`UPDATE pgb_tellers SET tbalance = tbalance + $1 WHERE tid = $2`, delta, tid)
				}
				if err == nil {
					_, err = tx.Exec(`UPDATE pgb_branches SET bbalance = bbalance + $1 WHERE bid = $2`, delta, bid)
				}
				if err == nil {
					_, err = tx.Exec(`INSERT INTO pgb_history (tid, bid, aid, delta, mtime) VALUES ($1, $2, $3, $4, now())`, tid, bid, aid, delta)
				}
				if err == nil {
					err = tx.Commit()
				} else {
					_ = tx.Rollback()
				}
				if err == nil {
					done++
				}
			}
			mu.Lock()
			n += done
			mu.Unlock()
		}()
	}
	wg.Wait()
	return float64(n) / time.Since(start).Seconds(), nil
}

// sampleEvery is how often pg_stat_activity is sampled.
const sampleEvery = 25 * time.Millisecond

// waitCounts is what paygraph's backends were doing, sample by sample.
type waitCounts struct {
	samples int            // rounds of sampling
	busy    int            // backend-samples not idle
	by      map[string]int // "Lock:transactionid", "CPU", …, over busy ones
}

// sampleWaits samples until ctx ends what every backend of the bench's
// instances is doing: running (on CPU, or waiting on an event), idle in a
// transaction (waiting for paygraph's next statement) or idle.
func sampleWaits(ctx context.Context, db *sql.DB) waitCounts {
	w := waitCounts{by: map[string]int{}}
	t := time.NewTicker(sampleEvery)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return w
		case <-t.C:
		}
		rows, err := db.QueryContext(ctx, `SELECT coalesce(state, ''), coalesce(wait_event_type, ''), coalesce(wait_event, '')
			FROM pg_stat_activity WHERE application_name LIKE '`+appPrefix+`%'`)
		if err != nil {
			continue
		}
		w.samples++
		for rows.Next() {
			var state, typ, ev string
			if rows.Scan(&state, &typ, &ev) != nil {
				continue
			}
			var k string
			switch {
			case state == "idle":
				continue
			case state == "idle in transaction":
				k = "idle in transaction (waiting for paygraph)"
			case typ == "":
				k = "running (no wait event: CPU)"
			default:
				k = typ + ":" + ev
			}
			w.busy++
			w.by[k]++
		}
		rows.Close()
	}
}

func (w waitCounts) print() {
	keys := make([]string, 0, len(w.by))
	for k := range w.by {
		keys = append(keys, k)
	}
	sort.Slice(keys, func(i, j int) bool { return w.by[keys[i]] > w.by[keys[j]] })
	for _, k := range keys {
		fmt.Printf("  %5.1f%%  %6d  %s\n", 100*float64(w.by[k])/float64(max(w.busy, 1)), w.by[k], k)
	}
}

// backendCPU is the CPU used so far by each backend serving the bench's
// instances (PostgreSQL runs on this machine: /proc/<pid>/stat). Backends
// that have gone are kept from prev, so a phase counts what they did.
func backendCPU(ctx context.Context, db *sql.DB, prev map[int]time.Duration) map[int]time.Duration {
	out := map[int]time.Duration{}
	for pid, d := range prev {
		out[pid] = d
	}
	rows, err := db.QueryContext(ctx, `SELECT pid FROM pg_stat_activity WHERE application_name LIKE '`+appPrefix+`%'`)
	if err != nil {
		return out
	}
	defer rows.Close()
	for rows.Next() {
		var pid int
		if rows.Scan(&pid) == nil {
			if d, err := procCPU(pid); err == nil {
				out[pid] = d
			}
		}
	}
	return out
}

func withParam(raw, k, v string) string {
	u, err := url.Parse(raw)
	if err != nil {
		return raw
	}
	q := u.Query()
	q.Set(k, v)
	u.RawQuery = q.Encode()
	return u.String()
}

func hostOf(raw string) string {
	if u, err := url.Parse(raw); err == nil {
		return u.Host + u.Path
	}
	return "?"
}

func redactURL(raw string) string {
	if u, err := url.Parse(raw); err == nil && u.User != nil {
		if _, ok := u.User.Password(); ok {
			u.User = url.UserPassword(u.User.Username(), "xxxxx")
		}
		return u.String()
	}
	return raw
}
