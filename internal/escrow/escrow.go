// Package escrow is the escrow marketplace: deals paid from the wallet or
// through Ping++ whose money waits in escrow until the buyer confirms (or
// the auto-confirm delay passes), refunds of deals, recharges, withdrawals
// under admin review, and the deal's chat window and comment.
//
// Where the money is, in ledger terms:
//
//	paid deal          buyer available (or world:pingpp) → seller escrow
//	confirmed deal     seller escrow → seller available, withdrawable (amount − refunded)
//	refund, wallet     seller escrow (or seller withdrawable) → buyer available
//	refund, Ping++     seller escrow (or seller withdrawable) → world:pingpp-refunding → world:pingpp
//	withdrawal asked   user withdrawable → world:withdrawal-pending
//	withdrawal paid    world:withdrawal-pending → world:withdrawal
//	withdrawal refused world:withdrawal-pending → user available, withdrawable
//
// A refund gives back all that is left of a deal or a part of it; parts
// leave the rest in escrow for the seller.
package escrow

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/paygraph/paygraph/ent"
	"github.com/paygraph/paygraph/internal/apperr"
	"github.com/paygraph/paygraph/internal/clock"
	"github.com/paygraph/paygraph/internal/db"
	"github.com/paygraph/paygraph/internal/idempotency"
	"github.com/paygraph/paygraph/internal/idgen"
	"github.com/paygraph/paygraph/internal/ledger"
	"github.com/paygraph/paygraph/internal/money"
	"github.com/paygraph/paygraph/internal/payment"
	"github.com/paygraph/paygraph/internal/paypass"
	"github.com/paygraph/paygraph/internal/provider/pingpp"
	"github.com/paygraph/paygraph/internal/txn"
)

// Asset is the currency of the escrow marketplace: CNY, whose minor unit is the fen
// Ping++ counts in.
const Asset = "CNY"

// Outside-world accounts of the flow.
const (
	WorldPingpp            = "pingpp"
	worldRefunding         = "pingpp-refunding"
	worldWithdrawalPending = "withdrawal-pending"
	worldWithdrawal        = "withdrawal"
)

// Values of Order.channel: who carries the money.
const (
	channelWallet = "wallet"
	channelPingpp = WorldPingpp
)

// MaxAmount bounds one order: 1,000,000.00 CNY.
const MaxAmount = 100_000_000

// ChatWindow is how long after payment a deal's chat stays open (escrow marketplace:
// "payTime 加24小时即为到期时间").
const ChatWindow = 24 * time.Hour

// staleRefund is how long a refund claimed but never answered by Ping++
// waits before another approval may try again.
const staleRefund = 2 * time.Minute

// Charges is the part of Ping++ the flow uses.
type Charges interface {
	CreateCharge(ctx context.Context, req pingpp.ChargeRequest) (*pingpp.Charge, error)
	GetCharge(ctx context.Context, id string) (*pingpp.Charge, error)
	CreateRefund(ctx context.Context, chargeID string, amount int64, description string) (*pingpp.Refund, error)
}

// Service runs the flow.
type Service struct {
	Client   *ent.Client
	Tx       *txn.Runner
	Ledger   *ledger.Ledger
	Idem     *idempotency.Store
	Payments *payment.Service
	Guard    *paypass.Guard
	Pingpp   Charges
	Clock    clock.Clock
	Log      *slog.Logger
	// OrderTTL is how long an unpaid order may be paid.
	OrderTTL time.Duration
	// AutoConfirm is how long a paid deal waits for its buyer before the
	// money is released to the seller.
	AutoConfirm time.Duration
	// RefundWindow is how long after confirmation a refund may be asked.
	RefundWindow time.Duration
	// CashierURL gives the sandbox cashier page of a charge ("" with a real Ping++).
	CashierURL func(chargeID string) string
}

// Errors of the flow (the escrow marketplace's legacy codes where it numbered them).
var (
	ErrNotBuyer  = apperr.New(apperr.Forbidden, "only the buyer may do this")
	ErrNotSeller = apperr.New(apperr.Forbidden, "only the seller or an admin may decide this refund")
	ErrSelf      = apperr.Input("receiverId", "a deal needs a seller other than the buyer").WithLegacy(2)
	ErrInFlight  = apperr.New(apperr.IdempotencyInProgress, "a refund through Ping++ is already under way; its outcome arrives by webhook")
	errWrongType = func(op string, want ...string) error {
		return apperr.Input("orderId", "%s is for %s orders", op, strings.Join(want, " and ")).WithLegacy(2)
	}
)

