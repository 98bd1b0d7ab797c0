// Package ledger is paygraph's double-entry book. Every money movement is a
// journal of postings that sum to zero per asset, written in the same
// transaction as the order change that caused it. Wallet balances are kept
// beside the postings and changed only here, by conditional updates, so two
// transactions can never spend the same money.
package ledger

import (
	"context"
	"fmt"
	"math"
	"sort"
	"strconv"
	"strings"
	"time"

	"entgo.io/ent/dialect"
	"entgo.io/ent/dialect/sql"

	"github.com/paygraph/paygraph/ent"
	"github.com/paygraph/paygraph/ent/order"
	"github.com/paygraph/paygraph/ent/wallet"
	"github.com/paygraph/paygraph/ent/walletentry"
	"github.com/paygraph/paygraph/internal/apperr"
	"github.com/paygraph/paygraph/internal/events"
	"github.com/paygraph/paygraph/internal/idempotency"
	"github.com/paygraph/paygraph/internal/idgen"
	"github.com/paygraph/paygraph/internal/money"
	"github.com/paygraph/paygraph/internal/txn"
	"github.com/paygraph/paygraph/internal/webhook"
)

// ErrInsufficientFunds is returned when a wallet holds less than a debit.
var ErrInsufficientFunds = apperr.New(apperr.InsufficientFunds, "insufficient balance").WithLegacy(10)

// MaxBalance is the most a wallet bucket holds, in minor units: balances
// are int64 columns, and a credit must never wrap one around (SQLite would
// turn the sum into a float, PostgreSQL refuse it).
const MaxBalance = math.MaxInt64

// ErrBalanceTooLarge is returned when a credit would take a wallet past
// MaxBalance. It is the client's input (an amount far too large), so
// BAD_USER_INPUT; the journal is not written and nothing changes.
var ErrBalanceTooLarge = apperr.New(apperr.BadUserInput,
	"the amount would take a balance past the largest one a wallet can hold; nothing was changed")

// Bucket is a part of a wallet, or the outside world.
type Bucket = walletentry.Bucket

// The buckets.
const (
	Available = walletentry.BucketAVAILABLE
	Escrow    = walletentry.BucketESCROW
	World     = walletentry.BucketWORLD
)

// Posting is one line of a journal.
type Posting struct {
	// UserID owns the wallet posted to; 0 for an outside-world account.
	UserID int64
	// World names the outside-world account ("admin", "epay", …) when UserID is 0.
	World  string
	Bucket Bucket
	// Amount is signed, in minor units: positive adds to the account.
	Amount int64
	// Withdrawable is how much of a positive Available amount may be
	// withdrawn (earnings); debits use up non-withdrawable money first.
	// On a debit, a negative Withdrawable takes that much out of the
	// withdrawable money explicitly (a withdrawal, earnings given back),
	// refused with ErrInsufficientFunds if there is not that much.
	Withdrawable int64
}

// Journal is one balanced money movement in one asset.
type Journal struct {
	Asset    string
	Kind     string // CREDIT, PAYMENT, REFUND, …
	OrderID  int64
	Memo     string
	Postings []Posting
}

// Ledger posts journals and checks the books.
type Ledger struct {
	client  *ent.Client
	dialect string
	assets  *money.Registry
	tx      *txn.Runner
	idem    *idempotency.Store

	// NoJournal lists the order types whose money never passes through the
	// platform (paid and refunded at their provider), so Check expects no
	// journal of theirs. Each flow adds its own.
	NoJournal []order.Type
	// Events records a wallet.changed event per wallet each journal moves,
	// in the journal's transaction (nil: none).
	Events *webhook.Recorder
}

// New returns the ledger.
func New(client *ent.Client, dialectName string, assets *money.Registry, tx *txn.Runner, idem *idempotency.Store) *Ledger {
	return &Ledger{client: client, dialect: dialectName, assets: assets, tx: tx, idem: idem}
}

// Assets is the asset registry the ledger uses.
func (l *Ledger) Assets() *money.Registry { return l.assets }

