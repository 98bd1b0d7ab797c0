package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"
)

// buildServer compiles paygraph (the module's root package) into dir and
// returns the binary's path.
func buildServer(ctx context.Context, dir string) (string, error) {
	out, err := exec.CommandContext(ctx, "go", "env", "GOMOD").Output()
	if err != nil {
		return "", fmt.Errorf("go env GOMOD: %w", err)
	}
	root := filepath.Dir(strings.TrimSpace(string(out)))
	bin := filepath.Join(dir, "paygraph")
	cmd := exec.CommandContext(ctx, "go", "build", "-o", bin, ".")
	cmd.Dir = root
	cmd.Stdout, cmd.Stderr = os.Stderr, os.Stderr
	if err := cmd.Run(); err != nil {
		return "", fmt.Errorf("go build: %w", err)
	}
	return bin, nil
}

// freePort returns a loopback port nothing listens on right now.
func freePort() (int, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port, nil
}

// busyCounter counts log lines that report SQLITE_BUSY ("database is locked").
type busyCounter struct{ n atomic.Int64 }

func (b *busyCounter) Write(p []byte) (int, error) {
	if bytes.Contains(p, []byte("database is locked")) || bytes.Contains(p, []byte("SQLITE_BUSY")) {
		b.n.Add(1)
	}
	return len(p), nil
}

// child is a paygraph process the bench started.
type child struct {
	name  string
	cmd   *exec.Cmd
	pid   int
	url   string // http://127.0.0.1:port
	debug string // its PAYGRAPH_DEBUG_ADDR, as http://…
	busy  busyCounter
	log   *os.File

	done chan struct{} // closed when the process has exited
	err  error         // why, set before done closes
}

// startChild runs bin with env on top of this process's environment (less
// any PAYGRAPH_ variable of its own), on a free loopback port with a debug
// listener, and waits until /readyz answers ready.
func startChild(ctx context.Context, name, bin, logPath string, env map[string]string) (*child, error) {
	port, err := freePort()
	if err != nil {
		return nil, err
	}
	dport, err := freePort()
	if err != nil {
		return nil, err
	}
	c := &child{
		name:  name,
		url:   fmt.Sprintf("http://127.0.0.1:%d", port),
		debug: fmt.Sprintf("http://127.0.0.1:%d", dport),
		done:  make(chan struct{}),
	}
	if c.log, err = os.Create(logPath); err != nil {
		return nil, err
	}
	c.cmd = exec.Command(bin)
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, "PAYGRAPH_") {
			c.cmd.Env = append(c.cmd.Env, kv)
		}
	}
	env["PAYGRAPH_ADDR"] = fmt.Sprintf("127.0.0.1:%d", port)
	env["PAYGRAPH_DEBUG_ADDR"] = fmt.Sprintf("127.0.0.1:%d", dport)
	for k, v := range env {
		c.cmd.Env = append(c.cmd.Env, k+"="+v)
	}
	w := io.MultiWriter(c.log, &c.busy)
	c.cmd.Stdout, c.cmd.Stderr = w, w
	// If the bench dies, its servers go too.
	c.cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGTERM}
	if err := c.cmd.Start(); err != nil {
		c.log.Close()
		return nil, err
	}
	c.pid = c.cmd.Process.Pid
	go func() {
		c.err = c.cmd.Wait()
		close(c.done)
	}()
	if err := c.waitReady(ctx, 2*time.Minute); err != nil {
		c.stop()
		return nil, fmt.Errorf("%s: %w\n%s", name, err, c.logTail(20))
	}
	return c, nil
}

func (c *child) waitReady(ctx context.Context, limit time.Duration) error {
	deadline := time.Now().Add(limit)
	hc := &http.Client{Timeout: 5 * time.Second}
	for {
		resp, err := hc.Get(c.url + "/readyz")
		if err == nil {
			io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return nil
			}
		}
		select {
		case <-c.done:
			return fmt.Errorf("exited before it was ready: %v", c.err)
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(50 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("not ready after %s", limit)
		}
	}
}

// stop ends the process the graceful way (SIGTERM), killing it if it takes
// more than 25 s.
func (c *child) stop() {
	select {
	case <-c.done:
	default:
		_ = c.cmd.Process.Signal(syscall.SIGTERM)
		select {
		case <-c.done:
		case <-time.After(25 * time.Second):
			_ = c.cmd.Process.Kill()
			<-c.done
		}
	}
	c.log.Close()
}

