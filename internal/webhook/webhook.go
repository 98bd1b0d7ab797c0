// Package webhook is paygraph's outgoing side: the Event outbox, merchants'
// webhook endpoints, and the dispatcher that delivers events to them.
//
// Every order status change and every wallet change is written as an
// Event in the transaction that makes the change (Recorder, called from
// the one place each change happens: payment.Service.Transition and
// ledger.Ledger.Post), so an event exists exactly when its change
// committed. The Dispatcher then moves a cursor per endpoint over its
// app's events, in commit order, sending the ones the endpoint wants one
// at a time outside any transaction, and writes the attempts made after
// them (cursor.go): nothing per (event, endpoint) up front, and an
// endpoint that fails is paused and probed once per step of the retry
// schedule, so a dead one costs a few writes per step whatever the
// payment rate. Every step is in the database, so deliveries survive
// restarts and crashes (at least once: a receiver dedupes on the event
// id), and several instances on PostgreSQL share the endpoints without
// sending an attempt twice (FOR UPDATE SKIP LOCKED claims with a lease).
//
// Why not a job queue library (River): with SQLite, paygraph writes
// through one connection and commits payments in groups (internal/txn).
// River runs its own transactions concurrently — job fetching, leader
// election, heartbeats, completion — which either compete with payments
// for SQLite's one write lock (SQLITE_BUSY, or payments waiting behind
// the queue's maintenance) or, squeezed onto the one connection, hold it
// outside the group commit. Its SQLite driver is marked early testing,
// and job inserts would need the group transaction's *sql.Tx; a job per
// (event, endpoint) is also the write per delivery that cursors avoid.
// The outbox here is three tables and one goroutine, and all its writes
// are small units of work through the same runner as payments.
package webhook

import (
	"path"
	"strings"

	"github.com/paygraph/paygraph/ent/migrate"
	"github.com/paygraph/paygraph/ent/order"
	"github.com/paygraph/paygraph/internal/apperr"
)

// Event types besides the order ones ("order." + the status in lower case).
const (
	TypeWalletChanged = "wallet.changed"
	TypeTest          = "webhook.test"
)

// OrderType is the event type of an order reaching status s.
func OrderType(s order.Status) string { return "order." + strings.ToLower(string(s)) }

// Types lists every event type, for validating endpoint filters (the
// order statuses as the schema declares them).
func Types() []string {
	out := []string{TypeWalletChanged, TypeTest}
	for _, c := range migrate.OrdersTable.Columns {
		if c.Name == order.FieldStatus {
			for _, s := range c.Enums {
				out = append(out, OrderType(order.Status(s)))
			}
		}
	}
	return out
}

// MaxEndpointsPerApp bounds the endpoints of one app: each event is sent
// once per endpoint.
const MaxEndpointsPerApp = 16

// maxFilters bounds an endpoint's list of event types.
const maxFilters = 64

// Matches reports whether an endpoint listening for patterns wants an
// event of type typ: no patterns, or a lone "*", is every type; otherwise
// a pattern matches by parts, "*" standing for one part ("order.*").
// webhook.test is always wanted (it is sent to one endpoint on request).
func Matches(patterns []string, typ string) bool {
	if len(patterns) == 0 || typ == TypeTest {
		return true
	}
	p := strings.ReplaceAll(typ, ".", "/")
	for _, pat := range patterns {
		if pat == "*" {
			return true
		}
		if ok, _ := path.Match(strings.ReplaceAll(pat, ".", "/"), p); ok {
			return true
		}
	}
	return false
}

// checkPatterns validates an endpoint's event list: each entry a known
// type or a pattern that matches at least one (so a typo is refused rather
// than silently receiving nothing).
//
// Errors: BAD_USER_INPUT naming the field "events".
func checkPatterns(patterns []string) ([]string, error) {
	if len(patterns) > maxFilters {
		return nil, apperr.Input("events", "at most %d event types per endpoint", maxFilters)
	}
	out := make([]string, 0, len(patterns))
	seen := map[string]bool{}
	for _, raw := range patterns {
		pat := strings.TrimSpace(raw)
		if pat == "" || len(pat) > 64 {
			return nil, apperr.Input("events", "%q is not an event type", raw)
		}
		if _, err := path.Match(strings.ReplaceAll(pat, ".", "/"), ""); err != nil || strings.ContainsAny(pat, "/\\[]?") {
			return nil, apperr.Input("events", "%q is not an event type or a pattern such as order.*", raw)
		}
		known := false
		for _, typ := range Types() {
			if typ != TypeTest && Matches([]string{pat}, typ) {
				known = true
				break
			}
		}
		if !known {
			return nil, apperr.Input("events", "%q matches no event type (order.paid, order.*, wallet.changed, …)", raw)
		}
		if !seen[pat] {
			seen[pat] = true
			out = append(out, pat)
		}
	}
	return out, nil
}
