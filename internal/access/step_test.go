package access_test

import (
	"context"
	"testing"

	"github.com/paygraph/paygraph/ent"
	"github.com/paygraph/paygraph/internal/access"
	"github.com/paygraph/paygraph/internal/auth"
	"github.com/paygraph/paygraph/internal/role"
)

// A step loaded with its order is shown by the order's rule, with no
// database: the payer, the payee, the order's app and ADMINs see it.
func TestCanViewStepByItsOrder(t *testing.T) {
	ev := &ent.OrderEvent{ID: 9, OrderID: 5, Edges: ent.OrderEventEdges{Order: &ent.Order{ID: 5, AppID: 3, PayerID: 10, PayeeID: 11}}}
	for _, c := range []struct {
		name string
		p    auth.Principal
		ok   bool
	}{
		{"payer", auth.Principal{Subject: 10, Role: role.User}, true},
		{"payee", auth.Principal{Subject: 11, Role: role.User}, true},
		{"stranger", auth.Principal{Subject: 12, Role: role.User}, false},
		{"its app", auth.Principal{Subject: 3, AppID: 3, Role: role.Service}, true},
		{"another app", auth.Principal{Subject: 4, AppID: 4, Role: role.Service}, false},
		{"admin", auth.Principal{Subject: 1, Role: role.Admin}, true},
	} {
		err := access.CanViewStep(auth.WithPrincipal(context.Background(), c.p), ev)
		if (err == nil) != c.ok {
			t.Errorf("%s: %v", c.name, err)
		}
	}
	if access.CanViewStep(context.Background(), ev) == nil {
		t.Error("no caller sees the step")
	}
}