// alive reports an error if the process has exited.
func (c *child) alive() error {
	select {
	case <-c.done:
		return fmt.Errorf("%s exited: %v\n%s", c.name, c.err, c.logTail(20))
	default:
		return nil
	}
}

func (c *child) logTail(n int) string {
	b, err := os.ReadFile(c.log.Name())
	if err != nil {
		return ""
	}
	lines := strings.Split(strings.TrimRight(string(b), "\n"), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}

func (c *child) cpu() time.Duration {
	d, _ := procCPU(c.pid)
	return d
}

func (c *child) rss() int64 {
	n, _ := procStatusKB(c.pid, "VmRSS")
	return n
}

// metrics reads the unlabelled samples of the server's /metrics
// (go_goroutines, go_memstats_heap_inuse_bytes …).
func (c *child) metrics() (map[string]float64, error) {
	resp, err := http.Get(c.url + "/metrics")
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	return parseMetrics(resp.Body)
}

func parseMetrics(r io.Reader) (map[string]float64, error) {
	out := map[string]float64{}
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	for sc.Scan() {
		line := sc.Text()
		if line == "" || line[0] == '#' || strings.ContainsRune(line, '{') {
			continue
		}
		k, v, ok := strings.Cut(line, " ")
		if !ok {
			continue
		}
		if f, err := strconv.ParseFloat(strings.TrimSpace(v), 64); err == nil {
			out[k] = f
		}
	}
	return out, sc.Err()
}

func (c *child) goroutines() float64 {
	m, err := c.metrics()
	if err != nil {
		return -1
	}
	return m["go_goroutines"]
}

// statements is the server's /debug/sql: runs so far of each statement.
func (c *child) statements() (map[string]int64, error) {
	resp, err := http.Get(c.debug + "/debug/sql")
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	var m map[string]int64
	err = json.NewDecoder(resp.Body).Decode(&m)
	return m, err
}

// commitTimes is the server's /debug/commits: how many of the SQLite
// writer's commits so far took up to each bound (ms), and longer.
type commitTimes struct {
	BoundsMs []float64
	Counts   []int64
	Slow     []slowCommit
}

// slowCommit is a commit of 10 ms or more: when it ended, how long it took.
type slowCommit struct {
	AtMs int64
	Ms   float64
}

// end is when the commit ended.
func (c slowCommit) end() time.Time { return time.UnixMilli(c.AtMs) }

func (c *child) commitTimes() commitTimes {
	var ct commitTimes
	resp, err := http.Get(c.debug + "/debug/commits")
	if err != nil {
		return ct
	}
	defer resp.Body.Close()
	_ = json.NewDecoder(resp.Body).Decode(&ct)
	return ct
}

// since is what was counted between a and ct.
func (ct commitTimes) since(a commitTimes) commitTimes {
	out := commitTimes{BoundsMs: ct.BoundsMs, Counts: slices.Clone(ct.Counts)}
	for _, sc := range ct.Slow {
		if !slices.Contains(a.Slow, sc) {
			out.Slow = append(out.Slow, sc)
		}
	}
	for i := range out.Counts {
		if i < len(a.Counts) {
			out.Counts[i] -= a.Counts[i]
		}
	}
	return out
}

// String gives the commits' count, median, 99th percentile and slowest
// as the bucket bounds they fall under.
func (ct commitTimes) String() string {
	var n int64
	for _, c := range ct.Counts {
		n += c
	}
	if n == 0 || len(ct.Counts) != len(ct.BoundsMs)+1 {
		return ""
	}
	bound := func(i int) string {
		if i == len(ct.BoundsMs) {
			return fmt.Sprintf("> %g ms", ct.BoundsMs[i-1])
		}
		return fmt.Sprintf("≤ %g ms", ct.BoundsMs[i])
	}
	at := func(q float64) string {
		var run int64
		for i, c := range ct.Counts {
			run += c
			if float64(run) >= q*float64(n) {
				return bound(i)
			}
		}
		return bound(len(ct.Counts) - 1)
	}
	slowest := 0
	for i, c := range ct.Counts {
		if c > 0 {
			slowest = i
		}
	}
	var over5 int64
	for i, c := range ct.Counts {
		if i > 0 && ct.BoundsMs[i-1] >= 5 {
			over5 += c
		}
	}
	return fmt.Sprintf("%d commits (fsync included): p50 %s, p99 %s, slowest %s; %d over 5 ms", n, at(0.5), at(0.99), bound(slowest), over5)
}

// gc makes the server collect garbage (a heap profile with gc=1), so that
// heap figures compare live memory.
func (c *child) gc() {
	resp, err := http.Get(c.debug + "/debug/pprof/heap?gc=1")
	if err == nil {
		io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
	}
}

// snapshot writes the server's /debug/pprof/<kind> (heap, goroutine?debug=1 …)
// as it is now into path.
func (c *child) snapshot(kind, path string) error {
	resp, err := http.Get(c.debug + "/debug/pprof/" + kind)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		b, _ := io.ReadAll(resp.Body)
		return fmt.Errorf("%s profile: %s: %s", kind, resp.Status, b)
	}
	f, err := os.Create(path)
	if err != nil {
		return err
	}
	_, err = io.Copy(f, resp.Body)
	return errors.Join(err, f.Close())
}

