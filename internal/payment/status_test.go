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

// allTypes lists every order type.
var allTypes = []order.Type{order.TypePAYMENT, order.TypeRECHARGE, order.TypeCONSUME, order.TypePOINTS,
	order.TypeDEAL, order.TypeWITHDRAWAL, order.TypeGOODS}

// TestStatusWords checks statusDesc (zh-CN) and statusText (English) of
// every status of every order type.
func TestStatusWords(t *testing.T) {
	// common are the words of every type that has no words of its own.
	common := map[Status][2]string{
		Pending:         {"待支付", "Awaiting payment"},
		Processing:      {"支付中", "Being paid"},
		Paid:            {"已支付", "Paid"},
		Completed:       {"交易完成", "Completed"},
		Failed:          {"支付失败", "Payment failed"},
		Expired:         {"已失效", "Expired"},
		Cancelled:       {"已撤销", "Cancelled"},
		DeliveryFailed:  {"发货失败", "Delivery failed"},
		RefundRequested: {"退款申请中", "Refund requested"},
		Refunded:        {"退款成功", "Refunded"},
		RefundRejected:  {"退款被拒", "Refund rejected"},
		Frozen:          {"已冻结", "Frozen"},
	}
	own := map[order.Type]map[Status][2]string{
		order.TypePAYMENT: {},
		order.TypeRECHARGE: {
			Paid:   {"充值成功", "Recharged"},
			Failed: {"充值失败", "Recharge failed"},
		},
		order.TypeCONSUME: {
			Paid:            {"支付成功", "Paid, awaiting delivery"},
			Completed:       {"交易完成", "Delivered"},
			RefundRequested: {"申请退货", "Return requested"},
			Refunded:        {"退货成功", "Returned and refunded"},
			RefundRejected:  {"退货被拒", "Return rejected"},
		},
		order.TypePOINTS: {
			Refunded: {"已退款", "Refunded"},
		},
		order.TypeDEAL: {
			Paid:      {"已付款，待确认", "Paid, held in escrow"},
			Completed: {"交易完成", "Completed, released to the seller"},
		},
		order.TypeWITHDRAWAL: {
			Pending:    {"提现申请中", "Withdrawal requested"},
			Processing: {"提现申请中", "Withdrawal under review"},
			Paid:       {"已打款", "Paid out"},
			Completed:  {"提现成功", "Withdrawn"},
			Failed:     {"提现被拒", "Withdrawal rejected"},
		},
		order.TypeGOODS: {
			Paid:      {"已支付", "Paid, awaiting delivery"},
			Completed: {"已发货", "Delivered"},
		},
	}
	if len(own) != len(allTypes) {
		t.Fatalf("the test covers %d types of %d", len(own), len(allTypes))
	}
	n := 0
	for _, ty := range allTypes {
		for _, s := range AllStatuses {
			want, ok := own[ty][s]
			if !ok {
				want = common[s]
			}
			t.Run(string(ty)+"/"+string(s), func(t *testing.T) {
				n++
				if got := StatusDesc(ty, s); got != want[0] {
					t.Errorf("statusDesc = %q, want %q", got, want[0])
				}
				if got := StatusText(ty, s); got != want[1] {
					t.Errorf("statusText = %q, want %q", got, want[1])
				}
			})
		}
	}
	if n != 7*12 {
		t.Fatalf("checked %d pairs", n)
	}
}

func TestLegacyStatus(t *testing.T) {
	if got := LegacyStatus(order.TypeCONSUME, Refunded); got == nil || *got != 7 {
		t.Errorf("app store REFUNDED = %v", got)
	}
	if got := LegacyStatus(order.TypeGOODS, Paid); got != nil {
		t.Errorf("game goods have no numbered statuses, got %v", *got)
	}
}
