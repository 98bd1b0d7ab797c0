package db_test

import (
	"strings"
	"testing"

	"github.com/paygraph/paygraph/internal/config"
	"github.com/paygraph/paygraph/internal/db"
	"github.com/paygraph/paygraph/internal/testutil"
)

// With CountStatements, every statement is counted by pool and text,
// transactions' BEGIN and COMMIT included; without, nothing is kept.
func TestStatementsAreCountedWhenAsked(t *testing.T) {
	cfg, err := config.ParseDatabaseURL(testutil.NewDatabaseURL(t))
	if err != nil {
		t.Fatal(err)
	}
	off, err := db.Open(t.Context(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	if off.Statements != nil || len(off.Statements.Counts()) != 0 {
		t.Fatal("counting without being asked")
	}
	off.Close()

	cfg.CountStatements = true
	d, err := db.Open(t.Context(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	defer d.Close()
	ctx := t.Context()
	before := d.Statements.Counts()
	tx, err := d.Ent.Tx(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := tx.User.Create().SetUsername("alice").SetPasswordHash("x").Save(ctx); err != nil {
		t.Fatal(err)
	}
	if err := tx.Commit(); err != nil {
		t.Fatal(err)
	}
	if _, err := d.Ent.User.Query().Count(ctx); err != nil {
		t.Fatal(err)
	}
	ran := map[string]int64{}
	for k, n := range d.Statements.Counts() {
		if n -= before[k]; n > 0 {
			ran[k] = n
		}
	}
	var insert, count, commit bool
	for k, n := range ran {
		insert = insert || strings.Contains(k, "INSERT INTO") && strings.Contains(k, "users") && n == 1
		count = count || strings.Contains(k, "SELECT COUNT") && n == 1
		commit = commit || (k == "write: COMMIT" || k == "pg: commit") && n == 1
	}
	if !insert || !count || !commit {
		t.Fatalf("counted %v", ran)
	}
}
