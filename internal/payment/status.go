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

// words is how a status reads to a payer: zh is Order.statusDesc (zh-CN,
// the words of the documented APIs where they had some), en is
// Order.statusText (English).
type words struct{ zh, en string }

// statusWords are the words of each status that fit every order type.
var statusWords = map[Status]words{
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

// typeWords replaces the words that read wrong for one order type: a
// withdrawal under review is not being paid, a recharge that arrived is
// money in the wallet, an app store refund is a return of the goods.
var typeWords = map[order.Type]map[Status]words{
	order.TypeRECHARGE: {
		Paid:   {"充值成功", "Recharged"},
		Failed: {"充值失败", "Recharge failed"},
	},
	// The app store's words: 支付成功, 交易完成, 申请退货, 退货成功.
	order.TypeCONSUME: {
		Paid:            {"支付成功", "Paid, awaiting delivery"},
		Completed:       {"交易完成", "Delivered"},
		RefundRequested: {"申请退货", "Return requested"},
		Refunded:        {"退货成功", "Returned and refunded"},
		RefundRejected:  {"退货被拒", "Return rejected"},
	},
	// The points API's words: 待支付, 已支付, 已退款, 已冻结.
	order.TypePOINTS: {
		Refunded: {"已退款", "Refunded"},
	},
	// The escrow marketplace's words: 已付款, 已完成, 退款申请中, 退款成功.
	order.TypeDEAL: {
		Paid:      {"已付款，待确认", "Paid, held in escrow"},
		Completed: {"交易完成", "Completed, released to the seller"},
	},
	// The escrow marketplace's 提现申请中 and 提现成功.
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

func wordsOf(t order.Type, s Status) words {
	if w, ok := typeWords[t][s]; ok {
		return w
	}
	return statusWords[s]
}

// StatusDesc returns how an order of type t in status s reads in zh-CN
// (Order.statusDesc).
func StatusDesc(t order.Type, s Status) string { return wordsOf(t, s).zh }

// StatusText returns how an order of type t in status s reads in English
// (Order.statusText).
func StatusText(t order.Type, s Status) string { return wordsOf(t, s).en }

// legacy maps each order type to the status numbers of the documented REST
// API it replaces (Order.legacyStatus).
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

// LegacyStatus returns the number the documented REST API of type t gave
// status s, or nil where that API had no number for it (deals, withdrawals
// and game goods have none).
func LegacyStatus(t order.Type, s Status) *int {
	if n, ok := legacy[t][s]; ok {
		return &n
	}
	return nil
}
