package db

import (
	"context"

	"entgo.io/ent/dialect"
)

// eventIndexes makes the indexes of events that depend on the database.
// Each webhook endpoint's cursor reads its app's events in position
// order, and the dispatcher looks for the events not numbered yet.
//
// With PostgreSQL the dispatcher numbers events after they commit, so
// positions need indexes of their own: (app_id, position) for the cursors,
// (position) for the highest one and those still NULL.
//
// With SQLite the position is the event's id, written with it: the app_id
// index (whose entries end with the id) and the primary key already order
// the cursors' reads, so the two indexes only cost every payment's events
// two more B-tree inserts. Only events from before cursors existed lack a
// position; a partial index finds them, and new events never enter it.
// Databases made by earlier versions lose the two indexes.
func (d *DB) eventIndexes(ctx context.Context) error {
	stmts := []string{
		"CREATE INDEX IF NOT EXISTS event_app_id_position ON events (app_id, position)",
		"CREATE INDEX IF NOT EXISTS event_position ON events (position)",
	}
	if d.Dialect == dialect.SQLite {
		stmts = []string{
			"DROP INDEX IF EXISTS event_app_id_position",
			"DROP INDEX IF EXISTS event_position",
			"CREATE INDEX IF NOT EXISTS event_unnumbered ON events (id) WHERE position IS NULL",
		}
	}
	for _, q := range stmts {
		if _, err := d.Ent.ExecContext(ctx, q); err != nil {
			return err
		}
	}
	return nil
}
