package events

import (
	"context"
	"slices"
	"sync"
)

// Local is a Bus inside one process. It is also the fan-out hub Postgres
// uses for its own subscribers, so that registering, matching, buffering
// and cutting off subscribers is written once.
type Local struct {
	mu     sync.Mutex
	subs   map[*subscriber]struct{}
	closed bool
}

// subscriber is one Subscribe or Handle call: its channel or handler, its
// filter, and the registration that unsubscribes it when its context ends.
type subscriber struct {
	ch    chan Event // Subscribe's; nil for a Handle
	match func(Event) bool
	stop  func() bool // stops the context.AfterFunc that unsubscribes

	h *handler // Handle's
}

// handler is the queue of one Handle subscription and the goroutine, if
// any, that hands it to handle.
type handler struct {
	handle func(Event)
	done   func()

	mu      sync.Mutex
	queue   []Event // waiting, at most Buffer; nil when empty
	running bool    // a goroutine is handing the queue over (or running done)
	ended   bool    // no event is queued any more; done runs once the queue is empty
}

// push queues ev, starting a goroutine to hand it over if none runs; it
// reports false when Buffer events are already waiting. It never blocks
// on handle.
func (h *handler) push(ev Event) bool {
	h.mu.Lock()
	if h.ended {
		h.mu.Unlock()
		return true
	}
	if len(h.queue) >= Buffer {
		h.mu.Unlock()
		return false
	}
	h.queue = append(h.queue, ev)
	start := !h.running
	h.running = true
	h.mu.Unlock()
	if start {
		go h.run()
	}
	return true
}

// run hands the queue to handle until it is empty, then ends; the last
// one runs done if the subscription has ended.
func (h *handler) run() {
	for {
		h.mu.Lock()
		if len(h.queue) == 0 {
			h.queue = nil
			h.running = false
			ended := h.ended
			h.mu.Unlock()
			if ended {
				h.done()
			}
			return
		}
		ev := h.queue[0]
		h.queue[0] = Event{}
		h.queue = h.queue[1:]
		h.mu.Unlock()
		h.handle(ev)
	}
}

// end ends the subscription: nothing more is queued, what waits is handed
// over if drain (else dropped), then done runs, at once if no goroutine
// is handing events over.
func (h *handler) end(drain bool) {
	h.mu.Lock()
	if h.ended {
		h.mu.Unlock()
		return
	}
	h.ended = true
	if !drain {
		h.queue = nil
	}
	idle := !h.running
	h.mu.Unlock()
	if idle {
		h.done()
	}
}

// NewLocal returns an in-process bus: events published reach the
// subscribers of this process only.
func NewLocal() *Local {
	return &Local{subs: make(map[*subscriber]struct{})}
}

// Publish hands evs to the matching subscribers. It never blocks: a
// subscriber whose buffer is full is cut off instead.
func (l *Local) Publish(_ context.Context, evs ...Event) error {
	// Copy UserIDs so that a publisher reusing its slice cannot change
	// events subscribers already hold.
	evs = slices.Clone(evs)
	for i := range evs {
		evs[i].UserIDs = slices.Clone(evs[i].UserIDs)
	}
	if !l.deliver(evs) {
		return ErrClosed
	}
	return nil
}

// Subscribe returns a channel of the events for which match returns true
// (every event if match is nil). See Bus.Subscribe for when it is closed.
func (l *Local) Subscribe(ctx context.Context, match func(Event) bool) <-chan Event {
	s := &subscriber{ch: make(chan Event, Buffer), match: match}
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.closed || ctx.Err() != nil {
		close(s.ch)
		return s.ch
	}
	l.subs[s] = struct{}{}
	// Registered under the lock so that s.stop is set before anyone can
	// drop s; if ctx ends meanwhile, unsubscribe waits for the lock.
	s.stop = context.AfterFunc(ctx, func() { l.unsubscribe(s) })
	return s.ch
}

// Handle registers handle for the events for which match returns true
// (every event if match is nil). See Bus.Handle.
func (l *Local) Handle(ctx context.Context, match func(Event) bool, handle func(Event), done func()) {
	s := &subscriber{match: match, h: &handler{handle: handle, done: done}}
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.closed || ctx.Err() != nil {
		s.h.end(false)
		return
	}
	l.subs[s] = struct{}{}
	s.stop = context.AfterFunc(ctx, func() { l.unsubscribe(s) })
}

// Close closes every subscriber's channel; later subscriptions get a closed
// channel and later publications ErrClosed. It is safe to call twice.
func (l *Local) Close() error {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.closed = true
	l.dropAll()
	return nil
}

// deliver sends evs to the matching subscribers without blocking and
// reports false if the bus is closed.
func (l *Local) deliver(evs []Event) bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.closed {
		return false
	}
	for _, ev := range evs {
		for s := range l.subs {
			if s.match != nil && !s.match(ev) {
				continue
			}
			if s.h != nil {
				if !s.h.push(ev) {
					l.drop(s) // more than Buffer behind: cut it off
				}
				continue
			}
			select {
			case s.ch <- ev:
			default: // more than Buffer behind: cut it off
				l.drop(s)
			}
		}
	}
	return true
}

// cutAll closes every current subscriber's channel but keeps the bus open:
// Postgres uses it when events may have been lost, so that clients catch up
// from the database.
func (l *Local) cutAll() {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.dropAll()
}

// dropAll drops every subscriber; l.mu must be held.
func (l *Local) dropAll() {
	for s := range l.subs {
		l.drop(s)
	}
}

// drop unregisters s and closes its channel; l.mu must be held.
func (l *Local) drop(s *subscriber) {
	delete(l.subs, s)
	s.stop()
	s.close(true)
}

// close closes s's channel, or ends its handler (handing over what waits
// if drain).
func (s *subscriber) close(drain bool) {
	if s.h != nil {
		s.h.end(drain)
		return
	}
	close(s.ch)
}

// unsubscribe drops s if it is still registered; it runs when s's context
// ends.
func (l *Local) unsubscribe(s *subscriber) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if _, ok := l.subs[s]; ok {
		delete(l.subs, s)
		s.close(false)
	}
}

// len reports how many subscribers are registered, for tests.
func (l *Local) len() int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return len(l.subs)
}
