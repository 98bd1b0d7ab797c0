package idempotency_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/paygraph/paygraph/internal/auth"
	"github.com/paygraph/paygraph/internal/clock"
	"github.com/paygraph/paygraph/internal/idempotency"
	"github.com/paygraph/paygraph/internal/role"
	"github.com/paygraph/paygraph/internal/server"
	"github.com/paygraph/paygraph/internal/testutil"
)

type input struct {
	Amount string `json:"amount"`
}

func TestInProgressThenReplayAndTakeover(t *testing.T) {
	clk := clock.NewFake(time.Now())
	srv := testutil.StartWith(t, testutil.Base(t), server.Options{Clock: clk, NoScheduler: true})
	store := idempotency.New(srv.DB.Ent, clk)
	ctx := auth.WithPrincipal(context.Background(), auth.Principal{Subject: 7, Role: role.Service, AppID: 7})
	key := "k-1"

	started, release := make(chan struct{}), make(chan struct{})
	done := make(chan error, 1)
	go func() {
		_, _, err := store.Do(ctx, "op", &key, input{"1"}, func(mark idempotency.Mark) (int64, error) {
			close(started)
			<-release
			return 0, errors.New("first call failed")
		})
		done <- err
	}()
	<-started
	if _, _, err := store.Do(ctx, "op", &key, input{"1"}, func(idempotency.Mark) (int64, error) { return 1, nil }); !errors.Is(err, idempotency.ErrInProgress) {
		t.Fatalf("while running: %v", err)
	}
	close(release)
	if err := <-done; err == nil {
		t.Fatal("first call should fail")
	}
	// The failed call released the key: a retry runs and is then replayed.
	calls := 0
	run := func(mark idempotency.Mark) (int64, error) {
		calls++
		tx, terr := srv.DB.Ent.Tx(ctx)
		if terr != nil {
			return 0, terr
		}
		if err := mark(ctx, tx, 42); err != nil {
			tx.Rollback()
			return 0, err
		}
		return 42, tx.Commit()
	}
	for i := 0; i < 2; i++ {
		id, replayed, err := store.Do(ctx, "op", &key, input{"1"}, run)
		if err != nil || id != 42 || replayed != (i == 1) {
			t.Fatalf("call %d: %d %v %v", i, id, replayed, err)
		}
	}
	if calls != 1 {
		t.Fatalf("work ran %d times", calls)
	}
	if _, _, err := store.Do(ctx, "op", &key, input{"2"}, run); !errors.Is(err, idempotency.ErrConflict) {
		t.Fatalf("other input: %v", err)
	}
	// Another caller's identical key is its own.
	other := auth.WithPrincipal(context.Background(), auth.Principal{Subject: 8, Role: role.User})
	if _, replayed, err := store.Do(other, "op", &key, input{"1"}, run); err != nil || replayed {
		t.Fatalf("other caller: %v %v", replayed, err)
	}

	// A claim whose holder died is taken over once its lease runs out.
	dead := "k-dead"
	hold, claimed := make(chan struct{}), make(chan struct{})
	go func() {
		_, _, _ = store.Do(ctx, "op", &dead, input{"1"}, func(idempotency.Mark) (int64, error) {
			close(claimed)
			<-hold // never marks: the holder "dies" mid-way
			return 0, nil
		})
	}()
	<-claimed
	if _, _, err := store.Do(ctx, "op", &dead, input{"1"}, run); !errors.Is(err, idempotency.ErrInProgress) {
		t.Fatalf("claim not seen: %v", err)
	}
	clk.Advance(3 * time.Minute)
	if id, replayed, err := store.Do(ctx, "op", &dead, input{"1"}, run); err != nil || replayed || id != 42 {
		t.Fatalf("takeover: %d %v %v", id, replayed, err)
	}
	close(hold)

	// Keys are kept at least a day.
	clk.Advance(25 * time.Hour)
	if n, err := store.Purge(ctx); err != nil || n != 0 {
		t.Fatalf("purged %d after 25h: %v", n, err)
	}
	clk.Advance(idempotency.Retention)
	if n, err := store.Purge(ctx); err != nil || n == 0 {
		t.Fatalf("purged %d: %v", n, err)
	}
}

func TestKeyValidation(t *testing.T) {
	srv := testutil.Start(t, testutil.Base(t))
	ctx := auth.WithPrincipal(context.Background(), auth.Principal{Subject: 1, Role: role.Admin})
	long := string(make([]byte, 256))
	if _, _, err := srv.Idem.Do(ctx, "op", &long, input{}, func(idempotency.Mark) (int64, error) { return 1, nil }); err == nil {
		t.Fatal("256-character key accepted")
	}
	hdr := idempotency.WithHeader(ctx, "a")
	b := "b"
	if _, _, err := srv.Idem.Do(hdr, "op", &b, input{}, func(idempotency.Mark) (int64, error) { return 1, nil }); err == nil {
		t.Fatal("key differing from the header accepted")
	}
}
