package txn_test

import (
	"context"
	"errors"
	"fmt"
	"slices"
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

// TestLateUnitsJoinTheRunningGroup queues units while a group's only unit
// runs: they join its transaction (one commit for all) instead of waiting
// for the next, and one of them failing leaves the first unit, which ran
// without a savepoint, and the other late one intact.
func TestLateUnitsJoinTheRunningGroup(t *testing.T) {
	srv := testutil.Start(t, testutil.Base(t))
	if !srv.Tx.Group {
		t.Skip("group commit is SQLite's")
	}
	ctx := context.Background()
	started, proceed := make(chan struct{}), make(chan struct{})
	var mu sync.Mutex
	seen := map[string]any{} // unit → the transaction it ran in
	unit := func(name string, fail bool) func(*txn.Tx) error {
		return func(tx *txn.Tx) error {
			mu.Lock()
			seen[name] = tx.Tx
			mu.Unlock()
			if _, err := tx.App.Create().SetName(name).Save(ctx); err != nil {
				return err
			}
			if name == "join-a" {
				close(started)
				<-proceed
			}
			if fail {
				return errors.New("late unit fails")
			}
			return nil
		}
	}
	errs := make(chan error, 3)
	go func() { errs <- srv.Tx.Run(ctx, unit("join-a", false)) }()
	<-started
	var calling sync.WaitGroup
	calling.Add(2)
	go func() { calling.Done(); errs <- srv.Tx.Run(ctx, unit("join-b", true)) }()
	go func() { calling.Done(); errs <- srv.Tx.Run(ctx, unit("join-c", false)) }()
	calling.Wait()
	time.Sleep(300 * time.Millisecond) // Run only queues them: they are queued by now
	close(proceed)
	failed := 0
	for range 3 {
		if err := <-errs; err != nil {
			failed++
		}
	}
	if failed != 1 {
		t.Fatalf("%d units failed, want 1 (join-b)", failed)
	}
	if seen["join-a"] != seen["join-b"] || seen["join-a"] != seen["join-c"] {
		t.Fatalf("late units ran in another transaction than the running group's: %v", seen)
	}
	names, err := srv.DB.Ent.App.Query().Where(app.NameHasPrefix("join-")).Select(app.FieldName).Strings(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if len(names) != 2 || !slices.Contains(names, "join-a") || !slices.Contains(names, "join-c") {
		t.Fatalf("kept %v, want join-a and join-c", names)
	}
}
