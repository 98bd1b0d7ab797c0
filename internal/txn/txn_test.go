package txn_test

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/paygraph/paygraph/ent/app"
	"github.com/paygraph/paygraph/internal/events"
	"github.com/paygraph/paygraph/internal/testutil"
	"github.com/paygraph/paygraph/internal/txn"
)

// TestUnitsAreIndependent runs many units at once, so that they share
// commits on SQLite: the ones that fail or panic leave nothing behind, the
// others are all kept, and only kept units publish their events.
func TestUnitsAreIndependent(t *testing.T) {
	srv := testutil.Start(t, testutil.Base(t))
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	sub := srv.Bus.Subscribe(ctx, nil)

	const n = 60
	var wg sync.WaitGroup
	errs := make([]error, n)
	panics := make([]any, n)
	for i := 0; i < n; i++ {
		wg.Add(1)
		go func(i int) {
			defer wg.Done()
			defer func() { panics[i] = recover() }()
			errs[i] = srv.Tx.Run(ctx, func(tx *txn.Tx) error {
				a, err := tx.App.Create().SetName(fmt.Sprintf("unit-%d", i)).Save(ctx)
				if err != nil {
					return err
				}
				tx.Emit(events.Event{Kind: events.KindOrder, OrderID: a.ID, ID: int64(i)})
				switch i % 3 {
				case 1:
					return errors.New("unit fails")
				case 2:
					panic("unit panics")
				}
				return nil
			})
		}(i)
	}
	wg.Wait()
	kept := 0
	for i := 0; i < n; i++ {
		switch i % 3 {
		case 0:
			if errs[i] != nil || panics[i] != nil {
				t.Fatalf("unit %d: %v %v", i, errs[i], panics[i])
			}
			kept++
		case 1:
			if errs[i] == nil {
				t.Fatalf("unit %d: error lost", i)
			}
		case 2:
			if panics[i] != "unit panics" {
				t.Fatalf("unit %d: panic lost (%v)", i, panics[i])
			}
		}
	}
	names, err := srv.DB.Ent.App.Query().Where(app.NameHasPrefix("unit-")).Select(app.FieldName).Strings(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if len(names) != kept {
		t.Fatalf("%d rows kept, want %d: %v", len(names), kept, names)
	}
	got := 0
	timeout := time.After(5 * time.Second)
	for got < kept {
		select {
		case e := <-sub:
			if e.ID%3 != 0 {
				t.Fatalf("event of a failed unit %d published", e.ID)
			}
			got++
		case <-timeout:
			t.Fatalf("%d of %d events", got, kept)
		}
	}
	select {
	case e := <-sub:
		t.Fatalf("extra event %+v", e)
	case <-time.After(100 * time.Millisecond):
	}
}
