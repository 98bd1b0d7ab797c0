// Package events carries "something changed" notices from the services
// that commit changes to the GraphQL subscriptions that watch them.
//
// Services publish an Event after their database transaction commits;
// subscription resolvers subscribe with a filter and re-load the rows they
// need by id, so events stay small and never carry data a subscriber is not
// allowed to see. Local fans events out inside one process; Postgres also
// carries them between processes sharing a database (LISTEN/NOTIFY), so a
// client connected to one instance sees changes made through another.
package events

import (
	"context"
	"errors"
)

// Kind says which kind of row an Event is about, so subscribers can filter
// without decoding anything else.
type Kind string

// The kinds of Event.
const (
	// KindOrder: an order changed status; ID is the OrderEvent id.
	KindOrder Kind = "order"
	// KindWallet: a wallet's balance changed; ID is the WalletEntry id.
	KindWallet Kind = "wallet"
)

// Event is what services publish after commit. It is small: subscribers
// re-load the rows they need by id. Subscribers share the Event values
// they receive (including UserIDs) and must not modify them.
type Event struct {
	Kind     Kind    `json:"k"`  // KindOrder or KindWallet
	ID       int64   `json:"id"` // the OrderEvent id (KindOrder) or WalletEntry id (KindWallet); may be 0
	OrderID  int64   `json:"o,omitempty"`
	WalletID int64   `json:"w,omitempty"`
	UserIDs  []int64 `json:"u,omitempty"` // users concerned (payer, payee, wallet owner); Postgres keeps only the first MaxUserIDs
	AppID    int64   `json:"a,omitempty"`
}

// Buffer is how many events a subscriber may fall behind before it is cut
// off: its channel is closed rather than events being silently dropped, so
// the client reconnects and catches up from the database.
const Buffer = 64

// ErrClosed is returned by Publish on a bus that has been closed, so that a
// late publisher learns its event went nowhere.
var ErrClosed = errors.New("events: bus closed")

// Bus hands events from publishers to subscribers. Both implementations
// deliver the events of one Publish call in order, and the events of one
// publisher in the order it published them.
type Bus interface {
	// Publish hands events to every subscriber of every instance. Never blocks on slow subscribers.
	Publish(ctx context.Context, evs ...Event) error
	// Subscribe returns a channel of events for which match returns true (nil = all).
	// The channel is closed when ctx ends, when the bus closes, or when the subscriber
	// falls more than Buffer (64) events behind (a slow client is cut off rather than
	// silently losing events; it catches up from the database on reconnect).
	// match is called while the bus delivers to all subscribers: it must be
	// quick and must not call the bus.
	Subscribe(ctx context.Context, match func(Event) bool) <-chan Event
	// Handle is Subscribe without a channel or a goroutine of the
	// subscriber's own: handle receives the matching events one at a
	// time, in order, on a goroutine the bus starts when events are
	// waiting and that ends once none are. An idle subscription costs no
	// goroutine and no buffer. done runs once the subscription has ended
	// (for the same reasons as Subscribe's channel closes) and the last
	// handle call has returned; events already waiting when the bus closes
	// or cuts the subscriber off are handled first, those waiting when ctx
	// ends are dropped. handle must return soon after ctx ends; done, like
	// match, must be quick and must not call the bus.
	Handle(ctx context.Context, match func(Event) bool, handle func(Event), done func())
	// Close closes every subscriber's channel and releases the bus's resources.
	Close() error
}

var (
	_ Bus = (*Local)(nil)
	_ Bus = (*Postgres)(nil)
)
