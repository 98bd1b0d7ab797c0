package main

import (
	"context"
	"fmt"
	"path/filepath"
	"sort"
	"strings"
	"time"
)

// baseEnv is the configuration every bench server runs with.
func baseEnv(databaseURL string) map[string]string {
	return map[string]string{
		"PAYGRAPH_DATABASE_URL": databaseURL,
		"PAYGRAPH_JWT_SECRET":   "bench-secret-bench-secret-bench-secret-123",
		"PAYGRAPH_ADMIN":        "admin:admin-password",
		"PAYGRAPH_LOG_LEVEL":    "warn",
		// The load comes from one address and signs in many users.
		"PAYGRAPH_AUTH_RATE_PER_MINUTE": "1000000",
		// …over more connections than one client would hold.
		"PAYGRAPH_MAX_CONNS_PER_IP": "0",
	}
}

// runSQLite is `make bench`: the raw floor in this process, then paygraph
// as a child process on a temporary SQLite file, at its peak and paced at
// 70 % of it.
func runSQLite(ctx context.Context, o opts, dir string) error {
	fmt.Printf("paygraph bench: %d clients, %s phases, SQLite WAL synchronous=FULL, %d CPUs, loadavg %s\n", o.clients, o.duration, numCPU(), loadavg())
	bin, err := buildServer(ctx, dir)
	if err != nil {
		return err
	}

	floorStart := selfCPU()
	floor, err := runFloor(filepath.Join(dir, "floor.db"), o.clients, o.duration)
	if err != nil {
		return fmt.Errorf("floor: %w", err)
	}
	floorCPU := selfCPU() - floorStart
	report("raw floor (database/sql)", floor)
	fmt.Printf("%-28s CPU %s per flow (this process: database/sql + SQLite)\n", "", perFlow(floorCPU, floor.flows))

	srv, err := startChild(ctx, "paygraph", bin, filepath.Join(dir, "paygraph.log"),
		baseEnv("sqlite://"+filepath.Join(dir, "paygraph.db")))
	if err != nil {
		return err
	}
	defer srv.stop()
	g := newGQL(srv.url, o.clients*2)
	setup, err := g.setup(o.clients)
	if err != nil {
		return fmt.Errorf("set-up: %w", err)
	}
	targets := []*gql{g}

	// Warm up, then the peak (profiled when asked), then 70 % of it.
	_ = drive(ctx, targets, setup, o.clients, 2*time.Second, 0)
	var profiles []<-chan error
	if o.cpuprofile != "" {
		profiles = append(profiles, srv.profile("profile", o.duration, o.cpuprofile))
	}
	if o.allocprofile != "" {
		profiles = append(profiles, srv.profile("allocs", o.duration, o.allocprofile))
	}
	before := takeSample([]*child{srv})
	peak := drive(ctx, targets, setup, o.clients, o.duration, 0)
	peakUse := since([]*child{srv}, before)
	for _, p := range profiles {
		if err := <-p; err != nil {
			return err
		}
	}
	report("paygraph peak", peak)
	printCPU(peak, peakUse)
	before = takeSample([]*child{srv})
	paced := drive(ctx, targets, setup, o.clients, o.duration, 0.7*peak.rate())
	pacedUse := since([]*child{srv}, before)
	stalls := stallEffect(paced, pacedUse.commits) // before report sorts the latencies
	report("paygraph at 70% of peak", paced)
	printCPU(paced, pacedUse)
	fmt.Print(stalls)
	printLate(paced, 0.7*peak.rate())
	if err := srv.alive(); err != nil {
		return err
	}

	ok := ""
	if err := checkLedger(g, setup.admin); err != nil {
		ok = " — LEDGER CHECK FAILED: " + err.Error()
	}
	ratio := peak.rate() / floor.rate()
	fmt.Printf("\nratio paygraph/floor: %.2f (target ≥ 0.50)\n", ratio)
	if peak.flows > 0 && floor.flows > 0 {
		sc := float64(peakUse.serverCPU.Microseconds()) / float64(peak.flows)
		fc := float64(floorCPU.Microseconds()) / float64(floor.flows)
		fmt.Printf("CPU per flow at peak: server %.0f µs, %.1f× the floor's %.0f µs; generator %s\n", sc, sc/fc, fc, perFlow(peakUse.self, peak.flows))
	}
	printStatements(peakUse.stmts, peak.flows, o.statements)
	if peak.flows > 0 {
		fmt.Printf("server write system calls per flow %.1f (files and sockets), bytes to storage per flow %.1f KB\n",
			float64(peakUse.syscw)/float64(peak.flows), float64(peakUse.diskBytes)/1024/float64(peak.flows))
	}
	fmt.Printf("p99 at 70%% of peak: %s (target ≤ 20ms)\n", paced.pct(0.99).Round(100*time.Microsecond))
	fmt.Printf("errors: %d, SQLITE_BUSY seen: %d%s\n", peak.errors+paced.errors, srv.busy.n.Load(), ok)
	printProfiles(o)
	fmt.Printf("loadavg at the end: %s\n", loadavg())
	return nil
}

