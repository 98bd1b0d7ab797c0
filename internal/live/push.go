package live

import (
	"context"
	"runtime"
	"sync"
	"sync/atomic"

	"github.com/paygraph/paygraph/internal/events"
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

// pushWorkers runs the deliveries of pushed subscriptions (those without a
// replay) on a few goroutines that live only while deliveries wait. The
// bus hands each event to every subscriber on a goroutine of its own; for
// a pushed subscription that goroutine only queues the event here and
// ends, small, while the delivery (loading the step, executing the
// subscriber's selection, writing it) runs on one of at most
// pacePerCPU×GOMAXPROCS workers, whose stacks have grown once. Before,
// each delivery grew a fresh goroutine's stack and thousands of them
// queued ahead of every other goroutine (the payment that caused the
// event, waiting to answer). A worker yields after each delivery, so
// other work runs in between.
type pushWorkers struct {
	mu      sync.Mutex
	ready   []*pushQueue // queues with work and no worker on them
	workers int
	max     int // workers at most, set at first use
}

// pushQueue is the work of one pushed subscription: its events, then its
// end. A worker takes one item at a time, so items run in order and one
// at a time.
type pushQueue struct {
	ctx     context.Context
	forward func(events.Event)
	finish  func()

	// guarded by pushWorkers.mu
	events    []events.Event
	ending    bool // finish is due once events are done
	ended     bool // finish has been taken
	scheduled bool // in ready, or a worker is on it
}

// add queues ev for q; a subscriber more than events.Buffer behind is cut
// off (ended after what it has), as the bus does with slow subscribers.
func (w *pushWorkers) add(q *pushQueue, ev events.Event) {
	w.mu.Lock()
	if q.ending {
		w.mu.Unlock()
		return
	}
	if len(q.events) >= events.Buffer {
		q.ending = true
	} else {
		q.events = append(q.events, ev)
	}
	start := w.schedule(q)
	w.mu.Unlock()
	if start {
		go w.work()
	}
}

// end queues q's finish after its events (which are skipped if its
// context has ended).
func (w *pushWorkers) end(q *pushQueue) {
	w.mu.Lock()
	q.ending = true
	start := w.schedule(q)
	w.mu.Unlock()
	if start {
		go w.work()
	}
}

// schedule puts q in the ready list if no worker has it and reports
// whether a worker should be started; w.mu must be held.
func (w *pushWorkers) schedule(q *pushQueue) bool {
	if q.scheduled {
		return false
	}
	q.scheduled = true
	w.ready = append(w.ready, q)
	if w.max == 0 {
		w.max = pacePerCPU * runtime.GOMAXPROCS(0)
	}
	if w.workers >= w.max {
		return false
	}
	w.workers++
	return true
}

// work runs ready items until there are none.
func (w *pushWorkers) work() {
	for {
		w.mu.Lock()
		if len(w.ready) == 0 {
			w.workers--
			if w.workers == 0 {
				w.ready = nil // let the backing array go
			}
			w.mu.Unlock()
			return
		}
		q := w.ready[0]
		w.ready[0] = nil
		w.ready = w.ready[1:]
		var ev events.Event
		var run, finish bool
		switch {
		case len(q.events) > 0:
			ev, run = q.events[0], true
			q.events[0] = events.Event{}
			q.events = q.events[1:]
		case q.ending && !q.ended:
			q.ended, finish = true, true
		}
		w.mu.Unlock()

		switch {
		case run && q.ctx.Err() == nil:
			q.forward(ev)
			runtime.Gosched()
		case finish:
			q.finish()
		}

		w.mu.Lock()
		if len(q.events) > 0 || (q.ending && !q.ended) {
			w.ready = append(w.ready, q)
		} else {
			q.scheduled = false
			if len(q.events) == 0 {
				q.events = nil
			}
		}
		w.mu.Unlock()
	}
}
