// Package db opens the database paygraph runs on (SQLite by default,
// PostgreSQL when configured), migrates it, and runs transactions.
package db

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"time"

	"entgo.io/ent/dialect"
	entsql "entgo.io/ent/dialect/sql"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/stdlib" // registers the "pgx" driver
	_ "github.com/mattn/go-sqlite3"  // registers the "sqlite3" driver

	"github.com/paygraph/paygraph/ent"
	"github.com/paygraph/paygraph/ent/app"
	"github.com/paygraph/paygraph/internal/config"
)

// DB is an open, migrated database.
type DB struct {
	Ent *ent.Client
	// SQL is the pool reads use (with SQLite, writes have a pool of their own).
	SQL     *sql.DB
	Dialect string // dialect.SQLite or dialect.Postgres
	Config  config.Database
	// Statements counts the statements run when Config.CountStatements
	// is set; nil otherwise.
	Statements *Statements
}

// SQLiteDSN returns the go-sqlite3 DSN paygraph uses for path: WAL, full
// fsync on commit (a committed payment must survive a power cut), foreign
// keys, a busy timeout and BEGIN IMMEDIATE for every transaction, so two
// writers queue instead of failing with SQLITE_BUSY halfway through.
func SQLiteDSN(path string) string {
	q := url.Values{}
	q.Set("_journal_mode", "WAL")
	q.Set("_synchronous", "FULL")
	q.Set("_foreign_keys", "on")
	q.Set("_busy_timeout", "10000")
	q.Set("_txlock", "immediate")
	return "file:" + path + "?" + q.Encode()
}

// Open connects to the database described by cfg and migrates its schema.
// Errors are one line and never contain a password.
func Open(ctx context.Context, cfg config.Database) (*DB, error) {
	var (
		sqldb, writer *sql.DB
		dia           string
		err           error
		count         *Statements
	)
	if cfg.CountStatements {
		count = newStatements()
	}
	switch cfg.Driver {
	case "sqlite":
		if dir := filepath.Dir(cfg.Path); dir != "." {
			if st, err := os.Stat(dir); err != nil || !st.IsDir() {
				return nil, fmt.Errorf("the folder %q of the SQLite file does not exist", dir)
			}
		}
		dia = dialect.SQLite
		writer = sql.OpenDB(sqliteConnector{dsn: SQLiteDSN(cfg.Path), pool: "write", count: count})
		writer.SetMaxOpenConns(1)
		writer.SetMaxIdleConns(1)
		writer.SetConnMaxIdleTime(0)
		sqldb = sql.OpenDB(sqliteConnector{dsn: SQLiteDSN(cfg.Path), pool: "read", count: count})
		sqldb.SetMaxOpenConns(4)
		sqldb.SetMaxIdleConns(4)
		sqldb.SetConnMaxIdleTime(0)
	case "postgres":
		dia = dialect.Postgres
		if count == nil {
			sqldb, err = sql.Open("pgx", cfg.URL)
		} else {
			var cc *pgx.ConnConfig
			if cc, err = pgx.ParseConfig(cfg.URL); err == nil {
				cc.Tracer = pgTracer{count}
				sqldb = stdlib.OpenDB(*cc)
			}
		}
		if err == nil {
			sqldb.SetMaxOpenConns(20)
			sqldb.SetMaxIdleConns(20)
			sqldb.SetConnMaxIdleTime(5 * time.Minute)
		}
	default:
		return nil, fmt.Errorf("unknown database driver %q", cfg.Driver)
	}
	if err != nil {
		return nil, fmt.Errorf("opening database: %s", oneLine(err))
	}
	pingCtx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	if err := sqldb.PingContext(pingCtx); err != nil {
		sqldb.Close()
		if writer != nil {
			writer.Close()
		}
		return nil, fmt.Errorf("cannot reach the database: %s", oneLine(err))
	}
	var drv dialect.Driver = entsql.OpenDB(dia, sqldb)
	if writer != nil {
		drv = splitDriver{w: entsql.OpenDB(dia, writer), r: entsql.OpenDB(dia, sqldb)}
	}
	d := &DB{
		Ent:        ent.NewClient(ent.Driver(lastingDriver{drv})),
		SQL:        sqldb,
		Dialect:    dia,
		Config:     cfg,
		Statements: count,
	}
	if err := d.migrate(ctx); err != nil {
		d.Close()
		return nil, fmt.Errorf("migrating the schema: %s", oneLine(err))
	}
	return d, nil
}

// migrationLock is the advisory lock key that serialises schema migration
// between instances starting at once on one PostgreSQL database.
const migrationLock = 0x7061796772617068 // "paygraph"

func (d *DB) migrate(ctx context.Context) error {
	if d.Dialect == dialect.Postgres {
		conn, err := d.SQL.Conn(ctx)
		if err != nil {
			return err
		}
		defer conn.Close()
		if _, err := conn.ExecContext(ctx, "SELECT pg_advisory_lock($1)", migrationLock); err != nil {
			return err
		}
		defer conn.ExecContext(context.WithoutCancel(ctx), "SELECT pg_advisory_unlock($1)", migrationLock)
	}
	if err := d.Ent.Schema.Create(ctx); err != nil {
		return err
	}
	if err := d.eventIndexes(ctx); err != nil {
		return err
	}
	if err := d.createReadinessTable(ctx); err != nil {
		return err
	}
	return d.createDefaultApp(ctx)
}

// DefaultAppID is the app that exists from the start (the app store's app_id 1).
const DefaultAppID = 1

func (d *DB) createDefaultApp(ctx context.Context) error {
	err := d.Ent.App.Create().SetID(DefaultAppID).SetName("default").
		OnConflictColumns(app.FieldID).DoNothing().Exec(ctx)
	if err != nil && !errors.Is(err, sql.ErrNoRows) {
		return err
	}
	return nil
}

// Close closes the database.
func (d *DB) Close() error { return d.Ent.Close() }

// Ping checks the database answers; /readyz uses it.
func (d *DB) Ping(ctx context.Context) error { return d.SQL.PingContext(ctx) }

func oneLine(err error) string {
	return strings.Join(strings.Fields(err.Error()), " ")
}