// stallEffect says which of a phase's flows were in flight while one of
// the writer's slow commits (10 ms or more) ran or started in the
// stallRecovery after it (while the queue it built drained), and the p99
// of those and of the others: whether the phase's tail is the disk's.
const stallRecovery = 250 * time.Millisecond

func stallEffect(r result, commits []commitTimes) string {
	var slow []slowCommit
	for _, ct := range commits {
		slow = append(slow, ct.Slow...)
	}
	if len(slow) == 0 || len(r.starts) != len(r.lat) {
		return ""
	}
	first := r.starts[0]
	for _, t := range r.starts {
		if t.Before(first) {
			first = t
		}
	}
	var hit, rest []time.Duration
	for i, start := range r.starts {
		end := start.Add(r.lat[i])
		in := false
		for _, c := range slow {
			cEnd := c.end()
			cStart := cEnd.Add(-time.Duration(c.Ms * float64(time.Millisecond)))
			if start.Before(cEnd.Add(stallRecovery)) && end.After(cStart) {
				in = true
				break
			}
		}
		if in {
			hit = append(hit, r.lat[i])
		} else {
			rest = append(rest, r.lat[i])
		}
	}
	var at []string
	for _, c := range slow {
		at = append(at, fmt.Sprintf("%.0f ms at +%.1fs", c.Ms, c.end().Sub(first).Seconds()))
	}
	return fmt.Sprintf("%-28s commits of 10 ms or more: %s; the %d flows in flight during one or started in the %s after: p99 %s; the other %d: p99 %s\n", "",
		strings.Join(at, ", "), len(hit), stallRecovery, quantile(hit, 0.99).Round(100*time.Microsecond), len(rest), quantile(rest, 0.99).Round(100*time.Microsecond))
}

// printLate says when a paced phase fell behind its schedule: the server
// could not sustain the pace, and latency counted from the schedule grew.
func printLate(r result, rate float64) {
	if r.late > 100*time.Millisecond {
		fmt.Printf("%-28s fell behind the pace of %.0f flows/s: the last flows started up to %s late\n", "", rate, r.late.Round(time.Millisecond))
	}
}

// printCPU prints a phase's CPU per flow: the servers' and this process's.
func printCPU(r result, u usage) {
	line := fmt.Sprintf("%-28s server CPU %s per flow", "", perFlow(u.serverCPU, r.flows))
	if len(u.perServer) > 1 {
		var parts []string
		for _, d := range u.perServer {
			parts = append(parts, perFlow(d, r.flows))
		}
		line += " (node " + strings.Join(parts, " + node ") + ")"
	}
	line += fmt.Sprintf(", %.0f%% of a CPU; generator %s per flow", 100*u.serverCPU.Seconds()/u.wall.Seconds(), perFlow(u.self, r.flows))
	if byText, _, _ := statementTotals(u.stmts); r.flows > 0 {
		line += fmt.Sprintf("; %.2f commits per flow", float64(byText["write: COMMIT"]+byText["pg: commit"])/float64(r.flows))
	}
	fmt.Println(line)
	for _, ct := range u.commits {
		if s := ct.String(); s != "" {
			fmt.Printf("%-28s %s\n", "", s)
		}
	}
}

// printStatements prints the statements per flow, by pool, and with all
// the whole table of statements.
func printStatements(m map[string]int64, flows int, all bool) {
	if flows == 0 || len(m) == 0 {
		return
	}
	byText, byPool, total := statementTotals(m)
	f := float64(flows)
	var pools []string
	for p, n := range byPool {
		pools = append(pools, fmt.Sprintf("%s %.1f", p, float64(n)/f))
	}
	sort.Strings(pools)
	commits := float64(byText["write: COMMIT"]+byText["pg: commit"]) / f
	fmt.Printf("statements per flow at peak: %.1f (%s; BEGIN/COMMIT included; the floor: 7), commits per flow %.2f\n",
		float64(total)/f, strings.Join(pools, ", "), commits)
	if !all {
		return
	}
	keys := make([]string, 0, len(byText))
	for k := range byText {
		keys = append(keys, k)
	}
	sort.Slice(keys, func(i, j int) bool {
		if byText[keys[i]] != byText[keys[j]] {
			return byText[keys[i]] > byText[keys[j]]
		}
		return keys[i] < keys[j]
	})
	for _, k := range keys {
		per := float64(byText[k]) / f
		if per < 0.005 {
			continue
		}
		if len(k) > 150 {
			k = k[:147] + "…"
		}
		fmt.Printf("  %6.2f  %s\n", per, k)
	}
}

func printProfiles(o opts) {
	if o.cpuprofile != "" {
		fmt.Printf("server CPU profile of the peak: go tool pprof -top -nodecount=40 %s\n", o.cpuprofile)
	}
	if o.allocprofile != "" {
		fmt.Printf("server allocations of the peak: go tool pprof -sample_index=alloc_space -top -nodecount=40 %s\n", o.allocprofile)
	}
}
