package db_test

import (
	"testing"

	"github.com/paygraph/paygraph/internal/config"
	"github.com/paygraph/paygraph/internal/db"
	"github.com/paygraph/paygraph/internal/testutil"
)

// What a transaction returns stays usable once it is over: its edges load
// (from the committed data), on SQLite and PostgreSQL. A write through it
// still fails: nothing may escape the transaction it was meant for.
func TestEntitiesOutliveTheirTransaction(t *testing.T) {
	cfg, err := config.ParseDatabaseURL(testutil.NewDatabaseURL(t))
	if err != nil {
		t.Fatal(err)
	}
	d, err := db.Open(t.Context(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	defer d.Close()
	ctx := t.Context()
	tx, err := d.Ent.Tx(ctx)
	if err != nil {
		t.Fatal(err)
	}
	u, err := tx.User.Create().SetUsername("alice").SetPasswordHash("x").Save(ctx)
	if err != nil {
		t.Fatal(err)
	}
	w, err := tx.Wallet.Create().SetUserID(u.ID).SetAsset("CNY").Save(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if err := tx.Commit(); err != nil {
		t.Fatal(err)
	}
	owner, err := w.QueryUser().Only(ctx)
	if err != nil || owner.ID != u.ID {
		t.Fatalf("edge after commit: %v %v", owner, err)
	}
	if err := u.Update().SetNickname("late").Exec(ctx); err == nil {
		t.Fatal("a write through a committed transaction succeeded")
	}
	got, err := d.Ent.User.Get(ctx, u.ID)
	if err != nil || got.Nickname != "" {
		t.Fatalf("the late write escaped: %+v %v", got, err)
	}

	// A rolled-back transaction's entities read what is committed.
	tx, err = d.Ent.Tx(ctx)
	if err != nil {
		t.Fatal(err)
	}
	read, err := tx.Wallet.Get(ctx, w.ID)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := tx.Wallet.Create().SetUserID(u.ID).SetAsset("BTC").Save(ctx); err != nil {
		t.Fatal(err)
	}
	if err := tx.Rollback(); err != nil {
		t.Fatal(err)
	}
	if owner, err := read.QueryUser().Only(ctx); err != nil || owner.ID != u.ID {
		t.Fatalf("after rollback: %v %v", owner, err)
	}
	if n, err := d.Ent.Wallet.Query().Count(ctx); err != nil || n != 1 {
		t.Fatalf("after rollback %d wallets (%v)", n, err)
	}
}