// Post writes a journal inside tx: it moves the wallet balances (refusing
// any that would fall below zero) and records the postings. It returns the
// postings in journal order. Wallets are touched in a fixed order, so
// concurrent journals on PostgreSQL cannot deadlock.
//
// Errors: ErrInsufficientFunds, ErrBalanceTooLarge; an internal error for
// an unbalanced journal.
func (l *Ledger) Post(ctx context.Context, tx *txn.Tx, j Journal) ([]*ent.WalletEntry, error) {
	if _, err := l.assets.Get("asset", j.Asset); err != nil {
		return nil, err
	}
	var sum int64
	for _, p := range j.Postings {
		next := sum + p.Amount
		if (p.Amount > 0 && next < sum) || (p.Amount < 0 && next > sum) || p.Amount == math.MinInt64 {
			return nil, fmt.Errorf("journal %s of %s: postings overflow", j.Kind, j.Asset)
		}
		sum = next
		if (p.UserID == 0) != (p.Bucket == World) {
			return nil, fmt.Errorf("posting %+v: world postings and only they have no user", p)
		}
		if p.Withdrawable < 0 && p.Amount > p.Withdrawable {
			return nil, fmt.Errorf("posting %+v: takes more withdrawable money than it debits", p)
		}
		if p.Withdrawable > 0 && p.Amount < p.Withdrawable {
			return nil, fmt.Errorf("posting %+v: makes more money withdrawable than it credits", p)
		}
	}
	if sum != 0 || len(j.Postings) < 2 {
		return nil, fmt.Errorf("journal %s of %s does not balance (sum %d)", j.Kind, j.Asset, sum)
	}
	order := make([]int, len(j.Postings))
	for i := range order {
		order[i] = i
	}
	sort.SliceStable(order, func(a, b int) bool {
		pa, pb := j.Postings[order[a]], j.Postings[order[b]]
		if pa.UserID != pb.UserID {
			return pa.UserID < pb.UserID
		}
		return pa.Bucket < pb.Bucket
	})
	res := make([]applied, len(j.Postings))
	var changes []webhook.WalletChange
	for n, i := range order {
		p := j.Postings[i]
		if p.UserID == 0 {
			continue
		}
		// A wallet's event number counts journals, not postings: only its
		// first posting of the journal (postings are sorted by user) counts.
		first := n == 0 || j.Postings[order[n-1]].UserID != p.UserID
		a, err := l.apply(ctx, tx, j.Asset, p, first)
		if err != nil {
			return nil, err
		}
		res[i] = a
		c := webhook.WalletChange{WalletID: a.walletID, UserID: p.UserID, Asset: j.Asset,
			Available: a.available, Escrow: a.escrow, Withdrawable: a.withdrawable, Seq: a.seq}
		if first {
			changes = append(changes, c)
		} else {
			changes[len(changes)-1] = c // the wallet as the journal leaves it
		}
	}
	journal := idgen.Next()
	now := time.Now()
	builders := make([]*ent.WalletEntryCreate, len(j.Postings))
	for i, p := range j.Postings {
		b := tx.WalletEntry.Create().SetJournal(journal).SetBucket(p.Bucket).SetAsset(j.Asset).
			SetAmount(p.Amount).SetKind(j.Kind).SetCreatedAt(now)
		if j.Memo != "" {
			b.SetMemo(j.Memo)
		}
		if j.OrderID != 0 {
			b.SetOrderID(j.OrderID)
		}
		if p.UserID == 0 {
			b.SetAccount("world:" + p.World)
		} else {
			b.SetAccount(fmt.Sprintf("wallet:%d:%s", res[i].walletID, strings.ToLower(string(p.Bucket)))).
				SetWalletID(res[i].walletID).SetBalanceAfter(res[i].balance)
		}
		builders[i] = b
	}
	entries, err := tx.WalletEntry.CreateBulk(builders...).Save(ctx)
	if err != nil {
		return nil, fmt.Errorf("writing postings: %w", err)
	}
	for i, e := range entries {
		if p := j.Postings[i]; p.UserID != 0 {
			tx.Emit(events.Event{Kind: events.KindWallet, ID: e.ID, WalletID: res[i].walletID, UserIDs: []int64{p.UserID}, OrderID: j.OrderID})
		}
	}
	if err := l.Events.Wallets(ctx, tx, j.OrderID, j.Kind, now, changes); err != nil {
		return nil, err
	}
	return entries, nil
}

// applied is a wallet as one posting left it.
type applied struct {
	walletID, balance               int64
	available, escrow, withdrawable int64
	seq                             int
}

