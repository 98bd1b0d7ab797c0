package main

import (
	"bytes"
	"strings"
	"testing"
	"time"

	"github.com/paygraph/paygraph/internal/testutil"
)

// TestDemo runs make demo's flows against a server configured as the
// README's `PAYGRAPH_ADMIN=admin:change-me-now make run` (embedded epay and
// Ping++ sandboxes, the development game key), twice, as a user running
// it again would.
func TestDemo(t *testing.T) {
	env := testutil.Base(t)
	env["PAYGRAPH_ADMIN"] = DefaultAdmin
	srv := testutil.Start(t, env)
	cfg, err := configFromEnv(func(k string) string {
		return map[string]string{"PAYGRAPH_DEMO_URL": srv.URL + "/"}[k]
	})
	if err != nil {
		t.Fatal(err)
	}
	for run := 1; run <= 2; run++ {
		var out bytes.Buffer
		start := time.Now()
		if err := Run(t.Context(), cfg, &out); err != nil {
			t.Fatalf("run %d: %v\n%s", run, err, out.String())
		}
		t.Logf("run %d took %v", run, time.Since(start).Round(time.Millisecond))
		for _, want := range []string{
			"✓ token checkout: buyer pay with the authenticator's code → PAID",
			"✓ app store: buyer payOrder → PAID (C",
			"✓ app store: admin approveRefund of a part (the four coins, 2.00) → still PAID, refundedAmount 2.00",
			"✓ app store: admin approveRefund of the rest → REFUNDED, refundedAmount 32.00",
			"✓ points: order ORDER",
			"✓ escrow: seller approveRefund → REFUNDED",
			"✓ escrow: payer presses Pay on the Ping++ cashier",
			"✓ escrow: admin completeWithdrawal → COMPLETED",
			"firstDelivery true, COMPLETED",
			"firstDelivery false, COMPLETED",
			"✓ ledger: admin ledgerCheck → ok true",
			"all flows work end to end",
		} {
			if !strings.Contains(out.String(), want) {
				t.Errorf("run %d: the output lacks %q:\n%s", run, want, out.String())
			}
		}
		if testing.Verbose() {
			t.Logf("run %d:\n%s", run, out.String())
		}
	}
	srv.AssertLedger(t)
}

// TestDemoNamesTheFailingStep: a wrong admin stops the run at the admin's
// sign-in, with the server's answer and what to do.
func TestDemoNamesTheFailingStep(t *testing.T) {
	srv := testutil.Start(t, testutil.Base(t)) // admin:admin-password
	var out bytes.Buffer
	err := Run(t.Context(), Config{URL: srv.URL, AdminUser: "admin", AdminPassword: "change-me-now"}, &out)
	if err == nil {
		t.Fatalf("the run passed with a wrong admin:\n%s", out.String())
	}
	msg := err.Error()
	for _, want := range []string{"accounts: login admin", "UNAUTHENTICATED", "PAYGRAPH_ADMIN=admin:change-me-now make run"} {
		if !strings.Contains(msg, want) {
			t.Errorf("error %q lacks %q", msg, want)
		}
	}
	if !strings.Contains(out.String(), "✓ accounts: buyer login") {
		t.Errorf("the steps before were not printed:\n%s", out.String())
	}
}

func TestConfigFromEnv(t *testing.T) {
	env := func(m map[string]string) func(string) string { return func(k string) string { return m[k] } }
	c, err := configFromEnv(env(nil))
	if err != nil || c.URL != DefaultURL || c.AdminUser != "admin" || c.AdminPassword != "change-me-now" {
		t.Fatalf("defaults: %+v %v", c, err)
	}
	c, err = configFromEnv(env(map[string]string{"PAYGRAPH_ADMIN": "root:pw:with:colons"}))
	if err != nil || c.AdminUser != "root" || c.AdminPassword != "pw:with:colons" {
		t.Fatalf("PAYGRAPH_ADMIN: %+v %v", c, err)
	}
	c, err = configFromEnv(env(map[string]string{"PAYGRAPH_ADMIN": "root:x", "PAYGRAPH_DEMO_ADMIN": "ops:secret"}))
	if err != nil || c.AdminUser != "ops" {
		t.Fatalf("PAYGRAPH_DEMO_ADMIN first: %+v %v", c, err)
	}
	for _, bad := range []map[string]string{{"PAYGRAPH_DEMO_ADMIN": "nocolon"}, {"PAYGRAPH_DEMO_URL": "localhost:8080"}} {
		if _, err := configFromEnv(env(bad)); err == nil {
			t.Errorf("%v accepted", bad)
		}
	}
}

func TestTOTP(t *testing.T) {
	// RFC 6238's SHA1 vectors, with its 20-byte key "12345678901234567890".
	const secret = "GEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQ"
	for unix, want := range map[int64]string{59: "287082", 1111111109: "081804", 1234567890: "005924", 2000000000: "279037"} {
		if got, err := totp(secret, time.Unix(unix, 0)); err != nil || got != want {
			t.Errorf("at %d: %s %v, want %s", unix, got, err, want)
		}
	}
}
