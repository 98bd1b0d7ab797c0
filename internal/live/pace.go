package live

import (
	"context"
	"runtime"
	"sync"
)

// pacer bounds how many deliveries of a fan-out run at once. Every event
// reaches each of its subscribers on a goroutine of its own, and gqlgen's
// goroutine of the subscription then writes the result: with thousands of
// subscribers, thousands of goroutines would become runnable together, and
// every other request (the payment that caused the event, the next ones)
// would wait behind all of them. A delivery holds a slot while it loads
// its value and hands it over, then yields so that the subscription's
// goroutine writes it before the next delivery starts; those waiting for a
// slot are parked, so the scheduler serves other work in between. A
// subscriber still busy with its previous result is waited for without a
// slot, so a slow one never holds the others up. Pushed subscriptions
// without a replay do not use it: their deliveries run on pushWorkers,
// which are as few.
type pacer struct {
	once  sync.Once
	slots chan struct{}
}

// pacePerCPU is how many deliveries are handed over at once per core.
const pacePerCPU = 16

// acquire waits for a slot; false if ctx ended first.
func (p *pacer) acquire(ctx context.Context) bool {
	p.once.Do(func() { p.slots = make(chan struct{}, pacePerCPU*runtime.GOMAXPROCS(0)) })
	select {
	case p.slots <- struct{}{}:
		return true
	case <-ctx.Done():
		return false
	}
}

// release gives the slot back.
func (p *pacer) release() { <-p.slots }

// yield lets the subscription's goroutine, just handed a result, write it
// before the slot goes to the next delivery.
func (p *pacer) yield() { runtime.Gosched() }