// apply moves one wallet bucket by p.Amount with a single conditional
// UPDATE … RETURNING, creating the wallet on its first credit. A debit
// never takes a bucket below zero, a credit never past MaxBalance (the
// bound is computed here, so the database never adds past int64).
// Withdrawable money is at most available, so it cannot pass it either.
// count adds one to the wallet's event number. It returns the wallet as
// the posting leaves it.
func (l *Ledger) apply(ctx context.Context, tx *txn.Tx, asset string, p Posting, count bool) (a applied, err error) {
	col := wallet.FieldAvailable
	if p.Bucket == Escrow {
		col = wallet.FieldEscrow
	}
	w := p.Withdrawable
	if p.Bucket != Available {
		w = 0
	}
	// Right-hand sides see the old row, in SQLite and PostgreSQL alike.
	q := `UPDATE wallets SET ` + col + ` = ` + col + ` + ?, updated_at = ?`
	args := []any{p.Amount, time.Now()}
	if p.Bucket == Available {
		q += `, withdrawable = CASE WHEN withdrawable + ? > available + ? THEN available + ? ELSE withdrawable + ? END`
		args = append(args, w, p.Amount, p.Amount, w)
	}
	if count {
		q += `, event_seq = event_seq + 1`
	}
	q += ` WHERE user_id = ? AND asset = ?`
	args = append(args, p.UserID, asset)
	// One bound per direction, each written so that it cannot overflow
	// (PostgreSQL would fail the statement, not just the comparison).
	switch {
	case p.Amount < 0:
		q += ` AND ` + col + ` + ? >= 0`
		args = append(args, p.Amount)
	case p.Amount > 0:
		q += ` AND ` + col + ` <= ?`
		args = append(args, MaxBalance-p.Amount)
	}
	if w < 0 {
		q += ` AND withdrawable + ? >= 0`
		args = append(args, w)
	}
	q += ` RETURNING id, ` + col + `, available, escrow, withdrawable, event_seq`
	q = l.rebind(q)
	for attempt := 0; attempt < 2; attempt++ {
		rows, err := tx.QueryContext(ctx, q, args...)
		if err != nil {
			return a, fmt.Errorf("updating wallet of user %d: %w", p.UserID, err)
		}
		found := rows.Next()
		if found {
			err = rows.Scan(&a.walletID, &a.balance, &a.available, &a.escrow, &a.withdrawable, &a.seq)
		}
		if cerr := rows.Close(); err == nil {
			err = cerr
		}
		if err == nil {
			err = rows.Err()
		}
		if err != nil {
			return a, fmt.Errorf("updating wallet of user %d: %w", p.UserID, err)
		}
		if found {
			return a, nil
		}
		if p.Amount < 0 || attempt > 0 {
			break
		}
		// No wallet yet: a credit opens it, then the update runs again.
		if err := tx.Wallet.Create().SetUserID(p.UserID).SetAsset(asset).
			OnConflictColumns(wallet.FieldUserID, wallet.FieldAsset).DoNothing().Exec(ctx); err != nil && !isNoRows(err) {
			return a, fmt.Errorf("opening wallet of user %d: %w", p.UserID, err)
		}
	}
	if p.Amount < 0 {
		return a, ErrInsufficientFunds
	}
	// The wallet exists (opened above if it did not): the credit would
	// pass MaxBalance.
	return a, ErrBalanceTooLarge
}

func isNoRows(err error) bool {
	return err != nil && strings.Contains(err.Error(), "no rows in result set")
}

// rebind turns ? placeholders into PostgreSQL's $n.
func (l *Ledger) rebind(q string) string {
	if l.dialect != dialect.Postgres {
		return q
	}
	var b strings.Builder
	n := 0
	for i := 0; i < len(q); i++ {
		if q[i] == '?' {
			n++
			b.WriteString("$" + strconv.Itoa(n))
			continue
		}
		b.WriteByte(q[i])
	}
	return b.String()
}

// AssetSum is the sum of all postings in one asset.
type AssetSum struct {
	Asset string
	Sum   money.Decimal
}

// Check is the state of the books.
type Check struct {
	OK bool
	// Assets holds the sum of all postings per asset; each should be zero.
	Assets             []AssetSum
	sums               map[string]int64
	NegativeWallets    []*ent.Wallet
	MismatchedWallets  []*ent.Wallet
	UnbalancedJournals []int64
	// UnbackedOrders are orders whose money the postings do not show:
	// paid (paidAt set) with no journal at all, or REFUNDED with no journal
	// besides the payment's.
	UnbackedOrders []int64
}

