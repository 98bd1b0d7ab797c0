package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func TestParseStatCPU(t *testing.T) {
	// A command name with spaces and parentheses; utime 250, stime 50 ticks.
	line := "4242 (pay (graph) x) S 1 4242 4242 0 -1 4194560 1234 0 0 0 250 50 0 0 20 0 9 0 100 1000000 500 18446744073709551615"
	d, err := parseStatCPU([]byte(line))
	if err != nil || d != 3*time.Second {
		t.Fatalf("got %v, %v", d, err)
	}
	if _, err := procCPU(os.Getpid()); err != nil {
		t.Fatal(err)
	}
}

func TestParseStatusKB(t *testing.T) {
	n, err := parseStatusKB([]byte("Name:\tpaygraph\nVmHWM:\t  9000 kB\nVmRSS:\t  1234 kB\n"), "VmRSS")
	if err != nil || n != 1234*1024 {
		t.Fatalf("got %d, %v", n, err)
	}
	if n, err := procStatusKB(os.Getpid(), "VmRSS"); err != nil || n <= 0 {
		t.Fatalf("own RSS: %d, %v", n, err)
	}
}

func TestParseMetrics(t *testing.T) {
	m, err := parseMetrics(strings.NewReader("# HELP go_goroutines x\n# TYPE go_goroutines gauge\ngo_goroutines 42\ngo_gc_duration_seconds{quantile=\"0\"} 1e-05\ngo_memstats_heap_inuse_bytes 1.5e+06\n"))
	if err != nil || m["go_goroutines"] != 42 || m["go_memstats_heap_inuse_bytes"] != 1.5e6 || len(m) != 2 {
		t.Fatalf("got %v, %v", m, err)
	}
}

func TestStatementTotalsFoldSavepoints(t *testing.T) {
	byText, byPool, total := statementTotals(map[string]int64{
		"write: SAVEPOINT u0": 3, "write: SAVEPOINT u1": 2, "write: RELEASE u1": 2,
		"read: SELECT 1": 4, "pg: commit": 1,
	})
	if byText["write: SAVEPOINT …"] != 5 || byText["write: RELEASE …"] != 2 || byPool["write"] != 7 || byPool["read"] != 4 || total != 12 {
		t.Fatalf("got %v %v %d", byText, byPool, total)
	}
}

func TestQuantile(t *testing.T) {
	lat := []time.Duration{5, 1, 4, 2, 3}
	if quantile(lat, 0.5) != 3 || quantile(lat, 0.99) != 4 || quantile(lat, 1) != 5 || quantile(nil, 0.5) != 0 {
		t.Fatal(lat)
	}
}

// The floor runs on a tiny scale and balances.
func TestFloorRuns(t *testing.T) {
	r, err := runFloor(filepath.Join(t.TempDir(), "floor.db"), 2, 200*time.Millisecond)
	if err != nil || r.flows == 0 || r.errors != 0 {
		t.Fatalf("%+v, %v", r, err)
	}
}
