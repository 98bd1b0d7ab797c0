// Command bench is paygraph's load test. It builds paygraph, runs it as a
// child process on a loopback port and drives it over HTTP (and
// WebSockets) from this process, so the figures separate the server's CPU
// (from /proc/<pid>/stat) from the load generator's.
//
//	make bench           SQLite: the raw floor (the same database work
//	                     through database/sql, in this process) beside
//	                     paygraph's createPaymentOrder + pay at its peak and
//	                     paced at 70 % of it; ratio, p99, CPU and statements
//	                     per flow
//	make bench-postgres  one and two instances on the local PostgreSQL,
//	                     beside pgbench's TPC-B-like rate; where it waits
//	make bench-live      1,000 / 5,000 / 10,000 idle graphql-transport-ws
//	                     subscribers: memory and goroutines each, and how
//	                     long a payment's event takes to reach them all
//
// Every mode stops by itself; Ctrl-C ends it early and still cleans up.
package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"runtime"
	"strconv"
	"strings"
	"syscall"
	"time"
)

type opts struct {
	mode         string
	clients      int
	duration     time.Duration
	cpuprofile   string
	allocprofile string
	heapprofile  string
	statements   bool
	postgresURL  string
	pgbenchScale int
	subscribers  []int
	orders       int
	timeout      time.Duration
}

func main() {
	var o opts
	var subs string
	flag.StringVar(&o.mode, "mode", "sqlite", "sqlite (make bench), postgres (make bench-postgres) or live (make bench-live)")
	flag.IntVar(&o.clients, "clients", 16, "concurrent clients")
	flag.DurationVar(&o.duration, "duration", 10*time.Second, "length of each measured phase")
	flag.StringVar(&o.cpuprofile, "cpuprofile", "", "write the server's CPU profile to this file: of the peak phase (sqlite; postgres: one instance), of the payments to the most subscribers (live)")
	flag.StringVar(&o.allocprofile, "allocprofile", "", "write the server's allocation profile of the peak phase to this file (sqlite, postgres)")
	flag.StringVar(&o.heapprofile, "heapprofile", "", "live: write the server's heap profile of the idle sockets (the most subscribers) to this file, and its goroutines to this file + \".goroutines\"")
	flag.BoolVar(&o.statements, "statements", false, "list every SQL statement the server ran per flow at the peak")
	flag.StringVar(&o.postgresURL, "postgres-url", envOr("PAYGRAPH_BENCH_POSTGRES_URL", "postgres://postgres@127.0.0.1:5432/test?sslmode=disable"), "PostgreSQL to measure on (a fresh schema is used and dropped)")
	flag.IntVar(&o.pgbenchScale, "pgbench-scale", 1, "pgbench scale factor (1: one branch row that every transaction updates, like one payee's wallet)")
	flag.StringVar(&subs, "subscribers", "1000,5000,10000", "live: how many idle subscribers, one server per figure")
	flag.IntVar(&o.orders, "orders", 5, "live: orders paid, one at a time, to every subscriber")
	flag.DurationVar(&o.timeout, "timeout", 10*time.Minute, "end the whole run after this")
	flag.Parse()
	for _, s := range strings.Split(subs, ",") {
		n, err := strconv.Atoi(strings.TrimSpace(s))
		if err != nil || n < 1 {
			fmt.Fprintf(os.Stderr, "bench: -subscribers: %q is not a positive number\n", s)
			os.Exit(2)
		}
		o.subscribers = append(o.subscribers, n)
	}

	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	ctx, cancel := context.WithTimeout(ctx, o.timeout)
	err := run(ctx, o)
	cancel()
	stop()
	if err != nil {
		fmt.Fprintln(os.Stderr, "bench:", err)
		os.Exit(1)
	}
}

func run(ctx context.Context, o opts) error {
	dir, err := os.MkdirTemp("", "paygraph-bench-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(dir)
	switch o.mode {
	case "sqlite":
		return runSQLite(ctx, o, dir)
	case "postgres":
		return runPostgres(ctx, o, dir)
	case "live":
		return runLive(ctx, o, dir)
	}
	return fmt.Errorf("-mode %q is not sqlite, postgres or live", o.mode)
}

func envOr(k, def string) string {
	if v := os.Getenv(k); v != "" {
		return v
	}
	return def
}

func numCPU() int { return runtime.NumCPU() }
