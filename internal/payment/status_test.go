package payment

import (
	"testing"

	"github.com/paygraph/paygraph/ent/order"
	"github.com/paygraph/paygraph/internal/apperr"
)

// TestEveryTransition checks every (from, to) pair against contract §3.
func TestEveryTransition(t *testing.T) {
	allowed := map[[2]Status]bool{}
	for to, froms := range map[Status][]Status{
		Processing:      {Pending},
		Paid:            {Pending, Processing},
		Completed:       {Paid},
		Failed:          {Pending, Processing},
		Expired:         {Pending, Processing},
		Cancelled:       {Pending, Processing},
		DeliveryFailed:  {Paid},
		RefundRequested: {Paid, Completed, DeliveryFailed},
		Refunded:        {RefundRequested, Paid},
		RefundRejected:  {RefundRequested},
		Frozen:          {Paid, Completed},
	} {
		for _, f := range froms {
			allowed[[2]Status{f, to}] = true
		}
	}
	n := 0
	for _, from := range AllStatuses {
		for _, to := range AllStatuses {
			n++
			err := CanTransition(from, to)
			if allowed[[2]Status{from, to}] {
				if err != nil {
					t.Errorf("%s → %s refused: %v", from, to, err)
				}
			} else if from == Expired && (to == Paid || to == Processing) {
				if apperr.CodeOf(err) != apperr.OrderExpired {
					t.Errorf("%s → %s: got %v, want ORDER_EXPIRED", from, to, err)
				}
			} else if apperr.CodeOf(err) != apperr.InvalidTransition {
				t.Errorf("%s → %s: got %v, want INVALID_TRANSITION", from, to, err)
			}
		}
	}
	if err := CanTransition(Paid, Paid); err == nil || err.Error() != "order is already paid" {
		t.Errorf("PAID → PAID: %v", err)
	}
	if n != 144 {
		t.Fatalf("checked %d pairs", n)
	}
}

func TestEveryStatusHasADescription(t *testing.T) {
	for _, s := range AllStatuses {
		if StatusDesc(s) == "" {
			t.Errorf("%s has no statusDesc", s)
		}
	}
	if got := LegacyStatus(order.TypeCONSUME, Refunded); got == nil || *got != 7 {
		t.Errorf("app store REFUNDED = %v", got)
	}
	if got := LegacyStatus(order.TypeGOODS, Paid); got != nil {
		t.Errorf("game goods have no numbered statuses, got %v", *got)
	}
}
