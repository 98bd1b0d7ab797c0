package live

import (
	"context"
	"sync/atomic"
)

// Push lets the transport that runs a subscription be called each time the
// subscription's channel holds its next value, or has been closed, instead
// of keeping a goroutine blocked on the channel for as long as the
// subscription lives. A subscription that takes it (Taken) calls Notify
// once after each value it puts in the channel and once after closing it,
// one call at a time, so the transport's receive in Notify never waits. A
// subscription that does not take it is read from the channel as usual.
type Push struct {
	notify func()
	taken  atomic.Bool
}

type pushKey struct{}

// WithPush returns ctx for one subscription whose values notify hands on
// (see Push), and the Push to ask, once the resolver has returned, whether
// the subscription took it.
func WithPush(ctx context.Context, notify func()) (context.Context, *Push) {
	p := &Push{notify: notify}
	return context.WithValue(ctx, pushKey{}, p), p
}

// Taken reports whether the subscription calls Notify for its values.
func (p *Push) Taken() bool { return p.taken.Load() }

// takePush returns ctx's Push for a subscription to take, or nil when
// there is none or it is taken already (a Push serves one subscription).
func takePush(ctx context.Context) *Push {
	p, _ := ctx.Value(pushKey{}).(*Push)
	if p == nil || !p.taken.CompareAndSwap(false, true) {
		return nil
	}
	return p
}
