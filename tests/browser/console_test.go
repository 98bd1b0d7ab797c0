//go:build unix

package browser

import (
	"encoding/json"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/paygraph/paygraph/internal/web/admin/admintest"
)

// TestBrowserConsole drives the operator console (/admin) as an operator
// would, on data prepared through the API and the epay sandbox
// (admintest): console.mjs signs in, follows an order live, approves the
// refund of an order paid through epay, rejects a withdrawal with a
// reason, approves part of a partial refund request and refunds a little
// more unasked (and sees a refund made elsewhere, live), reads the ledger check, creates an app, and switches language.
// Every request to another host and every console error fails it.
//
// The screenshots go to a temporary folder, or to
// PAYGRAPH_CONSOLE_SCREENSHOTS (docs/console holds the README's:
// PAYGRAPH_CONSOLE_SCREENSHOTS=$PWD/docs/console go test ./tests/browser/).
func TestBrowserConsole(t *testing.T) {
	node := need(t)
	w := admintest.New(t)
	shots := os.Getenv("PAYGRAPH_CONSOLE_SCREENSHOTS")
	if shots == "" {
		shots = t.TempDir()
	} else if abs, err := filepath.Abs(shots); err == nil {
		shots = abs
	}
	args, err := json.Marshal(map[string]any{
		"admin":       map[string]string{"username": admintest.AdminUsername, "password": admintest.AdminPassword},
		"user":        map[string]string{"username": "buyer", "password": "password-buyer"},
		"buyerId":     w.BuyerID,
		"refund":      w.Refund,
		"withdrawal":  w.Withdrawal,
		"pending":     w.Pending,
		"cancelled":   w.Cancelled,
		"partial":     w.Partial,
		"screenshots": shots,
	})
	if err != nil {
		t.Fatal(err)
	}
	runNode(t, node, 60*time.Second, "console.mjs", w.Srv.URL, string(args))

	// What the operator did is what the API now says.
	for _, c := range []struct {
		o    admintest.Order
		want string
	}{{w.Refund, "REFUNDED"}, {w.Withdrawal, "FAILED"}, {w.Pending, "CANCELLED"}} {
		if got := w.Status(t, c.o.ID); got != c.want {
			t.Errorf("order %s is %s, want %s", c.o.OrderNo, got, c.want)
		}
	}
	var part struct {
		Order struct {
			Status, RefundedAmount string
			RefundRequestedAmount  *string
		}
	}
	w.Admin.Do(t, `query($id:ID!){order(id:$id){status refundedAmount refundRequestedAmount}}`, map[string]any{"id": w.Partial.ID}).Decode(t, &part)
	if o := part.Order; o.Status != "PAID" || o.RefundedAmount != "6.00" || o.RefundRequestedAmount != nil {
		t.Errorf("the partly refunded order: %+v, want PAID with 6.00 refunded and no request", o)
	}
	w.Srv.AssertLedger(t)
}