// profile fetches a delta profile (profile: CPU, allocs …) of the next d
// into path; wait for the returned channel's error.
func (c *child) profile(kind string, d time.Duration, path string) <-chan error {
	errc := make(chan error, 1)
	go func() {
		secs := int((d + time.Second/2) / time.Second)
		if secs < 1 {
			secs = 1
		}
		resp, err := http.Get(fmt.Sprintf("%s/debug/pprof/%s?seconds=%d", c.debug, kind, secs))
		if err != nil {
			errc <- err
			return
		}
		defer resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			b, _ := io.ReadAll(resp.Body)
			errc <- fmt.Errorf("%s profile: %s: %s", kind, resp.Status, b)
			return
		}
		f, err := os.Create(path)
		if err != nil {
			errc <- err
			return
		}
		_, err = io.Copy(f, resp.Body)
		errc <- errors.Join(err, f.Close())
	}()
	return errc
}

// sample is a phase's view of server processes: CPU, write calls and
// statements at its start, to subtract at its end.
type sample struct {
	commits map[*child]commitTimes
	cpu     map[*child]time.Duration
	io      map[*child]procIO
	stmts   map[string]int64
	self    time.Duration
	wall    time.Time
}

func takeSample(cs []*child) sample {
	s := sample{commits: map[*child]commitTimes{}, cpu: map[*child]time.Duration{}, io: map[*child]procIO{}, stmts: map[string]int64{}, self: selfCPU(), wall: time.Now()}
	var mu sync.Mutex
	for _, c := range cs {
		s.cpu[c] = c.cpu()
		s.commits[c] = c.commitTimes()
		s.io[c], _ = readProcIO(c.pid)
		m, _ := c.statements()
		mu.Lock()
		for k, v := range m {
			s.stmts[k] += v
		}
		mu.Unlock()
	}
	return s
}

// usage is what happened between two samples.
type usage struct {
	serverCPU time.Duration // all servers together
	perServer []time.Duration
	self      time.Duration // the bench process
	syscw     int64
	diskBytes int64
	stmts     map[string]int64
	wall      time.Duration
	commits   []commitTimes // per server, SQLite's writer
}

func since(cs []*child, a sample) usage {
	b := takeSample(cs)
	u := usage{self: b.self - a.self, stmts: map[string]int64{}, wall: b.wall.Sub(a.wall)}
	for _, c := range cs {
		d := b.cpu[c] - a.cpu[c]
		u.serverCPU += d
		u.perServer = append(u.perServer, d)
		u.commits = append(u.commits, b.commits[c].since(a.commits[c]))
		u.syscw += b.io[c].syscw - a.io[c].syscw
		u.diskBytes += b.io[c].writeBytes - a.io[c].writeBytes
	}
	for k, v := range b.stmts {
		if d := v - a.stmts[k]; d > 0 {
			u.stmts[k] = d
		}
	}
	return u
}

// savepointName matches the per-unit savepoint names of group commit, so
// that "SAVEPOINT u3" and "SAVEPOINT u4" count as one statement.
var savepointName = regexp.MustCompile(`^(\w+: (?:SAVEPOINT|RELEASE|ROLLBACK TO)) \w+$`)

// statementTotals groups counted statements: by text (savepoint names
// folded), and in total per pool ("write", "read", "pg").
func statementTotals(m map[string]int64) (byText map[string]int64, byPool map[string]int64, total int64) {
	byText, byPool = map[string]int64{}, map[string]int64{}
	for k, v := range m {
		k = savepointName.ReplaceAllString(k, "$1 …")
		byText[k] += v
		pool, _, _ := strings.Cut(k, ":")
		byPool[pool] += v
		total += v
	}
	return byText, byPool, total
}
