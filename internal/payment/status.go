// Package payment holds the order: its status machine (one transition
// table), and the services that create orders and move them forward.
package payment

import (
	"github.com/paygraph/paygraph/ent/order"
	"github.com/paygraph/paygraph/internal/apperr"
)

// Status is an order status.
type Status = order.Status

// The statuses of contract §3.
const (
	Pending         = order.StatusPENDING
	Processing      = order.StatusPROCESSING
	Paid            = order.StatusPAID
	Completed       = order.StatusCOMPLETED
	Failed          = order.StatusFAILED
	Expired         = order.StatusEXPIRED
	Cancelled       = order.StatusCANCELLED
	DeliveryFailed  = order.StatusDELIVERY_FAILED
	RefundRequested = order.StatusREFUND_REQUESTED
	Refunded        = order.StatusREFUNDED
	RefundRejected  = order.StatusREFUND_REJECTED
	Frozen          = order.StatusFROZEN
)

// transitions is the status machine: for each status, where it may go.
// It is the only place that says so.
var transitions = map[Status][]Status{
	Pending:         {Processing, Paid, Failed, Expired, Cancelled},
	Processing:      {Paid, Failed, Expired, Cancelled},
	Paid:            {Completed, DeliveryFailed, RefundRequested, Refunded, Frozen},
	Completed:       {RefundRequested, Frozen},
	DeliveryFailed:  {RefundRequested},
	RefundRequested: {Refunded, RefundRejected},
}

// InvalidTransition returns the INVALID_TRANSITION error for from → to.
// A repeat says so in plain words ("order is already paid"); paying an
// order that expired is ORDER_EXPIRED, as paying one past its time is.
func InvalidTransition(from, to Status) error {
	switch {
	case from == Expired && (to == Paid || to == Processing):
		return ErrOrderExpired
	case from == to:
		return apperr.New(apperr.InvalidTransition, "order is already %s", plain[to])
	case to == Paid && (from == Completed || from == RefundRequested || from == Refunded ||
		from == RefundRejected || from == DeliveryFailed || from == Frozen):
		return apperr.New(apperr.InvalidTransition, "order is already paid (it is %s)", from)
	}
	return apperr.New(apperr.InvalidTransition, "order is %s and cannot become %s", from, to)
}

// plain names each status in words.
var plain = map[Status]string{
	Pending: "pending", Processing: "being paid", Paid: "paid", Completed: "completed",
	Failed: "failed", Expired: "expired", Cancelled: "cancelled", DeliveryFailed: "marked as not delivered",
	RefundRequested: "waiting for a refund decision", Refunded: "refunded", RefundRejected: "refused a refund",
	Frozen: "frozen",
}

// CanTransition returns nil if an order may go from from to to, and an
// INVALID_TRANSITION error otherwise.
func CanTransition(from, to Status) error {
	for _, s := range transitions[from] {
		if s == to {
			return nil
		}
	}
	return InvalidTransition(from, to)
}

// AllStatuses lists every status.
var AllStatuses = []Status{Pending, Processing, Paid, Completed, Failed, Expired, Cancelled,
	DeliveryFailed, RefundRequested, Refunded, RefundRejected, Frozen}

// Unpaid reports whether money has not yet arrived for an order in status s.
func Unpaid(s Status) bool { return s == Pending || s == Processing }

// statusDesc is the zh-CN text of each status (the token checkout's statusDesc).
var statusDesc = map[Status]string{
	Pending:         "待支付",
	Processing:      "支付中",
	Paid:            "已支付",
	Completed:       "交易完成",
	Failed:          "支付失败",
	Expired:         "已失效",
	Cancelled:       "已撤销",
	DeliveryFailed:  "发货失败",
	RefundRequested: "退款申请中",
	Refunded:        "退款成功",
	RefundRejected:  "退款失败",
	Frozen:          "已冻结",
}

// StatusDesc returns the zh-CN description of s.
func StatusDesc(s Status) string { return statusDesc[s] }

// legacy maps each order type to its source document's numbered statuses.
var legacy = map[order.Type]map[Status]int{
	// The token checkout: 0 WAIT_FOR_PAYMENT, 1 COMPLETED, 2 PROCESSING, 3 EXPIRED, 4 CANCELLED.
	order.TypePAYMENT: {Pending: 0, Paid: 1, Completed: 1, Processing: 2, Expired: 3, Cancelled: 4},
	// The app store: 0 待支付, 1 支付失败, 2 支付成功, 3 发货失败, 4 交易完成, 5 申请退货, 6 退货失败, 7 退货成功.
	order.TypeRECHARGE: appStoreStatus,
	order.TypeCONSUME:  appStoreStatus,
	// The points flow: 0 待支付, 1 已支付, 2 已退款, 3 已冻结.
	order.TypePOINTS: {Pending: 0, Processing: 0, Paid: 1, Completed: 1, Refunded: 2, Frozen: 3},
}

var appStoreStatus = map[Status]int{
	Pending: 0, Processing: 0, Failed: 1, Paid: 2, DeliveryFailed: 3, Completed: 4,
	RefundRequested: 5, RefundRejected: 6, Refunded: 7,
}

// LegacyStatus returns the source document's code for an order of type t in
// status s, if that document numbered it.
func LegacyStatus(t order.Type, s Status) *int {
	if n, ok := legacy[t][s]; ok {
		return &n
	}
	return nil
}