// input returns a BAD_USER_INPUT with the escrow marketplace's "参数错误" code.
func input(field, format string, args ...any) error {
	return apperr.Input(field, format, args...).WithLegacy(2)
}

// cny reads a positive CNY amount within MaxAmount, in fen.
func (s *Service) cny(field string, d money.Decimal) (int64, error) {
	_, n, err := s.Ledger.Assets().Positive("asset", field, Asset, d)
	if err != nil {
		if ae, ok := err.(*apperr.Error); ok {
			return 0, ae.WithLegacy(2)
		}
		return 0, err
	}
	if n > MaxAmount {
		return 0, input(field, "at most %s CNY per order", s.Ledger.Assets().Format(Asset, MaxAmount))
	}
	return n, nil
}

// text trims s and checks its length in characters.
func text(field, s string, min, max int) (string, error) {
	s = strings.TrimSpace(s)
	if n := utf8.RuneCountInString(s); n < min || n > max || !utf8.ValidString(s) {
		if min == 0 {
			return "", input(field, "%s must be at most %d characters", field, max)
		}
		return "", input(field, "%s must be %d to %d characters", field, min, max)
	}
	return s, nil
}

// defaultApp is the app the escrow marketplace's orders belong to.
const defaultApp = db.DefaultAppID

var nextID = idgen.Next

// orderNo is the 16 hex characters of the escrow marketplace's order numbers, from the
// order's (unique) id.
func orderNo(id int64) string { return fmt.Sprintf("%016x", uint64(id)) }

// order reads an order by id.
func (s *Service) order(ctx context.Context, id int64) (*ent.Order, error) {
	o, err := s.Client.Order.Get(ctx, id)
	if ent.IsNotFound(err) {
		return nil, payment.ErrOrderNotFound
	}
	if err != nil {
		return nil, fmt.Errorf("loading order %d: %w", id, err)
	}
	return o, nil
}

// Channel is how a payer pays: from the wallet, or through Ping++ by
// Alipay or WeChat Pay.
type Channel string

// The channels.
const (
	Wallet Channel = "WALLET"
	Alipay Channel = "ALIPAY"
	Wx     Channel = "WX"
)

func (c Channel) pingpp() (string, bool) {
	switch c {
	case Alipay:
		return pingpp.ChannelAlipay, true
	case Wx:
		return pingpp.ChannelWx, true
	}
	return "", false
}

// Charge is a Ping++ charge as the client SDK needs it.
type Charge struct {
	ID       string
	OrderNo  string
	Channel  string
	Amount   money.Decimal
	Currency string
	Paid     bool
	Livemode bool
	// Credential is the channel's payment parameters, JSON text.
	Credential string
	// Raw is the whole charge object as Ping++ sent it, JSON text.
	Raw        string
	TimeExpire *time.Time
	// CashierURL is the sandbox's cashier page for the charge.
	CashierURL *string
}

func (s *Service) view(c *pingpp.Charge) *Charge {
	if c == nil {
		return nil
	}
	v := &Charge{
		ID: c.ID, OrderNo: c.OrderNo, Channel: c.Channel, Amount: pingpp.Fen(c.Amount), Currency: c.Currency,
		Paid: c.Paid, Livemode: c.Livemode, Credential: string(c.Credential), Raw: string(c.Raw),
	}
	if v.Credential == "" {
		v.Credential = "{}"
	}
	if c.TimeExpire != nil {
		t := time.Unix(*c.TimeExpire, 0).UTC()
		v.TimeExpire = &t
	}
	if s.CashierURL != nil {
		if u := s.CashierURL(c.ID); u != "" {
			v.CashierURL = &u
		}
	}
	return v
}

// UnmarshalGQL reads a channel enum value. WECHAT, the API's one name
// for WeChat Pay, is the escrow document's WX.
func (c *Channel) UnmarshalGQL(v any) error {
	s, ok := v.(string)
	if !ok {
		return apperr.New(apperr.BadUserInput, "channel must be a string")
	}
	switch Channel(s) {
	case Wallet, Alipay, Wx:
		*c = Channel(s)
		return nil
	case "WECHAT":
		*c = Wx
		return nil
	}
	return apperr.New(apperr.BadUserInput, "channel %q is not WALLET, ALIPAY, WECHAT or WX", s)
}

// MarshalGQL writes the enum value.
func (c Channel) MarshalGQL(w io.Writer) { _, _ = io.WriteString(w, strconv.Quote(string(c))) }
