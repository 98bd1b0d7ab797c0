//go:build unix

// Package browser holds checks of paygraph's pages in a real browser:
// headless Chromium driven by playwright-core (graphiql.mjs, console.mjs). They need
// Debian's chromium, node, and `npm ci` run here; without them the tests
// skip, unless PAYGRAPH_REQUIRE_BROWSER=1 (CI), where they fail.
package browser

import (
	"context"
	"errors"
	"os"
	"os/exec"
	"syscall"
	"testing"
	"time"

	"github.com/paygraph/paygraph/internal/testutil"
)

// chromium is Debian's build; Playwright's own downloads are not used.
const chromium = "/usr/bin/chromium"

// need returns node, or skips (fails, with PAYGRAPH_REQUIRE_BROWSER=1)
// when something the browser tests use is missing.
func need(t *testing.T) string {
	t.Helper()
	missing := func(why string) {
		t.Helper()
		if os.Getenv("PAYGRAPH_REQUIRE_BROWSER") == "1" {
			t.Fatalf("%s, and PAYGRAPH_REQUIRE_BROWSER=1", why)
		}
		t.Skip(why + " (PAYGRAPH_REQUIRE_BROWSER=1 makes this a failure)")
	}
	if _, err := os.Stat(chromium); err != nil {
		missing("no Chromium at " + chromium + " (apt-get install chromium)")
	}
	node, err := exec.LookPath("node")
	if err != nil {
		missing("no node on PATH")
	}
	if _, err := os.Stat("node_modules/playwright-core/package.json"); err != nil {
		missing("playwright-core is not installed (run npm ci in tests/browser)")
	}
	return node
}

// TestBrowserGraphiQL loads GraphiQL with every other host blocked, runs
// {__typename} and a subscription in it, and reads the results off the
// page.
func TestBrowserGraphiQL(t *testing.T) {
	node := need(t)
	srv := testutil.Start(t, testutil.Base(t))
	runNode(t, node, 60*time.Second, "graphiql.mjs", srv.URL)
}

// runNode runs a script of this folder with node and fails t if it fails
// or outlives timeout.
func runNode(t *testing.T, node string, timeout time.Duration, script string, args ...string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, node, append([]string{script}, args...)...)
	cmd.Env = append(os.Environ(), "CHROMIUM="+chromium)
	// Chromium runs in node's process group: a timeout ends all of it.
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	cmd.Cancel = func() error { return syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL) }
	cmd.WaitDelay = 5 * time.Second
	start := time.Now()
	out, err := cmd.CombinedOutput()
	t.Logf("node %s (%v):\n%s", script, time.Since(start).Round(time.Millisecond), out)
	if errors.Is(ctx.Err(), context.DeadlineExceeded) {
		t.Fatalf("%s did not finish within %v", script, timeout)
	}
	if err != nil {
		t.Fatalf("%s failed: %v", script, err)
	}
}
