package txn_test

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"testing"

	"github.com/paygraph/paygraph/ent/app"
	"github.com/paygraph/paygraph/internal/testutil"
	"github.com/paygraph/paygraph/internal/txn"
)

// A BeforeCommit hook runs at the end of its unit, inside it: it sees
// what the unit wrote after registering it, its writes commit with the
// unit, and its error rolls the unit back (without touching the other
// units of a group commit).
func TestBeforeCommitRunsAtTheEndOfItsUnit(t *testing.T) {
	srv := testutil.Start(t, testutil.Base(t))
	ctx := context.Background()
	const n = 30
	var wg sync.WaitGroup
	errs := make([]error, n)
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			errs[i] = srv.Tx.Run(ctx, func(tx *txn.Tx) error {
				tx.SetValue("unit", i)
				tx.BeforeCommit(func() error {
					// The app below was written after this hook was registered.
					names, err := tx.App.Query().Where(app.NameHasPrefix(fmt.Sprintf("hook-%d-", i))).Select(app.FieldName).Strings(ctx)
					if err != nil || len(names) != 1 || tx.Value("unit") != i {
						return fmt.Errorf("hook of unit %d sees %v, %v", i, names, err)
					}
					if _, err := tx.App.Create().SetName(fmt.Sprintf("hook-%d-after", i)).Save(ctx); err != nil {
						return err
					}
					if i%2 == 1 {
						return errors.New("hook fails")
					}
					return nil
				})
				_, err := tx.App.Create().SetName(fmt.Sprintf("hook-%d-unit", i)).Save(ctx)
				return err
			})
		}()
	}
	wg.Wait()
	for i, err := range errs {
		want := i%2 == 1
		if (err != nil) != want {
			t.Fatalf("unit %d: %v", i, err)
		}
		names, qerr := srv.DB.Ent.App.Query().Where(app.NameHasPrefix(fmt.Sprintf("hook-%d-", i))).Select(app.FieldName).Strings(ctx)
		if qerr != nil {
			t.Fatal(qerr)
		}
		if kept := len(names) == 2; kept == want {
			t.Fatalf("unit %d (error %v) left %v", i, err, names)
		}
	}
}
