package ledger

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"

	"github.com/paygraph/paygraph/ent"
	"github.com/paygraph/paygraph/ent/asset"
	"github.com/paygraph/paygraph/ent/wallet"
	"github.com/paygraph/paygraph/internal/money"
)

// ScaleError is a configured asset whose decimals differ from those its
// stored amounts were written with, or a stored asset in use that the
// configuration no longer names.
type ScaleError struct{ Reason string }

func (e *ScaleError) Error() string { return e.Reason }

// StoreScales makes the database the record of each asset's decimals.
// Balances are kept in minor units, so reading them with another scale
// would turn 1.000000 USDT into 10000.00: an asset met for the first time
// is recorded with its configured scale; one already recorded must be
// configured with the same scale; a recorded asset that wallets hold must
// still be configured. Otherwise it returns a ScaleError naming the asset
// and changes nothing.
func StoreScales(ctx context.Context, c *ent.Client, assets *money.Registry, now time.Time) error {
	stored, err := c.Asset.Query().All(ctx)
	if err != nil {
		return fmt.Errorf("reading asset scales: %w", err)
	}
	known := map[string]int{}
	for _, a := range stored {
		known[a.Code] = a.Scale
	}
	configured := map[string]bool{}
	var fresh []money.Asset
	for _, a := range assets.All() {
		configured[a.Code] = true
		s, ok := known[a.Code]
		switch {
		case !ok:
			fresh = append(fresh, a)
		case s != a.Scale:
			return &ScaleError{fmt.Sprintf("%s has %d decimals in the database, not %d", a.Code, s, a.Scale)}
		}
	}
	for _, a := range stored {
		if configured[a.Code] {
			continue
		}
		held, err := c.Wallet.Query().Where(wallet.Asset(a.Code)).Exist(ctx)
		if err != nil {
			return fmt.Errorf("reading wallets: %w", err)
		}
		if held {
			return &ScaleError{fmt.Sprintf("%s is held in wallets but not configured; add %s:%d", a.Code, a.Code, a.Scale)}
		}
	}
	for _, a := range fresh {
		// Another instance starting at the same time may record it first:
		// then its scale must agree too.
		err := c.Asset.Create().SetCode(a.Code).SetScale(a.Scale).SetCreatedAt(now).
			OnConflictColumns(asset.FieldCode).DoNothing().Exec(ctx)
		if err != nil && !errors.Is(err, sql.ErrNoRows) {
			return fmt.Errorf("recording asset %s: %w", a.Code, err)
		}
	}
	if len(fresh) > 0 {
		return StoreScales(ctx, c, assets, now)
	}
	return nil
}