// Check recomputes the invariant from the postings: every asset and every
// journal sums to zero, no wallet bucket is negative (nor withdrawable above
// available), every wallet equals the sum of its postings, and every order
// whose money moved shows it in the postings.
func (l *Ledger) Check(ctx context.Context) (*Check, error) {
	c := &Check{sums: map[string]int64{}}
	var sums []struct {
		Asset string `json:"asset"`
		Sum   int64  `json:"sum"`
	}
	if err := l.client.WalletEntry.Query().GroupBy(walletentry.FieldAsset).
		Aggregate(ent.As(ent.Sum(walletentry.FieldAmount), "sum")).Scan(ctx, &sums); err != nil {
		return nil, fmt.Errorf("summing postings: %w", err)
	}
	for _, s := range sums {
		c.sums[s.Asset] = s.Sum
	}
	for _, a := range l.assets.All() {
		if _, ok := c.sums[a.Code]; !ok {
			c.sums[a.Code] = 0
		}
	}
	var journals []struct {
		Journal int64  `json:"journal"`
		Asset   string `json:"asset"`
		Sum     int64  `json:"sum"`
	}
	if err := l.client.WalletEntry.Query().GroupBy(walletentry.FieldJournal, walletentry.FieldAsset).
		Aggregate(ent.As(ent.Sum(walletentry.FieldAmount), "sum")).Scan(ctx, &journals); err != nil {
		return nil, fmt.Errorf("summing journals: %w", err)
	}
	for _, j := range journals {
		if j.Sum != 0 {
			c.UnbalancedJournals = append(c.UnbalancedJournals, j.Journal)
		}
	}
	var perWallet []struct {
		WalletID int64  `json:"wallet_id"`
		Bucket   string `json:"bucket"`
		Sum      int64  `json:"sum"`
	}
	if err := l.client.WalletEntry.Query().Where(walletentry.WalletIDNotNil()).
		GroupBy(walletentry.FieldWalletID, walletentry.FieldBucket).
		Aggregate(ent.As(ent.Sum(walletentry.FieldAmount), "sum")).Scan(ctx, &perWallet); err != nil {
		return nil, fmt.Errorf("summing wallets: %w", err)
	}
	type key struct {
		id     int64
		bucket string
	}
	posted := map[key]int64{}
	for _, w := range perWallet {
		posted[key{w.WalletID, w.Bucket}] = w.Sum
	}
	wallets, err := l.client.Wallet.Query().All(ctx)
	if err != nil {
		return nil, fmt.Errorf("reading wallets: %w", err)
	}
	for _, w := range wallets {
		if w.Available < 0 || w.Escrow < 0 || w.Withdrawable < 0 || w.Withdrawable > w.Available {
			c.NegativeWallets = append(c.NegativeWallets, w)
		}
		if posted[key{w.ID, string(Available)}] != w.Available || posted[key{w.ID, string(Escrow)}] != w.Escrow {
			c.MismatchedWallets = append(c.MismatchedWallets, w)
		}
	}
	if c.UnbackedOrders, err = l.unbackedOrders(ctx); err != nil {
		return nil, err
	}
	c.OK = len(c.NegativeWallets) == 0 && len(c.MismatchedWallets) == 0 && len(c.UnbalancedJournals) == 0 &&
		len(c.UnbackedOrders) == 0
	codes := make([]string, 0, len(c.sums))
	for code := range c.sums {
		codes = append(codes, code)
	}
	sort.Strings(codes)
	for _, code := range codes {
		c.Assets = append(c.Assets, AssetSum{Asset: code, Sum: l.assets.Format(code, c.sums[code])})
		if c.sums[code] != 0 {
			c.OK = false
		}
	}
	return c, nil
}

// unbackedOrders finds, in two set-based queries, the orders paid with no
// journal and those refunded with fewer than two (the payment's and the
// refund's), leaving out the types in NoJournal.
func (l *Ledger) unbackedOrders(ctx context.Context) ([]int64, error) {
	journals := func(op sql.Op, n int) func(*sql.Selector) {
		return func(s *sql.Selector) {
			b := sql.Dialect(s.Dialect())
			t := b.Table(walletentry.Table)
			count := b.Select("COUNT(DISTINCT " + t.C(walletentry.FieldJournal) + ")").From(t).
				Where(sql.ColumnsEQ(t.C(walletentry.FieldOrderID), s.C(order.FieldID)))
			s.Where(sql.P(func(pb *sql.Builder) {
				pb.Wrap(func(w *sql.Builder) { w.Join(count) }).WriteOp(op).Arg(n)
			}))
		}
	}
	paid, err := l.client.Order.Query().
		Where(order.TypeNotIn(l.NoJournal...), order.PaidAtNotNil(), journals(sql.OpEQ, 0)).
		Order(ent.Asc(order.FieldID)).Limit(100).IDs(ctx)
	if err != nil {
		return nil, fmt.Errorf("finding paid orders without postings: %w", err)
	}
	refunded, err := l.client.Order.Query().
		Where(order.TypeNotIn(l.NoJournal...), order.StatusEQ(order.StatusREFUNDED), journals(sql.OpLT, 2)).
		Order(ent.Asc(order.FieldID)).Limit(100).IDs(ctx)
	if err != nil {
		return nil, fmt.Errorf("finding refunded orders without a refund posting: %w", err)
	}
	return append(paid, refunded...), nil
}

// WalletFor returns a user's wallet in asset, or a zero wallet not yet stored.
func (l *Ledger) WalletFor(ctx context.Context, userID int64, asset string) (*ent.Wallet, error) {
	w, err := l.client.Wallet.Query().Where(wallet.UserID(userID), wallet.Asset(asset)).Only(ctx)
	if ent.IsNotFound(err) {
		return &ent.Wallet{UserID: userID, Asset: asset}, nil
	}
	return w, err
}
