package main

import (
	"database/sql"
	"fmt"
	"os"
	"strings"
	"sync"
	"time"

	_ "github.com/mattn/go-sqlite3"

	"github.com/paygraph/paygraph/internal/db"
)

// runFloor does the canonical flow's database work with nothing on top:
// insert the order; then in one transaction debit the payer, credit the
// payee, write two postings and mark the order paid.
func runFloor(path string, clients int, d time.Duration) (result, error) {
	conn, err := sql.Open("sqlite3", db.SQLiteDSN(path))
	if err != nil {
		return result{}, err
	}
	defer conn.Close()
	conn.SetMaxOpenConns(4)
	for _, q := range []string{
		`CREATE TABLE orders (id INTEGER PRIMARY KEY, payer INTEGER, payee INTEGER, amount INTEGER, status TEXT, created_at DATETIME, updated_at DATETIME)`,
		`CREATE TABLE wallets (id INTEGER PRIMARY KEY, user_id INTEGER, asset TEXT, available INTEGER, UNIQUE(user_id, asset))`,
		`CREATE TABLE postings (id INTEGER PRIMARY KEY, journal INTEGER, wallet_id INTEGER, amount INTEGER, order_id INTEGER, created_at DATETIME)`,
	} {
		if _, err := conn.Exec(q); err != nil {
			return result{}, err
		}
	}
	for u := 0; u <= clients; u++ {
		if _, err := conn.Exec(`INSERT INTO wallets (user_id, asset, available) VALUES (?, 'CNY', ?)`, u, 1<<50); err != nil {
			return result{}, err
		}
	}
	var mu sync.Mutex // writers queue in Go rather than in SQLite's busy handler
	flow := func(payer int) error {
		now := time.Now()
		mu.Lock()
		res, err := conn.Exec(`INSERT INTO orders (payer, payee, amount, status, created_at, updated_at) VALUES (?, 0, 100, 'PENDING', ?, ?)`, payer, now, now)
		mu.Unlock()
		if err != nil {
			return err
		}
		oid, _ := res.LastInsertId()
		mu.Lock()
		defer mu.Unlock()
		tx, err := conn.Begin()
		if err != nil {
			return err
		}
		defer tx.Rollback()
		var payerW, payeeW int64
		if err := tx.QueryRow(`UPDATE wallets SET available = available - 100 WHERE user_id = ? AND asset = 'CNY' AND available >= 100 RETURNING id`, payer).Scan(&payerW); err != nil {
			return err
		}
		if err := tx.QueryRow(`UPDATE wallets SET available = available + 100 WHERE user_id = 0 AND asset = 'CNY' RETURNING id`).Scan(&payeeW); err != nil {
			return err
		}
		if _, err := tx.Exec(`INSERT INTO postings (journal, wallet_id, amount, order_id, created_at) VALUES (?, ?, -100, ?, ?), (?, ?, 100, ?, ?)`,
			oid, payerW, oid, now, oid, payeeW, oid, now); err != nil {
			return err
		}
		if _, err := tx.Exec(`UPDATE orders SET status = 'PAID', updated_at = ? WHERE id = ? AND status = 'PENDING'`, now, oid); err != nil {
			return err
		}
		return tx.Commit()
	}
	var (
		wg    sync.WaitGroup
		rmu   sync.Mutex
		res   result
		start = time.Now()
	)
	for w := 1; w <= clients; w++ {
		wg.Add(1)
		go func(w int) {
			defer wg.Done()
			var lat []time.Duration
			n, e := 0, 0
			for time.Since(start) < d {
				t0 := time.Now()
				if err := flow(w); err != nil {
					e++
					if e == 1 && !strings.Contains(err.Error(), "locked") {
						fmt.Fprintln(os.Stderr, "floor error:", err)
					}
					continue
				}
				n++
				lat = append(lat, time.Since(t0))
			}
			rmu.Lock()
			res.flows += n
			res.errors += e
			res.lat = append(res.lat, lat...)
			rmu.Unlock()
		}(w)
	}
	wg.Wait()
	res.elapsed = time.Since(start)
	return res, nil
}
