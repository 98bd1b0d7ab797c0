package db_test

import (
	"slices"
	"testing"

	"entgo.io/ent/dialect"

	"github.com/paygraph/paygraph/internal/config"
	"github.com/paygraph/paygraph/internal/db"
	"github.com/paygraph/paygraph/internal/testutil"
)

// The events' position indexes are PostgreSQL's; a SQLite database made
// with them loses them when opened, keeps the partial index of the events
// not numbered yet, and reads an app's events after a cursor through the
// app_id index.
func TestEventIndexesDependOnTheDatabase(t *testing.T) {
	cfg, err := config.ParseDatabaseURL(testutil.NewDatabaseURL(t))
	if err != nil {
		t.Fatal(err)
	}
	ctx := t.Context()
	d, err := db.Open(ctx, cfg)
	if err != nil {
		t.Fatal(err)
	}
	indexes := func() []string {
		t.Helper()
		q := "SELECT name FROM sqlite_master WHERE type = 'index' AND tbl_name = 'events'"
		if d.Dialect == dialect.Postgres {
			q = "SELECT indexname FROM pg_indexes WHERE tablename = 'events' AND schemaname = current_schema()"
		}
		rows, err := d.SQL.QueryContext(ctx, q)
		if err != nil {
			t.Fatal(err)
		}
		defer rows.Close()
		var names []string
		for rows.Next() {
			var n string
			if err := rows.Scan(&n); err != nil {
				t.Fatal(err)
			}
			names = append(names, n)
		}
		return names
	}
	if d.Dialect == dialect.Postgres {
		got := indexes()
		for _, want := range []string{"event_app_id_position", "event_position"} {
			if !slices.Contains(got, want) {
				t.Fatalf("PostgreSQL events indexes %v lack %s", got, want)
			}
		}
		d.Close()
		return
	}
	// As an earlier version left it.
	for _, q := range []string{
		"CREATE INDEX event_app_id_position ON events (app_id, position)",
		"CREATE INDEX event_position ON events (position)",
	} {
		if _, err := d.SQL.ExecContext(ctx, q); err != nil {
			t.Fatal(err)
		}
	}
	d.Close()
	if d, err = db.Open(ctx, cfg); err != nil {
		t.Fatal(err)
	}
	defer d.Close()
	got := indexes()
	if slices.Contains(got, "event_app_id_position") || slices.Contains(got, "event_position") || !slices.Contains(got, "event_unnumbered") {
		t.Fatalf("SQLite events indexes after reopening: %v", got)
	}
	var id, parent, notused int
	var plan string
	if err := d.SQL.QueryRowContext(ctx, "EXPLAIN QUERY PLAN SELECT * FROM events WHERE app_id = 1 AND position > 5 AND id > 5 ORDER BY id LIMIT 10").
		Scan(&id, &parent, &notused, &plan); err != nil {
		t.Fatal(err)
	}
	if plan != "SEARCH events USING INDEX event_app_id (app_id=? AND rowid>?)" {
		t.Fatalf("a cursor's read runs as %q", plan)
	}
}
