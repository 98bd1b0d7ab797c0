package ledger

import (
	"context"
	"fmt"
	"unicode/utf8"

	"github.com/paygraph/paygraph/ent"
	"github.com/paygraph/paygraph/ent/user"
	"github.com/paygraph/paygraph/ent/wallet"
	"github.com/paygraph/paygraph/internal/apperr"
	"github.com/paygraph/paygraph/internal/auth"
	"github.com/paygraph/paygraph/internal/idempotency"
	"github.com/paygraph/paygraph/internal/money"
	"github.com/paygraph/paygraph/internal/role"
	"github.com/paygraph/paygraph/internal/txn"
)

// CreditInput is an admin's deposit or adjustment into a user's wallet.
type CreditInput struct {
	UserID int64         `json:"userId"`
	Asset  string        `json:"asset"`
	Amount money.Decimal `json:"amount"`
	Memo   *string       `json:"memo,omitempty"`
	// Withdrawable marks the money as withdrawable (e.g. migrated earnings);
	// by default a credit may be spent but not withdrawn.
	Withdrawable   *bool   `json:"withdrawable,omitempty"`
	IdempotencyKey *string `json:"-"` // not part of the fingerprint: the header may carry it instead
}

// Credit brings money from the outside world ("world:admin") into a user's
// available balance and returns the user's posting. It is the one way to
// fund a wallet by hand.
//
// Who: an ADMIN only.
//
// Errors: FORBIDDEN (not an admin), BAD_USER_INPUT (unknown asset,
// non-positive amount, too many decimals, a balance that would pass
// MaxBalance), NOT_FOUND (user), idempotency errors.
func (l *Ledger) Credit(ctx context.Context, in CreditInput) (*ent.WalletEntry, error) {
	if _, err := auth.Require(ctx, role.Admin); err != nil {
		return nil, err
	}
	a, amount, err := l.assets.Positive("asset", "amount", in.Asset, in.Amount)
	if err != nil {
		return nil, err
	}
	if in.Memo != nil && utf8.RuneCountInString(*in.Memo) > 255 {
		return nil, apperr.Input("memo", "memo is longer than 255 characters")
	}
	if ok, err := l.client.User.Query().Where(user.ID(in.UserID)).Exist(ctx); err != nil {
		return nil, fmt.Errorf("finding user: %w", err)
	} else if !ok {
		return nil, apperr.New(apperr.NotFound, "user not found").WithLegacy(7)
	}
	var w int64
	if in.Withdrawable != nil && *in.Withdrawable {
		w = amount
	}
	memo := ""
	if in.Memo != nil {
		memo = *in.Memo
	}
	var entry *ent.WalletEntry
	id, replayed, err := l.idem.Do(ctx, "credit", in.IdempotencyKey, in, func(mark idempotency.Mark) (int64, error) {
		err := l.tx.Run(ctx, func(tx *txn.Tx) error {
			entries, err := l.Post(ctx, tx, Journal{Asset: a.Code, Kind: "CREDIT", Memo: memo, Postings: []Posting{
				{World: "admin", Bucket: World, Amount: -amount},
				{UserID: in.UserID, Bucket: Available, Amount: amount, Withdrawable: w},
			}})
			if err != nil {
				return err
			}
			entry = entries[1]
			return mark(ctx, tx.Tx, entry.ID)
		})
		if err != nil {
			return 0, err
		}
		return entry.ID, nil
	})
	if err != nil {
		return nil, err
	}
	if replayed {
		return l.client.WalletEntry.Get(ctx, id)
	}
	return entry, nil
}

// Wallets returns a user's wallets, one per asset used, in asset order.
func (l *Ledger) Wallets(ctx context.Context, userID int64) ([]*ent.Wallet, error) {
	return l.client.Wallet.Query().Where(wallet.UserID(userID)).Order(ent.Asc(wallet.FieldAsset)).All(ctx)
}
