package config

import "time"

// Requests bounds the work one GraphQL request, and one client address,
// can make the server do.
type Requests struct {
	// MaxTokens bounds the lexical tokens of a GraphQL document.
	MaxTokens int
	// MaxNesting bounds brackets nested in a document and the nesting of
	// variable values.
	MaxNesting int
	// MaxFields bounds a document's fields with its fragments expanded.
	MaxFields int
	// MaxSyncs bounds the order(sync: true) fields of one request.
	MaxSyncs int
	// SyncInterval is how long a gateway's answer about an order is
	// reused before the gateway is asked again.
	SyncInterval time.Duration
	// AuthPerMinute is how many login and register attempts one client
	// address may make per minute (a burst of as many, refilled evenly).
	AuthPerMinute int
	// CallbackRejectsPerMinute is how many callbacks that fail
	// verification are stored per remote address per minute.
	CallbackRejectsPerMinute int
}

func (r *reader) requests() Requests {
	return Requests{
		MaxTokens:                int(r.integer("PAYGRAPH_MAX_TOKENS", 10000, 100, 1000000)),
		MaxNesting:               int(r.integer("PAYGRAPH_MAX_NESTING", 32, 4, 1000)),
		MaxFields:                int(r.integer("PAYGRAPH_MAX_FIELDS", 2000, 10, 1000000)),
		MaxSyncs:                 int(r.integer("PAYGRAPH_MAX_SYNCS_PER_REQUEST", 5, 0, 1000)),
		SyncInterval:             r.duration("PAYGRAPH_SYNC_INTERVAL", 5*time.Second),
		AuthPerMinute:            int(r.integer("PAYGRAPH_AUTH_RATE_PER_MINUTE", 20, 1, 1000000)),
		CallbackRejectsPerMinute: int(r.integer("PAYGRAPH_CALLBACK_REJECTS_PER_MINUTE", 60, 1, 1000000)),
	}
}
